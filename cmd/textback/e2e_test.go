package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
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
	"github.com/textback/textback/ari/aritest"
	"github.com/textback/textback/esl/esltest"
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

// amiPBX is the [pbx] table for an AMI server at addr.
func amiPBX(addr string) string {
	return fmt.Sprintf(`[pbx]
type = "ami"
address = %q
username = "textback"
secret = "e2e-secret"
inbound_contexts = ["from-trunk"]
did_variable = "TB_DID"`, addr)
}

func writeConfig(t *testing.T, dir, pbx, twilioURL, sid, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
business = "Peak HVAC"
%s
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
%s
[http]
listen = "127.0.0.1:0"
`, pbx, sid, twilioURL, filepath.Join(dir, "textback.db"), extra)
	p := filepath.Join(dir, "textback.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// e2eCase is one PBX kind for TestEndToEnd: a loopback server of that kind
// playing recorded calls, and what must come of them.
type e2eCase struct {
	pbx      string         // the [pbx] table pointing at the server
	texts    []string       // who is texted, once each
	verdicts map[string]int // how many calls get each reason
	extra    string         // more configuration
	body     string         // the text everyone gets; empty: the rule's message
	optOut   []string       // numbers put on the opt-out list (textback optout add) before the daemon starts
	rule     string         // more keys for the rule "main"
}

// captures are the recorded situations, in the order they are played.
var captures = []string{"ring_no_answer_hangup", "answered", "busy", "caller_abandons", "anonymous",
	"internal_call", "outbound_call", "queue_answered", "ring_no_answer_voicemail"}

// readCapture reads a recording from a source package's testdata; fresh
// replaces the id prefix so that a recording can be played again as a new call.
func readCapture(t *testing.T, pkg, name, fresh string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", pkg, "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if fresh != "" {
		b = bytes.ReplaceAll(b, []byte("textback-lab-"), []byte(fresh+"-"))
	}
	return b
}

// The Asterisk captures call from a different number each, so four of them
// are texted; the repeat of the first caller falls inside the cooldown.
var asteriskWant = e2eCase{
	texts:    []string{"+13125550101", "+13125550102", "+13125550103", "+13125550105"},
	verdicts: map[string]int{"send": 4, "cooldown": 1, "answered": 2, "withheld": 1, "not_inbound": 2},
}

func amiCase(t *testing.T) e2eCase {
	srv, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, name := range captures {
		srv.Play(readCapture(t, "ami", name+".ami.txt", ""))
	}
	srv.Play(readCapture(t, "ami", "ring_no_answer_hangup.ami.txt", "again"))
	c := asteriskWant
	c.pbx = amiPBX(srv.Addr())
	return c
}

func ariCase(t *testing.T) e2eCase {
	srv, err := aritest.NewServer(aritest.ServerConfig{Username: "textback", Password: "e2e-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, name := range captures {
		srv.Play(readCapture(t, "ari", name+".ari.jsonl", ""))
	}
	srv.Play(readCapture(t, "ari", "ring_no_answer_hangup.ari.jsonl", "again"))
	c := asteriskWant
	c.pbx = fmt.Sprintf(`[pbx]
type = "ari"
address = %q
username = "textback"
secret = "e2e-secret"
inbound_contexts = ["from-trunk"]
did_variable = "TB_DID"`, srv.URL())
	return c
}

// The FreeSWITCH captures all call from +13125550123: the first missed call
// is texted, the three after it fall inside the cooldown.
func eslCase(t *testing.T) e2eCase {
	var stream []esltest.Message
	for _, name := range []string{"ring_no_answer_hangup", "answered", "busy", "caller_abandons", "anonymous",
		"internal_call", "outbound_call", "ring_no_answer_voicemail"} {
		msgs, err := esltest.Split(readCapture(t, "esl", name+".esl.txt", ""))
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, esltest.Events(msgs)...)
	}
	srv := &esltest.Server{Password: "e2e-secret", Streams: [][]esltest.Message{stream}}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return e2eCase{
		pbx: fmt.Sprintf(`[pbx]
type = "esl"
address = %q
secret = "e2e-secret"`, srv.Addr()),
		texts:    []string{"+13125550123"},
		verdicts: map[string]int{"send": 1, "cooldown": 3, "answered": 1, "withheld": 1, "not_inbound": 2},
	}
}

// TestEndToEnd runs the real binary against a loopback server of each PBX
// kind playing recorded calls, and a loopback Twilio, and checks exactly
// which texts went out, to whom, with which body.
func TestEndToEnd(t *testing.T) {
	for name, setup := range map[string]func(*testing.T) e2eCase{"ami": amiCase, "ari": ariCase, "esl": eslCase} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			endToEnd(t, setup(t))
		})
	}
}

// TestEndToEndClosedAndOptedOut runs the real binary on the Asterisk
// captures with the business closed (a holiday from yesterday to tomorrow)
// and one caller on the opt-out list: the others get the after-hours text
// with the opt-out suffix, that caller nothing.
func TestEndToEndClosedAndOptedOut(t *testing.T) {
	c := amiCase(t)
	today := time.Now().UTC()
	c.rule = fmt.Sprintf(`after_hours_message = "{business} is closed today; we'll call you back."
hours = ["Mon-Sun 00:00-24:00"]
timezone = "UTC"
holidays = ["%s..%s"]`, today.AddDate(0, 0, -1).Format("2006-01-02"), today.AddDate(0, 0, 1).Format("2006-01-02"))
	c.extra = "[optout]\nsuffix = \"Reply STOP to opt out.\"\n"
	c.body = "Peak HVAC is closed today; we'll call you back. Reply STOP to opt out."
	c.optOut = []string{"(312) 555-0102"}
	c.texts = []string{"+13125550101", "+13125550103", "+13125550105"}
	c.verdicts = map[string]int{"send": 3, "opted_out": 1, "cooldown": 1, "answered": 2, "withheld": 1, "not_inbound": 2}
	endToEnd(t, c)
}

func endToEnd(t *testing.T, tc e2eCase) {
	tw, twSrv := newTwilioFake(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, tc.pbx, twSrv.URL, tw.sid, tc.extra)
	if tc.rule != "" {
		src, _ := os.ReadFile(cfgPath)
		const msg = `message = "Hi, this is {business}. Sorry we missed your call. What can we help you with?"`
		os.WriteFile(cfgPath, bytes.Replace(src, []byte(msg), []byte(msg+"\n"+tc.rule), 1), 0o600)
	}
	if len(tc.optOut) > 0 {
		if out, err := exec.Command(binary, append([]string{"optout", "-c", cfgPath, "add"}, tc.optOut...)...).CombinedOutput(); err != nil {
			t.Fatalf("textback optout add: %v\n%s", err, out)
		}
	}
	calls := 0
	for _, n := range tc.verdicts {
		calls += n
	}

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

	deadline := time.After(30 * time.Second)
	for range tc.texts {
		select {
		case <-tw.sent:
		case err := <-exited:
			t.Fatalf("textback exited early: %v", err)
		case <-deadline:
			got, _ := tw.requests()
			t.Fatalf("only %d of %d texts after 30s: %v", len(got), len(tc.texts), got)
		}
	}
	// Every call journaled, and time for a wrong extra text to show up.
	waitHistory(t, cfgPath, calls)
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
	want := map[string]bool{}
	for _, to := range tc.texts {
		want[to] = true
	}
	body := "Hi, this is Peak HVAC. Sorry we missed your call. What can we help you with?"
	if tc.body != "" {
		body = tc.body
	}
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
	verdicts := map[string]int{}
	for _, h := range history(t, cfgPath) {
		verdicts[h.Reason]++
		if h.Text != nil && h.Text.State != "sent" {
			t.Errorf("text %d to %s is %s", h.Text.ID, h.Text.To, h.Text.State)
		}
	}
	if !maps.Equal(verdicts, tc.verdicts) {
		t.Errorf("verdicts %v, want %v", verdicts, tc.verdicts)
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
