package esl

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net/textproto"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/esl/esltest"
)

// loadEvents reads a testdata stream and returns its plain events.
func loadEvents(t testing.TB, name string) []esltest.Message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := esltest.Split(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return esltest.Events(msgs)
}

// parseBody parses a plain event body the way eslgo does (event.go
// readPlainEvent: textproto.Reader.ReadMIMEHeader).
func parseBody(b []byte) (textproto.MIMEHeader, error) {
	return textproto.NewReader(bufio.NewReader(bytes.NewReader(b))).ReadMIMEHeader()
}

// feed runs events straight through a Tracker and returns the calls that
// ended.
func feed(t testing.TB, tr *Tracker, evs []esltest.Message) []textback.Call {
	t.Helper()
	return ended(feedEvents(t, tr, evs))
}

// feedEvents runs events straight through a Tracker and returns what it
// reported.
func feedEvents(t testing.TB, tr *Tracker, evs []esltest.Message) []textback.Event {
	t.Helper()
	var out []textback.Event
	now := time.Unix(1795845300, 0)
	for _, m := range evs {
		h, err := parseBody(m.Body)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		out = append(out, tr.Handle(h, now)...)
	}
	return out
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

// runStream plays streams through a loopback server to a real Source over
// TCP and returns the calls it reported from the first stream: it waits for
// the reconnect that follows the stream's disconnect-notice.
func runStream(t *testing.T, cfg Config, streams ...[]esltest.Message) []textback.Call {
	t.Helper()
	return runServer(t, &esltest.Server{Streams: streams}, cfg)
}

// runServer is runStream on srv, which it starts with the password
// ClueCon and Notice set.
func runServer(t *testing.T, srv *esltest.Server, cfg Config) []textback.Call {
	t.Helper()
	streams := srv.Streams
	srv.Password, srv.Notice = "ClueCon", true
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg.Address, cfg.Password = srv.Addr(), "ClueCon"
	src := New(cfg, testLog(t))
	src.backoffMin, src.backoffMax = 10*time.Millisecond, 20*time.Millisecond
	out := make(chan textback.Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Subscriptions() <= len(streams) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if srv.Subscriptions() <= len(streams) {
		t.Errorf("no reconnect after the stream ended: %d subscriptions", srv.Subscriptions())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	close(out)
	var calls []textback.Call
	for ev := range out {
		if ev.Kind == textback.CallEnded {
			calls = append(calls, ev.Call)
		}
	}
	return calls
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
