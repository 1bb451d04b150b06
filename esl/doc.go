// Package esl turns FreeSWITCH Event Socket events into textback events: a
// Source that connects to mod_event_socket as an inbound client (through
// github.com/percipia/eslgo), authenticates, subscribes to the few channel
// events it needs and reconnects, and a Tracker that follows every leg of a
// call (grouped under the A-leg's Unique-ID) and reports the call once every
// leg has ended.
package esl
