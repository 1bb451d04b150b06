package esl

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/textback/textback"
)

// Channel is one row of FreeSWITCH's "show channels as json": the columns
// of its channels table (switch_core_sqldb.c) that Resync reads.
type Channel struct {
	UUID           string `json:"uuid"`
	Direction      string `json:"direction"`
	CreatedEpoch   string `json:"created_epoch"` // seconds
	Name           string `json:"name"`
	CIDName        string `json:"cid_name"`
	CIDNum         string `json:"cid_num"`
	Dest           string `json:"dest"`
	Application    string `json:"application"`
	AppData        string `json:"application_data"`
	Context        string `json:"context"`
	Callstate      string `json:"callstate"` // DOWN, RINGING, EARLY, ACTIVE, HELD, ...
	CallUUID       string `json:"call_uuid"`
	InitialContext string `json:"initial_context"`
	InitialDest    string `json:"initial_dest"`
	InitialCIDNum  string `json:"initial_cid_num"`
	InitialCIDName string `json:"initial_cid_name"`
}

// ParseChannels parses the body of "api show channels as json":
// {"row_count":N,"rows":[...]}, or {"row_count":0} when there are none.
// Anything else, such as a "-ERR ..." line, is an error.
func ParseChannels(body []byte) ([]Channel, error) {
	var v struct {
		RowCount *int      `json:"row_count"`
		Rows     []Channel `json:"rows"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.RowCount == nil {
		return nil, fmt.Errorf("esl: show channels: not a channel list: %q", truncate(strings.TrimSpace(string(body)), 80))
	}
	return v.Rows, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Resync reconciles the calls followed with list, the channels FreeSWITCH
// listed ("show channels as json") on a connection made at since (local
// time, as Handle's now). It returns the events of the calls it ended or
// found answered, like Handle.
//
// A leg the tracker holds, last heard of before since and missing from the
// list, hung up while no connection was up. Its CHANNEL_HANGUP_COMPLETE,
// with its times and cause, is lost: it ends now, the time of the re-sync,
// with no cause, and a call whose legs have all ended is reported, judged
// on what was seen before the outage (a leg ringing when the link dropped
// counts as ringing until now). Legs heard of since are left alone: the
// list may predate them, and their own hangup will come.
//
// A listed channel the tracker does not hold began during the outage. An
// A-leg (call_uuid empty or its own uuid) starts a call: initial_context
// and direction say whether it is inbound, initial_dest its DID (the
// DIDVariable is not in the list), cid_num the caller, created_epoch when it
// began, application whether it reached voicemail or waits in a queue. A
// leg whose call_uuid names a followed call joins it as a dialed leg, and
// ringing counts from its creation when it is RINGING or EARLY. A person's
// leg ACTIVE or HELD next to an ACTIVE A-leg means the call was answered.
// What follows (the hangups) then decides the call.
func (t *Tracker) Resync(list []Channel, since, now time.Time) []textback.Event {
	t.results = t.results[:0]
	nowUS := now.UnixMicro()
	listed := make(map[string]bool, len(list))
	for _, ch := range list {
		listed[ch.UUID] = true
	}
	for _, c := range t.calls {
		for _, l := range c.legs {
			if l.done || listed[l.uuid] || !l.seen.Before(since) {
				continue
			}
			l.done, l.hangup = true, nowUS
			c.live--
		}
		if c.live <= 0 && c.a != nil && c.a.done && t.calls[c.id] == c {
			t.finish(c, now)
		}
	}

	list = slices.Clone(list)
	isA := func(ch Channel) bool { return ch.CallUUID == "" || ch.CallUUID == ch.UUID }
	slices.SortStableFunc(list, func(x, y Channel) int {
		switch {
		case isA(x) && !isA(y):
			return -1
		case !isA(x) && isA(y):
			return 1
		}
		return 0
	})
	touched := map[*call][]Channel{}
	for _, ch := range list {
		if ch.UUID == "" {
			continue
		}
		l := t.legs[ch.UUID]
		if l == nil {
			if _, gone := t.ended[ch.UUID]; gone {
				continue
			}
			var c *call
			if isA(ch) {
				c = t.newCall(ch.UUID)
			} else if o := t.legs[ch.CallUUID]; o != nil {
				c = o.call
			} else {
				c = t.calls[ch.CallUUID]
			}
			if c == nil || len(c.legs) >= maxLegs {
				continue
			}
			l = &leg{uuid: ch.UUID, call: c, loopback: strings.HasPrefix(ch.Name, "loopback/")}
			c.legs = append(c.legs, l)
			c.live++
			t.legs[ch.UUID] = l
			if n, err := strconv.ParseInt(ch.CreatedEpoch, 10, 64); err == nil && n > 0 {
				l.created = n * 1e6
			}
			if isA(ch) {
				c.a = l
				t.adoptA(c, ch)
			} else {
				c.dialed = true
				if ch.Callstate == "RINGING" || ch.Callstate == "EARLY" {
					l.progress = l.created
				}
			}
		}
		c := l.call
		c.seen, l.seen = now, now
		if l == c.a {
			c.execute(l, ch.Application, ch.AppData)
		}
		touched[c] = append(touched[c], ch)
	}
	for c, chans := range touched {
		if c.answered || c.a == nil || t.calls[c.id] != c {
			continue
		}
		aUp := false
		for _, ch := range chans {
			if ch.UUID == c.a.uuid {
				aUp = ch.Callstate == "ACTIVE" || ch.Callstate == "HELD"
			}
		}
		for _, ch := range chans {
			l := t.legs[ch.UUID]
			if aUp && l != c.a && !l.loopback && (ch.Callstate == "ACTIVE" || ch.Callstate == "HELD") {
				if l.answered == 0 {
					l.answered = nowUS // unknown: it answered during the outage
				}
				t.answer(c, l.answered, now)
				break
			}
		}
	}
	return t.out()
}

// adoptA reads what a listed A-leg says about its call.
func (t *Tracker) adoptA(c *call, ch Channel) {
	ctx, dest := orElse(ch.InitialContext, ch.Context), orElse(ch.InitialDest, ch.Dest)
	c.ctxKnown = true
	c.context = ctx
	c.inbound = ch.Direction == "inbound" && t.isInbound(ctx)
	if c.inbound {
		c.did = dest
	}
	c.callerNum, c.callerName = orElse(ch.InitialCIDNum, ch.CIDNum), orElse(ch.InitialCIDName, ch.CIDName)
}

// orElse returns the first of a and b that is not empty.
func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
