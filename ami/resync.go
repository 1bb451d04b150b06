package ami

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/textback/textback"
)

// stateRinging is CoreShowChannel's ChannelState of a dialed leg whose far
// end rings: AST_STATE_RINGING (include/asterisk/channelstate.h).
const stateRinging = "5"

// Resync reconciles the calls followed with list, the CoreShowChannel
// events Asterisk answered Action: CoreShowChannels with on a connection
// made at since (local time, as Handle's now). It returns the events of
// the calls it ended or found answered, like Handle.
//
// A channel the tracker holds, last heard of before since and missing from
// the list, hung up while no connection was up: it is hung up now, and a
// call whose channels are all gone is reported, judged on what was seen
// before the outage. Its hangup time is unknown, so Ended is now, the time
// of the re-sync, and a leg still ringing then counts as ringing to now.
// Channels heard of since the connection are left alone: the list may
// predate them, and their own Hangup will come.
//
// A listed channel the tracker does not hold began during the outage. It
// is adopted when its call's first channel (Uniqueid == Linkedid) is
// listed, or its call is followed already: Context and Exten say whether
// the call is inbound and its DID (its current ones: a call that has left
// its inbound context by then counts as internal, and DIDVariable, unread,
// is not used), CallerIDNum and CallerIDName its caller, Duration when it
// started, a Ringing leg that it rings, Application whether it reached
// voicemail or waits in a queue, and BridgeId whether a person answered.
// What follows (its Dial, bridge and hangup events) then decides it.
func (t *Tracker) Resync(list []Frame, since, now time.Time) []textback.Event {
	t.results = t.results[:0]
	t.ev = event{}
	listed := make(map[string]bool, len(list))
	for _, f := range list {
		listed[f.Get("Uniqueid")] = true
	}
	for _, c := range t.calls {
		for _, ch := range c.chans {
			if ch.gone || listed[ch.uniqueid] || !ch.seen.Before(since) {
				continue
			}
			t.hangup(c, ch, now, now)
			if c.live <= 0 {
				break // finished
			}
		}
	}

	// First channels first, so that a call exists before its other channels.
	list = slices.Clone(list)
	slices.SortStableFunc(list, func(a, b Frame) int {
		return cmp.Compare(firstRank(a), firstRank(b))
	})
	touched := map[*call]bool{}
	for _, f := range list {
		uid, lid := f.Get("Uniqueid"), f.Get("Linkedid")
		if uid == "" || lid == "" {
			continue
		}
		started := now.Add(-parseDuration(f.Get("Duration")))
		ch := t.chans[uid]
		if ch != nil && ch.call.id != lid {
			continue // moved to another call: its next event moves it
		}
		t.ev.parse(f)
		t.ev[fEvent] = "CoreShowChannel"
		if ch == nil {
			c := t.calls[lid]
			if c == nil {
				if _, done := t.ended[lid]; done || uid != lid {
					continue
				}
				c = t.newCall(lid)
			}
			if ch = t.addChannel(c, uid, started); ch == nil {
				continue
			}
			if ch == c.first {
				if t.isInbound(t.ev[fContext]) {
					c.inbound = true
					c.exten = strings.Clone(t.ev[fExten])
				}
			} else if f.Get("ChannelState") == stateRinging && !c.answered {
				c.dialed = true
				if c.ringing > 0 && started.Before(c.ringFrom) {
					c.ringFrom = started
				}
				c.legStart(ch, started)
			}
		}
		c := ch.call
		c.seen, ch.seen = now, now
		ch.bridge = strings.Clone(f.Get("BridgeId"))
		app := f.Get("Application")
		if isVoicemailApp(app) {
			c.voicemail = true
		}
		if ch == c.first && strings.EqualFold(app, "Queue") {
			c.queued = true
		}
		touched[c] = true
	}
	for c := range touched {
		if !c.answered && t.calls[c.id] == c && t.reachesPerson(c) {
			c.answer(now)
			t.results = append(t.results, textback.Event{Kind: textback.CallAnswered, Call: t.callOf(c, now)})
		}
	}
	return t.out()
}

func firstRank(f Frame) int {
	if f.Get("Uniqueid") == f.Get("Linkedid") {
		return 0
	}
	return 1
}

// parseDuration parses CoreShowChannel's Duration, "HH:MM:SS"; 0 if bad.
func parseDuration(s string) time.Duration {
	var d time.Duration
	for part := range strings.SplitSeq(s, ":") {
		n, ok := atoi(part)
		if !ok {
			return 0
		}
		d = d*60 + time.Duration(n)
	}
	return d * time.Second
}
