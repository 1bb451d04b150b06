package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback/ami/amitest"
)

// carrier is a loopback Twilio for the crash tests. It counts every request
// for a text the moment it arrives, before it answers, so a request whose
// sender died waiting still counts; then it waits delay and answers as
// status says: 201 with a message, 503, or 429 with a Retry-After.
type carrier struct {
	sid    string
	delay  time.Duration
	status func() int // nil: always 201
	url    string

	mu       sync.Mutex
	requests map[string]int // To → requests received
	accepted map[string]int // To → requests answered 201
	n        int
	arrived  chan string // the To of each request, while there is room
}

func newCarrier(t *testing.T, delay time.Duration, status func() int) *carrier {
	c := &carrier{sid: "AC" + strings.Repeat("0123456789abcdef", 2), delay: delay, status: status,
		requests: map[string]int{}, accepted: map[string]int{}, arrived: make(chan string, 64)}
	srv := httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

func (c *carrier) serve(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != c.sid || p != "e2e-token" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code": 20003, "message": "Authenticate", "status": 401}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet && r.URL.Path == "/2010-04-01/Accounts/"+c.sid+".json" {
		fmt.Fprintf(w, `{"sid": %q, "status": "active", "type": "Full"}`, c.sid)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+c.sid+"/Messages.json" || r.ParseForm() != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"code": 21211, "message": "bad request", "status": 400}`)
		return
	}
	to := r.PostForm.Get("To")
	c.mu.Lock()
	c.requests[to]++
	c.mu.Unlock()
	select {
	case c.arrived <- to:
	default:
	}
	if c.delay > 0 {
		select {
		case <-time.After(c.delay):
		case <-r.Context().Done(): // the sender is gone: no answer reaches it
		}
	}
	status := http.StatusCreated
	if c.status != nil {
		status = c.status()
	}
	switch status {
	case http.StatusServiceUnavailable:
		w.WriteHeader(status)
		fmt.Fprint(w, `{"code": 20500, "message": "Service unavailable", "status": 503}`)
		return
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(status)
		fmt.Fprint(w, `{"code": 20429, "message": "Too Many Requests", "status": 429}`)
		return
	}
	c.mu.Lock()
	c.accepted[to]++
	c.n++
	n := c.n
	c.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"account_sid": %q, "body": %q, "from": %q, "to": %q, "sid": "SM%032d", "status": "queued", "num_segments": "1", "direction": "outbound-api"}`,
		c.sid, r.PostForm.Get("Body"), r.PostForm.Get("From"), to, n)
}

// counts returns copies of the requests and the accepted texts per number.
func (c *carrier) counts() (requests, accepted map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	requests, accepted = map[string]int{}, map[string]int{}
	for k, v := range c.requests {
		requests[k] = v
	}
	for k, v := range c.accepted {
		accepted[k] = v
	}
	return requests, accepted
}

// waitRequest waits for the next request to reach the carrier and returns its To.
func (c *carrier) waitRequest(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case to := <-c.arrived:
		return to
	case <-time.After(within):
		t.Fatalf("no request reached the carrier within %v", within)
		return ""
	}
}

// call is a recorded AMI call played again as a new one: fresh ids, and
// caller in place of the recorded caller.
func call(t *testing.T, capture, id, caller string) []byte {
	t.Helper()
	recorded := map[string]string{"ring_no_answer_hangup": "+13125550101", "answered": "+13125550104"}[capture]
	if recorded == "" {
		t.Fatalf("no recorded caller for %s", capture)
	}
	b := readCapture(t, "ami", capture+".ami.txt", id)
	return bytes.ReplaceAll(b, []byte(recorded), []byte(caller))
}

// editConfig replaces old with new in the config file, once.
func editConfig(t *testing.T, path, old, new string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte(old)) {
		t.Fatalf("config has no %q", old)
	}
	if err := os.WriteFile(path, bytes.Replace(src, []byte(old), []byte(new), 1), 0o600); err != nil {
		t.Fatal(err)
	}
}

// crashSetup is an AMI server playing at speed (0: as fast as it can), a
// config for it and the carrier with no hourly cap on texts.
func crashSetup(t *testing.T, c *carrier, speed float64) (*amitest.Server, string) {
	t.Helper()
	srv, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret", Speed: speed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfgPath := writeConfig(t, t.TempDir(), amiPBX(srv.Addr()), c.url, c.sid, "[limits]\nmax_per_hour = 0\n")
	return srv, cfgPath
}

// spawnDaemon runs `textback run` without waiting for it to start.
func spawnDaemon(t *testing.T, cfgPath string) *daemonProc {
	t.Helper()
	d := &daemonProc{t: t, cmd: exec.Command(binary, "run", "-c", cfgPath), log: &logBuffer{}, exited: make(chan error, 1)}
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-d.exited:
			d.exited <- err
		default:
			d.cmd.Process.Kill()
			d.exited <- <-d.exited
		}
		if t.Failed() {
			log := d.log.String()
			if len(log) > 20000 {
				log = "…" + log[len(log)-20000:]
			}
			t.Logf("textback's log (pid %d):\n%s", d.cmd.Process.Pid, log)
		}
	})
	return d
}

// kill9 sends SIGKILL: no shutdown, no last write to the journal.
func (d *daemonProc) kill9() {
	d.t.Helper()
	if err := d.cmd.Process.Kill(); err != nil {
		d.t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		d.exited <- err
	case <-time.After(10 * time.Second):
		d.t.Fatal("textback still running 10s after SIGKILL")
	}
}

// textOf waits until the journal has the call from caller with a text in
// one of the states given, and returns that text.
func textOf(t *testing.T, cfgPath, caller string, within time.Duration, states ...string) *textJSON {
	t.Helper()
	return waitText(t, cfgPath, "to "+caller, func(h historyJSON) bool { return h.Caller == caller }, within, states...)
}

// waitText waits until the journal has a call that match picks with a
// text in one of the states given, and returns that text; what names the
// call in the failure.
func waitText(t *testing.T, cfgPath, what string, match func(historyJSON) bool, within time.Duration, states ...string) *textJSON {
	t.Helper()
	deadline := time.Now().Add(within)
	last := "no such call"
	for {
		for _, h := range history(t, cfgPath) {
			if !match(h) {
				continue
			}
			if h.Text == nil {
				last = "call without a text: " + h.Reason
				continue
			}
			last = h.Text.State
			if slices.Contains(states, h.Text.State) {
				return h.Text
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("text %s: %s after %v, want %v", what, last, within, states)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKillWhileSending: kill -9 while the carrier holds the request. After
// the restart the text is unknown, not resent: the carrier saw one request.
func TestKillWhileSending(t *testing.T) {
	c := newCarrier(t, 3*time.Second, nil)
	srv, cfgPath := crashSetup(t, c, 0)
	d := startDaemon(t, cfgPath)
	const caller = "+13125557001"
	srv.Play(call(t, "ring_no_answer_hangup", "kill-a", caller))
	if to := c.waitRequest(t, 20*time.Second); to != caller {
		t.Fatalf("request to %s, want %s", to, caller)
	}
	d.kill9()
	if tx := textOf(t, cfgPath, caller, time.Second, "sending", "unknown", "sent", "queued"); tx.State != "sending" {
		t.Errorf("journal after kill -9: %s, want sending", tx.State)
	}

	d = startDaemon(t, cfgPath)
	tx := textOf(t, cfgPath, caller, 10*time.Second, "unknown", "sent", "failed", "expired")
	if tx.State != "unknown" {
		t.Errorf("after restart: %s, want unknown", tx.State)
	}
	d.waitLog(`level=ERROR msg="sms state unknown: the daemon stopped while sending; not resent".* call_id=kill-a-`, 5*time.Second)
	// Longer than the carrier takes to answer: a resend would show by now.
	time.Sleep(3500 * time.Millisecond)
	if req, _ := c.counts(); req[caller] != 1 || len(req) != 1 {
		t.Errorf("the carrier saw %v, want one request to %s", req, caller)
	}
	d.stop(15 * time.Second)
}

// TestKillBeforeSend: kill -9 after the call is journaled, while its text
// waits out the rule's delay. After the restart it is sent, once.
func TestKillBeforeSend(t *testing.T) {
	c := newCarrier(t, 0, nil)
	srv, cfgPath := crashSetup(t, c, 0)
	const msg = `message = "Hi, this is {business}. Sorry we missed your call. What can we help you with?"`
	editConfig(t, cfgPath, msg, msg+"\ndelay = \"3s\"")
	d := startDaemon(t, cfgPath)
	const caller = "+13125557002"
	srv.Play(call(t, "ring_no_answer_hangup", "kill-b", caller))
	textOf(t, cfgPath, caller, 20*time.Second, "queued")
	d.kill9()
	if req, _ := c.counts(); len(req) != 0 {
		t.Fatalf("the carrier saw %v before the delay was over", req)
	}

	d = startDaemon(t, cfgPath)
	if to := c.waitRequest(t, 20*time.Second); to != caller {
		t.Fatalf("request to %s, want %s", to, caller)
	}
	tx := textOf(t, cfgPath, caller, 10*time.Second, "sent", "unknown", "failed", "expired", "cancelled")
	if tx.State != "sent" || tx.Attempts != 1 {
		t.Errorf("after restart: %s after %d attempts, want sent after 1", tx.State, tx.Attempts)
	}
	time.Sleep(time.Second) // time for a wrong second request
	if req, _ := c.counts(); req[caller] != 1 || len(req) != 1 {
		t.Errorf("the carrier saw %v, want one request to %s", req, caller)
	}
	d.stop(15 * time.Second)
}

// TestKillAtRandom: kill -9 at random moments while calls come in, ten
// times, then a clean run. No number is texted twice, and every journaled
// send ends sent or unknown, none left queued.
func TestKillAtRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	c := newCarrier(t, 200*time.Millisecond, nil) // slow enough for kills to land mid-send
	srv, cfgPath := crashSetup(t, c, 0)
	calls := 0
	play := func(n int) {
		for range n {
			calls++
			srv.Play(call(t, "ring_no_answer_hangup", fmt.Sprintf("r%03d", calls), fmt.Sprintf("+1312555%04d", 7100+calls)))
		}
	}
	for i := range 10 {
		play(3)
		d := spawnDaemon(t, cfgPath)
		wait := time.Duration(rng.Int64N(int64(1500 * time.Millisecond)))
		time.Sleep(wait)
		d.kill9()
		t.Logf("run %d: killed after %v", i, wait.Round(time.Millisecond))
	}
	// A clean run plays what is left, then a last call that marks the end.
	d := startDaemon(t, cfgPath)
	play(1)
	last := fmt.Sprintf("+1312555%04d", 7100+calls)
	deadline := time.Now().Add(60 * time.Second)
	for {
		hs := history(t, cfgPath)
		seen, open := false, 0
		for _, h := range hs {
			seen = seen || h.Caller == last
			if h.Text != nil && (h.Text.State == "queued" || h.Text.State == "sending") {
				open++
			}
		}
		if seen && open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled after 60s: last call seen %v, %d texts queued or sending", seen, open)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // time for a wrong request
	d.stop(15 * time.Second)

	req, acc := c.counts()
	states := map[string]int{}
	journaled := map[string]bool{}
	for _, h := range history(t, cfgPath) {
		journaled[h.Caller] = true
		if h.Reason != "send" || h.Text == nil {
			t.Errorf("call from %s: %s, want send with a text", h.Caller, h.Reason)
			continue
		}
		states[h.Text.State]++
		switch h.Text.State {
		case "sent":
			if req[h.Caller] != 1 || acc[h.Caller] != 1 {
				t.Errorf("%s: sent, but the carrier saw %d requests and took %d", h.Caller, req[h.Caller], acc[h.Caller])
			}
		case "unknown":
			if req[h.Caller] > 1 {
				t.Errorf("%s: unknown, and the carrier saw %d requests", h.Caller, req[h.Caller])
			}
		default:
			t.Errorf("%s: text %s, want sent or unknown", h.Caller, h.Text.State)
		}
	}
	for to, n := range req {
		if n > 1 {
			t.Errorf("%s texted %d times", to, n)
		}
		if !journaled[to] {
			t.Errorf("%s texted without a journaled call", to)
		}
	}
	t.Logf("%d calls played, %d journaled (the others went to a daemon that was killed), texts: %v", calls, len(journaled), states)
}
