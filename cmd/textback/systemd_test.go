package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/textback/textback/modem"
	"github.com/textback/textback/sqlite"
)

// The watchdog pings while both loops beat, and stops once one of them
// stops beating.
func TestWatchdogStopsWhenALoopHangs(t *testing.T) {
	const interval = 200 * time.Millisecond
	events, outbox := newHeartbeat(interval/4), newHeartbeat(interval/4)
	var pings atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var outboxHung atomic.Bool
	go func() { // the loops, beating on their tickers
		te, stopE := events.ticker()
		to, stopO := outbox.ticker()
		defer stopE()
		defer stopO()
		for {
			select {
			case <-ctx.Done():
				return
			case <-te:
				events.beat()
			case <-to:
				if !outboxHung.Load() {
					outbox.beat()
				}
			}
		}
	}()
	go watchdog(ctx, interval, slog.New(slog.DiscardHandler), func() { pings.Add(1) },
		map[string]*heartbeat{"events": events, "outbox": outbox})

	time.Sleep(5 * interval / 2)
	if n := pings.Load(); n < 3 {
		t.Fatalf("%d pings in %s of healthy loops, want at least 3 (one every %s)", n, 5*interval/2, interval/2)
	}
	outboxHung.Store(true)
	time.Sleep(interval) // the outbox's heartbeat goes stale (3/4 of the interval)
	before := pings.Load()
	time.Sleep(2 * interval)
	if after := pings.Load(); after != before {
		t.Errorf("%d pings while the outbox loop was hung, want none", after-before)
	}
}

func TestWatchdogOff(t *testing.T) {
	done := make(chan struct{})
	go func() {
		watchdog(context.Background(), 0, slog.New(slog.DiscardHandler), func() { t.Error("ping without a watchdog") }, nil)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("watchdog with interval 0 did not return")
	}
}

// notify speaks systemd's protocol: one datagram per state on $NOTIFY_SOCKET.
func TestNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "30000000")
	log := slog.New(slog.DiscardHandler)
	if got := watchdogInterval(log); got != 30*time.Second {
		t.Errorf("watchdogInterval = %s, want 30s", got)
	}
	for _, state := range []string{"READY=1", "WATCHDOG=1", "STOPPING=1"} {
		notify(log, state)
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 256)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); got != state {
			t.Errorf("datagram %q, want %q", got, state)
		}
	}
}

type fakePBX struct{ up atomic.Bool }

func (f *fakePBX) Connected() bool { return f.up.Load() }

func TestReadyz(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	pbx := &fakePBX{}
	var modems []modem.Health
	srv := httptest.NewServer(readiness{pbx: pbx, store: db, modems: func() []modem.Health { return modems }})
	defer srv.Close()
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	modems = []modem.Health{{Name: "sim1", Err: "not registered (searching)"}}
	code, body := get()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "pbx: not connected") || !strings.Contains(body, "modem: none ready (sim1: not registered (searching))") {
		t.Errorf("PBX down, modem searching: %d %q", code, body)
	}
	pbx.up.Store(true)
	modems = []modem.Health{{Name: "sim1", Connected: true, Registered: true}}
	if code, body := get(); code != http.StatusOK || body != "ready\n" {
		t.Errorf("all up: %d %q, want 200 \"ready\"", code, body)
	}
	db.Close()
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "store: ") {
		t.Errorf("store closed: %d %q", code, body)
	}
}
