package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestChangedKeys(t *testing.T) {
	base := func() Config {
		c := DefaultConfig()
		c.PBX.Address = "127.0.0.1:5038"
		c.PBX.Secret = "s3cret"
		c.Rules = []RuleConfig{{Name: "main", Message: "Hi"}}
		return c
	}
	for name, tt := range map[string]struct {
		edit        func(*Config)
		want        []string
		wantRestart []string
	}{
		"nothing":       {func(*Config) {}, nil, nil},
		"message":       {func(c *Config) { c.Rules[0].Message = "Hello" }, []string{"rules[0].message"}, nil},
		"rule added":    {func(c *Config) { c.Rules = append(c.Rules, RuleConfig{Name: "b"}) }, []string{"rules[1]"}, nil},
		"rule removed":  {func(c *Config) { c.Rules = nil }, []string{"rules[0]"}, nil},
		"hours":         {func(c *Config) { c.Rules[0].Timezone.UnmarshalText([]byte("Europe/London")) }, []string{"rules[0].timezone"}, nil},
		"log level":     {func(c *Config) { c.Log.Level = "debug" }, []string{"log.level"}, nil},
		"cooldown":      {func(c *Config) { c.Limits.Cooldown = Duration(time.Hour) }, []string{"limits.cooldown"}, nil},
		"pbx and store": {func(c *Config) { c.PBX.Address = "10.0.0.1:5038"; c.PBX.Secret = "x"; c.Store.Path = "/tmp/x.db" }, nil, []string{"pbx.address", "pbx.secret", "store.path"}},
		"sender token":  {func(c *Config) { c.SMS.Twilio.AuthToken = "t" }, nil, []string{"sms.twilio.auth_token"}},
		"modem":         {func(c *Config) { c.Modems = []ModemConfig{{Device: "/dev/ttyUSB0"}} }, nil, []string{"modem[0]"}},
		"max_delay":     {func(c *Config) { c.Limits.MaxDelay = Duration(time.Minute) }, nil, []string{"limits.max_delay"}},
		"http and from": {func(c *Config) { c.HTTP.Listen = ""; c.SMS.From = "+12125550199" }, []string{"sms.from"}, []string{"http.listen"}},
	} {
		t.Run(name, func(t *testing.T) {
			old, cur := base(), base()
			tt.edit(&cur)
			var got, restart []string
			for _, k := range changedKeys(&old, &cur) {
				if isReloadable(k) {
					got = append(got, k)
				} else {
					restart = append(restart, k)
				}
			}
			if !slices.Equal(got, tt.want) || !slices.Equal(restart, tt.wantRestart) {
				t.Errorf("reloadable %q, restart %q; want %q, %q", got, restart, tt.want, tt.wantRestart)
			}
		})
	}
}

func TestAwaitShutdown(t *testing.T) {
	errBoom := errors.New("boom")
	t.Run("stops by itself", func(t *testing.T) {
		done := make(chan error, 1)
		done <- errBoom
		finished, err := awaitShutdown(context.Background(), done, time.Hour)
		if !finished || !errors.Is(err, errBoom) {
			t.Errorf("got %v, %v; want true, %v", finished, err, errBoom)
		}
	})
	t.Run("stops within the limit", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan error, 1)
		time.AfterFunc(50*time.Millisecond, func() { done <- nil })
		if finished, err := awaitShutdown(ctx, done, 10*time.Second); !finished || err != nil {
			t.Errorf("got %v, %v; want true, nil", finished, err)
		}
	})
	t.Run("hangs", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		finished, _ := awaitShutdown(ctx, make(chan error), 100*time.Millisecond)
		if finished {
			t.Error("finished = true for a component that never stops")
		}
		if el := time.Since(start); el < 100*time.Millisecond || el > 5*time.Second {
			t.Errorf("gave up after %v, want 100ms", el)
		}
	})
}

func TestTracker(t *testing.T) {
	tr := newTracker()
	doneA := tr.add("outbox")
	doneB := tr.add("pbx")
	doneA()
	if got := tr.list(); !slices.Equal(got, []string{"pbx"}) {
		t.Errorf("list() = %q, want [pbx]", got)
	}
	doneB()
	if got := tr.list(); len(got) != 0 {
		t.Errorf("list() = %q, want none", got)
	}
	var none *tracker
	none.add("x")() // a nil tracker tracks nothing, and does not panic
}

// TestCheckSecrets: check warns, without failing, when a config file that
// every user can read holds secrets, and when a secret file is readable by
// every user.
func TestCheckSecrets(t *testing.T) {
	warnings := func(out string) []string {
		var w []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "warn  ") && (strings.Contains(l, "secret") || strings.Contains(l, "every user")) {
				w = append(w, l)
			}
		}
		return w
	}
	check := func(t *testing.T, cfg string) (string, []string) {
		t.Helper()
		out, stderr, code := runCLI(t, "check", "--offline", "-c", cfg)
		if code != 0 {
			t.Fatalf("check exit %d, want 0 (warnings do not fail it):\n%s%s", code, out, stderr)
		}
		return out, warnings(out)
	}
	chmod := func(t *testing.T, p string, mode os.FileMode) {
		t.Helper()
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("inline secrets, world-readable", func(t *testing.T) {
		cfg := writeConfig(t, t.TempDir(), amiPBX("127.0.0.1:5038"), "http://127.0.0.1:1", "AC"+strings.Repeat("0", 32),
			"[replies]\nforward_url = \"https://example.com/hook\"\nforward_secret = \"fwd\"\n")
		chmod(t, cfg, 0o644)
		out, w := check(t, cfg)
		if len(w) != 1 {
			t.Fatalf("%d secret warnings, want 1:\n%s", len(w), out)
		}
		for _, want := range []string{cfg, "pbx.secret", "sms.twilio.auth_token", "replies.forward_secret", "chmod 640", "LoadCredential", "*_file"} {
			if !strings.Contains(w[0], want) {
				t.Errorf("warning lacks %q: %s", want, w[0])
			}
		}
		chmod(t, cfg, 0o640)
		if out, w := check(t, cfg); len(w) != 0 {
			t.Errorf("mode 0640: warnings %q\n%s", w, out)
		}
	})

	t.Run("secret file, world-readable", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, amiPBX("127.0.0.1:5038"), "http://127.0.0.1:1", "AC"+strings.Repeat("0", 32), "")
		src, _ := os.ReadFile(cfg)
		src = bytes.Replace(src, []byte(`secret = "e2e-secret"`), []byte(`secret_file = "pbx-secret"`), 1)
		src = bytes.Replace(src, []byte(`auth_token = "e2e-token"`), []byte(`auth_token_file = "twilio-token"`), 1)
		if err := os.WriteFile(cfg, src, 0o644); err != nil {
			t.Fatal(err)
		}
		chmod(t, cfg, 0o644) // no inline secret left: a readable config is fine
		secretFile := filepath.Join(dir, "pbx-secret")
		for _, f := range []string{secretFile, filepath.Join(dir, "twilio-token")} {
			if err := os.WriteFile(f, []byte("s3cret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		chmod(t, secretFile, 0o644)
		out, w := check(t, cfg)
		if len(w) != 1 || !strings.Contains(w[0], "pbx.secret_file: "+secretFile) || !strings.Contains(w[0], "chmod 640") {
			t.Fatalf("warnings %q, want one about pbx.secret_file\n%s", w, out)
		}
		chmod(t, secretFile, 0o640)
		if out, w := check(t, cfg); len(w) != 0 {
			t.Errorf("secret file 0640: warnings %q\n%s", w, out)
		}
	})
}

func TestSecretKeys(t *testing.T) {
	for key, want := range map[string]bool{
		"pbx.secret": true, "sms.twilio.auth_token": true, "sms.signalwire.api_token": true, "sms.telnyx.api_key": true,
		"sms.vonage.api_secret": true, "sms.vonage.signature_secret": true, "sms.bandwidth.password": true,
		"sms.bandwidth.callback_password": true, "sms.webhook.secret": true, "sms.signalwire.signing_key": true,
		"replies.forward_secret": true, "modem[0].pin": true,
		"pbx.username": false, "sms.telnyx.public_key": false, "sms.vonage.signature_method": false,
		"pbx.secret_file": false, "sms.twilio.account_sid": false, "rules[0].message": false, "business": false,
	} {
		if got := isSecretKey(key); got != want {
			t.Errorf("isSecretKey(%q) = %v, want %v", key, got, want)
		}
	}
	for key, want := range map[string]bool{
		"pbx.secret_file": true, "sms.twilio.auth_token_file": true, "modem[1].pin_file": true,
		"sms.vonage.private_key_file": true, "replies.forward_secret_file": true,
		"filters.allow_file": false, "filters.deny_file": false,
	} {
		if got := isSecretFileKey(key); got != want {
			t.Errorf("isSecretFileKey(%q) = %v, want %v", key, got, want)
		}
	}
}
