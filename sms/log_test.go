package sms

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/textback/textback"
)

func TestLogSend(t *testing.T) {
	var buf bytes.Buffer
	l := NewLog(slog.New(slog.NewTextHandler(&buf, nil)))
	m := textback.Message{CallID: "1700000000.42", To: testTo, From: testFrom, Body: "Sorry we missed your call 📞"}
	for i, want := range []string{"log-1", "log-2"} {
		rc, err := l.Send(context.Background(), m)
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		if rc != (textback.Receipt{Sender: "log", ProviderID: want}) {
			t.Errorf("Send %d = %+v, want log/%s", i, rc, want)
		}
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), out)
	}
	for _, want := range []string{"level=INFO", `msg="sms written to the log, not sent"`, "to=" + testMasked, "call_id=1700000000.42",
		`body="Sorry we missed your call 📞"`, "provider_id=log-1", "from=+1******0199"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line %q does not contain %q", lines[0], want)
		}
	}
	if strings.Contains(out, string(testTo)[2:]) {
		t.Errorf("log shows the full number:\n%s", out)
	}
}

func TestLogSendRefuses(t *testing.T) {
	l := NewLog(nil)
	if _, err := l.Send(context.Background(), textback.Message{CallID: "c1", Body: "hi"}); !errors.Is(err, textback.ErrUndeliverable) {
		t.Errorf("Send without recipient = %v, want ErrUndeliverable", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Send(ctx, textback.Message{CallID: "c1", To: testTo, Body: "hi"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestLogConcurrent(t *testing.T) {
	var buf safeBuffer
	l := NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	const n = 64
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			rc, err := l.Send(context.Background(), textback.Message{CallID: "c", To: testTo, Body: "hi"})
			if err != nil {
				t.Error(err)
			}
			ids <- rc.ProviderID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("id %s given twice", id)
		}
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("%d ids, want %d", len(seen), n)
	}
	if got := strings.Count(buf.String(), `"msg":"sms written to the log, not sent"`); got != n {
		t.Errorf("%d log lines, want %d", got, n)
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
