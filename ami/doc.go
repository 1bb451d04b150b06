// Package ami turns the Asterisk Manager Interface into textback events: a
// client that logs in, reads the event stream and reconnects, and a tracker
// that follows every channel of a call (grouped by Linkedid) and reports the
// call once it has ended.
package ami
