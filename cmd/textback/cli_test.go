package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/textback/textback/ami/amitest"
)

// runCLI runs a textback command in-process and returns its output and
// exit status.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = int(ee)
	default:
		errb.WriteString(err.Error())
		code = 1
	}
	return out.String(), errb.String(), code
}

func TestCheck(t *testing.T) {
	ami, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ami.Close() })
	tw, twSrv := newTwilioFake(t)

	t.Run("all well", func(t *testing.T) {
		cfg := writeConfig(t, t.TempDir(), amiPBX(ami.Addr()), twSrv.URL, tw.sid, "")
		out, _, code := runCLI(t, "check", "-c", cfg)
		if code != 0 || strings.Contains(out, "FAIL") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		for _, want := range []string{"ok    configuration", "ok    PBX: log in to ami at " + ami.Addr(), "ok    sender twilio: credentials"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("wrong AMI secret", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, amiPBX(ami.Addr()), twSrv.URL, tw.sid, "")
		src, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, bytes.Replace(src, []byte(`secret = "e2e-secret"`), []byte(`secret = "wrong"`), 1), 0o600)
		out, _, code := runCLI(t, "check", "-c", cfg)
		if code != 1 || !strings.Contains(out, "FAIL  PBX") || !strings.Contains(out, "authentication failed") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("wrong Twilio token", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, amiPBX(ami.Addr()), twSrv.URL, tw.sid, "")
		src, _ := os.ReadFile(cfg)
		os.WriteFile(cfg, bytes.Replace(src, []byte(`auth_token = "e2e-token"`), []byte(`auth_token = "nope"`), 1), 0o600)
		out, _, code := runCLI(t, "check", "-c", cfg)
		if code != 1 || !strings.Contains(out, "FAIL  sender twilio") || !strings.Contains(out, "account_sid and auth_token") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("bad file: every error with its line", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, amiPBX(ami.Addr()), twSrv.URL, tw.sid, "[limits]\ncooldwn = \"1h\"\n")
		out, _, code := runCLI(t, "check", "-c", cfg)
		if code != 1 || !strings.Contains(out, "FAIL  configuration") || !strings.Contains(out, `unknown key "limits.cooldwn"`) {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
}

func TestSimulate(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), amiPBX("127.0.0.1:1"), "http://127.0.0.1:1", "AC"+strings.Repeat("0", 32), "")
	for name, tt := range map[string]struct {
		args []string
		want map[string]any
	}{
		"rang out": {[]string{"--caller", "(312) 555-0101", "--did", "2125550100", "--outcome", "no_answer", "--rang", "12s"},
			map[string]any{"send": true, "reason": "send", "to": "+13125550101", "rule": "main",
				"text": "Hi, this is Peak HVAC. Sorry we missed your call. What can we help you with?"}},
		"answered":          {[]string{"--caller", "3125550101", "--did", "+12125550100", "--outcome", "answered"}, map[string]any{"send": false, "reason": "answered"}},
		"internal caller":   {[]string{"--caller", "100", "--did", "+12125550100", "--outcome", "busy"}, map[string]any{"send": false, "reason": "internal"}},
		"another DID":       {[]string{"--caller", "3125550101", "--did", "+12125550177", "--outcome", "busy"}, map[string]any{"send": false, "reason": "no_rule"}},
		"hung up too early": {[]string{"--caller", "3125550101", "--did", "+12125550100", "--outcome", "abandoned", "--rang", "0s"}, map[string]any{"send": false, "reason": "too_few_rings"}},
	} {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := runCLI(t, append([]string{"simulate", "-c", cfg, "--json"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
	if _, errOut, code := runCLI(t, "simulate", "-c", cfg, "--caller", "1", "--outcome", "lost"); code == 0 || !strings.Contains(errOut, "unknown outcome") {
		t.Errorf("bad outcome: exit %d, %s", code, errOut)
	}
}

func TestSendTest(t *testing.T) {
	tw, twSrv := newTwilioFake(t)
	cfg := writeConfig(t, t.TempDir(), amiPBX("127.0.0.1:1"), twSrv.URL, tw.sid, "")
	out, errOut, code := runCLI(t, "send-test", "-c", cfg, "--to", "(312) 555-0107", "--text", "hello")
	if code != 0 || !strings.Contains(out, "sent to +13125550107 through twilio, id SM") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	got, errs := tw.requests()
	if len(errs) > 0 || len(got) != 1 || got[0].Get("To") != "+13125550107" || got[0].Get("Body") != "hello" {
		t.Errorf("requests %v, errors %v", got, errs)
	}
	if _, errOut, code := runCLI(t, "send-test", "-c", cfg, "--to", "555"); code == 0 || !strings.Contains(errOut, "--to") {
		t.Errorf("bad number: exit %d, %s", code, errOut)
	}
}

func TestHistoryWithoutJournal(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, amiPBX("127.0.0.1:1"), "http://127.0.0.1:1", "AC"+strings.Repeat("0", 32), "")
	_, errOut, code := runCLI(t, "history", "-c", cfg)
	if code == 0 || !strings.Contains(errOut, "no journal at "+filepath.Join(dir, "textback.db")) {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "textback ") {
		t.Errorf("exit %d: %q", code, out)
	}
}
