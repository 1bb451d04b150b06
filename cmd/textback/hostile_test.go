package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/textback/textback/ami/amitest"
)

// hostileName is a caller ID name an attacker can set on a SIP trunk:
// terminal escapes, a template placeholder, shell metacharacters, a NUL, a
// format verb, a lone CR, and length. AMI ends a field at a line break, so
// the name cannot hold one; a CR alone it can.
var hostileName = "\x1b[2J\x1b]0;pwned\x07{business} $(reboot) `id`; rm -rf / %s %!v \x00NUL\rCR\x0bVT " +
	strings.Repeat("A", 3000)

// hostileNumber is a caller number no libphonenumber parse accepts: that
// call is not texted, but it is journaled and logged.
var hostileNumber = "+1$(reboot)\x1b[31m{business}\x00;`id`"

// TestHostileCallerID plays two calls through the real binary over AMI,
// one with a hostile caller name and a real number, one with a hostile
// number, and checks that nothing of them is interpreted or reaches a
// terminal raw: the text is exactly the rule's message, the log (text and
// JSON) holds no control character of theirs, and neither does `textback
// history`.
func TestHostileCallerID(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) { hostile(t, format) })
	}
}

func hostile(t *testing.T, format string) {
	srv, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	named := readCapture(t, "ami", "ring_no_answer_hangup.ami.txt", "")
	named = bytes.ReplaceAll(named, []byte("CallerIDName: Carol Caller\r\n"), []byte("CallerIDName: "+hostileName+"\r\n"))
	named = bytes.ReplaceAll(named, []byte("ConnectedLineName: Carol Caller\r\n"), []byte("ConnectedLineName: "+hostileName+"\r\n"))
	if !bytes.Contains(named, []byte(hostileName)) {
		t.Fatal("the capture has no CallerIDName: Carol Caller to replace")
	}
	numbered := readCapture(t, "ami", "busy.ami.txt", "")
	numbered = bytes.ReplaceAll(numbered, []byte("Num: +13125550105\r\n"), []byte("Num: "+hostileNumber+"\r\n"))
	srv.Play(named)
	srv.Play(numbered)

	tw, twSrv := newTwilioFake(t)
	cfgPath := writeConfig(t, t.TempDir(), amiPBX(srv.Addr()), twSrv.URL, tw.sid, "format = \""+format+"\"")
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
	})
	select {
	case <-tw.sent:
	case err := <-exited:
		t.Fatalf("textback exited early: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no text after 30s\n%s", stderr.String())
	}
	waitHistory(t, cfgPath, 2)
	select {
	case <-tw.sent:
		t.Error("a second text: the hostile number was texted")
	case <-time.After(300 * time.Millisecond):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Fatal("textback did not stop within 15s of SIGTERM")
	}

	got, errs := tw.requests()
	for _, e := range errs {
		t.Errorf("twilio fake refused a request: %s", e)
	}
	const want = "Hi, this is Peak HVAC. Sorry we missed your call. What can we help you with?"
	if len(got) != 1 || got[0].Get("Body") != want || got[0].Get("To") != "+13125550101" {
		t.Fatalf("texts %v, want one to +13125550101 with body %q", got, want)
	}

	log := stderr.String()
	if log == "" {
		t.Fatal("no log")
	}
	// The caller ID does reach the log (debug logs the raw AMI traffic),
	// so the check below is not vacuous.
	if !strings.Contains(log, "$(reboot)") {
		t.Errorf("the hostile caller ID never reached the %s log: the test checks nothing", format)
	}
	if bad := controls(log); bad != "" {
		t.Errorf("the %s log holds %s from the caller ID:\n%q", format, bad, log)
	}
	for _, l := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		switch {
		case format == "json" && !strings.HasPrefix(l, "{"):
			t.Errorf("a JSON log line that is not a record (an injected line break?): %q", l)
		case format == "text" && !strings.HasPrefix(l, "time="):
			t.Errorf("a text log line that is not a record (an injected line break?): %q", l)
		}
	}

	for _, args := range [][]string{{"history", "-c", cfgPath}, {"history", "-c", cfgPath, "--json"}} {
		out, err := exec.Command(binary, args...).Output()
		if err != nil {
			t.Fatalf("textback %s: %v", strings.Join(args, " "), err)
		}
		if bad := controls(string(out)); bad != "" {
			t.Errorf("textback %s prints %s:\n%q", strings.Join(args, " "), bad, out)
		}
	}
	reasons := map[string]int{}
	for _, h := range history(t, cfgPath) {
		reasons[h.Reason]++
	}
	if reasons["send"] != 1 || reasons["invalid_number"] != 1 {
		t.Errorf("verdicts %v, want send 1 and invalid_number 1", reasons)
	}
}

// controls names the first control character in s other than a line
// break or tab, "" when there is none.
func controls(s string) string {
	for _, r := range s {
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			return fmt.Sprintf("a raw %U", r)
		}
	}
	return ""
}
