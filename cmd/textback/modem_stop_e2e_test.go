package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback/ami/amitest"
	"github.com/textback/textback/modem/modemtest"
)

// TestEndToEndModemStop: a caller texted through the USB modem answers
// STOP; the real daemon reads the reply off the SIM, puts the number on the
// opt-out list, and the caller's next missed call gets no text.
func TestEndToEndModemStop(t *testing.T) {
	mdm, err := modemtest.New(modemtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdm.Close() })
	srv, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.Play(readCapture(t, "ami", "ring_no_answer_hangup.ami.txt", ""))

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "textback.toml")
	cfg := fmt.Sprintf(`%s
[sms]
sender = "modem"
[[modem]]
name = "stick"
device = %q
[[rules]]
name = "main"
message = "Sorry we missed your call."
[limits]
cooldown = "1s"
[http]
listen = ""
[store]
path = %q
`, amiPBX(srv.Addr()), mdm.Path(), filepath.Join(dir, "textback.db"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(binary, "run", "-c", cfgPath)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("textback run after SIGTERM: %v", err)
		}
		if t.Failed() {
			t.Logf("textback's log:\n%s", stderr.String())
		}
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
		}
	}
	wait("the first text", func() bool { return len(mdm.Sent()) == 1 })

	if _, err := mdm.Receive(modemtest.Incoming{From: "+13125550101", Text: "Stop"}); err != nil {
		t.Fatal(err)
	}
	wait("the STOP to be read and the number opted out", func() bool {
		out, err := exec.Command(binary, "optout", "list", "-c", cfgPath).Output()
		return err == nil && strings.Contains(string(out), "+13125550101")
	})

	time.Sleep(1100 * time.Millisecond) // past the cooldown: only the opt-out can stop the next text
	srv.Play(readCapture(t, "ami", "ring_no_answer_hangup.ami.txt", "again"))
	waitHistory(t, cfgPath, 2)
	time.Sleep(300 * time.Millisecond)
	if n := len(mdm.Sent()); n != 1 {
		t.Errorf("%d texts through the modem, want 1: the caller said STOP", n)
	}
	for _, h := range history(t, cfgPath) {
		if h.CallID == "again-1795845639.0" && h.Reason != "opted_out" {
			t.Errorf("second call: reason %q, want opted_out", h.Reason)
		}
	}
}
