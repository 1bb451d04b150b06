package ami

import (
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/ami/amitest"
)

// counted makes src count the frames its tracker handled, for a test to
// wait on without touching the tracker.
func counted(src *Source) *atomic.Int64 {
	var n atomic.Int64
	handle := src.handle
	src.handle = func(f Frame, now time.Time) []textback.Event {
		defer n.Add(1)
		return handle(f, now)
	}
	return &n
}

// resynced reports whether src logged a re-sync that left it n calls.
func resynced(rec *recorder, n int) bool {
	for _, r := range rec.find(slog.LevelInfo, "ami calls in progress re-synced") {
		if strings.Contains(r, " calls="+strconv.Itoa(n)+" ") {
			return true
		}
	}
	return false
}

// noMoreEvents fails if out gets an event within d.
func noMoreEvents(t *testing.T, out <-chan textback.Event, d time.Duration) {
	t.Helper()
	select {
	case ev := <-out:
		t.Errorf("unexpected event %v of call %s: %+v", ev.Kind, ev.Call.ID, ev.Call)
	case <-time.After(d):
	}
}

// TestResyncHangupInOutage: a call rings, the link drops, the caller hangs
// up while it is down (the events are lost), the source reconnects: the
// call is reported once, soon, judged on what was seen before the drop.
func TestResyncHangupInOutage(t *testing.T) {
	data := captures(t)["ring_no_answer_hangup"]
	part1, part2 := splitTranscript(t, data, 34) // the leg rings
	srv := newServer(t, amitest.ServerConfig{Transcripts: [][]byte{part1}})
	rec := &recorder{}
	src := newSource(t, Config{Address: srv.Addr(), InboundContexts: []string{"from-trunk"}}, slog.New(rec))
	fed := counted(src)
	out := make(chan textback.Event, 4)
	run(t, src, out)
	waitFor(t, "the first part", func() bool { return fed.Load() == int64(eventCount(t, part1)) })
	dropped := time.Now()
	srv.Drop()
	srv.Elapse(part2)
	c := recvCall(t, out)
	if c.Direction != textback.Inbound || c.Outcome != textback.NoAnswer || c.CallerNum != "+13125550101" || c.DID != "+12125550100" {
		t.Errorf("call = %+v, want inbound no_answer from +13125550101 to +12125550100", c)
	}
	if c.Ended.Before(dropped) || c.Rang <= 0 {
		t.Errorf("Ended %v (link dropped %v), Rang %v: want the re-sync's time and a ring time", c.Ended, dropped, c.Rang)
	}
	if !resynced(rec, 0) {
		t.Errorf("no re-sync to 0 calls logged:\n%s", rec.all())
	}
	// Were the lost events replayed after all, the call is not reported twice.
	srv.Play(part2)
	waitFor(t, "the replay", func() bool { return srv.Stats().Played == 2 })
	noMoreEvents(t, out, 100*time.Millisecond)
	if w := rec.find(slog.LevelWarn, "ami CoreShowChannels refused: calls whose hangup is lost in an outage are dropped unreported after 6h; give the manager user write = reporting in manager.conf"); len(w) != 0 {
		t.Errorf("Warn %q, want none", w)
	}
}

// TestResyncCallBeganInOutage: a call begins while the link is down; the
// source adopts it from the list on reconnect and judges it by the events
// that follow.
func TestResyncCallBeganInOutage(t *testing.T) {
	data := captures(t)["ring_no_answer_hangup"]
	part1, part2 := splitTranscript(t, data, 34)
	srv := newServer(t, amitest.ServerConfig{})
	rec := &recorder{}
	src := newSource(t, Config{Address: srv.Addr(), InboundContexts: []string{"from-trunk"}}, slog.New(rec))
	// A backoff long enough that the call surely begins during the outage.
	src.backoffMin, src.backoffMax = 300*time.Millisecond, 300*time.Millisecond
	out := make(chan textback.Event, 4)
	run(t, src, out)
	waitFor(t, "a login", func() bool { return srv.Stats().Logins == 1 })
	srv.Drop()
	srv.Elapse(part1)
	waitFor(t, "the adopted call", func() bool { return resynced(rec, 1) })
	// The adopted call's times are local (the list has no Timestamp), the
	// capture's from the lab's clock: drop its Timestamps so both are local.
	srv.Play(regexp.MustCompile(`(?m)^Timestamp: .*\r\n`).ReplaceAll(part2, nil))
	c := recvCall(t, out)
	if c.Direction != textback.Inbound || c.Outcome != textback.NoAnswer || c.CallerNum != "+13125550101" || c.DID != "+12125550100" || c.Context != "from-trunk" {
		t.Errorf("call = %+v, want inbound no_answer from +13125550101 to +12125550100 in from-trunk", c)
	}
	if c.Rang <= 0 || c.Started.IsZero() || c.Ended.Before(c.Started) {
		t.Errorf("Rang %v, Started %v, Ended %v: want a ring time and Started <= Ended", c.Rang, c.Started, c.Ended)
	}
	noMoreEvents(t, out, 50*time.Millisecond)
}

// TestResyncAnsweredInOutage: a call rings, the link drops, a phone
// answers during the outage: the re-sync sees the caller bridged to it, and
// the call ends answered.
func TestResyncAnsweredInOutage(t *testing.T) {
	data := captures(t)["answered"]
	part1, rest := splitTranscript(t, data, 35)  // the leg rings
	part2, part3 := splitTranscript(t, rest, 25) // up to both BridgeEnters
	srv := newServer(t, amitest.ServerConfig{Transcripts: [][]byte{part1}})
	src := newSource(t, Config{Address: srv.Addr(), InboundContexts: []string{"from-trunk"}}, nil)
	fed := counted(src)
	out := make(chan textback.Event, 4)
	run(t, src, out)
	waitFor(t, "the first part", func() bool { return fed.Load() == int64(eventCount(t, part1)) })
	srv.Drop()
	srv.Elapse(part2)
	select {
	case ev := <-out:
		if ev.Kind != textback.CallAnswered {
			t.Fatalf("first event %v of %+v, want CallAnswered", ev.Kind, ev.Call)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no CallAnswered within 5s of the drop")
	}
	srv.Play(part3)
	if c := recvCall(t, out); c.Outcome != textback.Answered || c.Direction != textback.Inbound {
		t.Errorf("call = %+v, want inbound answered", c)
	}
}

// TestResyncRefused: a manager user without write=reporting gets
// "Permission denied": one Warn naming the fix, and calls are still
// followed across reconnects.
func TestResyncRefused(t *testing.T) {
	data := captures(t)["ring_no_answer_hangup"]
	part1, part2 := splitTranscript(t, data, 34)
	srv := newServer(t, amitest.ServerConfig{Transcripts: [][]byte{part1}, DenyCoreShowChannels: true})
	rec := &recorder{}
	src := newSource(t, Config{Address: srv.Addr(), InboundContexts: []string{"from-trunk"}}, slog.New(rec))
	fed := counted(src)
	out := make(chan textback.Event, 4)
	run(t, src, out)
	waitFor(t, "the first part", func() bool { return fed.Load() == int64(eventCount(t, part1)) })
	srv.Drop()
	waitFor(t, "a second login", func() bool { return srv.Stats().Logins == 2 })
	srv.Drop()
	waitFor(t, "a third login", func() bool { return srv.Stats().Logins == 3 })
	srv.Play(part2)
	if c := recvCall(t, out); c.Outcome != textback.NoAnswer {
		t.Errorf("call = %+v, want no_answer", c)
	}
	w := rec.find(slog.LevelWarn, "ami CoreShowChannels refused: calls whose hangup is lost in an outage are dropped unreported after 6h; give the manager user write = reporting in manager.conf")
	if len(w) != 1 {
		t.Errorf("Warn records %q, want one\n%s", w, rec.all())
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"00:00:12": 12 * time.Second,
		"01:02:03": time.Hour + 2*time.Minute + 3*time.Second,
		"":         0,
		"1:x:3":    0,
	} {
		if got := parseDuration(in); got != want {
			t.Errorf("parseDuration(%q) = %v, want %v", in, got, want)
		}
	}
}
