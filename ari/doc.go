// Package ari turns the Asterisk REST Interface's event stream into
// textback events: a Source that reads /ari/events with subscribeAll, so no
// dialplan change is needed, and a Tracker that groups channels into calls
// (ARI carries no Linkedid) and reports each call once it has ended, with the
// verdicts of package ami's tracker.
package ari
