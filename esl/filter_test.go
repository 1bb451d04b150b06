package esl

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/textback/textback/esl/esltest"
)

// subscription returns what Source asks FreeSWITCH for, as esltest (and
// mod_event_socket) apply it.
func subscription(t testing.TB) *esltest.Subscription {
	t.Helper()
	var s esltest.Subscription
	var cmds []string
	for _, f := range Filters {
		cmds = append(cmds, "filter "+f[0]+" "+f[1])
	}
	cmds = append(cmds, "event plain "+strings.Join(Subscribed, " "))
	for _, c := range cmds {
		if r, ok := s.Command(c); !ok || !strings.HasPrefix(r, "+OK") {
			t.Fatalf("%q: %q", c, r)
		}
	}
	return &s
}

// subscribed returns the events of evs FreeSWITCH sends Source.
func subscribed(t testing.TB, evs []esltest.Message) []esltest.Message {
	s := subscription(t)
	var out []esltest.Message
	for _, m := range evs {
		if s.Wants(m.Body) {
			out = append(out, m)
		}
	}
	return out
}

// TestSubscribedOnly: what the tracker decides from the events Source
// subscribes to (filters included) is what it decides from all of them,
// for every capture and scenario, in order and shuffled as eslgo may.
func TestSubscribedOnly(t *testing.T) {
	all := map[string]want{}
	for n, w := range captures {
		all[n] = w
	}
	for n, w := range scenarios {
		all[filepath.Join("tracker", n)] = w
	}
	total, kept := 0, 0
	for name, w := range all {
		evs := loadEvents(t, name)
		sub := subscribed(t, evs)
		total, kept = total+len(evs), kept+len(sub)
		if len(sub) == 0 || len(sub) >= len(evs) {
			t.Errorf("%s: %d of %d events subscribed", name, len(sub), len(evs))
		}
		t.Run(name, func(t *testing.T) {
			check(t, feed(t, NewTracker(TrackerConfig{}), sub), w)
		})
		// Shuffled as TestScenariosOutOfOrder does, then filtered.
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("%s/shuffled/%d", name, seed), func(t *testing.T) {
				evs := append([]esltest.Message(nil), evs...)
				r := rand.New(rand.NewPCG(seed, 2))
				for i := 0; i+3 <= len(evs); i += 3 {
					r.Shuffle(3, func(a, b int) { evs[i+a], evs[i+b] = evs[i+b], evs[i+a] })
				}
				check(t, feed(t, NewTracker(TrackerConfig{}), subscribed(t, evs)), w)
			})
		}
	}
	t.Logf("%d of %d events subscribed", kept, total)
}

// TestSubscribedEvents: the subscription lets through each event the
// tracker reads and nothing else of the captures.
func TestSubscribedEvents(t *testing.T) {
	s := subscription(t)
	for _, name := range []string{"ring_no_answer_voicemail.esl.txt", "answered.esl.txt", "outbound_call.esl.txt"} {
		for _, m := range loadEvents(t, name) {
			h, err := parseBody(m.Body)
			if err != nil {
				t.Fatal(err)
			}
			var e event
			e.decode(h, "")
			want := false
			switch e[fName] {
			case "CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
				"CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE":
				want = true
			case "CHANNEL_EXECUTE":
				want = e[fApp] == "bridge" || e[fApp] == "voicemail"
			case "CUSTOM":
				want = e[fSubclass] == "vm::maintenance"
			}
			if got := s.Wants(m.Body); got != want {
				t.Errorf("%s: %s %s %s: sent %v, want %v", name, e[fName], e[fSubclass], e[fApp], got, want)
			}
		}
	}
}
