package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := LoadConfig("../../textback.toml.example")
	if err != nil {
		t.Fatalf("textback.toml.example: %v", err)
	}
	if cfg.PBX.Address != "127.0.0.1:5038" || len(cfg.Rules) != 2 || cfg.Limits.Cooldown != Duration(24*time.Hour) {
		t.Errorf("example decoded wrong: %+v", cfg)
	}
	if _, err := buildPolicy(&cfg); err != nil {
		t.Errorf("example rules: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	const base = `
[pbx]
address = "127.0.0.1:5038"
username = "textback"
secret = "s"

[[rules]]
name = "main"
message = "Hi"
`
	for name, tt := range map[string]struct {
		src  string
		want []string // each must appear in the error
		not  []string // none may
	}{
		"unknown keys, all of them, with lines": {
			src:  base + "opne = 1\n\n[detect]\nmin_ring = 3\n",
			want: []string{`t.toml:10: unknown key "rules.opne"`, `t.toml:13: unknown key "detect.min_ring"`},
		},
		"unknown table": {
			src:  base + "[smss]\nsender = \"log\"\n",
			want: []string{`t.toml:10: unknown key "smss"`},
			not:  []string{"smss.sender"},
		},
		"syntax error has line and column": {
			src:  "[pbx]\naddress = \n",
			want: []string{"t.toml:2:"},
		},
		"bad duration": {
			src:  base + "[limits]\ncooldown = \"a day\"\n",
			want: []string{"t.toml:11:13:", `invalid duration "a day"`},
		},
		"type mismatch": {
			src:  base + "[detect]\nmin_rings = \"two\"\n",
			want: []string{"t.toml:11: detect.min_rings: incompatible types"},
		},
		"missing pbx settings": {
			src:  "[pbx]\ntype = \"ami\"\n[[rules]]\nmessage = \"x\"\n",
			want: []string{"pbx.address: required", "pbx.username: required", "pbx.secret: required"},
		},
		"bad pbx type": {
			src:  strings.Replace(base, "[pbx]\n", "[pbx]\ntype = \"sip\"\n", 1),
			want: []string{`t.toml:3: pbx.type: must be "ami", "ari" or "esl", not "sip"`},
		},
		"twilio without credentials": {
			src:  base + "[sms]\nsender = \"twilio\"\n",
			want: []string{"sms.twilio.account_sid: required", "sms.twilio.auth_token: required", "sms.from: required"},
		},
		"no rules": {
			src:  "[pbx]\naddress = \"a:1\"\nusername = \"u\"\nsecret = \"s\"\n",
			want: []string{"rules: at least one [[rules]] entry is required"},
		},
		"empty message names the rule's line": {
			src:  base + "\n[[rules]]\nname = \"second\"\n",
			want: []string{"t.toml:11: rules[1].message: required"},
		},
		"ari wants a URL": {
			src:  strings.Replace(base, "[pbx]\n", "[pbx]\ntype = \"ari\"\n", 1),
			want: []string{`t.toml:4: pbx.address: must be the http(s) URL of Asterisk's HTTP server`},
		},
		"esl wants its password": {
			src:  "[pbx]\ntype = \"esl\"\naddress = \"127.0.0.1\"\n[[rules]]\nmessage = \"m\"\n",
			want: []string{"pbx.secret: required (the event socket password"},
		},
		"modem sender without a modem": {
			src:  base + "[sms]\nsender = \"modem\"\n",
			want: []string{`sms.sender: "modem" needs at least one [[modem]] entry`},
		},
		"modem without device": {
			src:  base + "[sms]\nsender = \"modem\"\n[[modem]]\nname = \"stick\"\n",
			want: []string{"t.toml:12: modem[0]: device or imei required"},
		},
		"both secret and file": {
			src:  strings.Replace(base, "secret = \"s\"\n", "secret = \"s\"\nsecret_file = \"f\"\n", 1),
			want: []string{"pbx.secret_file: set secret or secret_file, not both"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig("t.toml", []byte(tt.src))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error has %q:\n%v", n, err)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig("t.toml", []byte("[pbx]\naddress = \"a:1\"\nusername = \"u\"\nsecret = \"s\"\n[[rules]]\nmessage = \"m\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultConfig()
	if cfg.Detect.RingCycle != d.Detect.RingCycle || cfg.Limits.MaxDelay != Duration(15*time.Minute) ||
		cfg.SMS.Sender != "log" || cfg.PBX.Auth != "md5" || len(cfg.PBX.InboundContexts) != 3 ||
		cfg.Limits.MaxPerHour != 100 {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

func TestConfigPBXDefaults(t *testing.T) {
	cfg, err := ParseConfig("t.toml", []byte("[pbx]\ntype = \"esl\"\naddress = \"127.0.0.1\"\nsecret = \"s\"\n[[rules]]\nmessage = \"m\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.PBX.InboundContexts; len(got) != 1 || got[0] != "public" {
		t.Errorf("esl inbound_contexts = %v, want [public]", got)
	}
	cfg, err = ParseConfig("t.toml", []byte("[pbx]\ntype = \"ari\"\naddress = \"http://127.0.0.1:8088\"\nusername = \"u\"\nsecret = \"s\"\ninbound_contexts = [\"in\"]\n[[rules]]\nmessage = \"m\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.PBX.InboundContexts; len(got) != 1 || got[0] != "in" || cfg.PBX.Application != "textback" {
		t.Errorf("ari: inbound_contexts = %v, application %q", got, cfg.PBX.Application)
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/ami-secret", []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{path: dir + "/textback.toml"}
	got, err := cfg.secret("", "ami-secret", "pbx.secret_file")
	if err != nil || got != "s3cret" {
		t.Errorf("relative to the config: got %q, %v", got, err)
	}
	cred := t.TempDir()
	if err := os.WriteFile(cred+"/ami-secret", []byte("fromsystemd"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", cred)
	if got, err := cfg.secret("", "ami-secret", "pbx.secret_file"); err != nil || got != "fromsystemd" {
		t.Errorf("from $CREDENTIALS_DIRECTORY: got %q, %v", got, err)
	}
	if _, err := cfg.secret("", "missing", "pbx.secret_file"); err == nil || !strings.Contains(err.Error(), "pbx.secret_file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "15m": 15 * time.Minute, "7d": 7 * 24 * time.Hour, "1h30m": 90 * time.Minute} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-5m", "1.5d", "d"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q): no error", in)
		}
	}
}

// TestWebhookSecretFiles: the webhooks' own secrets may come from files too.
func TestWebhookSecretFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"sw-key": "PSKsecret\n", "vonage-sig": "sigsecret\n", "bw-pass": "bwpass\n"} {
		if err := os.WriteFile(dir+"/"+name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := `[pbx]
address = "127.0.0.1:5038"
username = "u"
secret = "s"
[sms]
senders = ["signalwire", "vonage", "bandwidth"]
from = "+12125550100"
[sms.signalwire]
project_id = "p"
api_token = "t"
base_url = "https://example.signalwire.com"
signing_key_file = "sw-key"
[sms.vonage]
api_key = "k"
api_secret = "s"
signature_secret_file = "vonage-sig"
[sms.bandwidth]
account_id = "a"
username = "u"
password = "p"
application_id = "app"
callback_username = "cb"
callback_password_file = "bw-pass"
[[rules]]
message = "m"
`
	cfg, err := ParseConfig(dir+"/textback.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	wc, err := cfg.webhookConfig()
	if err != nil {
		t.Fatal(err)
	}
	if wc.SignalWire.SigningKey != "PSKsecret" || wc.Vonage.SignatureSecret != "sigsecret" || wc.Bandwidth.Password != "bwpass" {
		t.Errorf("webhook secrets from files: %q %q %q", wc.SignalWire.SigningKey, wc.Vonage.SignatureSecret, wc.Bandwidth.Password)
	}
	os.Remove(dir + "/bw-pass")
	if _, err := cfg.webhookConfig(); err == nil || !strings.Contains(err.Error(), "sms.bandwidth.callback_password_file") {
		t.Errorf("a missing secret file: %v", err)
	}
}
