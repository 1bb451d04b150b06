package smstest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/sms"
	"github.com/textback/textback/sms/smstest"
)

const (
	from = "+12125550199"
	to   = textback.Number("+13125550101")
	uni  = "Désolé, on a manqué votre appel 📞 — rappel sous peu ✅"
)

type sender interface {
	textback.Sender
}

type checker interface {
	Check(context.Context) error
}

// fakeCase is one fake and the sms sender configured against it.
type fakeCase struct {
	name  string
	fake  func(testing.TB) *smstest.Fake
	build func(t *testing.T, f *smstest.Fake) (sender, error)
}

func cases() []fakeCase {
	return []fakeCase{
		{"twilio", smstest.NewTwilio, func(t *testing.T, f *smstest.Fake) (sender, error) {
			return sms.NewTwilio(sms.TwilioConfig{AccountSID: smstest.TwilioAccountSID, AuthToken: smstest.TwilioAuthToken, From: from, BaseURL: f.URL}, nil)
		}},
		{"signalwire", smstest.NewSignalWire, func(t *testing.T, f *smstest.Fake) (sender, error) {
			return sms.NewSignalWire(sms.SignalWireConfig{ProjectID: smstest.SignalWireProjectID, APIToken: smstest.SignalWireAPIToken, From: from, BaseURL: f.URL}, nil)
		}},
		{"telnyx", smstest.NewTelnyx, func(t *testing.T, f *smstest.Fake) (sender, error) {
			return sms.NewTelnyx(sms.TelnyxConfig{APIKey: smstest.TelnyxAPIKey, From: from, BaseURL: f.URL}, nil)
		}},
		{"vonage sms", smstest.NewVonage, func(t *testing.T, f *smstest.Fake) (sender, error) {
			return sms.NewVonage(sms.VonageConfig{APIKey: smstest.VonageAPIKey, APISecret: smstest.VonageAPISecret, From: from, BaseURL: f.URL}, nil)
		}},
		{"vonage messages basic", smstest.NewVonage, func(t *testing.T, f *smstest.Fake) (sender, error) {
			return sms.NewVonage(sms.VonageConfig{API: "messages", APIKey: smstest.VonageAPIKey, APISecret: smstest.VonageAPISecret, From: from, BaseURL: f.URL}, nil)
		}},
		{"vonage messages jwt", smstest.NewVonage, func(t *testing.T, f *smstest.Fake) (sender, error) {
			return sms.NewVonage(sms.VonageConfig{API: "messages", ApplicationID: smstest.VonageApplicationID,
				PrivateKeyFile: f.PrivateKeyFile(t, t.TempDir()), From: from, BaseURL: f.URL}, nil)
		}},
		{"plivo", smstest.NewPlivo, func(t *testing.T, f *smstest.Fake) (sender, error) {
			return sms.NewPlivo(sms.PlivoConfig{AuthID: smstest.PlivoAuthID, AuthToken: smstest.PlivoAuthToken, From: from, BaseURL: f.URL}, nil)
		}},
		{"bandwidth", smstest.NewBandwidth, func(t *testing.T, f *smstest.Fake) (sender, error) {
			return sms.NewBandwidth(sms.BandwidthConfig{AccountID: smstest.BandwidthAccountID, Username: smstest.BandwidthUsername,
				Password: smstest.BandwidthPassword, ApplicationID: smstest.BandwidthApplicationID, From: from, BaseURL: f.URL}, nil)
		}},
		{"webhook", smstest.NewWebhook, func(t *testing.T, f *smstest.Fake) (sender, error) {
			return sms.NewWebhook(sms.WebhookConfig{URL: f.URL, Secret: smstest.WebhookSecret}, nil)
		}},
	}
}

// The fakes take what package sms sends, in ASCII and beyond GSM-7, and
// answer so that sms reads the id back; Check passes where there is one.
func TestProviderFakesAgreeWithSenders(t *testing.T) {
	for _, c := range cases() {
		for _, body := range []string{"Sorry we missed your call.", uni} {
			t.Run(c.name+"/"+body[:5], func(t *testing.T) {
				t.Parallel()
				f := c.fake(t)
				s, err := c.build(t, f)
				if err != nil {
					t.Fatal(err)
				}
				m := textback.Message{ID: 9, CallID: "1700000000.42", Rule: "main", To: to, From: from, Body: body}
				rc, err := s.Send(context.Background(), m)
				if err != nil {
					t.Fatalf("Send: %v (problems %v)", err, f.Problems())
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				texts, err := f.Wait(ctx, 1)
				if err != nil {
					t.Fatal(err)
				}
				if len(texts) != 1 || f.Requests() != 1 {
					t.Fatalf("%d texts from %d requests, want 1: %+v", len(texts), f.Requests(), texts)
				}
				got := texts[0]
				want := strings.Fields(c.name)[0]
				if got.To != string(to) || got.From != from || got.Body != body || got.Provider != want {
					t.Errorf("text = %+v, want %s from %s to %s: %q", got, want, from, to, body)
				}
				if rc.Sender != want || rc.ProviderID != got.ID || got.ID == "" {
					t.Errorf("receipt = %+v, want %s/%s", rc, want, got.ID)
				}
				if ch, ok := s.(checker); ok {
					if err := ch.Check(context.Background()); err != nil {
						t.Errorf("Check: %v", err)
					}
				}
				if p := f.Problems(); len(p) > 0 {
					t.Errorf("problems: %v", p)
				}
			})
		}
	}
}

// Fail makes a fake answer with the provider's error, which sms reads as
// transient (503) or permanent (400); Fail(0) heals it.
func TestProviderFakesFail(t *testing.T) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := c.fake(t)
			s, err := c.build(t, f)
			if err != nil {
				t.Fatal(err)
			}
			m := textback.Message{CallID: "c1", To: to, From: from, Body: "hi"}
			f.Fail(http.StatusServiceUnavailable)
			_, err = s.Send(context.Background(), m)
			if err == nil || errors.Is(err, textback.ErrUndeliverable) || errors.Is(err, textback.ErrUnconfirmed) {
				t.Errorf("503: %v, want a transient error", err)
			}
			f.Fail(http.StatusBadRequest)
			if _, err := s.Send(context.Background(), m); !errors.Is(err, textback.ErrUndeliverable) {
				t.Errorf("400: %v, want ErrUndeliverable", err)
			}
			f.Fail(0)
			if _, err := s.Send(context.Background(), m); err != nil {
				t.Errorf("healed: %v", err)
			}
			if n, texts := f.Requests(), f.Texts(); n != 3 || len(texts) != 1 {
				t.Errorf("%d requests, %d texts; want 3 and 1", n, len(texts))
			}
			if p := f.Problems(); len(p) > 0 {
				t.Errorf("problems: %v", p)
			}
		})
	}
}

// A request that breaks the documentation is refused and listed.
func TestProviderFakesProblems(t *testing.T) {
	f := smstest.NewTwilio(t)
	s, err := sms.NewTwilio(sms.TwilioConfig{AccountSID: smstest.TwilioAccountSID, AuthToken: "wrong", From: from, BaseURL: f.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), textback.Message{CallID: "c1", To: to, Body: "hi"}); err == nil {
		t.Error("Send with a wrong token succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.Wait(ctx, 1); err == nil || !strings.Contains(err.Error(), "basic auth") {
		t.Errorf("Wait = %v, want the bad credentials", err)
	}

	f = smstest.NewTelnyx(t)
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/v2/messages", strings.NewReader(`{"to":"3125550101","text":"","extra":1}`))
	req.Header.Set("Authorization", "Bearer "+smstest.TelnyxAPIKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	p := strings.Join(f.Problems(), "; ")
	for _, want := range []string{"field extra", "not an E.164", "text is empty", "neither from nor messaging_profile_id"} {
		if !strings.Contains(p, want) {
			t.Errorf("problems %q lack %q", p, want)
		}
	}
	if res.StatusCode != http.StatusBadRequest || len(f.Texts()) != 0 {
		t.Errorf("status %d, %d texts; want 400 and none", res.StatusCode, len(f.Texts()))
	}
}
