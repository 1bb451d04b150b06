package esl

import (
	"context"
	"errors"
	"math"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/esl/esltest"
)

// want is what EXPECTED.md (testdata/EXPECTED.md) says of a scenario.
type want struct {
	dir      textback.Direction
	outcome  textback.Outcome // checked for inbound calls
	caller   string
	did      string
	withheld bool
	rang     float64 // seconds; < 0: not checked
}

const (
	caller = "+13125550123"
	did    = "+12125550100"
)

var captures = map[string]want{
	"ring_no_answer_hangup.esl.txt":    {textback.Inbound, textback.NoAnswer, caller, did, false, 11.26},
	"ring_no_answer_voicemail.esl.txt": {textback.Inbound, textback.Voicemail, caller, did, false, 11.54},
	"caller_abandons.esl.txt":          {textback.Inbound, textback.Abandoned, caller, did, false, 5.06},
	"answered.esl.txt":                 {textback.Inbound, textback.Answered, caller, did, false, 4.04},
	"busy.esl.txt":                     {textback.Inbound, textback.Busy, caller, did, false, 0}, // no 180: never rang
	"anonymous.esl.txt":                {textback.Inbound, textback.NoAnswer, "anonymous", did, true, 11.54},
	"internal_call.esl.txt":            {textback.Internal, "", "100", "", false, -1},
	"outbound_call.esl.txt":            {textback.Outbound, "", "100", "", false, -1},
}

func check(t *testing.T, got []textback.Call, w want) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("got %d calls, want 1: %+v", len(got), got)
	}
	c := got[0]
	if c.Direction != w.dir {
		t.Errorf("Direction = %q, want %q", c.Direction, w.dir)
	}
	if w.dir == textback.Inbound && c.Outcome != w.outcome {
		t.Errorf("Outcome = %q, want %q", c.Outcome, w.outcome)
	}
	if c.CallerNum != w.caller {
		t.Errorf("CallerNum = %q, want %q", c.CallerNum, w.caller)
	}
	if c.DID != w.did {
		t.Errorf("DID = %q, want %q", c.DID, w.did)
	}
	if c.Withheld != w.withheld {
		t.Errorf("Withheld = %v, want %v", c.Withheld, w.withheld)
	}
	if w.rang >= 0 && math.Abs(c.Rang.Seconds()-w.rang) > 0.1 {
		t.Errorf("Rang = %v, want %.2fs ±0.1s", c.Rang, w.rang)
	}
	if c.Source != "esl" || c.ID == "" || c.Started.IsZero() || c.Ended.Before(c.Started) || c.Decided.IsZero() {
		t.Errorf("bad call: %+v", c)
	}
}

// TestCaptures plays every recorded stream from the loopback server to the
// real eslgo client and Source over TCP.
func TestCaptures(t *testing.T) {
	for name, w := range captures {
		t.Run(name, func(t *testing.T) {
			check(t, runStream(t, Config{}, loadEvents(t, name)), w)
		})
	}
}

func TestCapturesTracker(t *testing.T) {
	for name, w := range captures {
		t.Run(name, func(t *testing.T) {
			check(t, feed(t, NewTracker(TrackerConfig{}), loadEvents(t, name)), w)
		})
	}
}

func TestSubscription(t *testing.T) {
	srv := &esltest.Server{Password: "ClueCon"}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	src := New(Config{Address: srv.Addr(), Password: "ClueCon"}, testLog(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, make(chan textback.Event)) }()
	deadline := time.Now().Add(5 * time.Second)
	for !src.Connected() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !src.Connected() {
		t.Fatal("not connected")
	}
	cancel()
	<-done
	if src.Connected() {
		t.Error("Connected() after Run returned")
	}
	cmds := srv.Commands()
	want := []string{"auth ***", "api show channels as json"}
	for _, f := range Filters {
		want = append(want, "filter "+f[0]+" "+f[1])
	}
	want = append(want, "event plain "+strings.Join(Subscribed, " "), "exit")
	if len(cmds) != len(want) {
		t.Fatalf("commands = %q, want %q", cmds, want)
	}
	for i := range want {
		if cmds[i] != want[i] {
			t.Errorf("command %d = %q, want %q", i, cmds[i], want[i])
		}
	}
}

func TestCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	for name, tt := range map[string]struct {
		srv     *esltest.Server
		pw      string
		want    error
		wantMsg string
	}{
		"ok":             {&esltest.Server{Password: "ClueCon"}, "ClueCon", nil, ""},
		"bad password":   {&esltest.Server{Password: "ClueCon"}, "wrong", ErrAuth, "rejected the password"},
		"acl rejection":  {&esltest.Server{Reject: true}, "ClueCon", ErrRejected, "apply-inbound-acl"},
		"silent":         {&esltest.Server{Silent: true}, "ClueCon", ErrRejected, "rejected or not FreeSWITCH: check apply-inbound-acl"},
		"refused":        {nil, "ClueCon", syscall.ECONNREFUSED, "connection refused"},
		"no port number": {nil, "", nil, ""},
	} {
		t.Run(name, func(t *testing.T) {
			addr := closedAddr
			if tt.srv != nil {
				if err := tt.srv.Start(); err != nil {
					t.Fatal(err)
				}
				defer tt.srv.Close()
				addr = tt.srv.Addr()
			}
			if name == "no port number" {
				if got := withPort("127.0.0.1"); got != "127.0.0.1:8021" {
					t.Errorf("withPort = %q", got)
				}
				if got := withPort("::1"); got != "[::1]:8021" {
					t.Errorf("withPort = %q", got)
				}
				if got := withPort("pbx:9000"); got != "pbx:9000" {
					t.Errorf("withPort = %q", got)
				}
				return
			}
			src := New(Config{Address: addr, Password: tt.pw, DialTimeout: 500 * time.Millisecond}, testLog(t))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			err := src.Check(ctx)
			if time.Since(start) > 3*time.Second {
				t.Errorf("Check took %v", time.Since(start))
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check() = %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check() = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Check() = %q, want it to say %q", err, tt.wantMsg)
			}
		})
	}
}

// TestDropMidStream cuts the first connection halfway through a message;
// the source reconnects and reports the call the second connection plays.
func TestDropMidStream(t *testing.T) {
	evs := loadEvents(t, "ring_no_answer_hangup.esl.txt")
	srv := &esltest.Server{Password: "ClueCon", Streams: [][]esltest.Message{evs, evs}, DropAfter: len(evs) / 2}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// The second connection plays the rest: the tracker keeps the call
	// across connections.
	srv.Streams[1] = evs[len(evs)/2:]
	// eslgo stops reading silently on a cut message (only a clean EOF makes
	// it call OnDisconnect): the keepalive finds the dead link.
	src := New(Config{Address: srv.Addr(), Password: "ClueCon", KeepAlive: 100 * time.Millisecond}, testLog(t))
	src.backoffMin, src.backoffMax = 10*time.Millisecond, 20*time.Millisecond
	out := make(chan textback.Event, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	select {
	case ev := <-out:
		if ev.Call.Outcome != textback.NoAnswer || ev.Call.CallerNum != caller {
			t.Errorf("call = %+v, want a no_answer from %s", ev.Call, caller)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no call after the drop; %d connections", srv.Connections())
	}
	if srv.Subscriptions() < 2 {
		t.Errorf("subscriptions = %d, want a reconnect", srv.Subscriptions())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v", err)
	}
}

// TestInterleaved plays two calls whose events alternate.
func TestInterleaved(t *testing.T) {
	a, b := loadEvents(t, "answered.esl.txt"), loadEvents(t, "busy.esl.txt")
	var mixed []esltest.Message
	for i := 0; i < max(len(a), len(b)); i++ {
		if i < len(a) {
			mixed = append(mixed, a[i])
		}
		if i < len(b) {
			mixed = append(mixed, b[i])
		}
	}
	calls := runStream(t, Config{}, mixed)
	got := map[textback.Outcome]int{}
	for _, c := range calls {
		got[c.Outcome]++
	}
	if len(calls) != 2 || got[textback.Answered] != 1 || got[textback.Busy] != 1 {
		t.Errorf("outcomes = %v, want one answered and one busy", got)
	}
}

// TestGarbage plays broken and huge events before a real call: nothing
// panics and the call is still reported.
func TestGarbage(t *testing.T) {
	huge := "Event-Name: CHANNEL_CREATE\nUnique-ID: x\nvariable_big: " + strings.Repeat("%41", 400_000) + "\n\n"
	junk := []esltest.Message{
		esltest.EventPlain([]byte("\n")),
		esltest.EventPlain([]byte("no colon here\n\n")),
		esltest.EventPlain([]byte("Event-Name: CHANNEL_HANGUP_COMPLETE\nUnique-ID: %zz\nCaller-Channel-Created-Time: -1\nCaller-Channel-Hangup-Time: 99999999999999999999999\n\n")),
		esltest.EventPlain([]byte(huge)),
		esltest.EventPlain([]byte("Event-Name: CHANNEL_BRIDGE\nUnique-ID: y\nBridge-A-Unique-ID: y\nBridge-B-Unique-ID: y\n\n")),
		{Type: "text/event-json", Raw: []byte("Content-Length: 2\nContent-Type: text/event-json\n\n{}")},
	}
	// Unfiltered: FreeSWITCH would not send events without a name.
	calls := runServer(t, &esltest.Server{Unfiltered: true, Streams: [][]esltest.Message{append(junk, loadEvents(t, "answered.esl.txt")...)}}, Config{})
	var ours []textback.Call
	for _, c := range calls {
		if c.CallerNum == caller {
			ours = append(ours, c)
		}
	}
	check(t, ours, captures["answered.esl.txt"])
}
