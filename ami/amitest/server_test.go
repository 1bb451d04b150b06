package amitest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/ami"
)

const user, secret = "textback", "s3cret"

func newServer(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.Username == "" {
		cfg.Username, cfg.Secret = user, secret
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client is a bare AMI client over a raw connection.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *ami.Reader
}

func connect(t *testing.T, s *Server) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second)) // bounds every read below
	c := &client{t: t, nc: nc, r: ami.NewReader(nc)}
	if b, err := c.r.Banner(); err != nil || b != DefaultBanner {
		t.Fatalf("banner %q, %v", b, err)
	}
	return c
}

func (c *client) send(lines ...string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, strings.Join(lines, "\r\n")+"\r\n\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() ami.Frame {
	c.t.Helper()
	f, err := c.r.Read()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

func (c *client) login() {
	c.t.Helper()
	c.send("Action: Login", "ActionID: 1", "Username: "+user, "Secret: "+secret)
	if f := c.read(); f.Get("Response") != "Success" || f.Get("ActionID") != "1" {
		c.t.Fatalf("login: %q", f.Fields)
	}
}

func (c *client) expectEOF() {
	c.t.Helper()
	if f, err := c.r.Read(); err != io.EOF {
		c.t.Errorf("read %q, %v; want EOF", f.Fields, err)
	}
}

func TestLogin(t *testing.T) {
	s := newServer(t, ServerConfig{})
	t.Run("plain", func(t *testing.T) {
		c := connect(t, s)
		c.login()
	})
	t.Run("md5", func(t *testing.T) {
		c := connect(t, s)
		c.send("Action: Challenge", "ActionID: c", "AuthType: MD5")
		f := c.read()
		ch := f.Get("Challenge")
		if f.Get("Response") != "Success" || ch == "" {
			t.Fatalf("challenge: %q", f.Fields)
		}
		sum := md5.Sum([]byte(ch + secret))
		c.send("Action: Login", "AuthType: MD5", "Username: TEXTBACK", "Key: "+hex.EncodeToString(sum[:]))
		if f := c.read(); f.Get("Response") != "Success" || f.Get("Message") != "Authentication accepted" {
			t.Fatalf("login: %q", f.Fields)
		}
	})
	for name, lines := range map[string][]string{
		"wrong secret":      {"Action: Login", "ActionID: 9", "Username: " + user, "Secret: nope"},
		"md5 no challenge":  {"Action: Login", "ActionID: 9", "AuthType: MD5", "Username: " + user, "Key: 0123"},
		"unknown user":      {"Action: Login", "ActionID: 9", "Username: root", "Secret: " + secret},
		"secret wrong case": {"Action: Login", "ActionID: 9", "Username: " + user, "Secret: S3CRET"},
	} {
		t.Run(name, func(t *testing.T) {
			c := connect(t, s)
			c.send(lines...)
			f := c.read()
			if f.Get("Response") != "Error" || f.Get("Message") != "Authentication failed" || f.Get("ActionID") != "9" {
				t.Errorf("got %q", f.Fields)
			}
			c.expectEOF()
		})
	}
	if st := s.Stats(); st.Logins != 2 || st.FailedLogins != 4 || st.Connections != 6 {
		t.Errorf("stats %+v", st)
	}
}

func TestActions(t *testing.T) {
	s := newServer(t, ServerConfig{Commands: map[string]string{"core show uptime": "System uptime: 1 hour\nLast reload: 1 hour\n"}})
	c := connect(t, s)
	c.send("Action: Ping", "ActionID: p0")
	if f := c.read(); f.Get("Response") != "Error" || f.Get("Message") != "Permission denied" {
		t.Errorf("Ping before login: %q", f.Fields)
	}
	c.send("ActionID: none")
	if f := c.read(); f.Get("Message") != "Missing action in request" {
		t.Errorf("no action: %q", f.Fields)
	}
	c.login()
	c.send("Action: Ping", "ActionID: p1")
	if f := c.read(); f.Get("Response") != "Success" || f.Get("Ping") != "Pong" || f.Get("Timestamp") == "" || f.Get("ActionID") != "p1" {
		t.Errorf("Ping: %q", f.Fields)
	}
	c.send("Action: Frobnicate", "ActionID: x")
	if f := c.read(); f.Get("Response") != "Error" || f.Get("Message") != "Invalid/unknown command" {
		t.Errorf("unknown action: %q", f.Fields)
	}
	c.send("Action: Command", "ActionID: cmd", "Command: core show uptime")
	if f := c.read(); f.Get("Message") != "Command output follows" ||
		strings.Join(f.All("Output"), "|") != "System uptime: 1 hour|Last reload: 1 hour" {
		t.Errorf("Command: %q", f.Fields)
	}
	c.send("Action: Events", "ActionID: e", "EventMask: off")
	if f := c.read(); f.Get("Events") != "Off" {
		t.Errorf("Events off: %q", f.Fields)
	}
	c.send("Action: Logoff", "ActionID: bye")
	if f := c.read(); f.Get("Response") != "Goodbye" || f.Get("ActionID") != "bye" {
		t.Errorf("Logoff: %q", f.Fields)
	}
	c.expectEOF()
}

func TestLegacyCommand(t *testing.T) {
	s := newServer(t, ServerConfig{LegacyCommand: true, Commands: map[string]string{"x": "a\n\nb"}})
	c := connect(t, s)
	c.login()
	c.send("Action: Command", "ActionID: 7", "Command: x")
	want := "Response: Follows\r\nPrivilege: Command\r\nActionID: 7\r\na\n\nb--END COMMAND--\r\n\r\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c.nc, got); err != nil || string(got) != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}

// expectedEvents returns a capture's event frames, byte for byte.
func expectedEvents(data []byte) []byte {
	_, rest, _ := bytes.Cut(data, []byte("\r\n"))
	var b []byte
	for _, f := range bytes.SplitAfter(rest, []byte("\r\n\r\n")) {
		if len(f) > 0 && !bytes.HasPrefix(f, []byte("Response:")) {
			b = append(b, f...)
		}
	}
	return b
}

func TestReplayByteForByte(t *testing.T) {
	paths, _ := os.ReadDir("../testdata")
	var datas [][]byte
	for _, p := range paths {
		if strings.HasSuffix(p.Name(), ".ami.txt") {
			b, err := os.ReadFile("../testdata/" + p.Name())
			if err != nil {
				t.Fatal(err)
			}
			datas = append(datas, b)
		}
	}
	if len(datas) == 0 {
		t.Fatal("no captures")
	}
	s := newServer(t, ServerConfig{Transcripts: datas[:1]})
	for _, d := range datas[1:] {
		s.Play(d)
	}
	c := connect(t, s)
	// Log in reading byte by byte: c.r would buffer the events after it.
	c.send("Action: Login", "Username: "+user, "Secret: "+secret)
	var resp []byte
	for !bytes.HasSuffix(resp, []byte("\r\n\r\n")) {
		b := make([]byte, 1)
		if _, err := io.ReadFull(c.nc, b); err != nil {
			t.Fatal(err)
		}
		resp = append(resp, b[0])
	}
	for _, d := range datas {
		want := expectedEvents(d)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c.nc, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			i := 0
			for i < len(got) && got[i] == want[i] {
				i++
			}
			t.Fatalf("replay differs from the capture's events at byte %d of %d:\ngot  %q\nwant %q",
				i, len(want), got[max(0, i-80):min(len(got), i+80)], want[max(0, i-80):min(len(want), i+80)])
		}
	}
	// The count goes up after the last byte is written, so the client may
	// have read everything a moment before the server counts it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx, func(st Stats) bool { return st.Played == len(datas) }); err != nil {
		t.Errorf("Played = %d, want %d", s.Stats().Played, len(datas))
	}
}

func TestParseTranscript(t *testing.T) {
	in := "Asterisk Call Manager/11.0.0\r\n" +
		"Response: Success\r\nMessage: Authentication accepted\r\n\r\n" +
		"\r\nEvent: A\r\n\r\n" +
		"Response: Follows\r\nPrivilege: Command\r\nline\n\nEvent: NotOne\n--END COMMAND--\r\n\r\n" +
		"Event: B\nKey: v\n\n" +
		"Event: C\r\nTimestamp: 1795845727.608883\r\n"
	var got []string
	for _, ev := range parseTranscript([]byte(in)) {
		got = append(got, string(ev.raw))
	}
	want := []string{"Event: A\r\n\r\n", "Event: B\nKey: v\n\n", "Event: C\r\nTimestamp: 1795845727.608883\r\n\r\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if ts := timestamp([]byte(want[2])); ts < 1795845727.6 || ts > 1795845727.7 {
		t.Errorf("timestamp = %f", ts)
	}
}

func TestPacing(t *testing.T) {
	tr := []byte("Event: A\r\nTimestamp: 100.000000\r\n\r\nEvent: B\r\nTimestamp: 100.400000\r\n\r\n")
	for _, tt := range []struct {
		speed    float64
		min, max time.Duration
	}{
		{0, 0, 300 * time.Millisecond},
		{1, 350 * time.Millisecond, 2 * time.Second},
		{4, 80 * time.Millisecond, 350 * time.Millisecond},
	} {
		s := newServer(t, ServerConfig{Speed: tt.speed, Transcripts: [][]byte{tr}})
		c := connect(t, s)
		c.login()
		c.read()
		start := time.Now()
		c.read()
		if d := time.Since(start); d < tt.min || d > tt.max {
			t.Errorf("speed %v: B came %s after A, want %s..%s", tt.speed, d, tt.min, tt.max)
		}
	}
}

func TestEventsOffAndStall(t *testing.T) {
	s := newServer(t, ServerConfig{Transcripts: [][]byte{[]byte("Event: A\r\n\r\n")}})
	c := connect(t, s)
	c.send("Action: Login", "Username: "+user, "Secret: "+secret, "Events: off")
	c.read()
	s.Stall(true)
	c.send("Action: Events", "ActionID: on", "EventMask: on")
	c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if f, err := c.r.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled server sent %q, %v", f.Fields, err)
	}
	s.Stall(false)
	c.send("Action: Events", "ActionID: on2", "EventMask: on")
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	// The reader above timed out mid-frame perhaps; read raw from here.
	var got []string
	for len(got) < 2 {
		f := c.read()
		got = append(got, f.Get("Event")+f.Get("ActionID"))
	}
	if strings.Join(got, ",") != "on2,A" && strings.Join(got, ",") != "A,on2" {
		t.Errorf("got %q, want the Events response and event A", got)
	}
}

func TestDropAndReconnect(t *testing.T) {
	s := newServer(t, ServerConfig{})
	c1 := connect(t, s)
	c1.login()
	s.Drop()
	if _, err := c1.r.Read(); err == nil {
		t.Error("connection still open after Drop")
	}
	c2 := connect(t, s)
	c2.login()
	s.Play([]byte("Event: After\r\n\r\n"))
	if f := c2.read(); f.Event() != "After" {
		t.Errorf("got %q", f.Fields)
	}
	if st := s.Stats(); st.Connections != 2 || st.Logins != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestCloseLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := NewServer(ServerConfig{Username: user, Secret: secret, Speed: 1,
		Transcripts: [][]byte{[]byte("Event: A\r\nTimestamp: 1\r\n\r\nEvent: B\r\nTimestamp: 50\r\n\r\n")}})
	if err != nil {
		t.Fatal(err)
	}
	// The transcript goes to whichever logged-in connection asks first:
	// the first one alone, then two more that idle.
	conns := []*client{connect(t, s)}
	conns[0].login()
	conns[0].read() // A; B waits 49s
	for range 2 {
		c := connect(t, s)
		c.login()
		conns = append(conns, c)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close hangs")
	}
	for _, c := range conns {
		c.nc.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
