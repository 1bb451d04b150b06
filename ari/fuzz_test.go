package ari

import (
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary messages, as they could come off the
// websocket, to the decoder and the tracker: neither may panic, and the
// tracker's indexes stay consistent.
func FuzzDecode(f *testing.F) {
	for name := range trackerCases {
		for _, l := range readCapture(f, name) {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"type":"ChannelCreated","channel":{"id":"a","name":"Local/x;2","state":"Ring"}}`))
	f.Add([]byte(`{"type":"Dial","caller":{"id":"a"},"peer":{"id":"a"},"forwarded":{"id":"a"}}`))
	call := decodeAll(f, readCapture(f, "queue_answered"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decode(data)
		if err != nil {
			return
		}
		tr := NewTracker(TrackerConfig{InboundContexts: []string{"from-trunk"}, DIDVariable: "__TB_DID", LookupPres: true})
		now := time.Unix(1795845639, 0)
		// The fuzzed event around and inside a real call, so that it
		// meets state.
		tr.Handle(e, now)
		for i, ce := range call {
			tr.Handle(ce, now)
			if i%40 == 0 {
				tr.Handle(e, now)
			}
		}
		tr.Handle(e, now)
		for _, id := range tr.Lookups() {
			tr.Presentation(id, string(data), now)
		}
		tr.Expire(now.Add(time.Hour))
		for id, ch := range tr.chans {
			if ch.call == nil || ch.id != id {
				t.Fatalf("channel %q: bad index", id)
			}
		}
	})
}
