package ami

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback"
)

// The lab's dialplan: trunks deliver to from-trunk, which sets __TB_DID.
var trackerLab = TrackerConfig{InboundContexts: []string{"from-trunk"}, DIDVariable: "__TB_DID"}

// wantCall is what a transcript's one call must be reported as.
type wantCall struct {
	id        string
	dir       textback.Direction
	outcome   textback.Outcome
	callerNum string
	withheld  bool
	did       string
	rang      float64 // seconds, ±0.5
}

// trackerCases are the transcripts: real captures in testdata (truth in
// testdata/EXPECTED.md), synthetic ones in testdata/tracker (README.md there).
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

	"tracker/ringgroup_local_answered": {"textback-lab-1795846200.40", textback.Inbound, textback.Answered, "+13125550106", false, "+12125550105", 6.5},
	"tracker/queue_abandoned":          {"textback-lab-1795846300.50", textback.Inbound, textback.Abandoned, "+13125550107", false, "+12125550104", 9},
	"tracker/followme_mobile_answered": {"textback-lab-1795846400.60", textback.Inbound, textback.Answered, "+13125550108", false, "+12125550106", 15.2},
	"tracker/closed_voicemail":         {"textback-lab-1795846500.70", textback.Inbound, textback.Voicemail, "+13125550109", false, "+12125550103", 0},
	"tracker/closed_hangup":            {"textback-lab-1795846600.80", textback.Inbound, textback.Unattended, "+13125550106", false, "+12125550107", 0},
	"tracker/ivr_caller_hangup":        {"textback-lab-1795846700.90", textback.Inbound, textback.Unattended, "+13125550107", false, "+12125550108", 0},
	"tracker/chanunavail":              {"textback-lab-1795846800.100", textback.Inbound, textback.Unavailable, "+13125550108", false, "+12125550100", 0},
	"tracker/ringgroup_busy_noanswer":  {"textback-lab-1795846900.110", textback.Inbound, textback.NoAnswer, "+13125550109", false, "+12125550109", 15},
}

// readTranscript parses testdata/<name>.ami.txt, banner skipped.
func readTranscript(t testing.TB, name string) []Frame {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".ami.txt"))
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(b))
	if _, err := r.Banner(); err != nil {
		t.Fatal(err)
	}
	var frames []Frame
	for {
		f, err := r.Read()
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", name, len(frames), err)
		}
		frames = append(frames, f)
	}
}

// replayClock says when a frame of a transcript was received: 50 ms after
// its Timestamp (network and scheduling), or when the previous one was.
type replayClock struct{ now time.Time }

func (c *replayClock) at(f Frame) time.Time {
	if ts, ok := parseTimestamp(f.Get("Timestamp")); ok {
		c.now = ts.Add(50 * time.Millisecond)
	}
	return c.now
}

func checkCall(t *testing.T, got textback.Call, want wantCall) {
	t.Helper()
	if string(got.ID) != want.id {
		t.Errorf("ID = %q, want %q", got.ID, want.id)
	}
	if got.Source != "ami" {
		t.Errorf("Source = %q, want ami", got.Source)
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
	if !got.Outcome.Valid() {
		t.Errorf("Outcome %q is not valid", got.Outcome)
	}
}

func TestTrackerTranscripts(t *testing.T) {
	for name, want := range trackerCases {
		t.Run(name, func(t *testing.T) {
			frames := readTranscript(t, name)
			// The call must be reported by the Hangup of its last channel.
			lastHangup := -1
			for i, f := range frames {
				if f.Event() == "Hangup" && f.Get("Linkedid") == want.id {
					lastHangup = i
				}
			}
			tr := NewTracker(trackerLab)
			var got []textback.Call
			var clock replayClock
			for i, f := range frames {
				now := clock.at(f)
				calls := ended(tr.Handle(f, now))
				if len(calls) > 0 && i != lastHangup {
					t.Errorf("reported at frame %d (%s), want at the last Hangup, frame %d", i, f.Event(), lastHangup)
				}
				for _, c := range calls {
					if !c.Decided.Equal(now) {
						t.Errorf("Decided = %v, want %v", c.Decided, now)
					}
					if tr.Len() != 0 {
						t.Errorf("Len() = %d after the call ended, want 0", tr.Len())
					}
				}
				got = append(got, calls...)
			}
			if len(got) != 1 {
				t.Fatalf("reported %d calls, want 1: %+v", len(got), got)
			}
			checkCall(t, got[0], want)
			if tr.Len() != 0 || len(tr.chans) != 0 {
				t.Errorf("after the transcript: %d calls, %d channels tracked, want 0", tr.Len(), len(tr.chans))
			}
		})
	}
}

// TestTrackerTimes checks Started and Ended against the captured stream.
func TestTrackerTimes(t *testing.T) {
	frames := readTranscript(t, "answered")
	tr := NewTracker(trackerLab)
	var got []textback.Call
	var clock replayClock
	for _, f := range frames {
		got = append(got, ended(tr.Handle(f, clock.at(f)))...)
	}
	if len(got) != 1 {
		t.Fatalf("got %d calls, want 1", len(got))
	}
	// Newchannel of the caller and Hangup of phone 100, in answered.ami.txt.
	if want := time.Unix(1795845727, 608883000); !got[0].Started.Equal(want) {
		t.Errorf("Started = %v, want %v", got[0].Started, want)
	}
	if want := time.Unix(1795845734, 643154000); !got[0].Ended.Equal(want) {
		t.Errorf("Ended = %v, want %v", got[0].Ended, want)
	}
	if got[0].CallerName != "Frank Caller" {
		t.Errorf("CallerName = %q, want Frank Caller", got[0].CallerName)
	}
}

// TestTrackerInterleaved replays every transcript at once, their frames
// interleaved, as calls overlap on a busy PBX.
func TestTrackerInterleaved(t *testing.T) {
	var streams [][]Frame
	for name := range trackerCases {
		streams = append(streams, readTranscript(t, name))
	}
	tr := NewTracker(trackerLab)
	got := map[string]textback.Call{}
	now := time.Now()
	for i := 0; ; i++ {
		more := false
		for _, s := range streams {
			if i < len(s) {
				more = true
				for _, c := range ended(tr.Handle(s[i], now)) {
					if _, dup := got[string(c.ID)]; dup {
						t.Errorf("%s reported twice", c.ID)
					}
					got[string(c.ID)] = c
				}
			}
		}
		if !more {
			break
		}
	}
	for name, want := range trackerCases {
		t.Run(name, func(t *testing.T) {
			c, ok := got[want.id]
			if !ok {
				t.Fatalf("%s not reported", want.id)
			}
			checkCall(t, c, want)
		})
	}
	if len(got) != len(trackerCases) || tr.Len() != 0 {
		t.Errorf("reported %d calls, %d left; want %d and 0", len(got), tr.Len(), len(trackerCases))
	}
}

// TestTrackerNoTimestamp feeds a stream from an Asterisk without
// timestampevents: times come from now.
func TestTrackerNoTimestamp(t *testing.T) {
	frames := readTranscript(t, "ring_no_answer_hangup")
	local := time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)
	var first, last time.Time
	tr := NewTracker(trackerLab)
	var got []textback.Call
	for _, f := range frames {
		// Receive the frame at the captured pace, on another clock.
		now := local
		if ts, ok := parseTimestamp(f.Get("Timestamp")); ok {
			now = local.Add(ts.Sub(time.Unix(1795845639, 0)))
		}
		var stripped Frame
		for _, fl := range f.Fields {
			if fl.Key != "Timestamp" {
				stripped.Fields = append(stripped.Fields, fl)
			}
		}
		if first.IsZero() && f.Event() == "Newchannel" {
			first = now
		}
		if f.Event() == "Hangup" {
			last = now
		}
		got = append(got, ended(tr.Handle(stripped, now))...)
	}
	if len(got) != 1 {
		t.Fatalf("got %d calls, want 1", len(got))
	}
	checkCall(t, got[0], trackerCases["ring_no_answer_hangup"])
	if !got[0].Started.Equal(first) || !got[0].Ended.Equal(last) || !got[0].Decided.Equal(last) {
		t.Errorf("Started %v Ended %v Decided %v, want %v %v %v", got[0].Started, got[0].Ended, got[0].Decided, first, last, last)
	}
}

// TestTrackerDID checks the DID with the variable spelled other ways, and
// the fallback to the Exten of the inbound context.
func TestTrackerDID(t *testing.T) {
	for _, v := range []string{"__TB_DID", "TB_DID", "_tb_did", "", "FROM_DID"} {
		t.Run(v, func(t *testing.T) {
			cfg := trackerLab
			cfg.DIDVariable = v
			got := trReplay(t, cfg, readTranscript(t, "ring_no_answer_voicemail"))
			if len(got) != 1 || got[0].DID != "+12125550101" {
				t.Errorf("got %+v, want one call with DID +12125550101", got)
			}
		})
	}
	// A dialplan whose variable holds something else than the Exten.
	frames := readTranscript(t, "busy")
	frames = trInsertAfter(frames, "Newchannel", trFrame("Event", "VarSet", "Channel", "PJSIP/carrier-00000008",
		"Uniqueid", "textback-lab-1795845746.8", "Linkedid", "textback-lab-1795845746.8",
		"Variable", "__FROM_DID", "Value", "2125550100"))
	cfg := trackerLab
	cfg.DIDVariable = "FROM_DID"
	if got := trReplay(t, cfg, frames); len(got) != 1 || got[0].DID != "2125550100" {
		t.Errorf("got %+v, want one call with DID 2125550100", got)
	}
}

// TestTrackerWithheld checks the ways AMI can say the caller hid the number.
func TestTrackerWithheld(t *testing.T) {
	const id = "textback-lab-1795845639.0"
	caller := func(kv ...string) Frame { // an event of the caller's channel
		return trFrame(append([]string{"Channel", "PJSIP/carrier-00000000", "Uniqueid", id, "Linkedid", id}, kv...)...)
	}
	phone := func(kv ...string) Frame { // an event of phone 100's channel
		return trFrame(append([]string{"Channel", "PJSIP/100-00000001", "Uniqueid", "textback-lab-1795845639.1", "Linkedid", id}, kv...)...)
	}
	for name, tt := range map[string]struct {
		extra    Frame
		withheld bool
	}{
		"NewCallerid restricted":   {caller("Event", "NewCallerid", "CID-CallingPres", "32 (Presentation Prohibited, Not Screened)"), true},
		"NewCallerid unavailable":  {caller("Event", "NewCallerid", "CID-CallingPres", "67 (Number Unavailable)"), true},
		"NewCallerid allowed":      {caller("Event", "NewCallerid", "CID-CallingPres", "0 (Presentation Allowed, Not Screened)"), false},
		"NewCallerid of a phone":   {phone("Event", "NewCallerid", "CID-CallingPres", "32 (Presentation Prohibited, Not Screened)"), false},
		"VarSet CALLERPRES":        {caller("Event", "VarSet", "Variable", "__CALLERPRES", "Value", "prohib_passed_screen"), true},
		"VarSet CALLERPRES number": {caller("Event", "VarSet", "Variable", "CALLERPRES", "Value", "35"), true},
		"VarSet CALLERPRES phone":  {phone("Event", "VarSet", "Variable", "CALLERPRES", "Value", "prohib"), false},
		"VarSet other":             {caller("Event", "VarSet", "Variable", "PRES", "Value", "prohib"), false},
	} {
		t.Run(name, func(t *testing.T) {
			frames := trInsertAfter(readTranscript(t, "ring_no_answer_hangup"), "DialBegin", tt.extra)
			got := trReplay(t, trackerLab, frames)
			if len(got) != 1 {
				t.Fatalf("got %d calls, want 1", len(got))
			}
			// The number stays raw: what the rules get is up to them.
			if got[0].Withheld != tt.withheld || got[0].CallerNum != "+13125550101" {
				t.Errorf("Withheld = %v, CallerNum = %q; want %v, +13125550101", got[0].Withheld, got[0].CallerNum, tt.withheld)
			}
		})
	}
}

func TestWithheldNumber(t *testing.T) {
	for n, want := range map[string]bool{
		"anonymous": true, "Anonymous": true, "<unknown>": true, "": true, "Restricted": true,
		"PRIVATE": true, "unavailable": true, "Unknown": true,
		"+13125550101": false, "100": false, "3125550101": false,
	} {
		if got := withheldNumber(n); got != want {
			t.Errorf("withheldNumber(%q) = %v, want %v", n, got, want)
		}
	}
	for p, want := range map[string]bool{
		"0 (Presentation Allowed, Not Screened)": false, "3 (Presentation Allowed, Network Number)": false,
		"32 (Presentation Prohibited, Not Screened)": true, "35": true, "67 (Number Unavailable)": true,
		"prohib_not_screened": true, "prohib": true, "unavailable": true, "allowed_not_screened": false,
		"": false, "garbage": false,
	} {
		if got := presWithheld(p); got != want {
			t.Errorf("presWithheld(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestTrackerLinkedidChange moves channels between calls, as Asterisk does
// when it bridges channels of two calls (transfers, Bridge()).
func TestTrackerLinkedidChange(t *testing.T) {
	now := time.Now()
	t.Run("first channel joins an older call", func(t *testing.T) {
		tr := NewTracker(trackerLab)
		var got []textback.Call
		for _, f := range []Frame{
			trNewchannel("a", "a", "PJSIP/carrier-1", "+13125550101", "from-trunk"),
			trNewchannel("x", "x", "PJSIP/100-2", "100", "internal"),
			trFrame("Event", "BridgeEnter", "Channel", "PJSIP/100-2", "Uniqueid", "x", "Linkedid", "a", "BridgeUniqueid", "b1"),
			trFrame("Event", "BridgeEnter", "Channel", "PJSIP/carrier-1", "Uniqueid", "a", "Linkedid", "a", "BridgeUniqueid", "b1"),
			trHangup("a", "a", "16"),
			trHangup("x", "a", "16"),
		} {
			got = append(got, ended(tr.Handle(f, now))...)
		}
		if len(got) != 1 || got[0].ID != "a" || got[0].Outcome != textback.Answered {
			t.Errorf("got %+v, want call a, answered", got)
		}
		if tr.Len() != 0 || len(tr.chans) != 0 {
			t.Errorf("%d calls, %d channels left", tr.Len(), len(tr.chans))
		}
	})
	t.Run("last live channel leaves", func(t *testing.T) {
		tr := NewTracker(trackerLab)
		var got []textback.Call
		for _, f := range []Frame{
			trNewchannel("o", "o", "PJSIP/101-0", "101", "internal"),
			trNewchannel("a", "a", "PJSIP/carrier-1", "+13125550101", "from-trunk"),
			trNewchannel("p", "a", "PJSIP/100-2", "100", "internal"),
			trDialBegin("a", "p"),
			trHangup("a", "a", "16"), // the caller leaves; 100 stays
			trFrame("Event", "Newstate", "Channel", "PJSIP/100-2", "Uniqueid", "p", "Linkedid", "o"), // 100 joins call o
		} {
			got = append(got, ended(tr.Handle(f, now))...)
		}
		if len(got) != 1 || got[0].ID != "a" || got[0].Outcome != textback.NoAnswer {
			t.Errorf("got %+v, want call a, no_answer", got)
		}
		got = got[:0]
		for _, f := range []Frame{trHangup("p", "o", "16"), trHangup("o", "o", "16")} {
			got = append(got, ended(tr.Handle(f, now))...)
		}
		if len(got) != 1 || got[0].ID != "o" || tr.Len() != 0 || len(tr.chans) != 0 {
			t.Errorf("got %+v, %d calls, %d channels left; want call o and nothing left", got, tr.Len(), len(tr.chans))
		}
	})
	t.Run("moves to a call not followed", func(t *testing.T) {
		tr := NewTracker(trackerLab)
		var got []textback.Call
		for _, f := range []Frame{
			trNewchannel("a", "a", "PJSIP/carrier-1", "+13125550101", "from-trunk"),
			trNewchannel("p", "a", "PJSIP/100-2", "100", "internal"),
			trFrame("Event", "Newstate", "Uniqueid", "p", "Linkedid", "zz"),
			trHangup("p", "zz", "16"),
			trHangup("a", "a", "16"),
		} {
			got = append(got, ended(tr.Handle(f, now))...)
		}
		if len(got) != 1 || got[0].ID != "a" || tr.Len() != 0 || len(tr.chans) != 0 {
			t.Errorf("got %+v, %d calls, %d channels left", got, tr.Len(), len(tr.chans))
		}
	})
}

// TestTrackerLocalNotPerson: a Local leg answered by an announcement, and a
// ConfBridge announcer, are not people.
func TestTrackerLocalNotPerson(t *testing.T) {
	tr := NewTracker(trackerLab)
	now := time.Now()
	var got []textback.Call
	for _, f := range []Frame{
		trNewchannel("a", "a", "PJSIP/carrier-1", "+13125550101", "from-trunk"),
		trNewchannel("l1", "a", "Local/vm100@vm-0001;1", "", "vm"),
		trNewchannel("l2", "a", "Local/vm100@vm-0001;2", "", "vm"),
		trDialBegin("a", "l1"),
		trFrame("Event", "Newexten", "Channel", "Local/vm100@vm-0001;2", "Uniqueid", "l2", "Linkedid", "a", "Context", "vm", "Application", "Playback", "AppData", "vm-intro"),
		trFrame("Event", "DialEnd", "Uniqueid", "a", "Linkedid", "a", "DestUniqueid", "l1", "DialStatus", "ANSWER"),
		trFrame("Event", "BridgeEnter", "Channel", "Local/vm100@vm-0001;1", "Uniqueid", "l1", "Linkedid", "a", "BridgeUniqueid", "b"),
		trFrame("Event", "BridgeEnter", "Channel", "PJSIP/carrier-1", "Uniqueid", "a", "Linkedid", "a", "BridgeUniqueid", "b"),
		trFrame("Event", "BridgeEnter", "Channel", "CBAnn/conf-0001;1", "Uniqueid", "ann", "Linkedid", "a", "BridgeUniqueid", "b"),
		trHangup("a", "a", "16"), trHangup("l1", "a", "16"), trHangup("l2", "a", "16"), trHangup("ann", "a", "16"),
	} {
		got = append(got, ended(tr.Handle(f, now))...)
	}
	if len(got) != 1 || got[0].Outcome == textback.Answered {
		t.Errorf("got %+v, want one missed call", got)
	}
}

// TestTrackerQueueTimeout: app_queue sends QueueCallerAbandon when the
// queue times out too; the caller did not abandon then.
func TestTrackerQueueTimeout(t *testing.T) {
	for _, vm := range []bool{false, true} {
		t.Run(fmt.Sprint("voicemail=", vm), func(t *testing.T) {
			ev := func(event string, kv ...string) Frame {
				return trFrame(append([]string{"Event", event, "Uniqueid", "q", "Linkedid", "q", "Timestamp"}, kv...)...)
			}
			frames := []Frame{
				trFrame("Event", "Newchannel", "Timestamp", "100.0", "Channel", "PJSIP/carrier-1", "CallerIDNum", "+13125550101", "Context", "from-trunk", "Exten", "+12125550104", "Uniqueid", "q", "Linkedid", "q"),
				ev("QueueCallerJoin", "100.1", "Queue", "support"),
				trNewchannel("m1", "q", "Local/100@queue-agents-1;1", "", "queue-agents"),
				trNewchannel("m2", "q", "Local/100@queue-agents-1;2", "", "queue-agents"),
				ev("AgentCalled", "100.2", "DestUniqueid", "m1"),
				ev("DialBegin", "100.2", "DestUniqueid", "m1"),
				ev("AgentRingNoAnswer", "115.2", "DestUniqueid", "m1"),
				ev("DialEnd", "115.2", "DestUniqueid", "m1", "DialStatus", "NOANSWER"),
				trHangup("m1", "q", "16"), trHangup("m2", "q", "16"),
				ev("QueueCallerAbandon", "120.1", "Queue", "support"),
				ev("QueueCallerLeave", "120.1", "Queue", "support"),
			}
			if vm {
				frames = append(frames, ev("Newexten", "120.2", "Context", "from-trunk", "Application", "VoiceMail"))
			}
			frames = append(frames, ev("HangupRequest", "130.0"), ev("Hangup", "130.0", "Cause", "16"))
			got := trReplay(t, trackerLab, frames)
			want := textback.NoAnswer
			if vm {
				want = textback.Voicemail
			}
			if len(got) != 1 || got[0].Outcome != want || got[0].Rang != 15*time.Second {
				t.Errorf("got %+v, want one call, %s, rang 15s", got, want)
			}
		})
	}
}

// TestTrackerStale drops calls whose end was never seen.
func TestTrackerStale(t *testing.T) {
	frames := readTranscript(t, "queue_answered")
	tr := NewTracker(trackerLab)
	start := time.Now()
	for _, f := range frames[:len(frames)/2] {
		if got := ended(tr.Handle(f, start)); got != nil {
			t.Fatalf("reported %+v before the end", got)
		}
	}
	if tr.Len() != 1 {
		t.Fatalf("Len() = %d, want 1", tr.Len())
	}
	tr.Handle(Frame{}, start.Add(5*time.Hour))
	if tr.Len() != 1 {
		t.Errorf("Len() = %d after 5h, want 1", tr.Len())
	}
	if got := ended(tr.Handle(Frame{}, start.Add(6*time.Hour+2*time.Minute))); got != nil || tr.Len() != 0 || len(tr.chans) != 0 {
		t.Errorf("after 6h: reported %+v, %d calls, %d channels; want nothing", got, tr.Len(), len(tr.chans))
	}
	// The rest of the call is ignored: its first channel is forgotten.
	for _, f := range frames[len(frames)/2:] {
		if got := ended(tr.Handle(f, start.Add(7*time.Hour))); got != nil {
			t.Errorf("reported %+v for a dropped call", got)
		}
	}
	if tr.Len() != 0 {
		t.Errorf("Len() = %d, want 0", tr.Len())
	}
}

// TestTrackerMaxCalls evicts the call heard from least recently.
func TestTrackerMaxCalls(t *testing.T) {
	cfg := trackerLab
	cfg.MaxCalls = 3
	tr := NewTracker(cfg)
	now := time.Now()
	for i := range 5 {
		id := fmt.Sprint("c", i)
		tr.Handle(trNewchannel(id, id, "PJSIP/carrier-"+id, "+13125550101", "from-trunk"), now.Add(time.Duration(i)*time.Second))
	}
	if tr.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", tr.Len())
	}
	if got := ended(tr.Handle(trHangup("c0", "c0", "16"), now.Add(10*time.Second))); got != nil {
		t.Errorf("evicted call reported: %+v", got)
	}
	if got := ended(tr.Handle(trHangup("c4", "c4", "16"), now.Add(10*time.Second))); len(got) != 1 || got[0].ID != "c4" {
		t.Errorf("got %+v, want c4", got)
	}
}

// TestTrackerGarbage feeds frames no Asterisk sends. Nothing may panic, and
// nothing may stay tracked once the stale sweep has run.
func TestTrackerGarbage(t *testing.T) {
	tr := NewTracker(trackerLab)
	now := time.Now()
	for _, f := range []Frame{
		{},
		{Fields: []Field{{}}},
		{Fields: []Field{{Key: "Event"}, {Key: "Uniqueid"}, {Key: "Linkedid"}}},
		trFrame("Event", "Hangup"),
		trFrame("Event", "Hangup", "Uniqueid", "x"),
		trFrame("Event", "Hangup", "Linkedid", "x"),
		trFrame("Event", "Hangup", "Uniqueid", "x", "Linkedid", "x"),
		trFrame("Event", "Newchannel", "Uniqueid", "n", "Linkedid", "n", "Timestamp", "garbage"),
		trFrame("Event", "Newchannel", "Uniqueid", "n", "Linkedid", "n", "Timestamp", "1.2.3"),
		trFrame("Event", "Newexten", "Uniqueid", "n", "Linkedid", "n", "Timestamp", "99999999999999999999.5"),
		trFrame("Event", "Newexten", "Uniqueid", "n", "Linkedid", "n", "Timestamp", "-5", "Context", "from-trunk"),
		trFrame("Event", "Newexten", "Uniqueid", "n", "Linkedid", "n", "Timestamp", ".5", "Application", "VoiceMail"),
		trFrame("Event", "DialBegin", "Uniqueid", "n", "Linkedid", "n", "DestUniqueid", "nobody"),
		trFrame("Event", "DialBegin", "Uniqueid", "n", "Linkedid", "n", "DestUniqueid", "n"),
		trFrame("Event", "DialEnd", "Uniqueid", "n", "Linkedid", "n", "DestUniqueid", "n", "DialStatus", "ANSWER"),
		trFrame("Event", "DialEnd", "Uniqueid", "n", "Linkedid", "n", "DestUniqueid", "n", "DialStatus", "\x00\xff"),
		trFrame("Event", "AgentConnect", "Uniqueid", "n", "Linkedid", "n", "RingTime", "-1"),
		trFrame("Event", "AgentConnect", "Uniqueid", "n", "Linkedid", "n", "RingTime", "99999999999999999999"),
		trFrame("Event", "BridgeEnter", "Uniqueid", "n", "Linkedid", "n"),
		trFrame("Event", "BridgeEnter", "Uniqueid", "n", "Linkedid", "n", "BridgeUniqueid", "b"),
		trFrame("Event", "BridgeEnter", "Uniqueid", "m", "Linkedid", "n", "BridgeUniqueid", "b", "Channel", "Local/;2"),
		trFrame("Event", "BridgeLeave", "Uniqueid", "nope", "Linkedid", "nope", "BridgeUniqueid", "b"),
		trFrame("Event", "VarSet", "Uniqueid", "n", "Linkedid", "n", "Variable", "___", "Value", ""),
		trFrame("Event", "VarSet", "Uniqueid", "n", "Linkedid", "n", "Variable", "CALLERPRES"),
		trFrame("Event", "NewCallerid", "Uniqueid", "n", "Linkedid", "n", "CID-CallingPres", "9999999999"),
		trFrame("event", "newchannel", "uniqueid", "lower", "linkedid", "lower"),
		trFrame("EVENT", "Newchannel", "UNIQUEID", "up", "LINKEDID", "up", "Channel", "Local/x;1"),
		trFrame("Event", "Newchannel", "Uniqueid", "up2", "Linkedid", "up", "Channel", "Local/x;2"),
		trFrame("Event", "Newchannel", "Uniqueid", "up3", "Linkedid", "up", "Channel", "Local/x;2"),
		trFrame("Event", "Newchannel", "Uniqueid", "n", "Linkedid", "other"),
		trFrame("Event", "Hangup", "Uniqueid", "m", "Linkedid", "n", "Cause", "17"),
		trFrame("Event", "Hangup", "Uniqueid", "m", "Linkedid", "n", "Cause", "17"),
		trFrame("Event", "Hangup", "Uniqueid", "up", "Linkedid", "up", "Uniqueid", "second"),
	} {
		tr.Handle(f, now)
	}
	tr.Handle(Frame{}, now.Add(7*time.Hour))
	if tr.Len() != 0 || len(tr.chans) != 0 {
		t.Errorf("%d calls, %d channels left after the sweep", tr.Len(), len(tr.chans))
	}
}

// TestTrackerMangled replays transcripts with frames dropped, repeated and
// moved, and fields dropped. Each call is reported at most once, and the
// stale sweep leaves nothing behind.
func TestTrackerMangled(t *testing.T) {
	var streams [][]Frame
	for _, name := range slices.Sorted(maps.Keys(trackerCases)) { // the same rounds every run
		streams = append(streams, readTranscript(t, name))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	for round := range 300 {
		s := streams[round%len(streams)]
		var frames []Frame
		for _, f := range s {
			switch rng.IntN(20) {
			case 0: // dropped
			case 1: // repeated
				frames = append(frames, f, f)
			case 2: // a field dropped
				g := Frame{Fields: append([]Field(nil), f.Fields...)}
				if len(g.Fields) > 0 {
					i := rng.IntN(len(g.Fields))
					g.Fields = append(g.Fields[:i], g.Fields[i+1:]...)
				}
				frames = append(frames, g)
			default:
				frames = append(frames, f)
			}
		}
		for range 10 {
			i, j := rng.IntN(len(frames)), rng.IntN(len(frames))
			frames[i], frames[j] = frames[j], frames[i]
		}
		tr := NewTracker(trackerLab)
		seen := map[textback.CallID]bool{}
		for _, f := range frames {
			for _, c := range ended(tr.Handle(f, now)) {
				if seen[c.ID] {
					t.Errorf("round %d: %s reported twice", round, c.ID)
				}
				seen[c.ID] = true
				if !c.Outcome.Valid() {
					t.Errorf("round %d: outcome %q", round, c.Outcome)
				}
			}
		}
		tr.Handle(Frame{}, now.Add(7*time.Hour))
		if tr.Len() != 0 || len(tr.chans) != 0 {
			t.Errorf("round %d: %d calls, %d channels left", round, tr.Len(), len(tr.chans))
		}
	}
}

func FuzzTracker(f *testing.F) {
	for _, name := range []string{"busy", "tracker/chanunavail", "tracker/closed_voicemail"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".ami.txt"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Event: Newchannel\r\nUniqueid: a\r\nLinkedid: a\r\nContext: from-trunk\r\n\r\nEvent: Hangup\r\nUniqueid: a\r\nLinkedid: a\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := trackerLab
		cfg.MaxCalls = 16
		tr := NewTracker(cfg)
		r := NewReader(bytes.NewReader(data))
		now := time.Unix(1795845639, 0)
		for range 10000 {
			frame, err := r.Read()
			if err != nil {
				break
			}
			for _, c := range ended(tr.Handle(frame, now)) {
				if !c.Outcome.Valid() || c.ID == "" {
					t.Errorf("bad call %+v", c)
				}
			}
			if tr.Len() > cfg.MaxCalls {
				t.Fatalf("Len() = %d > MaxCalls", tr.Len())
			}
		}
		tr.Handle(Frame{}, now.Add(7*time.Hour))
		if tr.Len() != 0 || len(tr.chans) != 0 {
			t.Errorf("%d calls, %d channels left after the sweep", tr.Len(), len(tr.chans))
		}
	})
}

func TestParseTimestamp(t *testing.T) {
	for s, want := range map[string]time.Time{
		"1795845639.280774": time.Unix(1795845639, 280774000),
		"1795845639":        time.Unix(1795845639, 0),
		"1795845639.":       time.Unix(1795845639, 0),
		"1.5":               time.Unix(1, 500000000),
		"1.1234567891234":   time.Unix(1, 123456789),
	} {
		if got, ok := parseTimestamp(s); !ok || !got.Equal(want) {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", ".5", "abc", "1.2.3", "-5", "1e9", "9999999999999.1", " 1"} {
		if got, ok := parseTimestamp(s); ok {
			t.Errorf("parseTimestamp(%q) = %v, want failure", s, got)
		}
	}
}

// BenchmarkTracker replays every transcript, their frames interleaved (17
// calls in progress at once), each round with other Uniqueids and
// Linkedids than the round before. The renamed frames are prepared
// beforehand, in two sets used in turn: a set comes back only after the
// tracker has reported and forgotten its calls, and the input stays small
// enough to stay in cache, as frames fresh from the Reader are.
func BenchmarkTracker(b *testing.B) {
	const sets = 2
	var names []string
	for name := range trackerCases {
		names = append(names, name)
	}
	var rounds [sets][]Frame
	for k := range sets {
		var streams [][]Frame
		for _, name := range names {
			streams = append(streams, renameIDs(readTranscript(b, name), fmt.Sprintf("r%d-", k)))
		}
		for i := 0; ; i++ {
			more := false
			for _, s := range streams {
				if i < len(s) {
					rounds[k] = append(rounds[k], s[i])
					more = true
				}
			}
			if !more {
				break
			}
		}
	}
	tr := NewTracker(trackerLab)
	now := time.Now()
	events, calls := 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A round reuses the ids of the round before last: let the
		// tracker's memory of reported calls (endedFor) forget them.
		now = now.Add(endedFor + time.Minute)
		for _, f := range rounds[i%sets] {
			for _, ev := range tr.Handle(f, now) {
				if ev.Kind == textback.CallEnded {
					calls++
				}
			}
		}
		events += len(rounds[i%sets])
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.StopTimer()
	if want := b.N * len(names); calls != want || tr.Len() != 0 {
		b.Fatalf("%d calls reported, %d left; want %d and 0", calls, tr.Len(), want)
	}
}

// renameIDs prefixes every Uniqueid, Linkedid and BridgeUniqueid of frames.
func renameIDs(frames []Frame, prefix string) []Frame {
	out := make([]Frame, len(frames))
	for i, f := range frames {
		g := Frame{Fields: append([]Field(nil), f.Fields...)}
		for j, fl := range g.Fields {
			if fl.Value != "" && (strings.HasSuffix(fl.Key, "Uniqueid") || strings.HasSuffix(fl.Key, "Linkedid")) {
				g.Fields[j].Value = prefix + fl.Value
			}
		}
		out[i] = g
	}
	return out
}

// trFrame builds a frame from key, value pairs.
func trFrame(kv ...string) Frame {
	var f Frame
	for i := 0; i+1 < len(kv); i += 2 {
		f.Fields = append(f.Fields, Field{Key: kv[i], Value: kv[i+1]})
	}
	return f
}

func trNewchannel(uid, lid, name, num, context string) Frame {
	return trFrame("Event", "Newchannel", "Channel", name, "CallerIDNum", num, "Context", context, "Exten", "s", "Uniqueid", uid, "Linkedid", lid)
}

func trHangup(uid, lid, cause string) Frame {
	return trFrame("Event", "Hangup", "Uniqueid", uid, "Linkedid", lid, "Cause", cause)
}

func trDialBegin(uid, dest string) Frame {
	return trFrame("Event", "DialBegin", "Uniqueid", uid, "Linkedid", uid, "DestUniqueid", dest)
}

// trInsertAfter inserts extra after the first frame whose event is event.
func trInsertAfter(frames []Frame, event string, extra Frame) []Frame {
	for i, f := range frames {
		if f.Event() == event {
			return append(frames[:i+1:i+1], append([]Frame{extra}, frames[i+1:]...)...)
		}
	}
	return append(frames, extra)
}

func trReplay(t *testing.T, cfg TrackerConfig, frames []Frame) []textback.Call {
	t.Helper()
	tr := NewTracker(cfg)
	var got []textback.Call
	var clock replayClock
	for _, f := range frames {
		got = append(got, ended(tr.Handle(f, clock.at(f)))...)
	}
	if tr.Len() != 0 {
		t.Errorf("Len() = %d at the end, want 0", tr.Len())
	}
	return got
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

// TestTrackerAnsweredEvent checks the CallAnswered event of every
// transcript: one for each answered call, at a BridgeEnter, before its
// CallEnded, with the numbers known then.
func TestTrackerAnsweredEvent(t *testing.T) {
	dialed := map[string]string{"outbound_call": "+16175550199"}
	for name, want := range trackerCases {
		t.Run(name, func(t *testing.T) {
			tr := NewTracker(trackerLab)
			var clock replayClock
			var answered []textback.Event
			endedAt := -1
			for i, f := range readTranscript(t, name) {
				for _, ev := range tr.Handle(f, clock.at(f)) {
					switch ev.Kind {
					case textback.CallAnswered:
						if endedAt >= 0 {
							t.Errorf("answered at frame %d, after the end at frame %d", i, endedAt)
						}
						if f.Event() != "BridgeEnter" {
							t.Errorf("answered at frame %d, a %s, want a BridgeEnter", i, f.Event())
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
			if c.Outcome != textback.Answered || !c.Ended.IsZero() {
				t.Errorf("answered event: Outcome %q, Ended %v; want answered, zero", c.Outcome, c.Ended)
			}
		})
	}
}
