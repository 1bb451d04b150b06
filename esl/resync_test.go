package esl

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/esl/esltest"
)

const (
	aLeg = "6a181782-ae72-4026-b598-6dda43578c20" // ring_no_answer_hangup's caller
	bLeg = "a660d991-afe2-4e96-9ae0-fde1893a4d20" // and phone 100, ringing
	// ringing is how many of its events (counting all kinds) pass until
	// phone 100 rings.
	ringing = 24
)

// noEmpty is FreeSWITCH's answer to "show channels as json" with no channel.
const noEmpty = `{"row_count":0}`

// resyncSource runs a Source against srv until the test ends.
func resyncSource(t *testing.T, srv *esltest.Server) <-chan textback.Event {
	t.Helper()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	src := New(Config{Address: srv.Addr(), Password: "ClueCon"}, testLog(t))
	src.backoffMin, src.backoffMax = 10*time.Millisecond, 20*time.Millisecond
	out := make(chan textback.Event, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return 5s after cancel")
		}
	})
	return out
}

// nextCall returns the next call that ended, within 5s.
func nextCall(t *testing.T, out <-chan textback.Event) textback.Call {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-out:
			if ev.Kind == textback.CallEnded {
				return ev.Call
			}
		case <-deadline:
			t.Fatal("no call within 5s")
		}
	}
}

// TestResyncHangupInOutage: phone 100 rings, the link drops, the caller
// hangs up while it is down; on reconnect FreeSWITCH lists no channel, and
// the call is reported at once, judged on what was seen: no_answer.
func TestResyncHangupInOutage(t *testing.T) {
	evs := loadEvents(t, "ring_no_answer_hangup.esl.txt")
	srv := &esltest.Server{
		Password:     "ClueCon",
		Streams:      [][]esltest.Message{evs[:ringing], nil},
		Notice:       true,
		ShowChannels: []string{noEmpty, noEmpty},
	}
	out := resyncSource(t, srv)
	c := nextCall(t, out)
	if c.Direction != textback.Inbound || c.Outcome != textback.NoAnswer || c.CallerNum != caller || c.DID != did || c.Rang <= 0 {
		t.Errorf("call = %+v, want inbound no_answer from %s to %s with a ring time", c, caller, did)
	}
	select {
	case ev := <-out:
		t.Errorf("a second event %v: %+v", ev.Kind, ev.Call)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestResyncCallBeganInOutage: the call begins while the link is down;
// on reconnect FreeSWITCH lists its two legs, and the events that follow
// decide it.
func TestResyncCallBeganInOutage(t *testing.T) {
	evs := loadEvents(t, "ring_no_answer_hangup.esl.txt")
	list := fmt.Sprintf(`{"row_count":2,"rows":[`+
		`{"uuid":%q,"direction":"inbound","created_epoch":"1795845225","name":"sofia/external/+13125550123@127.0.0.1","state":"CS_EXECUTE","cid_name":"Pat Caller","cid_num":"+13125550123","dest":"+12125550100","application":"bridge","application_data":"user/100","dialplan":"XML","context":"public","callstate":"RINGING","call_uuid":"","initial_cid_name":"Pat Caller","initial_cid_num":"+13125550123","initial_dest":"+12125550100","initial_context":"public"},`+
		`{"uuid":%q,"direction":"outbound","created_epoch":"1795845226","name":"sofia/internal/100@127.0.0.1:5190","state":"CS_CONSUME_MEDIA","cid_name":"Pat Caller","cid_num":"+13125550123","dest":"100","application":"","context":"public","callstate":"RINGING","call_uuid":%q,"initial_dest":"100","initial_context":"public"}]}`,
		aLeg, bLeg, aLeg)
	srv := &esltest.Server{
		Password:     "ClueCon",
		Streams:      [][]esltest.Message{nil, evs[ringing:]},
		Notice:       true,
		ShowChannels: []string{noEmpty, list},
	}
	out := resyncSource(t, srv)
	c := nextCall(t, out)
	if c.ID != aLeg || c.Direction != textback.Inbound || c.Outcome != textback.NoAnswer || c.CallerNum != caller || c.DID != did || c.Rang <= 0 {
		t.Errorf("call = %+v, want %s inbound no_answer from %s to %s with a ring time", c, aLeg, caller, did)
	}
}

func TestParseChannels(t *testing.T) {
	for in, want := range map[string]int{
		noEmpty: 0,
		`{"row_count":1,"rows":[{"uuid":"x","callstate":"ACTIVE"}]}`: 1,
		"-ERR show Command not found!\n":                             -1,
		`{"rows":[]}`:                                                -1,
	} {
		got, err := ParseChannels([]byte(in))
		if want < 0 {
			if err == nil {
				t.Errorf("ParseChannels(%q) = %v, want an error", in, got)
			}
			continue
		}
		if err != nil || len(got) != want {
			t.Errorf("ParseChannels(%q) = %v, %v; want %d rows", in, got, err, want)
		}
	}
}
