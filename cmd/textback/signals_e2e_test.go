package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback/ami/amitest"
)

// logBuffer collects the daemon's log while the test reads it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// daemonProc is a running `textback run`.
type daemonProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	log    *logBuffer
	exited chan error
}

// startDaemon runs `textback run -c cfgPath` and waits until it has said
// it started (and so handles its signals).
func startDaemon(t *testing.T, cfgPath string) *daemonProc {
	t.Helper()
	d := &daemonProc{t: t, cmd: exec.Command(binary, "run", "-c", cfgPath), log: &logBuffer{}, exited: make(chan error, 1)}
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("textback's log:\n%s", d.log.String())
		}
	})
	d.waitLog(`msg="textback started"`, 20*time.Second)
	return d
}

// waitLog waits until the log has a line that matches re, and returns it.
func (d *daemonProc) waitLog(re string, within time.Duration) string {
	d.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(within)
	for {
		for _, l := range strings.Split(d.log.String(), "\n") {
			if rx.MatchString(l) {
				return l
			}
		}
		select {
		case err := <-d.exited:
			d.exited <- err
			d.t.Fatalf("textback exited (%v) before logging %s", err, re)
		case <-deadline:
			d.t.Fatalf("no log line matching %s within %v", re, within)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *daemonProc) signal(s os.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(s); err != nil {
		d.t.Fatal(err)
	}
}

// stop sends SIGTERM and wants exit status 0 within the time given.
func (d *daemonProc) stop(within time.Duration) time.Duration {
	d.t.Helper()
	start := time.Now()
	d.signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		d.exited <- err
		if err != nil {
			d.t.Errorf("textback run after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(within):
		d.t.Fatalf("textback did not exit within %v of SIGTERM", within)
	}
	return time.Since(start)
}

// nextText waits for the Twilio fake to take a text and returns its form.
func nextText(t *testing.T, tw *twilioFake) (to, body string) {
	t.Helper()
	select {
	case <-tw.sent:
	case <-time.After(20 * time.Second):
		t.Fatal("no text within 20s")
	}
	got, errs := tw.requests()
	for _, e := range errs {
		t.Errorf("twilio fake refused a request: %s", e)
	}
	last := got[len(got)-1]
	return last.Get("To"), last.Get("Body")
}

// TestReloadSIGHUP: SIGHUP puts a changed rule in force for the next call;
// a broken file is refused with its lines and the last good rules stay.
func TestReloadSIGHUP(t *testing.T) {
	srv, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tw, twSrv := newTwilioFake(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, amiPBX(srv.Addr()), twSrv.URL, tw.sid, "")
	d := startDaemon(t, cfgPath)

	const oldMsg = `message = "Hi, this is {business}. Sorry we missed your call. What can we help you with?"`
	src, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	good := bytes.Replace(src, []byte(oldMsg), []byte(`message = "{business} here: sorry we missed you. Reply with a good time to call."`), 1)
	// A change that needs a restart is reported, and does not stop the reload.
	good = bytes.Replace(good, []byte(`listen = "127.0.0.1:0"`), []byte(`listen = "127.0.0.1:1"`), 1)
	if bytes.Equal(good, src) {
		t.Fatal("the config was not edited")
	}
	if err := os.WriteFile(cfgPath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	d.signal(syscall.SIGHUP)
	line := d.waitLog(`msg="config reloaded"`, 10*time.Second)
	if !strings.Contains(line, "rules[0].message") || strings.Contains(line, "http.listen") {
		t.Errorf("reload log %q: want rules[0].message changed, and not http.listen", line)
	}
	d.waitLog(`level=WARN msg="restart needed for: http.listen"`, 5*time.Second)

	srv.Play(readCapture(t, "ami", "ring_no_answer_hangup.ami.txt", ""))
	const newBody = "Peak HVAC here: sorry we missed you. Reply with a good time to call."
	to1, body := nextText(t, tw)
	if body != newBody {
		t.Errorf("text after reload: %q, want %q", body, newBody)
	}

	// A broken file, with two errors: an unknown key and a bad log level.
	broken := bytes.Replace(good, []byte(`name = "main"`), []byte("name = \"main\"\nopne = true"), 1)
	broken = bytes.Replace(broken, []byte(`level = "debug"`), []byte(`level = "loud"`), 1)
	if err := os.WriteFile(cfgPath, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	lineOfText := func(s string) int { return 1 + bytes.Count(broken[:bytes.Index(broken, []byte(s))], []byte("\n")) }
	d.signal(syscall.SIGHUP)
	d.waitLog(`level=ERROR msg="config reload refused.* errors=2`, 10*time.Second)
	d.waitLog(`level=ERROR .*`+regexp.QuoteMeta(fmt.Sprintf(`%s:%d: unknown key \"rules.opne\"`, cfgPath, lineOfText("opne"))), 5*time.Second)
	d.waitLog(`level=ERROR .*`+regexp.QuoteMeta(fmt.Sprintf(`%s:%d: log.level: must be`, cfgPath, lineOfText(`level = "loud"`))), 5*time.Second)

	// The last good rules still decide.
	srv.Play(readCapture(t, "ami", "busy.ami.txt", ""))
	to2, body := nextText(t, tw)
	if body != newBody || to2 == to1 {
		t.Errorf("text after a refused reload: to %s %q, want to a new caller %q", to2, body, newBody)
	}
	d.stop(15 * time.Second)
}

// TestStopWhileSending: SIGTERM while a text is with a slow carrier lets
// the send finish and be journaled as sent, and the daemon exits 0 soon.
func TestStopWhileSending(t *testing.T) {
	srv, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tw := &twilioFake{t: t, sid: "AC" + strings.Repeat("0123456789abcdef", 2), tok: "e2e-token", sent: make(chan struct{}, 100)}
	inFlight := make(chan struct{}, 10)
	twSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			inFlight <- struct{}{}
			time.Sleep(2 * time.Second) // a slow carrier
		}
		tw.serve(w, r)
	}))
	t.Cleanup(twSrv.Close)
	cfgPath := writeConfig(t, t.TempDir(), amiPBX(srv.Addr()), twSrv.URL, tw.sid, "")
	d := startDaemon(t, cfgPath)

	srv.Play(readCapture(t, "ami", "ring_no_answer_hangup.ami.txt", ""))
	select {
	case <-inFlight:
	case <-time.After(20 * time.Second):
		t.Fatal("no send started within 20s")
	}
	if took := d.stop(5 * time.Second); took < time.Second {
		t.Errorf("exited %v after SIGTERM, before the 2s send could have finished", took)
	}
	if got, _ := tw.requests(); len(got) != 1 {
		t.Errorf("the carrier took %d texts, want 1", len(got))
	}
	hs := history(t, cfgPath)
	if len(hs) != 1 || hs[0].Text == nil {
		t.Fatalf("journal: %+v, want one call with a text", hs)
	}
	if st := hs[0].Text.State; st != "sent" {
		t.Errorf("text state %q, want sent", st)
	}
	if strings.Contains(d.log.String(), "shutdown took too long") {
		t.Error("the shutdown hit its limit")
	}
}
