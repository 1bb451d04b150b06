package ari

import (
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/ari/aritest"
)

// scenarioCases are the hand-written streams of testdata/tracker (gen.py
// there), the situations of ami/testdata/tracker, with the verdicts
// ami.Tracker gives for them (ami/tracker_test.go).
var scenarioCases = map[string]wantCall{
	"tracker/ringgroup_local_answered": {"textback-lab-1795846200.40", textback.Inbound, textback.Answered, "+13125550106", false, "+12125550105", 6.5},
	"tracker/queue_abandoned":          {"textback-lab-1795846300.50", textback.Inbound, textback.Abandoned, "+13125550107", false, "+12125550104", 9},
	"tracker/followme_mobile_answered": {"textback-lab-1795846400.60", textback.Inbound, textback.Answered, "+13125550108", false, "+12125550106", 15.2},
	"tracker/closed_voicemail":         {"textback-lab-1795846500.70", textback.Inbound, textback.Voicemail, "+13125550109", false, "+12125550103", 0},
	"tracker/closed_hangup":            {"textback-lab-1795846600.80", textback.Inbound, textback.Unattended, "+13125550106", false, "+12125550107", 0},
	"tracker/ivr_caller_hangup":        {"textback-lab-1795846700.90", textback.Inbound, textback.Unattended, "+13125550107", false, "+12125550108", 0},
	"tracker/chanunavail":              {"textback-lab-1795846800.100", textback.Inbound, textback.Unavailable, "+13125550108", false, "+12125550100", 0},
	"tracker/ringgroup_busy_noanswer":  {"textback-lab-1795846900.110", textback.Inbound, textback.NoAnswer, "+13125550109", false, "+12125550109", 15},
}

func TestTrackerScenarios(t *testing.T) {
	for name, want := range scenarioCases {
		t.Run(name, func(t *testing.T) {
			tr := NewTracker(trackerLab)
			var got []textback.Call
			var now time.Time
			for _, e := range decodeAll(t, readCapture(t, name)) {
				now = at(e, now)
				got = append(got, ended(tr.Handle(e, now))...)
			}
			if len(got) != 1 {
				t.Fatalf("reported %d calls, want 1: %+v", len(got), got)
			}
			checkCall(t, got[0], want)
			if tr.Len() != 0 || len(tr.chans) != 0 || len(tr.bridges) != 0 || len(tr.locals) != 0 {
				t.Errorf("after the stream: %d calls, %d channels, %d bridges, %d locals tracked, want none",
					tr.Len(), len(tr.chans), len(tr.bridges), len(tr.locals))
			}
		})
	}
}

// TestSourceScenarios plays the written scenarios from the loopback ARI
// server to a real Source over its websocket.
func TestSourceScenarios(t *testing.T) {
	srv := newServer(t, aritest.ServerConfig{Username: "textback", Password: "s3cret"})
	r := start(t, Config{URL: srv.URL(), Username: "textback", Secret: "s3cret"})
	byID := map[string]string{}
	for name, want := range scenarioCases {
		srv.Play(capture(t, name))
		byID[want.id] = name
	}
	for range scenarioCases {
		got := r.next(t, 5*time.Second)
		name, ok := byID[string(got.ID)]
		if !ok {
			t.Fatalf("unexpected call %+v", got)
		}
		delete(byID, string(got.ID))
		t.Run(name, func(t *testing.T) { checkCall(t, got, scenarioCases[name]) })
	}
}
