package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback/ami/amitest"
)

// binary is the real textback, built once by TestMain for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "textback-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "textback")
		out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build textback: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}())
}

// twilioFake is a loopback Twilio that checks each request as Twilio's
// documentation describes it and answers like Twilio does.
type twilioFake struct {
	t   *testing.T
	sid string
	tok string

	mu   sync.Mutex
	got  []url.Values
	errs []string
	sent chan struct{}
}

func newTwilioFake(t *testing.T) (*twilioFake, *httptest.Server) {
	f := &twilioFake{t: t, sid: "AC" + strings.Repeat("0123456789abcdef", 2), tok: "e2e-token", sent: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *twilioFake) serve(w http.ResponseWriter, r *http.Request) {
	bad := func(format string, args ...any) {
		f.mu.Lock()
		f.errs = append(f.errs, fmt.Sprintf(format, args...))
		f.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"code": 21211, "message": %q, "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`, fmt.Sprintf(format, args...))
	}
	if u, p, ok := r.BasicAuth(); !ok || u != f.sid || p != f.tok {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}`)
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/2010-04-01/Accounts/"+f.sid+".json" { // textback check
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"sid": %q, "friendly_name": "Peak HVAC", "status": "active", "type": "Full"}`, f.sid)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+f.sid+"/Messages.json" {
		bad("unexpected %s %s", r.Method, r.URL.Path)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		bad("content type %q", ct)
		return
	}
	if err := r.ParseForm(); err != nil {
		bad("form: %v", err)
		return
	}
	for k := range r.PostForm {
		if k != "To" && k != "From" && k != "Body" {
			bad("unexpected field %s", k)
			return
		}
	}
	f.mu.Lock()
	f.got = append(f.got, r.PostForm)
	n := len(f.got)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"account_sid": %q, "body": %q, "from": %q, "to": %q, "sid": "SM%032d", "status": "queued", "num_segments": "1", "direction": "outbound-api"}`,
		f.sid, r.PostForm.Get("Body"), r.PostForm.Get("From"), r.PostForm.Get("To"), n)
	f.sent <- struct{}{}
}

func (f *twilioFake) requests() ([]url.Values, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.got...), append([]string(nil), f.errs...)
}

// transcript reads a recorded AMI stream; fresh replaces the Linkedid and
// Uniqueid prefix so that a recording can be played again as a new call.
func transcript(t *testing.T, name, fresh string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "ami", "testdata", name+".ami.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if fresh != "" {
		b = bytes.ReplaceAll(b, []byte("textback-lab-"), []byte(fresh+"-"))
	}
	return b
}

func writeConfig(t *testing.T, dir, amiAddr, twilioURL, sid, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
business = "Peak HVAC"
[pbx]
address = %q
username = "textback"
secret = "e2e-secret"
inbound_contexts = ["from-trunk"]
did_variable = "TB_DID"
[detect]
min_rings = 1
default_region = "US"
[sms]
sender = "twilio"
from = "+12125550199"
[sms.twilio]
account_sid = %q
auth_token = "e2e-token"
base_url = %q
[[rules]]
name = "main"
dids = ["+12125550100", "+12125550101"]
message = "Hi, this is {business}. Sorry we missed your call. What can we help you with?"
[store]
path = %q
[log]
level = "debug"
%s`, amiAddr, sid, twilioURL, filepath.Join(dir, "textback.db"), extra)
	p := filepath.Join(dir, "textback.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEndToEnd runs the real binary against a loopback AMI server playing
// recorded Asterisk calls and a loopback Twilio, and checks exactly which
// texts went out.
func TestEndToEnd(t *testing.T) {
	ami, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ami.Close() })
	tw, twSrv := newTwilioFake(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, ami.Addr(), twSrv.URL, tw.sid, "")

	// Every recorded situation, then the first caller again (fresh ids):
	// the cooldown must keep that one from a second text.
	for _, name := range []string{"ring_no_answer_hangup", "answered", "busy", "caller_abandons", "anonymous",
		"internal_call", "outbound_call", "queue_answered", "ring_no_answer_voicemail"} {
		ami.Play(transcript(t, name, ""))
	}
	ami.Play(transcript(t, "ring_no_answer_hangup", "again"))

	var stderr bytes.Buffer
	cmd := exec.Command(binary, "run", "-c", cfgPath)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("textback's log:\n%s", stderr.String())
		}
	})

	want := map[string]bool{"+13125550101": true, "+13125550102": true, "+13125550103": true, "+13125550105": true}
	deadline := time.After(30 * time.Second)
	for i := 0; i < len(want); i++ {
		select {
		case <-tw.sent:
		case err := <-exited:
			t.Fatalf("textback exited early: %v", err)
		case <-deadline:
			got, _ := tw.requests()
			t.Fatalf("only %d of %d texts after 30s: %v", len(got), len(want), got)
		}
	}
	// Give a wrong extra text (the repeated caller, say) time to show up.
	waitHistory(t, cfgPath, 10)
	select {
	case <-tw.sent:
		t.Error("more texts than expected")
	case <-time.After(300 * time.Millisecond):
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("textback run after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("textback did not stop within 15s of SIGTERM")
	}

	got, errs := tw.requests()
	for _, e := range errs {
		t.Errorf("twilio fake refused a request: %s", e)
	}
	const body = "Hi, this is Peak HVAC. Sorry we missed your call. What can we help you with?"
	for _, f := range got {
		if !want[f.Get("To")] {
			t.Errorf("text to %s, who should not get one", f.Get("To"))
		}
		delete(want, f.Get("To"))
		if f.Get("Body") != body || f.Get("From") != "+12125550199" {
			t.Errorf("text to %s: From %q Body %q", f.Get("To"), f.Get("From"), f.Get("Body"))
		}
	}
	for to := range want {
		t.Errorf("no text to %s", to)
	}

	// The journal holds every call with its verdict.
	hist := history(t, cfgPath)
	verdicts := map[string]int{}
	for _, h := range hist {
		verdicts[h.Reason]++
		if h.Text != nil && h.Text.State != "sent" {
			t.Errorf("text %d to %s is %s", h.Text.ID, h.Text.To, h.Text.State)
		}
	}
	if verdicts["send"] != 4 || verdicts["cooldown"] != 1 || verdicts["answered"] != 2 || verdicts["withheld"] != 1 || verdicts["not_inbound"] != 2 {
		t.Errorf("verdicts %v", verdicts)
	}
}

// history runs `textback history --json`.
func history(t *testing.T, cfgPath string) []historyJSON {
	t.Helper()
	out, err := exec.Command(binary, "history", "-c", cfgPath, "--json").Output()
	if err != nil {
		t.Fatalf("textback history: %v", err)
	}
	var hs []historyJSON
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var h historyJSON
		if err := dec.Decode(&h); err != nil {
			t.Fatalf("history --json: %v\n%s", err, out)
		}
		hs = append(hs, h)
	}
	return hs
}

// waitHistory waits until the journal holds n calls.
func waitHistory(t *testing.T, cfgPath string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		if hs := history(t, cfgPath); len(hs) >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("journal never reached %d calls", n)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
