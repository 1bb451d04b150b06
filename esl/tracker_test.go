package esl

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/textproto"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/esl/esltest"
)

// TestOutOfOrder delivers each capture with its events shuffled within
// windows of three, as eslgo's goroutine-per-event delivery does, straight
// to the tracker (no reorder queue): the verdict must not change.
func TestOutOfOrder(t *testing.T) {
	for name, w := range captures {
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("%s/%d", name, seed), func(t *testing.T) {
				evs := append([]esltest.Message(nil), loadEvents(t, name)...)
				r := rand.New(rand.NewPCG(seed, 1))
				for i := 0; i+3 <= len(evs); i += 3 {
					r.Shuffle(3, func(a, b int) { evs[i+a], evs[i+b] = evs[i+b], evs[i+a] })
				}
				check(t, feed(t, NewTracker(TrackerConfig{}), evs), w)
			})
		}
	}
}

func FuzzEvent(f *testing.F) {
	for name := range captures {
		for i, m := range loadEvents(f, name) {
			if i%7 == 0 {
				f.Add(m.Body)
			}
		}
	}
	f.Add([]byte("Event-Name: CHANNEL_BRIDGE\nUnique-ID: a\nBridge-A-Unique-ID: a\nBridge-B-Unique-ID: a\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		tr := NewTracker(TrackerConfig{})
		now := time.Unix(1795845300, 0)
		h, err := parseBody(body)
		if err != nil {
			return
		}
		for range 3 { // the same event again must not panic or double-report
			for _, ev := range tr.Handle(h, now) {
				if c := ev.Call; c.ID == "" || !c.Outcome.Valid() {
					t.Fatalf("bad call %+v", c)
				}
			}
		}
		esltest.Split(body)
	})
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// BenchmarkTracker measures the tracker's throughput over every capture,
// repeated with fresh UUIDs so each repetition is a new call.
func BenchmarkTracker(b *testing.B) {
	var bodies [][]byte
	for name := range captures {
		for _, m := range loadEvents(b, name) {
			bodies = append(bodies, m.Body)
		}
	}
	const reps = 50
	var hs []textproto.MIMEHeader
	for r := range reps {
		for _, body := range bodies {
			fresh := uuidRE.ReplaceAllFunc(body, func(u []byte) []byte {
				return fmt.Appendf(nil, "%s-%04x", u[:31], r)
			})
			h, err := parseBody(fresh)
			if err != nil {
				b.Fatal(err)
			}
			hs = append(hs, h)
		}
	}
	now := time.Unix(1795845300, 0)
	b.ResetTimer()
	calls := 0
	for b.Loop() {
		tr := NewTracker(TrackerConfig{})
		for _, h := range hs {
			for _, ev := range tr.Handle(h, now) {
				if ev.Kind == textback.CallEnded {
					calls++
				}
			}
		}
	}
	if calls == 0 {
		b.Fatal("no calls")
	}
	b.ReportMetric(float64(len(hs))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestAnsweredEvent checks the CallAnswered event of every capture and
// scenario, in order and shuffled as eslgo may deliver them: one for each
// answered call, before its CallEnded, with the numbers known then.
func TestAnsweredEvent(t *testing.T) {
	all := map[string]want{}
	maps.Copy(all, captures)
	for name, w := range scenarios {
		all[filepath.Join("tracker", name)] = w
	}
	dialed := map[string]string{"outbound_call.esl.txt": "+16175550198"}
	for name, w := range all {
		for seed := range uint64(5) {
			t.Run(fmt.Sprintf("%s/%d", name, seed), func(t *testing.T) {
				evs := append([]esltest.Message(nil), loadEvents(t, name)...)
				if seed > 0 {
					r := rand.New(rand.NewPCG(seed, 1))
					for i := 0; i+3 <= len(evs); i += 3 {
						r.Shuffle(3, func(a, b int) { evs[i+a], evs[i+b] = evs[i+b], evs[i+a] })
					}
				}
				var answered []textback.Call
				for i, ev := range feedEvents(t, NewTracker(TrackerConfig{}), evs) {
					switch ev.Kind {
					case textback.CallAnswered:
						answered = append(answered, ev.Call)
					case textback.CallEnded:
						if len(answered) == 0 && ev.Call.Outcome == textback.Answered {
							t.Errorf("event %d: an answered call ended before its CallAnswered", i)
						}
					}
				}
				// The outbound capture is answered by the far end; internal_call
				// rings out.
				wantN := 0
				if w.outcome == textback.Answered || name == "outbound_call.esl.txt" {
					wantN = 1
				}
				if len(answered) != wantN {
					t.Fatalf("%d answered events, want %d: %+v", len(answered), wantN, answered)
				}
				if wantN == 0 {
					return
				}
				c := answered[0]
				if c.Direction != w.dir || c.CallerNum != w.caller || c.DID != w.did || seed == 0 && c.Dialed != dialed[name] {
					t.Errorf("answered %s from %q to DID %q, dialed %q; want %s from %q to DID %q, dialed %q",
						c.Direction, c.CallerNum, c.DID, c.Dialed, w.dir, w.caller, w.did, dialed[name])
				}
			})
		}
	}
}
