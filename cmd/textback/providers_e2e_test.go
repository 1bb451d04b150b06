package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback/ami/amitest"
	"github.com/textback/textback/sms/smstest"
)

// providerFrom is [sms] from in the provider tests.
const providerFrom = "+12125550199"

// providerCase is one way texts go out: the fakes to start, the [sms]
// section pointing at them, and who must take the text.
type providerCase struct {
	sender string // the receipt's sender: send-test's "through", history's sender
	api    string // Vonage: the API the text must come through
	// setup starts the fakes and returns the [sms] section, the fake that
	// must take the one text, and fakes that must take none (failover).
	setup func(t *testing.T, dir string) (section string, took *smstest.Fake, refused []*smstest.Fake)
}

// single is a case with one sender, the [sms.<name>] table made by table.
func single(name string, start func(testing.TB) *smstest.Fake, table func(t *testing.T, dir string, f *smstest.Fake) string) func(*testing.T, string) (string, *smstest.Fake, []*smstest.Fake) {
	return func(t *testing.T, dir string) (string, *smstest.Fake, []*smstest.Fake) {
		f := start(t)
		return fmt.Sprintf("[sms]\nsender = %q\nfrom = %q\n%s", name, providerFrom, table(t, dir, f)), f, nil
	}
}

func twilioTable(_ *testing.T, _ string, f *smstest.Fake) string {
	return fmt.Sprintf("[sms.twilio]\naccount_sid = %q\nauth_token = %q\nbase_url = %q\n",
		smstest.TwilioAccountSID, smstest.TwilioAuthToken, f.URL)
}

func telnyxTable(_ *testing.T, _ string, f *smstest.Fake) string {
	return fmt.Sprintf("[sms.telnyx]\napi_key = %q\nbase_url = %q\n", smstest.TelnyxAPIKey, f.URL)
}

var providerCases = map[string]providerCase{
	"twilio": {sender: "twilio", setup: single("twilio", smstest.NewTwilio, twilioTable)},
	"signalwire": {sender: "signalwire", setup: single("signalwire", smstest.NewSignalWire, func(_ *testing.T, _ string, f *smstest.Fake) string {
		return fmt.Sprintf("[sms.signalwire]\nproject_id = %q\napi_token = %q\nbase_url = %q\n",
			smstest.SignalWireProjectID, smstest.SignalWireAPIToken, f.URL)
	})},
	"telnyx": {sender: "telnyx", setup: single("telnyx", smstest.NewTelnyx, telnyxTable)},
	"vonage sms": {sender: "vonage", api: "sms", setup: single("vonage", smstest.NewVonage, func(_ *testing.T, _ string, f *smstest.Fake) string {
		return fmt.Sprintf("[sms.vonage]\napi = \"sms\"\napi_key = %q\napi_secret = %q\nbase_url = %q\n",
			smstest.VonageAPIKey, smstest.VonageAPISecret, f.URL)
	})},
	"vonage messages jwt": {sender: "vonage", api: "messages", setup: single("vonage", smstest.NewVonage, func(t *testing.T, dir string, f *smstest.Fake) string {
		return fmt.Sprintf("[sms.vonage]\napi = \"messages\"\napplication_id = %q\nprivate_key_file = %q\nbase_url = %q\n",
			smstest.VonageApplicationID, f.PrivateKeyFile(t, dir), f.URL)
	})},
	"plivo": {sender: "plivo", setup: single("plivo", smstest.NewPlivo, func(_ *testing.T, _ string, f *smstest.Fake) string {
		return fmt.Sprintf("[sms.plivo]\nauth_id = %q\nauth_token = %q\nbase_url = %q\n", smstest.PlivoAuthID, smstest.PlivoAuthToken, f.URL)
	})},
	"bandwidth": {sender: "bandwidth", setup: single("bandwidth", smstest.NewBandwidth, func(_ *testing.T, _ string, f *smstest.Fake) string {
		return fmt.Sprintf("[sms.bandwidth]\naccount_id = %q\nusername = %q\npassword = %q\napplication_id = %q\nbase_url = %q\n",
			smstest.BandwidthAccountID, smstest.BandwidthUsername, smstest.BandwidthPassword, smstest.BandwidthApplicationID, f.URL)
	})},
	"webhook": {sender: "webhook", setup: single("webhook", smstest.NewWebhook, func(_ *testing.T, _ string, f *smstest.Fake) string {
		return fmt.Sprintf("[sms.webhook]\nurl = %q\nsecret = %q\n", f.URL, smstest.WebhookSecret)
	})},
	// Telnyx answers 503: the text goes out once, through Twilio.
	"failover telnyx 503 to twilio": {sender: "twilio", setup: func(t *testing.T, dir string) (string, *smstest.Fake, []*smstest.Fake) {
		tx, tw := smstest.NewTelnyx(t), smstest.NewTwilio(t)
		tx.Fail(http.StatusServiceUnavailable)
		return fmt.Sprintf("[sms]\nsenders = [\"telnyx\", \"twilio\"]\nfrom = %q\n%s%s", providerFrom, telnyxTable(t, dir, tx), twilioTable(t, dir, tw)),
			tw, []*smstest.Fake{tx}
	}},
}

// writeProviderConfig writes a config like writeConfig's with the [sms]
// section given.
func writeProviderConfig(t *testing.T, dir, pbx, section string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
business = "Peak HVAC"
%s
[detect]
min_rings = 1
default_region = "US"
%s
[[rules]]
name = "main"
dids = ["+12125550100", "+12125550101"]
message = "Hi, this is {business}. Sorry we missed your call. What can we help you with?"
[store]
path = %q
[log]
level = "debug"
[http]
listen = "127.0.0.1:0"
`, pbx, section, filepath.Join(dir, "textback.db"))
	p := filepath.Join(dir, "textback.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkOneText checks that took got exactly one request, a text to to from
// providerFrom with body, and the refused fakes no text; it returns the text.
func checkOneText(t *testing.T, tc providerCase, took *smstest.Fake, refused []*smstest.Fake, to, body string) smstest.Text {
	t.Helper()
	for _, f := range append([]*smstest.Fake{took}, refused...) {
		for _, p := range f.Problems() {
			t.Errorf("%s fake: request against the documentation: %s", f.Provider, p)
		}
	}
	for _, f := range refused {
		if n, texts := f.Requests(), f.Texts(); n != 1 || len(texts) != 0 {
			t.Errorf("%s fake: %d requests, %d texts; want 1 refused request", f.Provider, n, len(texts))
		}
	}
	texts := took.Texts()
	if n := took.Requests(); n != 1 || len(texts) != 1 {
		t.Fatalf("%s fake: %d requests, texts %+v; want exactly one", took.Provider, n, texts)
	}
	got := texts[0]
	if got.Provider != tc.sender || got.To != to || got.From != providerFrom || got.Body != body || got.API != tc.api {
		t.Errorf("text = %s/%s to %s from %s: %q; want %s/%s to %s from %s: %q",
			got.Provider, got.API, got.To, got.From, got.Body, tc.sender, tc.api, to, providerFrom, body)
	}
	return got
}

// TestProvidersSendTest runs `textback send-test` against each provider's
// fake.
func TestProvidersSendTest(t *testing.T) {
	for name, tc := range providerCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			section, took, refused := tc.setup(t, dir)
			cfg := writeProviderConfig(t, dir, amiPBX("127.0.0.1:1"), section)
			out, errOut, code := runCLI(t, "send-test", "-c", cfg, "--to", "(312) 555-0107", "--text", "hello 📞")
			if code != 0 {
				t.Fatalf("send-test: exit %d: %s %s", code, out, errOut)
			}
			got := checkOneText(t, tc, took, refused, "+13125550107", "hello 📞")
			if want := fmt.Sprintf("sent to +13125550107 through %s, id %s\n", tc.sender, got.ID); out != want {
				t.Errorf("send-test said %q, want %q", out, want)
			}
		})
	}
}

// TestProvidersEndToEnd runs the real binary against a loopback AMI server
// playing one missed call, with each provider's fake as the sender: one
// text to the caller, and the journal has it sent with the provider's id.
func TestProvidersEndToEnd(t *testing.T) {
	for name, tc := range providerCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			providerEndToEnd(t, tc)
		})
	}
}

func providerEndToEnd(t *testing.T, tc providerCase) {
	srv, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.Play(readCapture(t, "ami", "ring_no_answer_hangup.ami.txt", ""))
	dir := t.TempDir()
	section, took, refused := tc.setup(t, dir)
	cfgPath := writeProviderConfig(t, dir, amiPBX(srv.Addr()), section)

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

	// The text, within 30s, unless textback exits first.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitErr := make(chan error, 1)
	go func() { _, err := took.Wait(ctx, 1); waitErr <- err }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("waiting for the text: %v", err)
		}
	case err := <-exited:
		t.Fatalf("textback exited early: %v", err)
	}
	// The journal has the text sent, and a wrong second text has had time
	// to show up.
	text := waitSent(t, cfgPath)
	time.Sleep(300 * time.Millisecond)

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("textback run after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("textback did not stop within 15s of SIGTERM")
	}

	body := "Hi, this is Peak HVAC. Sorry we missed your call. What can we help you with?"
	got := checkOneText(t, tc, took, refused, "+13125550101", body)
	if text.To != "+13125550101" || text.Body != body || text.Sender != tc.sender || text.ProviderID != got.ID || text.Attempts != 1 {
		t.Errorf("history: text to %s %q sent through %s id %q in %d attempts; want to +13125550101 through %s id %q in 1",
			text.To, text.Body, text.Sender, text.ProviderID, text.Attempts, tc.sender, got.ID)
	}
}

// waitSent waits until the journal holds one call whose text is sent, and
// returns the text.
func waitSent(t *testing.T, cfgPath string) textJSON {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		hs := history(t, cfgPath)
		if len(hs) > 1 {
			t.Fatalf("journal has %d calls, want 1: %+v", len(hs), hs)
		}
		if len(hs) == 1 && hs[0].Text != nil && hs[0].Text.State != "queued" && hs[0].Text.State != "sending" {
			if h := hs[0]; h.Reason != "send" || h.Text.State != "sent" {
				t.Fatalf("call %s: reason %s, text %+v; want a text sent", h.CallID, h.Reason, *h.Text)
			}
			return *hs[0].Text
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sent text in the journal after 20s: %+v", hs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
