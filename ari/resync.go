package ari

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	cari "github.com/CyCoreSystems/ari/v6"
	"github.com/textback/textback"
)

// Channel is a channel as GET /ari/channels lists it: the fields Resync
// reads.
type Channel struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	State  string `json:"state"`
	Caller struct {
		Name   string `json:"name"`
		Number string `json:"number"`
	} `json:"caller"`
	Dialplan struct {
		Context string `json:"context"`
		Exten   string `json:"exten"`
		AppName string `json:"app_name"`
	} `json:"dialplan"`
	// Creationtime is Asterisk's "2026-11-28T05:53:45.749+0000".
	Creationtime string `json:"creationtime"`
}

// Bridge is a bridge as GET /ari/bridges lists it.
type Bridge struct {
	ID       string   `json:"id"`
	Channels []string `json:"channels"`
}

// ParseChannels parses the body of GET /ari/channels.
func ParseChannels(body []byte) ([]Channel, error) {
	var v []Channel
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("ari: channels: %w", err)
	}
	return v, nil
}

// ParseBridges parses the body of GET /ari/bridges.
func ParseBridges(body []byte) ([]Bridge, error) {
	var v []Bridge
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("ari: bridges: %w", err)
	}
	return v, nil
}

// data returns c as the snapshot the tracker reads from events.
func (c *Channel) data() *cari.ChannelData {
	return &cari.ChannelData{
		ID:       c.ID,
		Name:     c.Name,
		State:    c.State,
		Caller:   &cari.CallerID{Name: c.Caller.Name, Number: c.Caller.Number},
		Dialplan: &cari.DialplanCEP{Context: c.Dialplan.Context, Exten: c.Dialplan.Exten, AppName: c.Dialplan.AppName},
	}
}

// created returns c's creation time, or now.
func (c *Channel) created(now time.Time) time.Time {
	if t, err := time.Parse("2006-01-02T15:04:05.000-0700", c.Creationtime); err == nil {
		return t
	}
	return now
}

// Resync reconciles the calls followed with what Asterisk lists on a
// websocket opened at since (local time, as Handle's now): its channels
// (GET /ari/channels) and bridges (GET /ari/bridges). It returns the
// events of the calls it ended or found answered, like Handle.
//
// A channel the tracker holds, last heard of before since and not listed,
// was destroyed while no websocket was open. Its ChannelDestroyed is lost,
// so it ends with no cause, at now, the time of the re-sync; a call whose
// channels are all gone is reported, judged on what was seen before the
// outage (a leg ringing when the link dropped counts as ringing until now).
// That happens missingGrace later, in Expire, and only to the channels
// still not heard of since: the listing and the websocket race, so the
// listing may already lack a channel whose events (a Dial that joins it to
// its caller's call, its ChannelDestroyed) are still on their way.
//
// A listed channel the tracker does not hold began during the outage. ARI
// lists no Linkedid, so only a caller is adopted as a call of its own: a
// channel that is not Local, not Down, runs a dialplan application that is
// not a dialed leg's (AppDial, AppQueue) and sits in one of the
// InboundContexts, read as ChannelCreated would. A listed bridge joins the
// channels it holds into one call, adopting the unknown ones into the call
// of a known member, and a caller bridged to a person is answered: an
// answer during the outage is not taken for a missed call. Whatever
// follows (Dial, bridges, ChannelDestroyed) then decides the call.
func (t *Tracker) Resync(chans []Channel, bridges []Bridge, since, now time.Time) []textback.Event {
	t.results = t.results[:0]
	listed := make(map[string]*Channel, len(chans))
	for i := range chans {
		listed[chans[i].ID] = &chans[i]
	}
	t.missing = t.missing[:0]
	for _, c := range t.calls {
		for _, ch := range c.chans {
			if !ch.gone && listed[ch.id] == nil && ch.seen.Before(since) {
				t.missing = append(t.missing, ch)
			}
		}
	}
	t.missingSince, t.missingSeen, t.missingAt = since, now, now.Add(missingGrace)
	for i := range chans {
		lc := &chans[i]
		if t.chans[lc.ID] != nil || !adoptable(lc) || !t.isInbound(lc.Dialplan.Context) {
			continue
		}
		t.created(lc.data(), lc.created(now), now)
		if ch := t.chans[lc.ID]; ch != nil {
			ch.app = lc.Dialplan.AppName
			if isVoicemailApp(ch.app) {
				ch.call.voicemail = true
			}
		}
	}
	for _, b := range bridges {
		var home *call
		for _, id := range b.Channels {
			if ch := t.chans[id]; ch != nil && !ch.gone {
				home = ch.call
				break
			}
		}
		if home == nil {
			continue
		}
		for _, id := range b.Channels {
			ch := t.chans[id]
			if ch == nil {
				lc := listed[id]
				if lc == nil || len(home.chans) >= maxChannels {
					continue
				}
				ch = t.newChannel(lc.data(), lc.created(now))
				ch.call = home
				home.chans = append(home.chans, ch)
				home.live++
			}
			if ch.gone || ch.bridge == b.ID {
				continue
			}
			ch.seen = now
			if ch.bridge != "" {
				t.leaveBridge(ch)
			}
			t.enterBridge(ch, b.ID, now, now)
		}
	}
	return t.out()
}

// missingGrace is how long the channels a Resync did not find wait for an
// event of theirs before they are ended.
const missingGrace = time.Second

// endMissing ends the channels the last Resync did not find and nothing
// has been heard of since, once missingGrace has passed.
func (t *Tracker) endMissing(now time.Time) {
	if len(t.missing) == 0 || now.Before(t.missingAt) {
		return
	}
	for _, ch := range t.missing {
		if !ch.gone && t.chans[ch.id] == ch && ch.seen.Before(t.missingSince) {
			t.destroyed(ch, 0, t.missingSeen, now)
		}
	}
	clear(t.missing)
	t.missing = t.missing[:0]
}

// adoptable reports whether a listed channel may be a caller: see Resync.
func adoptable(c *Channel) bool {
	if c.ID == "" || strings.EqualFold(c.State, "Down") || strings.HasPrefix(c.Name, "Local/") {
		return false
	}
	app := c.Dialplan.AppName
	return app != "" && !strings.HasPrefix(app, "App")
}
