package amitest

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// liveChannel is a channel the server's events created and did not hang
// up yet: what CoreShowChannels lists.
type liveChannel struct {
	fields map[string]string // the CoreShowChannel fields, by name
	since  time.Time         // when its Newchannel was sent or elapsed
}

// chanFields are the CoreShowChannel fields a channel's events update, in
// the order Asterisk 22 sends them (main/manager.c, action_coreshowchannels).
var chanFields = []string{"Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "Context", "Exten", "Uniqueid", "Linkedid", "Application", "BridgeId"}

// Elapse makes the events of transcript happen with no client to hear
// them, as the calls of an outage do: they change the channels that
// CoreShowChannels lists, and are sent to nobody.
func (s *Server) Elapse(transcript []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range parseTranscript(transcript) {
		s.observeLocked(ev.raw)
	}
}

// observe updates the live channels with an event frame sent to a client.
func (s *Server) observe(raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observeLocked(raw)
}

func (s *Server) observeLocked(raw []byte) {
	f := map[string]string{}
	for line := range bytes.Lines(raw) {
		k, v, ok := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(":"))
		if !ok {
			continue
		}
		key := strings.ToLower(string(bytes.TrimSpace(k)))
		if _, dup := f[key]; !dup {
			f[key] = string(bytes.TrimSpace(v))
		}
	}
	uid := f["uniqueid"]
	if uid == "" {
		return
	}
	if s.live == nil {
		s.live = map[string]*liveChannel{}
	}
	lc := s.live[uid]
	switch f["event"] {
	case "Newchannel":
		if lc == nil {
			lc = &liveChannel{fields: map[string]string{}, since: time.Now()}
			s.live[uid] = lc
			s.order = append(s.order, uid)
		}
	case "Hangup":
		delete(s.live, uid)
		return
	}
	if lc == nil {
		return
	}
	for _, k := range chanFields {
		if v, ok := f[strings.ToLower(k)]; ok {
			lc.fields[k] = v
		}
	}
	switch f["event"] {
	case "BridgeEnter":
		lc.fields["BridgeId"] = f["bridgeuniqueid"]
	case "BridgeLeave":
		lc.fields["BridgeId"] = ""
	}
}

// coreShowChannels answers Action: CoreShowChannels as Asterisk 22 does:
// a Success response, a CoreShowChannel event a live channel, then
// CoreShowChannelsComplete. The caller holds c.wmu, so no event of the
// player interleaves and the list matches the events sent so far.
func (c *conn) coreShowChannels(req request) []byte {
	var b bytes.Buffer
	b.Write(response(req, "Success", "EventList", "start", "Message", "Channels will follow"))
	id := req["actionid"]
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	n := 0
	order := c.s.order[:0]
	for _, uid := range c.s.order {
		lc := c.s.live[uid]
		if lc == nil {
			continue // hung up: drop it from the order too
		}
		order = append(order, uid)
		n++
		b.WriteString("Event: CoreShowChannel\r\n")
		if id != "" {
			b.WriteString("ActionID: " + id + "\r\n")
		}
		for _, k := range chanFields {
			b.WriteString(k + ": " + lc.fields[k] + "\r\n")
		}
		d := time.Since(lc.since)
		h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
		fmt.Fprintf(&b, "Duration: %02d:%02d:%02d\r\n\r\n", h, m, sec)
	}
	c.s.order = order
	b.WriteString("Event: CoreShowChannelsComplete\r\n")
	if id != "" {
		b.WriteString("ActionID: " + id + "\r\n")
	}
	fmt.Fprintf(&b, "EventList: Complete\r\nListItems: %d\r\n\r\n", n)
	return b.Bytes()
}
