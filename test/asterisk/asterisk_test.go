package asterisk_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	enabled = flag.Bool("asterisk", false, "run the integration suite against a real Asterisk (needs root and test/asterisk/setup)")
	pbxList = flag.String("asterisk.pbx", "ami,ari", "the [pbx] types to run the situations over; a type `textback check` rejects as unsupported is skipped")
	race    = flag.Bool("asterisk.race", false, "build textback with -race")
	only    = flag.String("asterisk.run", "", "place only the situations whose names match this regular expression (and those they wait for)")
)

// binary is the real textback, built by TestMain.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if !*enabled {
		os.Exit(m.Run()) // the tests skip themselves
	}
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "textback-it-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "textback")
		args := []string{"build", "-o", binary}
		if *race {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "../../cmd/textback")...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build textback: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}())
}

// The lab's numbers: etc/extensions.conf and etc/pjsip.conf.
const (
	didMain      = "+12125550100" // reception 25 s, then goodbye
	didSales     = "+12125550101" // reception 8 s, then voicemail
	didRingGroup = "+12125550102" // reception and office (Local channels) 12 s
	didShowroom  = "+12125550103" // closed: a message, then goodbye
	didSupportQ  = "+12125550104" // queue: reception and office
	didSalesQ    = "+12125550105" // queue: reception only
	didOwner     = "+12125550106" // desk 6 s, then the mobile through the trunk
	didWorkshop  = "+12125550107" // phone 102, always busy
	didOffice    = "+12125550108" // phone 101, answers after 2 s
	textFrom     = "+12125550199"
	mainBody     = "Hi, this is Peak HVAC. Sorry we missed your call. What can we help you with?"
)

// otherBody is the text of the catch-all rule for a call to did.
func otherBody(national string) string {
	return "Hi, this is Peak HVAC. Sorry we missed your call to " + national + "; reply here and we'll get back to you."
}

// caller is what a SIPp caller puts in From and P-Asserted-Identity.
type caller struct{ user, name, host, pai, privacy string }

// outside is a caller on the carrier trunk presenting number n.
func outside(n string) caller {
	return caller{n, "Caller " + n[len(n)-4:], "carrier.example", n, "none"}
}

// phone is a desk phone calling from its extension.
func phone(ext string) caller { return caller{ext, "Desk " + ext, "127.0.0.1", ext, "none"} }

// situation is one call the suite places, and what textback must make of it.
type situation struct {
	name     string
	from     caller
	to       string        // the Request-URI user: a DID, an extension, an outside number
	scenario string        // sipp/*.xml, the caller's side
	hold     time.Duration // sipp -d: hang up after (call-cancel), talk for (call-talk)
	after    string        // a situation whose verdict must be journaled before this call starts

	// What `textback history --json` must say.
	raw       string // caller_raw: the number as the PBX reported it
	direction string
	outcome   string // "" for calls that are not inbound
	reason    string
	text      string // the text's body; "" when no text may go out
	textTo    string
}

// allSituations are every kind of call an office gets. Calls run in
// parallel: each has its own caller, and the phones answer each call the
// same way.
var allSituations = []situation{
	{name: "rang_out", from: outside("+13125550101"), to: didMain, scenario: "call-rejected",
		raw: "+13125550101", direction: "inbound", outcome: "no_answer", reason: "send", text: mainBody, textTo: "+13125550101"},
	{name: "busy", from: outside("+13125550102"), to: didWorkshop, scenario: "call-rejected",
		raw: "+13125550102", direction: "inbound", outcome: "busy", reason: "send", text: otherBody("(212) 555-0107"), textTo: "+13125550102"},
	// min_rings 2, ring_cycle 6s: 3 s of ringing is 1 ring, 21 s is 4.
	{name: "abandoned_1_ring", from: outside("+13125550103"), to: didMain, scenario: "call-cancel", hold: 3 * time.Second,
		raw: "+13125550103", direction: "inbound", outcome: "abandoned", reason: "too_few_rings"},
	{name: "abandoned_4_rings", from: outside("+13125550104"), to: didMain, scenario: "call-cancel", hold: 21 * time.Second,
		raw: "+13125550104", direction: "inbound", outcome: "abandoned", reason: "send", text: mainBody, textTo: "+13125550104"},
	{name: "voicemail", from: outside("+13125550105"), to: didSales, scenario: "call-talk", hold: 9 * time.Second,
		raw: "+13125550105", direction: "inbound", outcome: "voicemail", reason: "send", text: otherBody("(212) 555-0101"), textTo: "+13125550105"},
	{name: "closed_hours", from: outside("+13125550106"), to: didShowroom, scenario: "call-listen",
		raw: "+13125550106", direction: "inbound", outcome: "unattended", reason: "send", text: otherBody("(212) 555-0103"), textTo: "+13125550106"},
	{name: "answered", from: outside("+13125550107"), to: didOffice, scenario: "call-talk", hold: 2 * time.Second,
		raw: "+13125550107", direction: "inbound", outcome: "answered", reason: "answered"},
	{name: "ring_group_answered", from: outside("+13125550108"), to: didRingGroup, scenario: "call-talk", hold: 2 * time.Second,
		raw: "+13125550108", direction: "inbound", outcome: "answered", reason: "answered"},
	// The sales queue rings reception only; the caller gives up after 10 s (2 rings).
	{name: "queue_abandoned", from: outside("+13125550109"), to: didSalesQ, scenario: "call-cancel", hold: 10 * time.Second,
		raw: "+13125550109", direction: "inbound", outcome: "abandoned", reason: "send", text: otherBody("(212) 555-0105"), textTo: "+13125550109"},
	{name: "queue_answered", from: outside("+13125550110"), to: didSupportQ, scenario: "call-talk", hold: 2 * time.Second,
		raw: "+13125550110", direction: "inbound", outcome: "answered", reason: "answered"},
	{name: "followme_answered", from: outside("+13125550111"), to: didOwner, scenario: "call-talk", hold: 2 * time.Second,
		raw: "+13125550111", direction: "inbound", outcome: "answered", reason: "answered"},
	{name: "internal", from: phone("100"), to: "102", scenario: "call-rejected",
		raw: "100", direction: "internal", reason: "not_inbound"},
	{name: "outbound", from: phone("101"), to: "+16175550199", scenario: "call-talk", hold: 2 * time.Second,
		raw: "101", direction: "outbound", reason: "not_inbound"},
	// From: anonymous with Privacy: id, the number only in P-Asserted-Identity:
	// the trunk trusts it, so Asterisk reports the real number, restricted.
	{name: "withheld", from: caller{"anonymous", "Anonymous", "anonymous.invalid", "+13125550114", "id"}, to: didWorkshop, scenario: "call-rejected",
		raw: "+13125550114", direction: "inbound", outcome: "busy", reason: "withheld"},
	{name: "anonymous", from: caller{"anonymous", "Anonymous", "anonymous.invalid", "anonymous", "id"}, to: didWorkshop, scenario: "call-rejected",
		raw: "anonymous", direction: "inbound", outcome: "busy", reason: "withheld"},
	{name: "cooldown_first", from: outside("+13125550116"), to: didWorkshop, scenario: "call-rejected",
		raw: "+13125550116", direction: "inbound", outcome: "busy", reason: "send", text: otherBody("(212) 555-0107"), textTo: "+13125550116"},
	{name: "cooldown_again", from: outside("+13125550116"), to: didWorkshop, scenario: "call-rejected", after: "cooldown_first",
		raw: "+13125550116", direction: "inbound", outcome: "busy", reason: "cooldown"},
	{name: "national_format", from: outside("3125550117"), to: didWorkshop, scenario: "call-rejected",
		raw: "3125550117", direction: "inbound", outcome: "busy", reason: "send", text: otherBody("(212) 555-0107"), textTo: "+13125550117"},
}

// pbxConfigs are the [pbx] sections of each PBX type, for the users
// contrib/asterisk ships (secret "change-me").
var pbxConfigs = map[string]string{
	"ami": `type = "ami"
address = "127.0.0.1:5038"
username = "textback"
secret = "change-me"`,
	"ari": `type = "ari"
address = "http://127.0.0.1:8088"
username = "textback"
secret = "change-me"
application = "textback"`,
}

// TestSituations places every situation on a real Asterisk, over each PBX
// type, and checks each verdict and exactly which texts went out.
func TestSituations(t *testing.T) {
	if !*enabled {
		t.Skip("the Asterisk integration suite runs with -asterisk (see test/asterisk/README.md)")
	}
	for _, pbx := range pbxTypes() {
		t.Run(pbx, func(t *testing.T) { runSituations(t, pbx) })
	}
}

func runSituations(t *testing.T, pbx string) {
	situations := selected(t)
	cfg, tw := prepare(t, pbx, "debug")

	startAsterisk(t)
	// The phones and the far end of the trunk (etc/pjsip.conf).
	startUAS(t, "ring", 5071, 0)               // 100 reception: nobody there
	startUAS(t, "answer", 5072, 2*time.Second) // 101 office: answers after 2 s
	startUAS(t, "busy", 5073, 0)               // 102 workshop: busy
	startUAS(t, "answer", 5070, 1*time.Second) // the carrier: every outside number answers after 1 s

	// textback check logs in to the PBX and tests the sender's credentials.
	if out, err := exec.Command(binary, "check", "-c", cfg).CombinedOutput(); err != nil {
		t.Fatalf("textback check: %v\n%s", err, out)
	}
	d := startDaemon(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	sippErrs := make([]error, len(situations))
	for i, s := range situations {
		wg.Go(func() {
			if s.after != "" {
				prev := find(situations, s.after)
				if err := waitFor(ctx, cfg, func(hs []historyJSON) bool { return len(pick(hs, prev)) > 0 }); err != nil {
					sippErrs[i] = fmt.Errorf("waiting for %s: %w", s.after, err)
					return
				}
			}
			sippErrs[i] = placeCall(ctx, t, s, 21000+10*i)
		})
	}
	wg.Wait()
	t.Logf("%s: all calls placed and ended in %s", pbx, time.Since(start).Round(100*time.Millisecond))
	if err := waitFor(ctx, cfg, func(hs []historyJSON) bool { return len(hs) >= len(situations) }); err != nil {
		hs := history(t, cfg)
		t.Errorf("the journal holds %d calls, want %d: %v", len(hs), len(situations), err)
	}
	// Give a wrong extra text, or a late one, time to show up.
	tw.waitSent(ctx, countTexts(situations))
	time.Sleep(time.Second)
	d.stop(t)
	verify(t, situations, sippErrs, history(t, cfg), tw, true)
	if t.Failed() {
		d.dumpLog(t)
	}
}

// pbxTypes are the types -asterisk.pbx names.
func pbxTypes() []string {
	var types []string
	for _, pbx := range strings.Split(*pbxList, ",") {
		types = append(types, strings.TrimSpace(pbx))
	}
	return types
}

// prepare starts the Twilio fake and writes textback's configuration for
// pbx, logging at level; it skips the test when textback does not support
// that PBX type.
func prepare(t *testing.T, pbx, level string) (cfg string, tw *twilioFake) {
	t.Helper()
	section, ok := pbxConfigs[pbx]
	if !ok {
		t.Fatalf("unknown pbx type %q", pbx)
	}
	tw = newTwilioFake(t)
	cfg = writeConfig(t, t.TempDir(), section, tw.url, tw.sid, level)
	if out, err := exec.Command(binary, "check", "--offline", "-c", cfg).CombinedOutput(); err != nil {
		if bytes.Contains(out, []byte("not supported")) {
			t.Skipf("textback does not support pbx.type %q yet: %s", pbx, bytes.TrimSpace(out))
		}
		t.Fatalf("textback check --offline: %v\n%s", err, out)
	}
	return cfg, tw
}

// verify checks each situation's verdict in the journal hs (a subtest
// each, logging its line when logEach), and that exactly the expected texts
// reached Twilio: no more, no fewer, no repeats.
func verify(t *testing.T, situations []situation, sippErrs []error, hs []historyJSON, tw *twilioFake, logEach bool) {
	t.Helper()
	texts, refused := tw.requests()
	for _, e := range refused {
		t.Errorf("the Twilio fake refused a request: %s", e)
	}
	used := map[int]bool{}
	for i, s := range situations {
		t.Run(s.name, func(t *testing.T) {
			if sippErrs[i] != nil {
				t.Errorf("the SIPp caller: %v", sippErrs[i])
			}
			var h *historyJSON
			for _, j := range pick(hs, s) {
				if !used[j] {
					used[j], h = true, &hs[j]
					break
				}
			}
			if h == nil {
				t.Fatalf("no journaled call from %s to %q", s.raw, didOf(s))
			}
			got := fmt.Sprintf("%s/%s/%s", h.Direction, h.Outcome, h.Reason)
			want := fmt.Sprintf("%s/%s/%s", s.direction, s.outcome, s.reason)
			if got != want {
				t.Errorf("direction/outcome/reason = %s (%s), want %s", got, h.Detail, want)
			}
			switch {
			case s.text == "" && h.Text != nil:
				t.Errorf("a text to %s: %q", h.Text.To, h.Text.Body)
			case s.text != "" && h.Text == nil:
				t.Errorf("no text, want one to %s", s.textTo)
			case s.text != "":
				if h.Text.To != s.textTo || h.Text.Body != s.text || h.Text.State != "sent" {
					t.Errorf("text to %s (%s): %q, want to %s: %q", h.Text.To, h.Text.State, h.Text.Body, s.textTo, s.text)
				}
			}
			if logEach {
				t.Logf("%-20s %-9s %-10s %-14s rang %4.1fs  caller %-13s did %-13s text %s",
					s.name, h.Direction, h.Outcome, h.Reason, h.Rang, h.CallerRaw, h.DID, textSummary(h))
			}
		})
	}
	if len(hs) != len(situations) {
		t.Errorf("the journal holds %d calls, want %d", len(hs), len(situations))
	}

	want := map[string]int{}
	for _, s := range situations {
		if s.text != "" {
			want[s.textTo+"\x00"+s.text]++
		}
	}
	for _, f := range texts {
		k := f.Get("To") + "\x00" + f.Get("Body")
		if want[k] == 0 {
			t.Errorf("Twilio got an unexpected text to %s: %q", f.Get("To"), f.Get("Body"))
			continue
		}
		want[k]--
		if f.Get("From") != textFrom {
			t.Errorf("text to %s from %s, want %s", f.Get("To"), f.Get("From"), textFrom)
		}
	}
	for k, n := range want {
		if n > 0 {
			to, body, _ := strings.Cut(k, "\x00")
			t.Errorf("Twilio never got the text to %s: %q", to, body)
		}
	}
}

// selected returns the situations -asterisk.run picks, with the ones they
// wait for.
func selected(t *testing.T) []situation {
	if *only == "" {
		return allSituations
	}
	re, err := regexp.Compile(*only)
	if err != nil {
		t.Fatalf("-asterisk.run: %v", err)
	}
	keep := map[string]bool{}
	for _, s := range allSituations {
		if re.MatchString(s.name) {
			keep[s.name] = true
			if s.after != "" {
				keep[s.after] = true
			}
		}
	}
	var ss []situation
	for _, s := range allSituations {
		if keep[s.name] {
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 {
		t.Fatalf("-asterisk.run %q matches no situation", *only)
	}
	return ss
}

func find(situations []situation, name string) situation {
	for _, s := range situations {
		if s.name == name {
			return s
		}
	}
	panic("no situation " + name)
}

func countTexts(situations []situation) int {
	n := 0
	for _, s := range situations {
		if s.text != "" {
			n++
		}
	}
	return n
}

// didOf is the did textback journals for s: the number dialed for inbound
// calls, none for the others.
func didOf(s situation) string {
	if s.direction == "inbound" {
		return s.to
	}
	return ""
}

// pick returns the indexes of the journaled calls that may be s, oldest first.
func pick(hs []historyJSON, s situation) []int {
	var idx []int
	for i, h := range hs {
		if h.CallerRaw == s.raw && h.DID == didOf(s) {
			idx = append(idx, i)
		}
	}
	// Callers placed twice are matched in the order their calls ended.
	sortByRecorded(hs, idx)
	return idx
}

func sortByRecorded(hs []historyJSON, idx []int) {
	for i := 1; i < len(idx); i++ {
		for j := i; j > 0 && hs[idx[j]].Recorded.Before(hs[idx[j-1]].Recorded); j-- {
			idx[j], idx[j-1] = idx[j-1], idx[j]
		}
	}
}

func textSummary(h *historyJSON) string {
	if h.Text == nil {
		return "none"
	}
	return fmt.Sprintf("%s to %s", h.Text.State, h.Text.To)
}

func writeConfig(t *testing.T, dir, pbx, twilioURL, sid, level string) string {
	t.Helper()
	cfg := fmt.Sprintf(`business = "Peak HVAC"

[pbx]
%s
inbound_contexts = ["from-trunk"]
did_variable = "FROM_DID"

[detect]
min_rings = 2
ring_cycle = "6s"
default_region = "US"

[sms]
sender = "twilio"
from = %q

[sms.twilio]
account_sid = %q
auth_token = "it-token"
base_url = %q

[[rules]]
name = "main"
dids = [%q]
message = %q

[[rules]]
name = "everything else"
dids = []
message = "Hi, this is {business}. Sorry we missed your call to {did}; reply here and we'll get back to you."

[limits]
cooldown = "24h"
# No hourly cap (the default is 100): TestLatency places hundreds of calls.
max_per_hour = 0

[http]
listen = "127.0.0.1:0"
[store]
path = %q

[log]
level = %q
format = "json"
`, pbx, textFrom, sid, twilioURL, didMain, mainBody, filepath.Join(dir, "textback.db"), level)
	p := filepath.Join(dir, "textback.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// here is this package's directory: go test runs in it.
func here(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func chrootDir() string {
	if r := os.Getenv("TEXTBACK_IT_ROOT"); r != "" {
		return r
	}
	return "/var/cache/textback-it/asterisk-sid"
}

// startAsterisk runs ./start and stops Asterisk when the test ends. A
// failed test gets the end of Asterisk's log.
func startAsterisk(t *testing.T) {
	t.Helper()
	out, err := exec.Command(filepath.Join(here(t), "start")).CombinedOutput()
	if err != nil {
		t.Fatalf("./start: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(chrootDir(), "var/log/asterisk/full")); err == nil {
				t.Logf("the end of Asterisk's log:\n%s", tail(b, 150))
			}
		}
		if out, err := exec.Command(filepath.Join(here(t), "stop")).CombinedOutput(); err != nil {
			t.Errorf("./stop: %v\n%s", err, out)
		}
	})
}

// startUAS runs a SIPp user agent server (a phone, the trunk's far end)
// playing sipp/<scenario>.xml on 127.0.0.1:port until the test ends.
func startUAS(t *testing.T, scenario string, port int, d time.Duration) {
	t.Helper()
	dir := t.TempDir()
	errs := filepath.Join(dir, "errors.log")
	args := []string{"-sf", filepath.Join(here(t), "sipp", scenario+".xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mi", "127.0.0.1", "-mp", strconv.Itoa(30000 + 10*(port-5070)),
		"-nostdin", "-trace_err", "-error_file", errs, "-d", strconv.Itoa(int(d.Milliseconds()))}
	cmd := exec.Command("sipp", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("sipp %s on %d: %v", scenario, port, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if b, _ := os.ReadFile(errs); len(bytes.TrimSpace(b)) > 0 && t.Failed() {
			t.Logf("sipp %s on %d: unexpected messages:\n%s", scenario, port, tail(b, 40))
		}
	})
	// A UAS that cannot bind its port exits at once.
	select {
	case <-exited:
		t.Fatalf("sipp %s on %d exited:\n%s", scenario, port, tail(out.Bytes(), 20))
	case <-time.After(200 * time.Millisecond):
	}
}

// placeCall runs a SIPp caller for s and returns when its call has ended.
func placeCall(ctx context.Context, t *testing.T, s situation, mediaPort int) error {
	errs := filepath.Join(t.TempDir(), "errors.log")
	args := []string{"127.0.0.1:5060", "-sf", filepath.Join(here(t), "sipp", s.scenario+".xml"),
		"-s", s.to,
		"-key", "from_user", s.from.user, "-key", "from_name", s.from.name, "-key", "from_host", s.from.host,
		"-key", "pai", s.from.pai, "-key", "privacy", s.from.privacy,
		"-d", strconv.Itoa(int(s.hold.Milliseconds())),
		"-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", strconv.Itoa(mediaPort),
		"-m", "1", "-nostdin", "-trace_err", "-error_file", errs, "-timeout", "60s", "-timeout_error"}
	out, err := exec.CommandContext(ctx, "sipp", args...).CombinedOutput()
	if err != nil {
		b, _ := os.ReadFile(errs)
		return fmt.Errorf("sipp %s: %v\n%s\n%s", s.scenario, err, tail(out, 12), tail(b, 30))
	}
	return nil
}

// daemon is a running `textback run`.
type daemon struct {
	cmd    *exec.Cmd
	exited chan error
	mu     sync.Mutex
	log    bytes.Buffer
	links  []linkEvent // guarded by mu
}

// linkEvent is a line of textback's log about its PBX link: "ami
// connected", "ari disconnected", "ami connect failed", at the time
// textback logged it.
type linkEvent struct {
	at  time.Time
	msg string
}

// isLinkMsg reports whether a log message is about the PBX link.
func isLinkMsg(msg string) bool {
	for _, suffix := range []string{" connected", " disconnected", " connect failed", " login rejected"} {
		if strings.HasSuffix(msg, suffix) {
			return true
		}
	}
	return false
}

// startDaemon runs `textback run` and returns once it is connected to the PBX.
func startDaemon(t *testing.T, cfg string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(binary, "run", "-c", cfg), exited: make(chan error, 1)}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	go func() {
		once := sync.OnceFunc(func() { close(connected) })
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			d.mu.Lock()
			d.log.Write(sc.Bytes())
			d.log.WriteByte('\n')
			d.mu.Unlock()
			var line struct {
				Time time.Time
				Msg  string
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && isLinkMsg(line.Msg) {
				d.mu.Lock()
				d.links = append(d.links, linkEvent{line.Time, line.Msg})
				d.mu.Unlock()
				if strings.HasSuffix(line.Msg, " connected") {
					once()
				}
			}
		}
		io.Copy(io.Discard, stderr)
		d.exited <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			<-d.exited
		}
	})
	select {
	case <-connected:
	case err := <-d.exited:
		d.exited <- err
		d.dumpLog(t)
		t.Fatalf("textback run exited: %v", err)
	case <-time.After(15 * time.Second):
		d.dumpLog(t)
		t.Fatal("textback did not connect to the PBX within 15 s")
	}
	return d
}

// stop sends SIGTERM and expects a clean exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.exited:
		if err != nil {
			t.Errorf("textback run after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("textback did not stop within 15 s of SIGTERM")
	}
}

// linkEvents returns the link events logged so far, oldest first.
func (d *daemon) linkEvents() []linkEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]linkEvent(nil), d.links...)
}

// waitLink waits up to timeout for a link event whose message ends in
// suffix, at index from or later, and returns its index.
func (d *daemon) waitLink(from int, suffix string, timeout time.Duration) (int, linkEvent, error) {
	deadline := time.Now().Add(timeout)
	for {
		evs := d.linkEvents()
		for i := from; i < len(evs); i++ {
			if strings.HasSuffix(evs[i].msg, suffix) {
				return i, evs[i], nil
			}
		}
		if time.Now().After(deadline) {
			return 0, linkEvent{}, fmt.Errorf("textback logged no %q within %s", strings.TrimSpace(suffix), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *daemon) dumpLog(t *testing.T) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t.Logf("textback's log (the end):\n%s", tail(d.log.Bytes(), 200))
}

// historyJSON is one line of `textback history --json`.
type historyJSON struct {
	CallID    string    `json:"call_id"`
	Recorded  time.Time `json:"recorded"`
	Direction string    `json:"direction"`
	Outcome   string    `json:"outcome"`
	Caller    string    `json:"caller"`
	CallerRaw string    `json:"caller_raw"`
	DID       string    `json:"did"`
	Rang      float64   `json:"rang_seconds"`
	Send      bool      `json:"send"`
	Reason    string    `json:"reason"`
	Detail    string    `json:"detail"`
	Rule      string    `json:"rule"`
	Text      *struct {
		To    string `json:"to"`
		From  string `json:"from"`
		Body  string `json:"body"`
		State string `json:"state"`
	} `json:"text"`
}

// history runs `textback history --json`.
func history(t *testing.T, cfg string) []historyJSON {
	t.Helper()
	hs, err := readHistory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func readHistory(cfg string) ([]historyJSON, error) {
	out, err := exec.Command(binary, "history", "-c", cfg, "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("textback history: %w", err)
	}
	var hs []historyJSON
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var h historyJSON
		if err := dec.Decode(&h); err != nil {
			return nil, fmt.Errorf("history --json: %w\n%s", err, out)
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// waitFor polls the journal until ok says yes or ctx is done.
func waitFor(ctx context.Context, cfg string, ok func([]historyJSON) bool) error {
	for {
		hs, err := readHistory(cfg)
		if err == nil && ok(hs) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// twilioFake is a loopback Twilio: it checks each request as Twilio's
// documentation describes it and answers like Twilio does.
type twilioFake struct {
	url, sid, tok string

	mu    sync.Mutex
	got   []url.Values
	gotAt []time.Time // when each of got arrived
	errs  []string
	sent  chan struct{}
}

func newTwilioFake(t *testing.T) *twilioFake {
	f := &twilioFake{sid: "AC" + strings.Repeat("0123456789abcdef", 2), tok: "it-token", sent: make(chan struct{}, 1024)}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *twilioFake) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	bad := func(format string, args ...any) {
		f.mu.Lock()
		f.errs = append(f.errs, fmt.Sprintf(format, args...))
		f.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"code": 21211, "message": %q, "status": 400}`, fmt.Sprintf(format, args...))
	}
	if u, p, ok := r.BasicAuth(); !ok || u != f.sid || p != f.tok {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code": 20003, "message": "Authenticate", "status": 401}`)
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
	f.gotAt = append(f.gotAt, at)
	n := len(f.got)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"account_sid": %q, "body": %q, "from": %q, "to": %q, "sid": "SM%032d", "status": "queued", "num_segments": "1", "direction": "outbound-api"}`,
		f.sid, r.PostForm.Get("Body"), r.PostForm.Get("From"), r.PostForm.Get("To"), n)
	f.sent <- struct{}{}
}

// waitSent waits for n more texts, or ctx; it reports whether they came.
func (f *twilioFake) waitSent(ctx context.Context, n int) bool {
	for i := 0; i < n; i++ {
		select {
		case <-f.sent:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// arrivals returns when each text arrived, by its To.
func (f *twilioFake) arrivals() map[string][]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string][]time.Time{}
	for i, v := range f.got {
		m[v.Get("To")] = append(m[v.Get("To")], f.gotAt[i])
	}
	return m
}

func (f *twilioFake) requests() ([]url.Values, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.got...), append([]string(nil), f.errs...)
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
