package ari

import (
	"bytes"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/ari/aritest"
)

// lines splits a capture after its n-th line.
func lines(t *testing.T, name string, n int) (head, tail []byte) {
	t.Helper()
	l := bytes.SplitAfter(capture(t, name), []byte("\n"))
	if n <= 0 || n >= len(l) {
		t.Fatalf("%s: cannot split %d lines after %d", name, len(l), n)
	}
	return bytes.Join(l[:n], nil), bytes.Join(l[n:], nil)
}

// quiet fails if r reports anything within d.
func (r *running) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-r.events:
		t.Errorf("unexpected %v of %+v", ev.Kind, ev.Call)
	case <-time.After(d):
	}
}

// TestResyncHangupInOutage: phone 100 rings, the websocket drops, the
// caller hangs up while it is down; on reconnect /ari/channels lists
// neither channel, and the call is reported once, soon, judged on what was
// seen: no_answer.
func TestResyncHangupInOutage(t *testing.T) {
	head, tail := lines(t, "ring_no_answer_hangup", 30) // the leg rings
	srv := newServer(t, aritest.ServerConfig{})
	r := start(t, Config{URL: srv.URL()})
	srv.Play(head)
	eventually(t, "the first part sent", func() bool { return srv.Stats().Sent == 30 && srv.Stats().Listings == 1 })
	dropped := time.Now()
	srv.Drop()
	srv.Elapse(tail)
	got := r.next(t, 5*time.Second)
	want := trackerCases["ring_no_answer_hangup"]
	if string(got.ID) != want.id || got.Direction != textback.Inbound || got.Outcome != textback.NoAnswer || got.Ended.Before(dropped) {
		t.Errorf("call = %+v, want %s inbound no_answer ended at the re-sync", got, want.id)
	}
	srv.Play(tail) // were the lost events replayed after all
	eventually(t, "the replay sent", func() bool { return srv.Pending() == 0 })
	r.quiet(t, 100*time.Millisecond)
}

// TestResyncCallBeganInOutage: the call begins while the websocket is
// down; the source adopts the caller from /ari/channels and judges the
// call by the events that follow.
func TestResyncCallBeganInOutage(t *testing.T) {
	head, tail := lines(t, "ring_no_answer_hangup", 30)
	srv := newServer(t, aritest.ServerConfig{})
	// A backoff long enough that the call surely begins during the outage.
	r := startBackoff(t, Config{URL: srv.URL()}, 300*time.Millisecond, 300*time.Millisecond)
	eventually(t, "a first re-sync", func() bool { return srv.Stats().Listings == 1 })
	srv.Drop()
	srv.Elapse(head)
	eventually(t, "a second re-sync", func() bool { return srv.Stats().Listings == 2 })
	srv.Play(tail)
	got := r.next(t, 5*time.Second)
	want := trackerCases["ring_no_answer_hangup"]
	if string(got.ID) != want.id || got.Direction != textback.Inbound || got.Outcome != textback.NoAnswer || got.CallerNum != want.callerNum || got.DID != want.did {
		t.Errorf("call = %+v, want %s inbound no_answer from %s to %s", got, want.id, want.callerNum, want.did)
	}
}

// TestResyncAnsweredInOutage: a phone answers while the websocket is down;
// /ari/bridges shows the caller bridged to it, so the call is answered, not
// missed.
func TestResyncAnsweredInOutage(t *testing.T) {
	l := bytes.SplitAfter(capture(t, "answered"), []byte("\n"))
	head, mid, rest := bytes.Join(l[:30], nil), bytes.Join(l[30:45], nil), bytes.Join(l[45:], nil)
	srv := newServer(t, aritest.ServerConfig{})
	r := start(t, Config{URL: srv.URL()})
	srv.Play(head)
	eventually(t, "the first part sent", func() bool { return srv.Stats().Sent == 30 && srv.Stats().Listings == 1 })
	srv.Drop()
	srv.Elapse(mid)
	select {
	case ev := <-r.events:
		if ev.Kind != textback.CallAnswered {
			t.Fatalf("first event %v of %+v, want CallAnswered", ev.Kind, ev.Call)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no CallAnswered within 5s of the drop")
	}
	srv.Play(rest)
	if got := r.next(t, 5*time.Second); got.Outcome != textback.Answered {
		t.Errorf("call = %+v, want answered", got)
	}
}
