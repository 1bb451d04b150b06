package ari

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/ari/aritest"
)

func capture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".ari.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newServer(t *testing.T, cfg aritest.ServerConfig) *aritest.Server {
	t.Helper()
	srv, err := aritest.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// running is a Source in Run, stopped at the end of the test.
type running struct {
	src    *Source
	events chan textback.Event
	done   chan error
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	return startBackoff(t, cfg, 10*time.Millisecond, 50*time.Millisecond)
}

// synced waits for the source's first re-sync. Events played before it
// ends could be listed as channels in progress (the test server gives them
// their recorded times, older than the connection) and adopted mid-call.
func synced(t *testing.T, srv *aritest.Server) {
	t.Helper()
	eventually(t, "the first re-sync", func() bool { return srv.Stats().Listings >= 1 })
}

// startBackoff is start with the reconnect backoff between lo and hi.
func startBackoff(t *testing.T, cfg Config, lo, hi time.Duration) *running {
	t.Helper()
	if cfg.InboundContexts == nil {
		cfg.InboundContexts = []string{"from-trunk"}
		cfg.DIDVariable = "__TB_DID"
	}
	src := New(cfg, nil)
	src.backoffMin, src.backoffMax = lo, hi
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{src: src, events: make(chan textback.Event, 16), done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, r.events) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

// next returns the next call that ended, passing over CallAnswered events,
// failing after a while.
func (r *running) next(t *testing.T, within time.Duration) textback.Call {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-r.events:
			if ev.Kind == textback.CallEnded {
				return ev.Call
			}
		case <-deadline:
			t.Fatalf("no call within %v", within)
			return textback.Call{}
		}
	}
}

// eventually polls cond every 5 ms for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestSourceCaptures plays every capture to the real websocket client and
// expects each call's verdict, one call per capture.
func TestSourceCaptures(t *testing.T) {
	srv := newServer(t, aritest.ServerConfig{Username: "textback", Password: "s3cret"})
	r := start(t, Config{URL: srv.URL(), Username: "textback", Secret: "s3cret"})
	synced(t, srv)
	byID := map[string]string{}
	for name, want := range trackerCases {
		srv.Play(capture(t, name))
		byID[want.id] = name
	}
	for range trackerCases {
		got := r.next(t, 5*time.Second)
		name, ok := byID[string(got.ID)]
		if !ok {
			t.Fatalf("unexpected call %+v", got)
		}
		delete(byID, string(got.ID))
		t.Run(name, func(t *testing.T) { checkCall(t, got, trackerCases[name]) })
	}
	if !r.src.Connected() {
		t.Error("Connected() = false while connected")
	}
	if apps := srv.Connected(); len(apps) != 1 || apps[0] != "textback" {
		t.Errorf("applications %v, want [textback]", apps)
	}
	// Seven inbound callers, seven lookups; the legs and the internal and
	// outbound calls are not looked up.
	if n := srv.Stats().Lookups; n != 7 {
		t.Errorf("%d presentation lookups, want 7 (one per inbound caller)", n)
	}
}

// TestSourceReconnect drops the websocket in the middle of a call: the
// source reconnects and the call, finished on the new connection, is
// reported with its verdict.
func TestSourceReconnect(t *testing.T) {
	srv := newServer(t, aritest.ServerConfig{})
	r := start(t, Config{URL: srv.URL()})
	synced(t, srv)
	lines := bytes.SplitAfter(capture(t, "caller_abandons"), []byte("\n"))
	half := 20
	srv.Play(bytes.Join(lines[:half], nil))
	eventually(t, "the first half sent", func() bool { return srv.Stats().Sent == half })
	eventually(t, "the tracker to have the call", func() bool { return r.src.Connected() })
	srv.Drop()
	eventually(t, "a second connection", func() bool { return srv.Stats().Connections == 2 && r.src.Connected() })
	srv.Play(bytes.Join(lines[half:], nil))
	got := r.next(t, 5*time.Second)
	checkCall(t, got, trackerCases["caller_abandons"])
}

// TestSourceBadCredentials: Check says what is wrong, Run keeps retrying
// and never reports connected.
func TestSourceBadCredentials(t *testing.T) {
	srv := newServer(t, aritest.ServerConfig{Username: "textback", Password: "right"})
	cfg := Config{URL: srv.URL(), Username: "textback", Secret: "wrong"}
	err := New(cfg, nil).Check(context.Background())
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "ari.conf") || !strings.Contains(err.Error(), `"textback"`) {
		t.Fatalf("Check = %v, want ErrAuth naming the user and ari.conf", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error shows the secret: %v", err)
	}
	r := start(t, cfg)
	eventually(t, "two rejected attempts", func() bool { return srv.Stats().Rejected >= 3 })
	if r.src.Connected() || srv.Stats().Connections != 0 {
		t.Errorf("Connected() = %v, %d websockets opened, want none", r.src.Connected(), srv.Stats().Connections)
	}
}

func TestCheck(t *testing.T) {
	srv := newServer(t, aritest.ServerConfig{Username: "u", Password: "p"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>It works!</html>"))
	}))
	defer web.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	for name, tc := range map[string]struct {
		url    string
		target error
		text   string
	}{
		"ok":          {srv.URL(), nil, ""},
		"ok with ari": {srv.URL() + "/ari/", nil, ""},
		"refused":     {refused, syscall.ECONNREFUSED, "connection refused"},
		"not ari":     {web.URL, ErrNotARI, "did not answer"},
		"404":         {notFound.URL, ErrNotARI, "res_ari"},
	} {
		t.Run(name, func(t *testing.T) {
			err := New(Config{URL: tc.url, Username: "u", Secret: "p"}, nil).Check(context.Background())
			if tc.target == nil {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.target) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Check = %v, want %v saying %q", err, tc.target, tc.text)
			}
		})
	}
}

// TestSourceGarbage: lines that are not events are skipped, and the call
// around them is still reported.
func TestSourceGarbage(t *testing.T) {
	srv := newServer(t, aritest.ServerConfig{})
	r := start(t, Config{URL: srv.URL()})
	synced(t, srv)
	lines := bytes.SplitAfter(capture(t, "busy"), []byte("\n"))
	garbage := []string{
		"not json", "{", "[]", "null", `{"type":""}`, `{"type":"NoSuchEvent"}`, `{"type":"ChannelCreated","channel":7}`,
		`{"type":"ChannelDestroyed","channel":{"id":"textback-lab-1795845746.8"},"timestamp":"yesterday"}`,
		`{"type":"Dial","caller":{},"peer":{}}`, `{"type":"ChannelCreated","channel":{"id":"","name":"Local/;2"}}`,
		`{"type":"ChannelCreated","channel":{"id":"x","name":";2"}}`, "\x00\xff",
	}
	var mixed []byte
	for i, l := range lines {
		mixed = append(mixed, l...)
		if i < len(garbage) {
			mixed = append(mixed, garbage[i]+"\n"...)
		}
	}
	srv.Play(mixed)
	got := r.next(t, 5*time.Second)
	checkCall(t, got, trackerCases["busy"])
}

// TestSourceWithheld: a caller who sent Privacy: id, handed over with the
// real number and presentation restricted, is withheld.
func TestSourceWithheld(t *testing.T) {
	const caller = "textback-lab-1795845639.0"
	var mu sync.Mutex
	var asked []string
	srv := newServer(t, aritest.ServerConfig{Variable: func(ch, name string) (string, bool) {
		mu.Lock()
		asked = append(asked, ch+" "+name)
		mu.Unlock()
		if ch == caller && name == "CALLERID(pres)" {
			return "prohib_passed_screen", true
		}
		return "", false
	}})
	r := start(t, Config{URL: srv.URL()})
	synced(t, srv)
	srv.Play(capture(t, "ring_no_answer_hangup"))
	got := r.next(t, 5*time.Second)
	if !got.Withheld || got.CallerNum != "+13125550101" || got.Outcome != textback.NoAnswer {
		t.Errorf("got Withheld %v, CallerNum %q, Outcome %s; want true, +13125550101, no_answer", got.Withheld, got.CallerNum, got.Outcome)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0] != caller+" CALLERID(pres)" {
		t.Errorf("asked %q, want only the caller's CALLERID(pres)", asked)
	}
}

// TestSourcePresTimeout: a lookup that does not answer holds the call for
// PresTimeout, no longer.
func TestSourcePresTimeout(t *testing.T) {
	srv := newServer(t, aritest.ServerConfig{VariableDelay: 10 * time.Second})
	r := start(t, Config{URL: srv.URL(), PresTimeout: 300 * time.Millisecond})
	synced(t, srv)
	began := time.Now()
	srv.Play(capture(t, "caller_abandons"))
	got := r.next(t, 5*time.Second)
	if waited := time.Since(began); waited < 250*time.Millisecond || waited > 3*time.Second {
		t.Errorf("reported after %v, want about the 300ms PresTimeout", waited)
	}
	checkCall(t, got, trackerCases["caller_abandons"])
}

// TestSourceNoLookup: with NoPresLookup, nothing is asked and nothing waits.
func TestSourceNoLookup(t *testing.T) {
	srv := newServer(t, aritest.ServerConfig{VariableDelay: 10 * time.Second})
	r := start(t, Config{URL: srv.URL(), NoPresLookup: true})
	synced(t, srv)
	srv.Play(capture(t, "answered"))
	checkCall(t, r.next(t, 2*time.Second), trackerCases["answered"])
	if n := srv.Stats().Lookups; n != 0 {
		t.Errorf("%d lookups, want 0", n)
	}
}

// TestSourceBurst: many calls at once, the consumer slow at first: nothing
// is dropped.
func TestSourceBurst(t *testing.T) {
	srv := newServer(t, aritest.ServerConfig{})
	r := start(t, Config{URL: srv.URL(), NoPresLookup: true})
	synced(t, srv)
	const n = 200
	base := capture(t, "busy")
	var all []byte
	for i := range n {
		// Distinct channel ids per copy.
		all = append(all, bytes.ReplaceAll(base, []byte("textback-lab-1795845746."), []byte("burst-"+itoa(i)+"-"))...)
	}
	srv.Play(all)
	eventually(t, "everything sent", func() bool { return srv.Pending() == 0 })
	seen := map[textback.CallID]bool{}
	for range n {
		c := r.next(t, 5*time.Second)
		if c.Outcome != textback.Busy || seen[c.ID] {
			t.Fatalf("call %s: %s (seen before: %v)", c.ID, c.Outcome, seen[c.ID])
		}
		seen[c.ID] = true
	}
}

func TestRunTwice(t *testing.T) {
	srv := newServer(t, aritest.ServerConfig{})
	r := start(t, Config{URL: srv.URL()})
	synced(t, srv)
	eventually(t, "running", func() bool { return r.src.running.Load() })
	if err := r.src.Run(context.Background(), make(chan textback.Event)); err == nil {
		t.Error("a second Run returned nil, want an error")
	}
}

func TestConfigLogValue(t *testing.T) {
	v := Config{URL: "http://x", Username: "u", Secret: "hunter2"}.LogValue().String()
	if strings.Contains(v, "hunter2") {
		t.Errorf("LogValue shows the secret: %s", v)
	}
}

func TestDecodeNeverPanics(t *testing.T) {
	for _, s := range []string{"", "{}", `{"type":"Dial","caller":null}`, `{"type":"ChannelVarset","channel":null}`} {
		e, err := decode([]byte(s))
		if err == nil {
			NewTracker(trackerLab).Handle(e, time.Now())
		}
	}

}

// TestSourcePresToldNoWait: with the dialplan's Set(CALLERPRES=...) in the
// stream, a call that ends while its lookup hangs is passed on at once, not
// after PresTimeout.
func TestSourcePresToldNoWait(t *testing.T) {
	srv := newServer(t, aritest.ServerConfig{VariableDelay: 10 * time.Second})
	r := start(t, Config{URL: srv.URL(), PresTimeout: 5 * time.Second})
	synced(t, srv)
	lines := bytes.SplitAfter(capture(t, "busy"), []byte("\n"))
	varset := `{"type":"ChannelVarset","variable":"CALLERPRES","value":"allowed_not_screened","timestamp":"2026-11-28T06:02:26.072+0000","channel":{"id":"textback-lab-1795845746.8","name":"PJSIP/carrier-00000008","state":"Ring"}}` + "\n"
	played := bytes.Join(lines[:3], nil)
	played = append(played, varset...)
	played = append(played, bytes.Join(lines[3:], nil)...)
	began := time.Now()
	srv.Play(played)
	got := r.next(t, 4*time.Second)
	if waited := time.Since(began); waited > time.Second {
		t.Errorf("reported after %v, want at once", waited)
	}
	checkCall(t, got, trackerCases["busy"])
	// The lookup was asked at ChannelCreated, but its request may reach
	// the server after the call was passed on.
	eventually(t, "one lookup (asked at ChannelCreated)", func() bool { return srv.Stats().Lookups == 1 })
}

// TestLookupsReuseConnections: waves of concurrent lookups, more than
// maxConns at once, share at most maxConns kept-alive connections.
func TestLookupsReuseConnections(t *testing.T) {
	var opened, active, peak atomic.Int64
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := active.Add(1)
		defer active.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond) // a busy Asterisk: the wave overlaps
		w.Write([]byte(`{"value":"allowed_not_screened"}`))
	}))
	hs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	hs.Start()
	defer hs.Close()
	src := New(Config{URL: hs.URL}, nil)
	for range 3 {
		var wg sync.WaitGroup
		for i := range 2 * maxConns {
			wg.Go(func() {
				if v, err := src.Variable(context.Background(), "c"+itoa(i), "CALLERID(pres)"); err != nil || v != "allowed_not_screened" {
					t.Errorf("Variable = %q, %v", v, err)
				}
			})
		}
		wg.Wait()
	}
	if n := opened.Load(); n > maxConns {
		t.Errorf("%d connections opened for 3 waves of %d lookups, want at most %d", n, 2*maxConns, maxConns)
	}
	if n := peak.Load(); n > maxConns {
		t.Errorf("%d lookups at once, want at most %d", n, maxConns)
	}
}
