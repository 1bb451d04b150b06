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

	"github.com/warthog618/sms/encoding/tpdu"

	"github.com/textback/textback/ami/amitest"
	"github.com/textback/textback/modem/modemtest"
)

// TestEndToEndModem: a missed call on the AMI pipeline becomes a text
// through a USB modem — the real binary opening an emulated SIMCom modem on
// a pseudo-terminal — correctly encoded whatever the text holds.
func TestEndToEndModem(t *testing.T) {
	long := strings.Repeat("Peak HVAC missed you; we call back within the hour. ", 6)[:300]
	for name, tt := range map[string]struct {
		message  string
		alphabet tpdu.Alphabet
		parts    int
	}{
		"ascii":          {"Hi, this is Peak HVAC. Sorry we missed your call.", tpdu.Alpha7Bit, 1},
		"gsm extension":  {"Peak HVAC: service from 49€ [weekdays] {8-18} ~ call us | reply ^", tpdu.Alpha7Bit, 1},
		"emoji":          {"Hi from Peak HVAC 🔧 sorry we missed you — café hours 8-18", tpdu.AlphaUCS2, 1},
		"300 characters": {long, tpdu.Alpha7Bit, 2},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mdm, err := modemtest.New(modemtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { mdm.Close() })
			ami, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ami.Close() })
			ami.Play(readCapture(t, "ami", "ring_no_answer_hangup.ami.txt", ""))

			dir := t.TempDir()
			cfg := fmt.Sprintf(`%s
[sms]
sender = "modem"
[[modem]]
name = "stick"
device = %q
[[rules]]
name = "main"
message = %q
[http]
listen = "127.0.0.1:0"
[store]
path = %q
`, amiPBX(ami.Addr()), mdm.Path(), strings.ReplaceAll(strings.ReplaceAll(tt.message, "{", "{{"), "}", "}}"), filepath.Join(dir, "textback.db"))
			cfgPath := filepath.Join(dir, "textback.toml")
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

			deadline := time.Now().Add(30 * time.Second)
			for len(mdm.Sent()) == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			waitHistory(t, cfgPath, 1)
			time.Sleep(200 * time.Millisecond) // room for a wrong second text
			sent := mdm.Sent()
			if len(sent) != 1 {
				t.Fatalf("%d texts through the modem, want 1: %+v", len(sent), sent)
			}
			s := sent[0]
			if s.To != "+13125550101" || s.Text != tt.message || s.Alphabet != tt.alphabet || len(s.Parts) != tt.parts {
				t.Errorf("modem got to %s, %d parts, alphabet %v, text %q;\nwant to +13125550101, %d parts, alphabet %v, text %q",
					s.To, len(s.Parts), s.Alphabet, s.Text, tt.parts, tt.alphabet, tt.message)
			}
		})
	}
}
