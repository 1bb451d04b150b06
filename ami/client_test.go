package ami

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback/ami/amitest"
)

const (
	testUser   = "textback"
	testSecret = "s3cret"
)

// testCtx bounds a test: nothing here should take more than a few seconds.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newServer(t *testing.T, cfg amitest.ServerConfig) *amitest.Server {
	t.Helper()
	if cfg.Username == "" {
		cfg.Username, cfg.Secret = testUser, testSecret
	}
	s, err := amitest.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func clientConfig(addr string) ClientConfig {
	return ClientConfig{
		Address:     addr,
		Username:    testUser,
		Secret:      testSecret,
		DialTimeout: 2 * time.Second,
		KeepAlive:   -1, // tests of keepalive turn it on
	}
}

func dial(t *testing.T, cfg ClientConfig) *Conn {
	t.Helper()
	c, err := Dial(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventCount returns how many event frames a transcript holds.
func eventCount(t *testing.T, data []byte) int {
	t.Helper()
	r := NewReader(bytes.NewReader(data))
	if _, err := r.Banner(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		f, err := r.Read()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Event() != "" {
			n++
		}
	}
}

// recvEvent waits for the next event, bounded.
func recvEvent(t *testing.T, c *Conn) Frame {
	t.Helper()
	select {
	case f, ok := <-c.Events():
		if !ok {
			t.Fatalf("events closed: %v", c.Err())
		}
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return Frame{}
}

func TestDialLogin(t *testing.T) {
	for name, md5 := range map[string]bool{"plain": false, "md5": true} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, amitest.ServerConfig{})
			cfg := clientConfig(srv.Addr())
			cfg.AuthMD5 = md5
			c := dial(t, cfg)
			if got := c.Banner(); got != amitest.DefaultBanner {
				t.Errorf("Banner() = %q", got)
			}
			if err := c.Ping(testCtx(t)); err != nil {
				t.Errorf("Ping: %v", err)
			}
			if st := srv.Stats(); st.Logins != 1 || st.FailedLogins != 0 {
				t.Errorf("server stats %+v, want one login", st)
			}
			if err := c.Logoff(testCtx(t)); err != nil {
				t.Errorf("Logoff: %v", err)
			}
			select {
			case <-c.Done():
			default:
				t.Error("connection still up after Logoff")
			}
		})
	}
}

func TestDialAuthFailed(t *testing.T) {
	srv := newServer(t, amitest.ServerConfig{})
	for name, tt := range map[string]struct {
		user, secret string
		md5          bool
	}{
		"wrong secret":     {testUser, "nope", false},
		"wrong secret md5": {testUser, "nope", true},
		"unknown user":     {"mallory", testSecret, false},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := clientConfig(srv.Addr())
			cfg.Username, cfg.Secret, cfg.AuthMD5 = tt.user, tt.secret, tt.md5
			c, err := Dial(testCtx(t), cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, ErrAuth) {
				t.Errorf("Dial error %v, want ErrAuth", err)
			}
			if want := "ami: login: authentication failed for user " + tt.user; err.Error() != want {
				t.Errorf("Dial error %q, want %q", err, want)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// rawServer runs script on each connection to a loopback listener, for
// peers amitest does not play: other protocols, scripted interleavings.
// Scripts end when their connection closes.
func rawServer(t *testing.T, script func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() {
				defer nc.Close()
				script(nc)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestDialNotAMI(t *testing.T) {
	for name, tt := range map[string]struct {
		greeting string
		want     string
	}{
		"ssh":    {"SSH-2.0-OpenSSH_9.6\r\n", `it greeted "SSH-2.0-OpenSSH_9.6"`},
		"http":   {"HTTP/1.1 400 Bad Request\r\n\r\n", `it greeted "HTTP/1.1 400 Bad Request"`},
		"silent": {"", "no greeting within 300ms"},
		"binary": {strings.Repeat("\x00\xff", 40<<10), "longer than a line"},
		"hangup": {"-", "no greeting"},
	} {
		t.Run(name, func(t *testing.T) {
			addr := rawServer(t, func(nc net.Conn) {
				if tt.greeting == "-" {
					return
				}
				io.WriteString(nc, tt.greeting)
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				io.Copy(io.Discard, nc) // until the client hangs up
			})
			cfg := clientConfig(addr)
			cfg.DialTimeout = 300 * time.Millisecond
			start := time.Now()
			c, err := Dial(testCtx(t), cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, ErrNotAMI) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial error %q, want ErrNotAMI saying %q", err, tt.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Dial took %s", d)
			}
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestDialRefused(t *testing.T) {
	_, err := Dial(testCtx(t), clientConfig(closedPort(t)))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial error %v, want ECONNREFUSED", err)
	}
}

func TestDialCancelled(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn) {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, nc) // never greets
	})
	ctx, cancel := context.WithCancel(testCtx(t))
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := Dial(ctx, clientConfig(addr))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Dial error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Dial took %s after cancel", d)
	}
}

func TestKeepAliveDetectsDeadPeer(t *testing.T) {
	srv := newServer(t, amitest.ServerConfig{})
	cfg := clientConfig(srv.Addr())
	cfg.KeepAlive = 30 * time.Millisecond
	c := dial(t, cfg)
	srv.Stall(true) // still connected, answers nothing
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("connection still up 3s after the peer stopped answering")
	}
	if err := c.Err(); !errors.Is(err, ErrKeepAlive) {
		t.Errorf("Err() = %v, want ErrKeepAlive", err)
	}
	if _, ok := <-c.Events(); ok {
		t.Error("Events not closed")
	}
	if _, err := c.Action(testCtx(t), "Ping"); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrKeepAlive) {
		t.Errorf("Action after the end: %v, want ErrClosed and ErrKeepAlive", err)
	}
}

func TestKeepAliveHealthyPeer(t *testing.T) {
	srv := newServer(t, amitest.ServerConfig{})
	cfg := clientConfig(srv.Addr())
	cfg.KeepAlive = 10 * time.Millisecond
	cfg.PingTimeout = 2 * time.Second // a loaded machine is not a dead peer
	c := dial(t, cfg)
	select {
	case <-c.Done():
		t.Fatalf("connection ended: %v", c.Err())
	case <-time.After(300 * time.Millisecond):
	}
}

// TestSlowConsumer holds the events unread for many keepalive periods: the
// connection must survive (the unanswered Pings are our fault) and every
// event must arrive, in order.
func TestSlowConsumer(t *testing.T) {
	caps := captures(t)
	want := 0
	var transcripts [][]byte
	for _, data := range caps {
		transcripts = append(transcripts, data)
		want += eventCount(t, data)
	}
	srv := newServer(t, amitest.ServerConfig{Transcripts: transcripts})
	cfg := clientConfig(srv.Addr())
	cfg.KeepAlive = 10 * time.Millisecond
	cfg.PingTimeout = 100 * time.Millisecond
	cfg.EventBuffer = 1
	c := dial(t, cfg)
	time.Sleep(600 * time.Millisecond) // many Pings, none answered in time
	got, fully := 0, 0
	for got < want {
		f := recvEvent(t, c)
		got++
		if f.Event() == "FullyBooted" {
			fully++
		}
	}
	if fully != len(caps) {
		t.Errorf("%d FullyBooted events, want one per transcript (%d)", fully, len(caps))
	}
	if err := srv.Wait(testCtx(t), func(s amitest.Stats) bool { return s.Played == len(caps) }); err != nil {
		t.Error(err)
	}
	select {
	case f := <-c.Events():
		t.Errorf("extra event %q", f.Fields)
	case <-time.After(50 * time.Millisecond):
	}
	if err := c.Ping(testCtx(t)); err != nil {
		t.Errorf("Ping after draining: %v (conn err %v)", err, c.Err())
	}
}

// TestActionInterleaved answers two actions out of order, with events
// around the responses.
func TestActionInterleaved(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn) {
		r := NewReader(nc)
		io.WriteString(nc, "Asterisk Call Manager/11.0.0\r\n")
		login, err := r.Read()
		if err != nil {
			return
		}
		io.WriteString(nc, "Response: Success\r\nActionID: "+login.Get("ActionID")+"\r\nMessage: Authentication accepted\r\n\r\n")
		ids := map[string]string{}
		for len(ids) < 2 {
			f, err := r.Read()
			if err != nil {
				return
			}
			ids[f.Get("Action")] = f.Get("ActionID")
		}
		io.WriteString(nc, "Event: E1\r\nActionID: "+ids["First"]+"\r\n\r\n"+
			"Response: Success\r\nActionID: "+ids["Second"]+"\r\nWhich: second\r\n\r\n"+
			"Event: E2\r\n\r\n"+
			"Response: Success\r\nActionID: unknown\r\nWhich: nobody's\r\n\r\n"+
			"Response: Error\r\nActionID: "+ids["First"]+"\r\nMessage: first failed\r\n\r\n"+
			"Event: E3\r\n\r\n")
		io.Copy(io.Discard, nc)
	})
	c := dial(t, clientConfig(addr))
	ctx := testCtx(t)
	type result struct {
		f   Frame
		err error
	}
	first, second := make(chan result, 1), make(chan result, 1)
	go func() { f, err := c.Action(ctx, "First"); first <- result{f, err} }()
	go func() { f, err := c.Action(ctx, "Second", Field{"Key", "v"}); second <- result{f, err} }()
	r2 := <-second
	if r2.err != nil || r2.f.Get("Which") != "second" {
		t.Errorf("Second: %q, %v", r2.f.Fields, r2.err)
	}
	r1 := <-first
	var re *ResponseError
	if !errors.As(r1.err, &re) || re.Message != "first failed" || r1.f.Get("Message") != "first failed" {
		t.Errorf("First: %q, %v; want a ResponseError", r1.f.Fields, r1.err)
	}
	for _, want := range []string{"E1", "E2", "E3"} {
		if got := recvEvent(t, c).Event(); got != want {
			t.Errorf("event %q, want %q", got, want)
		}
	}
}

func TestCommandOutput(t *testing.T) {
	out := "Asterisk 22.1.0 built by root\n\nChannel: not a field\nlast line\n"
	want := []string{"Asterisk 22.1.0 built by root", "", "Channel: not a field", "last line"}
	for name, legacy := range map[string]bool{"asterisk 22": false, "asterisk 13": true} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, amitest.ServerConfig{
				Commands:      map[string]string{"core show version": out},
				LegacyCommand: legacy,
				Transcripts:   [][]byte{captures(t)["busy"]}, // events flow meanwhile
			})
			c := dial(t, clientConfig(srv.Addr()))
			f, err := c.Action(testCtx(t), "Command", Field{"Command", "core show version"})
			if err != nil {
				t.Fatalf("Command: %v", err)
			}
			if got := f.All("Output"); !reflect.DeepEqual(got, want) {
				t.Errorf("Output = %q, want %q", got, want)
			}
		})
	}
	t.Run("no such command", func(t *testing.T) {
		srv := newServer(t, amitest.ServerConfig{})
		c := dial(t, clientConfig(srv.Addr()))
		f, err := c.Action(testCtx(t), "Command", Field{"Command", "bogus"})
		var re *ResponseError
		if !errors.As(err, &re) || !strings.HasPrefix(f.Get("Output"), "No such command 'bogus'") {
			t.Errorf("Command bogus: %q, %v", f.Fields, err)
		}
	})
}

func TestActionErrors(t *testing.T) {
	srv := newServer(t, amitest.ServerConfig{})
	c := dial(t, clientConfig(srv.Addr()))
	ctx := testCtx(t)
	_, err := c.Action(ctx, "NoSuchAction")
	var re *ResponseError
	if !errors.As(err, &re) || re.Message != "Invalid/unknown command" {
		t.Errorf("unknown action: %v", err)
	}
	if _, err := c.Action(ctx, "Getvar", Field{"Variable", "X\r\n\r\nAction: Originate"}); err == nil {
		t.Error("a value with a line break was sent")
	}
	if _, err := c.Action(ctx, "Bad\nName"); err == nil {
		t.Error("a name with a line break was sent")
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping after refused actions: %v", err)
	}
	expired, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Action(expired, "Ping"); !errors.Is(err, context.Canceled) {
		t.Errorf("Action with a done ctx: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping after a cancelled action: %v", err)
	}
}

func TestCloseWakesAction(t *testing.T) {
	srv := newServer(t, amitest.ServerConfig{})
	c := dial(t, clientConfig(srv.Addr()))
	srv.Stall(true)
	errc := make(chan error, 1)
	go func() { _, err := c.Action(testCtx(t), "Ping"); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Action: %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Action still waiting after Close")
	}
}

func TestActionTimeout(t *testing.T) {
	srv := newServer(t, amitest.ServerConfig{})
	cfg := clientConfig(srv.Addr())
	cfg.ActionTimeout = 50 * time.Millisecond
	c := dial(t, cfg)
	srv.Stall(true)
	if _, err := c.Action(t.Context(), "Ping"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Action: %v, want DeadlineExceeded", err)
	}
	srv.Stall(false)
	if err := c.Ping(testCtx(t)); err != nil {
		t.Errorf("Ping after a timed-out action: %v", err)
	}
}

// TestFrameTooLargeSkipped: an oversized event is skipped, the next arrives.
func TestFrameTooLargeSkipped(t *testing.T) {
	addr := rawServer(t, func(nc net.Conn) {
		r := NewReader(nc)
		io.WriteString(nc, "Asterisk Call Manager/11.0.0\r\n")
		login, err := r.Read()
		if err != nil {
			return
		}
		io.WriteString(nc, "Response: Success\r\nActionID: "+login.Get("ActionID")+"\r\n\r\n")
		io.WriteString(nc, "Event: Big\r\nData: "+strings.Repeat("x", MaxFrame)+"\r\n\r\nEvent: Small\r\n\r\n")
		io.Copy(io.Discard, nc)
	})
	c := dial(t, clientConfig(addr))
	if got := recvEvent(t, c).Event(); got != "Small" {
		t.Errorf("event %q, want Small", got)
	}
}

func TestConfigLogValueHidesSecret(t *testing.T) {
	for _, v := range []slog.Value{
		ClientConfig{Address: "a", Username: "u", Secret: "hunter2"}.LogValue(),
		Config{Address: "a", Username: "u", Secret: "hunter2"}.LogValue(),
	} {
		if s := v.String(); strings.Contains(s, "hunter2") || !strings.Contains(s, "redacted") {
			t.Errorf("LogValue = %s, want the secret redacted", s)
		}
	}
}
