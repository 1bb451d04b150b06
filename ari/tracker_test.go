package ari

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cari "github.com/CyCoreSystems/ari/v6"

	"github.com/textback/textback"
)

// The lab's dialplan: trunks deliver to from-trunk, which sets __TB_DID.
var trackerLab = TrackerConfig{InboundContexts: []string{"from-trunk"}, DIDVariable: "__TB_DID"}

// wantCall is what a capture's one call must be reported as.
type wantCall struct {
	id        string
	dir       textback.Direction
	outcome   textback.Outcome
	callerNum string
	withheld  bool
	did       string
	rang      float64 // seconds, ±0.5
}

// trackerCases are the captures in testdata (truth in testdata/EXPECTED.md),
// with the verdicts package ami's tracker reaches on the same calls.
var trackerCases = map[string]wantCall{
	"ring_no_answer_hangup":    {"textback-lab-1795845639.0", textback.Inbound, textback.NoAnswer, "+13125550101", false, "+12125550100", 12},
	"ring_no_answer_voicemail": {"textback-lab-1795845667.2", textback.Inbound, textback.Voicemail, "+13125550102", false, "+12125550101", 12},
	"caller_abandons":          {"textback-lab-1795845711.4", textback.Inbound, textback.Abandoned, "+13125550103", false, "+12125550100", 5},
	"answered":                 {"textback-lab-1795845727.6", textback.Inbound, textback.Answered, "+13125550104", false, "+12125550100", 4},
	"busy":                     {"textback-lab-1795845746.8", textback.Inbound, textback.Busy, "+13125550105", false, "+12125550100", 0},
	"anonymous":                {"textback-lab-1795845756.10", textback.Inbound, textback.NoAnswer, "anonymous", true, "+12125550100", 12},
	"internal_call":            {"textback-lab-1795845821.16", textback.Internal, textback.NoAnswer, "100", false, "", 12},
	"outbound_call":            {"textback-lab-1795845844.18", textback.Outbound, textback.Answered, "100", false, "", 2},
	"queue_answered":           {"textback-lab-1795845879.27", textback.Inbound, textback.Answered, "+13125550110", false, "+12125550104", 4},
}

// readCapture returns the lines of testdata/<name>.ari.jsonl.
func readCapture(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".ari.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			lines = append(lines, append([]byte(nil), l...))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// decodeAll decodes a capture, skipping what the library cannot decode
// (nothing, in the captures).
func decodeAll(t testing.TB, lines [][]byte) []cari.Event {
	t.Helper()
	var evs []cari.Event
	for i, l := range lines {
		e, err := cari.DecodeEvent(l)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		evs = append(evs, e)
	}
	return evs
}

// at says when an event was received: 50 ms after its timestamp.
func at(e cari.Event, prev time.Time) time.Time {
	if ts := eventTime(e); !ts.IsZero() {
		return ts.Add(50 * time.Millisecond)
	}
	return prev
}

func eventTime(e cari.Event) time.Time {
	type stamped interface{ GetTimestamp() cari.DateTime }
	var ts cari.DateTime
	switch e := e.(type) {
	case *cari.ChannelCreated:
		ts = e.Timestamp
	case *cari.ChannelDestroyed:
		ts = e.Timestamp
	case *cari.ChannelVarset:
		ts = e.Timestamp
	case *cari.ChannelDialplan:
		ts = e.Timestamp
	case *cari.Dial:
		ts = e.Timestamp
	case *cari.ChannelHangupRequest:
		ts = e.Timestamp
	case *cari.ChannelEnteredBridge:
		ts = e.Timestamp
	case *cari.ChannelLeftBridge:
		ts = e.Timestamp
	case *cari.ChannelStateChange:
		ts = e.Timestamp
	}
	return time.Time(ts)
}

func checkCall(t *testing.T, got textback.Call, want wantCall) {
	t.Helper()
	if string(got.ID) != want.id {
		t.Errorf("ID = %q, want %q", got.ID, want.id)
	}
	if got.Source != "ari" {
		t.Errorf("Source = %q, want ari", got.Source)
	}
	if got.Direction != want.dir {
		t.Errorf("Direction = %q, want %q", got.Direction, want.dir)
	}
	if got.Outcome != want.outcome {
		t.Errorf("Outcome = %q, want %q", got.Outcome, want.outcome)
	}
	if got.CallerNum != want.callerNum {
		t.Errorf("CallerNum = %q, want %q", got.CallerNum, want.callerNum)
	}
	if got.Withheld != want.withheld {
		t.Errorf("Withheld = %v, want %v", got.Withheld, want.withheld)
	}
	if got.DID != want.did {
		t.Errorf("DID = %q, want %q", got.DID, want.did)
	}
	if d := got.Rang.Seconds() - want.rang; d < -0.5 || d > 0.5 {
		t.Errorf("Rang = %v, want %vs ±0.5s", got.Rang, want.rang)
	}
	if got.Started.IsZero() || got.Ended.Before(got.Started) {
		t.Errorf("Started %v, Ended %v", got.Started, got.Ended)
	}
	if want.dir == textback.Inbound && got.Context != "from-trunk" {
		t.Errorf("Context = %q, want from-trunk", got.Context)
	}
}

func TestTrackerCaptures(t *testing.T) {
	for name, want := range trackerCases {
		t.Run(name, func(t *testing.T) {
			evs := decodeAll(t, readCapture(t, name))
			// The call must be reported by the ChannelDestroyed of its
			// last channel.
			last := -1
			for i, e := range evs {
				if _, ok := e.(*cari.ChannelDestroyed); ok {
					last = i
				}
			}
			tr := NewTracker(trackerLab)
			var got []textback.Call
			var now time.Time
			for i, e := range evs {
				now = at(e, now)
				calls := ended(tr.Handle(e, now))
				if len(calls) > 0 && i != last {
					t.Errorf("reported at event %d (%s), want at the last ChannelDestroyed, event %d", i, e.GetType(), last)
				}
				for _, c := range calls {
					if !c.Decided.Equal(now) {
						t.Errorf("Decided = %v, want %v", c.Decided, now)
					}
				}
				got = append(got, calls...)
			}
			if len(got) != 1 {
				t.Fatalf("reported %d calls, want 1: %+v", len(got), got)
			}
			checkCall(t, got[0], want)
			if tr.Len() != 0 || len(tr.chans) != 0 || len(tr.bridges) != 0 || len(tr.locals) != 0 {
				t.Errorf("after the capture: %d calls, %d channels, %d bridges, %d locals tracked, want none",
					tr.Len(), len(tr.chans), len(tr.bridges), len(tr.locals))
			}
		})
	}
}

// TestTrackerInterleaved plays every capture at once, events of the calls
// interleaved in timestamp order, and expects each verdict unchanged.
func TestTrackerInterleaved(t *testing.T) {
	type item struct {
		e    cari.Event
		ts   time.Time
		name string
	}
	var all []item
	// Shift each capture to start at the same instant, so their events
	// overlap.
	base := time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)
	for name := range trackerCases {
		lines := readCapture(t, name)
		var first time.Time
		for _, l := range lines {
			e, err := cari.DecodeEvent(l)
			if err != nil {
				t.Fatal(err)
			}
			ts := eventTime(e)
			if ts.IsZero() {
				continue
			}
			if first.IsZero() {
				first = ts
			}
			// Re-decode with the shifted timestamp.
			shifted := base.Add(ts.Sub(first)).Format(cari.DateFormat)
			l = bytes.Replace(l, []byte(ts.Format(cari.DateFormat)), []byte(shifted), 1)
			e, err = cari.DecodeEvent(l)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, item{e, eventTime(e), name})
		}
	}
	// A stable merge by time keeps each capture's own order.
	sortStable(all, func(a, b item) bool { return a.ts.Before(b.ts) })
	tr := NewTracker(trackerLab)
	got := map[string][]textback.Call{}
	for _, it := range all {
		for _, c := range ended(tr.Handle(it.e, it.ts.Add(50*time.Millisecond))) {
			got[string(c.ID)] = append(got[string(c.ID)], c)
		}
	}
	if len(got) != len(trackerCases) {
		t.Errorf("reported %d calls, want %d", len(got), len(trackerCases))
	}
	for name, want := range trackerCases {
		t.Run(name, func(t *testing.T) {
			calls := got[want.id]
			if len(calls) != 1 {
				t.Fatalf("reported %d times, want once", len(calls))
			}
			checkCall(t, calls[0], want)
		})
	}
	if tr.Len() != 0 {
		t.Errorf("Len() = %d at the end, want 0", tr.Len())
	}
}

func sortStable[T any](s []T, less func(a, b T) bool) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && less(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestTrackerPresentation: the lookup's answer decides Withheld, and a call
// that ends before it is held until it comes or times out.
func TestTrackerPresentation(t *testing.T) {
	const caller = "textback-lab-1795845639.0"
	for name, tc := range map[string]struct {
		pres     string // "" : no answer, the lookup times out
		answer   bool
		withheld bool
	}{
		"prohibited":  {"prohib_passed_screen", true, true},
		"unavailable": {"unavailable", true, true},
		"allowed":     {"allowed_not_screened", true, false},
		"failed":      {"", true, false},
		"timeout":     {"", false, false},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := trackerLab
			cfg.LookupPres = true
			cfg.PresTimeout = time.Minute // the capture lasts 12 s
			tr := NewTracker(cfg)
			var now time.Time
			var got []textback.Call
			asked := 0
			for _, e := range decodeAll(t, readCapture(t, "ring_no_answer_hangup")) {
				now = at(e, now)
				got = append(got, ended(tr.Handle(e, now))...)
				for _, id := range tr.Lookups() {
					asked++
					if id != caller {
						t.Errorf("lookup of %s, want only the caller %s", id, caller)
					}
				}
			}
			if asked != 1 {
				t.Fatalf("%d lookups, want 1", asked)
			}
			if len(got) != 0 {
				t.Fatalf("reported before the lookup was answered: %+v", got)
			}
			if tr.Len() != 1 {
				t.Errorf("Len() = %d while held, want 1", tr.Len())
			}
			if tc.answer {
				got = ended(tr.Presentation(caller, tc.pres, now))
			} else {
				if c := ended(tr.Expire(now)); len(c) != 0 {
					t.Fatalf("expired at once")
				}
				// The lookup was asked 12 s ago, at the call's start.
				got = ended(tr.Expire(now.Add(48 * time.Second)))
			}
			if len(got) != 1 {
				t.Fatalf("reported %d calls, want 1", len(got))
			}
			if got[0].Withheld != tc.withheld || got[0].CallerNum != "+13125550101" {
				t.Errorf("Withheld = %v, CallerNum %q; want %v, +13125550101", got[0].Withheld, got[0].CallerNum, tc.withheld)
			}
			if tr.Len() != 0 || len(tr.pres) != 0 {
				t.Errorf("after: %d calls, %d lookups pending", tr.Len(), len(tr.pres))
			}
		})
	}
}

// TestTrackerPresentationEarly: an answer before the call ends is kept, and
// the call is reported at its end without waiting.
func TestTrackerPresentationEarly(t *testing.T) {
	cfg := trackerLab
	cfg.LookupPres = true
	tr := NewTracker(cfg)
	var now time.Time
	var got []textback.Call
	for _, e := range decodeAll(t, readCapture(t, "answered")) {
		now = at(e, now)
		got = append(got, ended(tr.Handle(e, now))...)
		for _, id := range tr.Lookups() {
			got = append(got, ended(tr.Presentation(id, "prohib", now))...)
		}
	}
	if len(got) != 1 || !got[0].Withheld || got[0].Outcome != textback.Answered {
		t.Fatalf("got %+v, want one answered call, withheld", got)
	}
}

// TestTrackerCallerPresVar: a dialplan's Set(TEXTBACK_PRES=${CALLERID(pres)})
// and ChannelCallerId's caller_presentation are read too.
func TestTrackerCallerPresVar(t *testing.T) {
	lines := readCapture(t, "busy")
	for name, extra := range map[string]string{
		"varset":   `{"type":"ChannelVarset","variable":"TEXTBACK_PRES","value":"prohib_not_screened","timestamp":"2026-11-28T06:02:26.072+0000","channel":{"id":"textback-lab-1795845746.8","name":"PJSIP/carrier-00000008","state":"Ring"}}`,
		"callerid": `{"type":"ChannelCallerId","caller_presentation":35,"caller_presentation_txt":"Number Unavailable","timestamp":"2026-11-28T06:02:26.072+0000","channel":{"id":"textback-lab-1795845746.8","name":"PJSIP/carrier-00000008","state":"Ring"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			ls := append([][]byte{}, lines[:3]...)
			ls = append(ls, []byte(extra))
			ls = append(ls, lines[3:]...)
			tr := NewTracker(trackerLab)
			var got []textback.Call
			for _, e := range decodeAll(t, ls) {
				got = append(got, ended(tr.Handle(e, time.Now()))...)
			}
			if len(got) != 1 || !got[0].Withheld {
				t.Fatalf("got %+v, want one withheld call", got)
			}
		})
	}
}

// TestTrackerPresTold: a Varset of the dialplan's copy of CALLERID(pres),
// or a ChannelCallerId, on the caller's channel tells the presentation, so
// the call is reported at its end without waiting for the lookup; a value
// that is no presentation leaves the call held. An allowed Varset does not
// undo a withheld one, and a lookup answered after it can still withhold.
func TestTrackerPresTold(t *testing.T) {
	const caller = "textback-lab-1795845746.8"
	varset := func(name, value string) string {
		return `{"type":"ChannelVarset","variable":"` + name + `","value":"` + value + `","timestamp":"2026-11-28T06:02:26.072+0000","channel":{"id":"` + caller + `","name":"PJSIP/carrier-00000008","state":"Ring"}}`
	}
	callerID := func(pres int) string {
		return `{"type":"ChannelCallerId","caller_presentation":` + itoa(pres) + `,"timestamp":"2026-11-28T06:02:26.072+0000","channel":{"id":"` + caller + `","name":"PJSIP/carrier-00000008","state":"Ring"}}`
	}
	for name, tc := range map[string]struct {
		extra    []string
		lookup   string // answered just after the extra events; "": not answered
		held     bool
		withheld bool
	}{
		"callerpres allowed":       {extra: []string{varset("CALLERPRES", "allowed_not_screened")}},
		"callerpres prohibited":    {extra: []string{varset("CALLERPRES", "prohib_not_screened")}, withheld: true},
		"textback_pres number":     {extra: []string{varset("__TEXTBACK_PRES", "0")}},
		"callerid allowed":         {extra: []string{callerID(0)}},
		"callerid unavailable":     {extra: []string{callerID(35)}, withheld: true},
		"allowed then prohibited":  {extra: []string{varset("CALLERPRES", "prohib"), varset("CALLERPRES", "allowed")}, withheld: true},
		"allowed, lookup withheld": {extra: []string{varset("CALLERPRES", "allowed")}, lookup: "prohib_passed_screen", withheld: true},
		"empty value":              {extra: []string{varset("CALLERPRES", "")}, held: true},
		"not a presentation":       {extra: []string{varset("CALLERPRES", "${CALLERID(pres)}")}, held: true},
		"another variable":         {extra: []string{varset("FOO", "allowed")}, held: true},
	} {
		t.Run(name, func(t *testing.T) {
			lines := readCapture(t, "busy")
			ls := append([][]byte{}, lines[:3]...)
			for _, x := range tc.extra {
				ls = append(ls, []byte(x))
			}
			ls = append(ls, lines[3:]...)
			cfg := trackerLab
			cfg.LookupPres = true
			cfg.PresTimeout = time.Hour
			tr := NewTracker(cfg)
			var now time.Time
			var got []textback.Call
			for i, e := range decodeAll(t, ls) {
				now = at(e, now)
				got = append(got, ended(tr.Handle(e, now))...)
				if ids := tr.Lookups(); len(ids) > 0 && (len(ids) != 1 || ids[0] != caller) {
					t.Fatalf("lookups %q, want only %s", ids, caller)
				}
				if i == 2+len(tc.extra) && tc.lookup != "" {
					got = append(got, ended(tr.Presentation(caller, tc.lookup, now))...)
				}
			}
			if tc.held {
				if len(got) != 0 || tr.Len() != 1 {
					t.Fatalf("reported %+v (Len %d), want the call held for the lookup", got, tr.Len())
				}
				got = ended(tr.Presentation(caller, "allowed_not_screened", now))
			}
			if len(got) != 1 || got[0].Outcome != textback.Busy {
				t.Fatalf("got %+v, want one busy call reported at its end", got)
			}
			if got[0].Withheld != tc.withheld {
				t.Errorf("Withheld = %v, want %v", got[0].Withheld, tc.withheld)
			}
			if tr.Len() != 0 || len(tr.pres) != 0 {
				t.Errorf("after: %d calls, %d lookups pending", tr.Len(), len(tr.pres))
			}
			if c := ended(tr.Presentation(caller, "prohib", now)); len(c) != 0 {
				t.Errorf("a late answer reported %+v", c)
			}
		})
	}
}

// TestTrackerLegCreatedInTrunkContext: an outgoing trunk leg, created Down
// in the inbound context, that no Dial links to a caller, is not reported as
// an inbound call.
func TestTrackerLegCreatedInTrunkContext(t *testing.T) {
	var ls [][]byte
	for _, l := range readCapture(t, "outbound_call") {
		if bytes.Contains(l, []byte(`"textback-lab-1795845844.19"`)) && !bytes.Contains(l, []byte(`"type":"Dial"`)) {
			ls = append(ls, l)
		}
	}
	tr := NewTracker(trackerLab)
	var got []textback.Call
	for _, e := range decodeAll(t, ls) {
		got = append(got, ended(tr.Handle(e, time.Now()))...)
	}
	if len(got) != 1 || got[0].Direction == textback.Inbound {
		t.Fatalf("got %+v, want one call, not inbound", got)
	}
}

// TestTrackerUnknownChannels: events of channels never seen created change
// nothing and report nothing.
func TestTrackerUnknownChannels(t *testing.T) {
	var ls [][]byte
	for _, l := range readCapture(t, "answered") {
		if !strings.Contains(string(l), `"type":"ChannelCreated"`) {
			ls = append(ls, l)
		}
	}
	tr := NewTracker(trackerLab)
	for _, e := range decodeAll(t, ls) {
		if got := ended(tr.Handle(e, time.Now())); len(got) != 0 {
			t.Fatalf("reported %+v", got)
		}
	}
	if tr.Len() != 0 {
		t.Errorf("Len() = %d, want 0", tr.Len())
	}
}

// TestTrackerStale drops a call whose end was lost.
func TestTrackerStale(t *testing.T) {
	lines := readCapture(t, "answered")
	tr := NewTracker(TrackerConfig{InboundContexts: []string{"from-trunk"}, StaleAfter: time.Hour})
	now := time.Now()
	for _, e := range decodeAll(t, lines[:10]) {
		tr.Handle(e, now)
	}
	if tr.Len() != 1 {
		t.Fatalf("Len() = %d, want 1", tr.Len())
	}
	tr.Handle(&cari.ChannelStateChange{}, now.Add(2*time.Hour))
	if tr.Len() != 0 || len(tr.chans) != 0 {
		t.Errorf("after StaleAfter: %d calls, %d channels, want 0", tr.Len(), len(tr.chans))
	}
}

// TestTrackerMaxCalls caps the calls followed.
func TestTrackerMaxCalls(t *testing.T) {
	tr := NewTracker(TrackerConfig{MaxCalls: 3})
	now := time.Now()
	for i := range 10 {
		tr.Handle(&cari.ChannelCreated{Channel: cari.ChannelData{ID: "c" + itoa(i), Name: "PJSIP/x-" + itoa(i), State: "Ring"}}, now.Add(time.Duration(i)))
	}
	if tr.Len() != 3 {
		t.Errorf("Len() = %d, want 3", tr.Len())
	}
}

// ended returns the calls of the CallEnded events among evs.
func ended(evs []textback.Event) []textback.Call {
	var calls []textback.Call
	for _, ev := range evs {
		if ev.Kind == textback.CallEnded {
			calls = append(calls, ev.Call)
		}
	}
	return calls
}

// TestTrackerAnsweredEvent checks the CallAnswered event of every capture:
// one for each answered call, at a ChannelEnteredBridge, before its
// CallEnded, with the numbers known then.
func TestTrackerAnsweredEvent(t *testing.T) {
	dialed := map[string]string{"outbound_call": "+16175550199"}
	for name, want := range trackerCases {
		t.Run(name, func(t *testing.T) {
			tr := NewTracker(trackerLab)
			var answered []textback.Event
			endedAt := -1
			var now time.Time
			for i, e := range decodeAll(t, readCapture(t, name)) {
				now = at(e, now)
				for _, ev := range tr.Handle(e, now) {
					switch ev.Kind {
					case textback.CallAnswered:
						if endedAt >= 0 {
							t.Errorf("answered at event %d, after the end at event %d", i, endedAt)
						}
						if _, ok := e.(*cari.ChannelEnteredBridge); !ok {
							t.Errorf("answered at event %d, a %s, want a ChannelEnteredBridge", i, e.GetType())
						}
						answered = append(answered, ev)
					case textback.CallEnded:
						endedAt = i
					}
				}
			}
			wantN := 0
			if want.outcome == textback.Answered {
				wantN = 1
			}
			if len(answered) != wantN {
				t.Fatalf("%d answered events, want %d: %+v", len(answered), wantN, answered)
			}
			if wantN == 0 {
				return
			}
			c := answered[0].Call
			if string(c.ID) != want.id || c.Direction != want.dir || c.CallerNum != want.callerNum || c.DID != want.did || c.Dialed != dialed[name] {
				t.Errorf("answered %s %s from %q to DID %q, dialed %q; want %s %s from %q to DID %q, dialed %q",
					c.ID, c.Direction, c.CallerNum, c.DID, c.Dialed, want.id, want.dir, want.callerNum, want.did, dialed[name])
			}
		})
	}
}
