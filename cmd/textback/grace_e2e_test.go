package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback/ami/amitest"
)

// TestEndToEndGrace runs the real binary with a rule that holds texts 3s.
// A missed call from +13125550104 followed at once by the recorded answered
// call from the same caller (a redial that got through) is not texted: the
// journal shows the text cancelled with the reason. With nothing in the
// delay, the text goes out after about 3s.
func TestEndToEndGrace(t *testing.T) {
	const caller = "+13125550104"
	const delay = 3 * time.Second
	for name, redial := range map[string]bool{"redial gets through": true, "nothing in the delay": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			// The missed call of ring_no_answer_hangup, made to come from
			// the caller of answered.ami.txt.
			missed := bytes.ReplaceAll(readCapture(t, "ami", "ring_no_answer_hangup.ami.txt", "missed"),
				[]byte("+13125550101"), []byte(caller))
			srv.Play(missed)
			if redial {
				srv.Play(readCapture(t, "ami", "answered.ami.txt", "redial"))
			}

			tw, twSrv := newTwilioFake(t)
			dir := t.TempDir()
			cfgPath := writeConfig(t, dir, amiPBX(srv.Addr()), twSrv.URL, tw.sid, "")
			addToRule(t, cfgPath, `delay = "3s"`)

			var stderr bytes.Buffer
			cmd := exec.Command(binary, "run", "-c", cfgPath)
			cmd.Stderr = &stderr
			start := time.Now()
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
			calls := 1
			if redial {
				calls = 2
			}
			// history fails until the daemon has made the journal.
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				out, err := exec.Command(binary, "history", "-c", cfgPath, "--json").Output()
				if err == nil && bytes.Count(out, []byte(`"call_id"`)) >= calls {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("journal never reached %d calls", calls)
				}
			}
			decided := time.Now()

			select {
			case <-tw.sent:
				if redial {
					t.Error("texted a caller who got through on a redial")
				} else if waited := time.Since(start); waited < delay {
					t.Errorf("texted %v after the daemon started, before the %v delay", waited, delay)
				}
			case <-time.After(delay + 5*time.Second):
				if !redial {
					t.Errorf("no text %v after the call", time.Since(decided))
				}
			case err := <-exited:
				t.Fatalf("textback exited early: %v", err)
			}
			// The text reached its final state in the journal.
			deadline := time.Now().Add(10 * time.Second)
			want := "sent"
			if redial {
				want = "cancelled"
			}
			var state, reason string
			for time.Now().Before(deadline) {
				for _, h := range history(t, cfgPath) {
					if h.Text != nil && h.CallerRaw == caller && h.Outcome == "no_answer" {
						state, reason = h.Text.State, h.Text.LastError
						if !strings.Contains(h.Detail, "held 3s for a redial or a call back") {
							t.Errorf("detail %q does not say the text is held", h.Detail)
						}
					}
				}
				if state == want {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if state != want {
				t.Fatalf("the missed call's text is %q (%q), want %s", state, reason, want)
			}
			if redial && !strings.Contains(reason, "caller got through at ") || redial && !strings.Contains(reason, "on a redial") {
				t.Errorf("cancelled with reason %q, want it to say the caller got through on a redial", reason)
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
			wantTexts := 1
			if redial {
				wantTexts = 0
			}
			if len(got) != wantTexts || wantTexts == 1 && got[0].Get("To") != caller {
				t.Errorf("texts %v, want %d to %s", got, wantTexts, caller)
			}
		})
	}
}

// addToRule adds keys to the rule "main" of the configuration writeConfig wrote.
func addToRule(t *testing.T, cfgPath, keys string) {
	t.Helper()
	src, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	const msg = `message = "Hi, this is {business}. Sorry we missed your call. What can we help you with?"`
	if !bytes.Contains(src, []byte(msg)) {
		t.Fatal("no rule main in the configuration")
	}
	if err := os.WriteFile(cfgPath, bytes.Replace(src, []byte(msg), []byte(msg+"\n"+keys), 1), 0o600); err != nil {
		t.Fatal(err)
	}
}
