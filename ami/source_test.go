package ami

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/ami/amitest"
)

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// find returns the records at level with message msg, as text.
func (r *recorder) find(level slog.Level, msg string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.records {
		if rec.Level == level && rec.Message == msg {
			var b strings.Builder
			b.WriteString(rec.Message)
			rec.Attrs(func(a slog.Attr) bool {
				b.WriteString(" " + a.String())
				return true
			})
			out = append(out, b.String())
		}
	}
	return out
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, rec := range r.records {
		b.WriteString(rec.Level.String() + " " + rec.Message)
		rec.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.String())
			return true
		})
		b.WriteString("\n")
	}
	return b.String()
}

func newSource(t *testing.T, cfg Config, log *slog.Logger) *Source {
	if cfg.Username == "" {
		cfg.Username, cfg.Secret = testUser, testSecret
	}
	cfg.DialTimeout = 2 * time.Second
	s := New(cfg, log)
	s.backoffMin, s.backoffMax = 10*time.Millisecond, 50*time.Millisecond
	return s
}

// run starts s.Run and returns a stop function that cancels it and checks
// that it returned nil promptly.
func run(t *testing.T, s *Source, out chan<- textback.Event) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, out) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(3 * time.Second):
				t.Error("Run still running 3s after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond every few ms for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recvCall returns the next call that ended, passing over CallAnswered
// events.
func recvCall(t *testing.T, out <-chan textback.Event) textback.Call {
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
			return textback.Call{}
		}
	}
}

// splitTranscript cuts a capture into two transcripts after its n-th
// frame, each with the banner.
func splitTranscript(t *testing.T, data []byte, n int) (a, b []byte) {
	t.Helper()
	banner, rest, _ := bytes.Cut(data, []byte("\r\n"))
	banner = append(banner, "\r\n"...)
	frames := bytes.SplitAfter(rest, []byte("\r\n\r\n"))
	if n <= 0 || n >= len(frames) {
		t.Fatalf("cannot split %d frames after %d", len(frames), n)
	}
	a = append(bytes.Clone(banner), bytes.Join(frames[:n], nil)...)
	b = append(bytes.Clone(banner), bytes.Join(frames[n:], nil)...)
	return a, b
}

// TestSourceReconnect drops the link in the middle of calls: the source
// reconnects and the calls' state carries over.
func TestSourceReconnect(t *testing.T) {
	data := captures(t)["queue_answered"]
	part1, part2 := splitTranscript(t, data, 40)
	srv := newServer(t, amitest.ServerConfig{})
	rec := &recorder{}
	src := newSource(t, Config{Address: srv.Addr()}, slog.New(rec))
	// A stand-in tracker: a channel's Hangup makes a call only if its
	// Newchannel was seen, perhaps on the previous connection.
	var seen atomic.Int64
	open := map[string]bool{}
	src.handle = func(f Frame, now time.Time) []textback.Event {
		defer seen.Add(1)
		switch f.Event() {
		case "Newchannel":
			open[f.Get("Uniqueid")] = true
		case "Hangup":
			if id := f.Get("Uniqueid"); open[id] {
				delete(open, id)
				return []textback.Event{{Call: textback.Call{ID: textback.CallID(id), Decided: now}}}
			}
		}
		return nil
	}
	hangups := bytes.Count(data, []byte("Event: Hangup\r\n"))
	out := make(chan textback.Event, hangups)
	stop := run(t, src, out)

	srv.Play(part1)
	n1 := eventCount(t, part1)
	waitFor(t, "the first part", func() bool { return seen.Load() == int64(n1) })
	if !src.Connected() {
		t.Error("Connected() = false while connected")
	}
	early := len(out)
	srv.Drop()
	waitFor(t, "a second login", func() bool { return srv.Stats().Logins == 2 })
	srv.Play(part2)
	got := map[textback.CallID]bool{}
	for range hangups {
		c := recvCall(t, out)
		if c.Source != "ami" {
			t.Errorf("call %s: Source %q, want ami", c.ID, c.Source)
		}
		got[c.ID] = true
	}
	if len(got) != hangups || early == hangups {
		t.Errorf("%d distinct calls (%d before the drop), want %d across it", len(got), early, hangups)
	}
	if w := rec.find(slog.LevelWarn, "ami disconnected"); len(w) != 1 {
		t.Errorf("Warn records %q, want one \"ami disconnected\"\n%s", w, rec.all())
	}
	stop()
	if src.Connected() {
		t.Error("Connected() = true after Run returned")
	}
	if strings.Contains(rec.all(), testSecret) {
		t.Errorf("the logs show the secret:\n%s", rec.all())
	}
}

// TestSourceTracker runs the real tracker over a call cut by a reconnect.
func TestSourceTracker(t *testing.T) {
	data := captures(t)["ring_no_answer_hangup"]
	part1, part2 := splitTranscript(t, data, 30)
	srv := newServer(t, amitest.ServerConfig{Transcripts: [][]byte{part1}})
	src := newSource(t, Config{Address: srv.Addr(), InboundContexts: []string{"from-trunk"}}, nil)
	out := make(chan textback.Event, 4)
	run(t, src, out)
	waitFor(t, "the first part", func() bool { return srv.Stats().Played == 1 })
	srv.Drop()
	waitFor(t, "a second login", func() bool { return srv.Stats().Logins == 2 })
	srv.Play(part2)
	c := recvCall(t, out)
	if c.Direction != textback.Inbound || c.Outcome != textback.NoAnswer || c.CallerNum != "+13125550101" || c.DID != "+12125550100" {
		t.Errorf("call = %+v, want inbound no_answer from +13125550101 to +12125550100", c)
	}
}

func TestSourceBadCredentials(t *testing.T) {
	srv := newServer(t, amitest.ServerConfig{})
	rec := &recorder{}
	src := newSource(t, Config{Address: srv.Addr(), Username: testUser, Secret: "wrong-secret"}, slog.New(rec))
	stop := run(t, src, make(chan textback.Event))
	// The server counts a failed login when it answers, the source logs it
	// once it has read the answer: wait for the logs.
	waitFor(t, "three failed logins", func() bool {
		return srv.Stats().FailedLogins >= 3 && len(rec.find(slog.LevelError, "ami login rejected")) >= 3
	})
	stop()
	errs := rec.find(slog.LevelError, "ami login rejected")
	if len(errs) < 3 {
		t.Fatalf("Error records %q, want one per attempt\n%s", errs, rec.all())
	}
	if !strings.Contains(errs[0], "authentication failed for user textback") {
		t.Errorf("Error record %q does not name the user", errs[0])
	}
	if strings.Contains(rec.all(), "wrong-secret") {
		t.Errorf("the logs show the secret:\n%s", rec.all())
	}
}

func TestSourceRunWithoutServer(t *testing.T) {
	rec := &recorder{}
	src := newSource(t, Config{Address: closedPort(t)}, slog.New(rec))
	stop := run(t, src, make(chan textback.Event))
	waitFor(t, "two connect failures", func() bool { return len(rec.find(slog.LevelWarn, "ami connect failed")) >= 2 })
	if err := src.Run(t.Context(), make(chan textback.Event)); err == nil {
		t.Error("a second, concurrent Run returned nil")
	}
	stop()
	if w := rec.find(slog.LevelWarn, "ami connect failed"); !strings.Contains(w[0], "is Asterisk running") {
		t.Errorf("Warn record %q gives no advice", w[0])
	}
}

// TestSourceStopsWhileSending: Run returns on cancel even when nobody reads out.
func TestSourceStopsWhileSending(t *testing.T) {
	srv := newServer(t, amitest.ServerConfig{Transcripts: [][]byte{captures(t)["busy"]}})
	src := newSource(t, Config{Address: srv.Addr()}, nil)
	var calls atomic.Int64
	src.handle = func(f Frame, now time.Time) []textback.Event {
		calls.Add(1)
		return []textback.Event{{Call: textback.Call{ID: "x"}}}
	}
	stop := run(t, src, make(chan textback.Event)) // unread
	waitFor(t, "a call", func() bool { return calls.Load() > 0 })
	stop()
}

func TestCheck(t *testing.T) {
	srv := newServer(t, amitest.ServerConfig{})
	ssh := rawServer(t, func(nc net.Conn) { nc.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n")) })
	refused := closedPort(t)
	for name, tt := range map[string]struct {
		cfg    Config
		want   string // the whole message, or a part of it after "…"
		wantIs error
	}{
		"ok":           {cfg: Config{Address: srv.Addr()}},
		"ok md5":       {cfg: Config{Address: srv.Addr(), AuthMD5: true}},
		"refused":      {cfg: Config{Address: refused}, want: "ami: connection refused to " + refused + ": is Asterisk running and manager.conf enabled?", wantIs: syscall.ECONNREFUSED},
		"wrong secret": {cfg: Config{Address: srv.Addr(), Username: testUser, Secret: "nope"}, want: "…authentication failed for user textback", wantIs: ErrAuth},
		"ssh":          {cfg: Config{Address: ssh}, want: "…not an AMI server", wantIs: ErrNotAMI},
	} {
		t.Run(name, func(t *testing.T) {
			err := newSource(t, tt.cfg, nil).Check(testCtx(t))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check() = %v", err)
			case tt.want == "":
			case err == nil:
				t.Errorf("Check() = nil, want %q", tt.want)
			case strings.HasPrefix(tt.want, "…") && !strings.Contains(err.Error(), tt.want[len("…"):]),
				!strings.HasPrefix(tt.want, "…") && err.Error() != tt.want:
				t.Errorf("Check() = %q, want %q", err, tt.want)
			case !errors.Is(err, tt.wantIs):
				t.Errorf("Check() = %v, not wrapping %v", err, tt.wantIs)
			}
		})
	}
	if st := srv.Stats(); st.Logins != 2 {
		t.Errorf("server saw %d logins, want 2", st.Logins)
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 500 * time.Millisecond, max: 30 * time.Second}
	base := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 30 * time.Second, 30 * time.Second}
	for round := range 2 {
		for i, want := range base {
			got := b.next()
			if lo, hi := want*8/10, want*12/10; got < lo || got > hi {
				t.Errorf("round %d, delay %d = %s, want %s..%s", round, i, got, lo, hi)
			}
		}
		b.reset()
	}
}
