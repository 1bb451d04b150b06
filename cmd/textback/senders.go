package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/modem"
	"github.com/textback/textback/sms"
)

// SMSConfig is the [sms] table and its provider tables.
type SMSConfig struct {
	// Sender is the one way texts go out; Senders, an ordered list, the
	// ways in turn: the first healthy one sends, the next takes over on a
	// transient failure. Set one of the two.
	Sender  string   `toml:"sender"`
	Senders []string `toml:"senders"`
	From    string   `toml:"from"`
	// BadNumberTTL is how long a number that failed as a landline or an
	// invalid number is not tried again.
	BadNumberTTL Duration `toml:"bad_number_ttl"`

	Twilio     TwilioConfig     `toml:"twilio"`
	SignalWire SignalWireConfig `toml:"signalwire"`
	Telnyx     TelnyxConfig     `toml:"telnyx"`
	Vonage     VonageConfig     `toml:"vonage"`
	Plivo      PlivoConfig      `toml:"plivo"`
	Bandwidth  BandwidthConfig  `toml:"bandwidth"`
	Webhook    WebhookConfig    `toml:"webhook"`
	Modem      RateConfig       `toml:"modem"`
}

// RateConfig is what every sender table has: a rate limit, in texts per
// second (0: none), that keeps texts inside the provider's limits by
// waiting, never by dropping.
type RateConfig struct {
	Rate float64 `toml:"rate"`
}

// TwilioConfig is the [sms.twilio] table.
type TwilioConfig struct {
	AccountSID          string  `toml:"account_sid"`
	AuthToken           string  `toml:"auth_token"`
	AuthTokenFile       string  `toml:"auth_token_file"`
	MessagingServiceSID string  `toml:"messaging_service_sid"`
	BaseURL             string  `toml:"base_url"`
	Rate                float64 `toml:"rate"`
}

// SignalWireConfig is the [sms.signalwire] table. BaseURL is the Space URL.
type SignalWireConfig struct {
	ProjectID    string  `toml:"project_id"`
	APIToken     string  `toml:"api_token"`
	APITokenFile string  `toml:"api_token_file"`
	BaseURL      string  `toml:"base_url"`
	Rate         float64 `toml:"rate"`
	// SigningKey checks the signature of SignalWire's webhooks.
	SigningKey     string `toml:"signing_key"`
	SigningKeyFile string `toml:"signing_key_file"`
}

// TelnyxConfig is the [sms.telnyx] table.
type TelnyxConfig struct {
	APIKey             string  `toml:"api_key"`
	APIKeyFile         string  `toml:"api_key_file"`
	MessagingProfileID string  `toml:"messaging_profile_id"`
	BaseURL            string  `toml:"base_url"`
	Rate               float64 `toml:"rate"`
	// PublicKey (base64, from the Telnyx portal) checks the Ed25519
	// signature of Telnyx's webhooks.
	PublicKey string `toml:"public_key"`
}

// VonageConfig is the [sms.vonage] table.
type VonageConfig struct {
	API            string  `toml:"api"` // "sms" or "messages"
	APIKey         string  `toml:"api_key"`
	APISecret      string  `toml:"api_secret"`
	APISecretFile  string  `toml:"api_secret_file"`
	ApplicationID  string  `toml:"application_id"`
	PrivateKeyFile string  `toml:"private_key_file"`
	BaseURL        string  `toml:"base_url"`
	Rate           float64 `toml:"rate"`
	// SignatureSecret and SignatureMethod check Vonage's signed webhooks.
	SignatureSecret     string `toml:"signature_secret"`
	SignatureSecretFile string `toml:"signature_secret_file"`
	SignatureMethod     string `toml:"signature_method"`
}

// PlivoConfig is the [sms.plivo] table.
type PlivoConfig struct {
	AuthID        string  `toml:"auth_id"`
	AuthToken     string  `toml:"auth_token"`
	AuthTokenFile string  `toml:"auth_token_file"`
	BaseURL       string  `toml:"base_url"`
	Rate          float64 `toml:"rate"`
}

// BandwidthConfig is the [sms.bandwidth] table.
type BandwidthConfig struct {
	AccountID     string  `toml:"account_id"`
	Username      string  `toml:"username"`
	Password      string  `toml:"password"`
	PasswordFile  string  `toml:"password_file"`
	ApplicationID string  `toml:"application_id"`
	BaseURL       string  `toml:"base_url"`
	Rate          float64 `toml:"rate"`
	// CallbackUsername and CallbackPassword are the credentials set on the
	// Bandwidth application's callbacks, which its webhooks must carry.
	CallbackUsername     string `toml:"callback_username"`
	CallbackPassword     string `toml:"callback_password"`
	CallbackPasswordFile string `toml:"callback_password_file"`
}

// WebhookConfig is the [sms.webhook] table: texts POSTed to a gateway of
// the user's own.
type WebhookConfig struct {
	URL        string  `toml:"url"`
	Secret     string  `toml:"secret"`
	SecretFile string  `toml:"secret_file"`
	Rate       float64 `toml:"rate"`
}

// senderNames are the values of [sms] sender and senders.
var senderNames = []string{"twilio", "signalwire", "telnyx", "vonage", "plivo", "bandwidth", "webhook", "modem", "log"}

// senderList is the configured senders, in order.
func (c *Config) senderList() []string {
	if len(c.SMS.Senders) > 0 {
		return c.SMS.Senders
	}
	return []string{c.SMS.Sender}
}

// validateSenders checks [sms] and the tables of the senders in use.
func (c *Config) validateSenders() []error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, c.errorf(key, format, args...)) }
	// required reports a missing credential; secrets may come from a file.
	required := func(table, key, value string, file ...string) {
		if value != "" || (len(file) > 0 && file[0] != "") {
			if len(file) > 0 && value != "" && file[0] != "" {
				bad("sms."+table+"."+key+"_file", "set %s or %s_file, not both", key, key)
			}
			return
		}
		if len(file) > 0 {
			bad("sms."+table+"."+key, "required, or %s_file", key)
		} else {
			bad("sms."+table+"."+key, "required")
		}
	}
	if len(c.SMS.Senders) > 0 && c.SMS.Sender != "log" && c.SMS.Sender != c.SMS.Senders[0] {
		bad("sms.senders", "set sender or senders, not both")
	}
	seen := map[string]bool{}
	for i, name := range c.senderList() {
		key := "sms.sender"
		if len(c.SMS.Senders) > 0 {
			key = fmt.Sprintf("sms.senders[%d]", i)
		}
		if !slices.Contains(senderNames, name) {
			errs = append(errs, c.errorf(strings.Split(key, "[")[0], "%s: must be one of %s, not %q", key, strings.Join(senderNames, ", "), name))
			continue
		}
		if seen[name] {
			bad("sms.senders", "%q is listed twice", name)
		}
		seen[name] = true
		switch name {
		case "twilio":
			t := c.SMS.Twilio
			required("twilio", "account_sid", t.AccountSID)
			required("twilio", "auth_token", t.AuthToken, t.AuthTokenFile)
			if c.SMS.From == "" && t.MessagingServiceSID == "" {
				bad("sms.from", "required: the number texts come from (or sms.twilio.messaging_service_sid)")
			}
		case "signalwire":
			t := c.SMS.SignalWire
			required("signalwire", "project_id", t.ProjectID)
			required("signalwire", "api_token", t.APIToken, t.APITokenFile)
			required("signalwire", "base_url", t.BaseURL)
		case "telnyx":
			t := c.SMS.Telnyx
			required("telnyx", "api_key", t.APIKey, t.APIKeyFile)
		case "vonage":
			t := c.SMS.Vonage
			switch t.API {
			case "", "sms":
				required("vonage", "api_key", t.APIKey)
				required("vonage", "api_secret", t.APISecret, t.APISecretFile)
			case "messages":
				if t.ApplicationID == "" && t.APIKey == "" {
					bad("sms.vonage.application_id", "required for api = \"messages\" (with private_key_file), or api_key and api_secret")
				}
				if t.ApplicationID != "" && t.PrivateKeyFile == "" {
					bad("sms.vonage.private_key_file", "required with application_id")
				}
			default:
				bad("sms.vonage.api", "must be \"sms\" or \"messages\", not %q", t.API)
			}
		case "plivo":
			t := c.SMS.Plivo
			required("plivo", "auth_id", t.AuthID)
			required("plivo", "auth_token", t.AuthToken, t.AuthTokenFile)
		case "bandwidth":
			t := c.SMS.Bandwidth
			required("bandwidth", "account_id", t.AccountID)
			required("bandwidth", "username", t.Username)
			required("bandwidth", "password", t.Password, t.PasswordFile)
			required("bandwidth", "application_id", t.ApplicationID)
		case "webhook":
			t := c.SMS.Webhook
			required("webhook", "url", t.URL)
			required("webhook", "secret", t.Secret, t.SecretFile)
		case "modem":
			if len(c.Modems) == 0 {
				bad("sms.sender", "\"modem\" needs at least one [[modem]] entry with its device")
			}
			for i, m := range c.Modems {
				line := nthTableLine(c.src, "modem", i)
				if m.Device == "" && m.IMEI == "" {
					errs = append(errs, fmt.Errorf("%s:%d: modem[%d]: device or imei required (e.g. device = \"/dev/ttyUSB2\")", c.path, line, i))
				}
				if m.PIN != "" && m.PINFile != "" {
					errs = append(errs, fmt.Errorf("%s:%d: modem[%d]: set pin or pin_file, not both", c.path, line, i))
				}
			}
		}
		if c.SMS.From == "" && slices.Contains([]string{"signalwire", "telnyx", "vonage", "plivo", "bandwidth"}, name) {
			bad("sms.from", "required: the number %s texts come from", name)
		}
	}
	return errs
}

// senders are what buildSenders makes: the sender the outbox uses, and the
// parts of it that have a life of their own (modems) for the daemon to run.
type senders struct {
	textback.Sender
	runners []runner
	// modems is the modem pool's health, nil without a modem sender.
	modems func() []modem.Health
	// pool is the modem sender, nil without one: the texts it receives go
	// to the same replies handler as the carriers' webhooks.
	pool *modem.Pool
}

// buildSenders makes the configured senders: each behind its rate limit,
// several behind a failover in order, all behind the memory of numbers that
// failed for good.
func buildSenders(cfg *Config, log *slog.Logger) (senders, error) {
	var out senders
	var named []sms.NamedSender
	for _, name := range cfg.senderList() {
		snd, rate, ready, err := buildSender(cfg, name, log)
		if err != nil {
			return senders{}, err
		}
		if r, ok := snd.(runner); ok {
			out.runners = append(out.runners, r)
		}
		if p, ok := snd.(*modem.Pool); ok {
			out.modems, out.pool = p.Health, p
		}
		if rate > 0 {
			snd = sms.Limited(snd, rate, 1)
		}
		named = append(named, sms.NamedSender{Name: name, Sender: snd, Ready: ready})
	}
	if len(named) == 1 {
		out.Sender = named[0].Sender
	} else {
		out.Sender = sms.Failover(named...)
	}
	if ttl := time.Duration(cfg.SMS.BadNumberTTL); ttl > 0 {
		out.Sender = sms.Remember(out.Sender, ttl)
	}
	return out, nil
}

// buildSender makes one sender, and says its rate limit and, for a modem,
// how to tell whether it can send now.
func buildSender(cfg *Config, name string, log *slog.Logger) (textback.Sender, float64, func() bool, error) {
	from := cfg.SMS.From
	wrap := func(table string, err error) error { return cfg.errorf("sms."+table, "%v", err) }
	switch name {
	case "twilio":
		t := cfg.SMS.Twilio
		token, err := cfg.secret(t.AuthToken, t.AuthTokenFile, "sms.twilio.auth_token_file")
		if err != nil {
			return nil, 0, nil, err
		}
		s, err := sms.NewTwilio(sms.TwilioConfig{AccountSID: t.AccountSID, AuthToken: token, From: from,
			MessagingServiceSID: t.MessagingServiceSID, BaseURL: t.BaseURL}, log)
		if err != nil {
			return nil, 0, nil, wrap(name, err)
		}
		return s, t.Rate, nil, nil
	case "signalwire":
		t := cfg.SMS.SignalWire
		token, err := cfg.secret(t.APIToken, t.APITokenFile, "sms.signalwire.api_token_file")
		if err != nil {
			return nil, 0, nil, err
		}
		s, err := sms.NewSignalWire(sms.SignalWireConfig{ProjectID: t.ProjectID, APIToken: token, From: from, BaseURL: t.BaseURL}, log)
		if err != nil {
			return nil, 0, nil, wrap(name, err)
		}
		return s, t.Rate, nil, nil
	case "telnyx":
		t := cfg.SMS.Telnyx
		key, err := cfg.secret(t.APIKey, t.APIKeyFile, "sms.telnyx.api_key_file")
		if err != nil {
			return nil, 0, nil, err
		}
		s, err := sms.NewTelnyx(sms.TelnyxConfig{APIKey: key, MessagingProfileID: t.MessagingProfileID, From: from, BaseURL: t.BaseURL}, log)
		if err != nil {
			return nil, 0, nil, wrap(name, err)
		}
		return s, t.Rate, nil, nil
	case "vonage":
		t := cfg.SMS.Vonage
		secret, err := cfg.secret(t.APISecret, t.APISecretFile, "sms.vonage.api_secret_file")
		if err != nil {
			return nil, 0, nil, err
		}
		s, err := sms.NewVonage(sms.VonageConfig{API: t.API, APIKey: t.APIKey, APISecret: secret, ApplicationID: t.ApplicationID,
			PrivateKeyFile: cfg.relPath(t.PrivateKeyFile), From: from, BaseURL: t.BaseURL}, log)
		if err != nil {
			return nil, 0, nil, wrap(name, err)
		}
		return s, t.Rate, nil, nil
	case "plivo":
		t := cfg.SMS.Plivo
		token, err := cfg.secret(t.AuthToken, t.AuthTokenFile, "sms.plivo.auth_token_file")
		if err != nil {
			return nil, 0, nil, err
		}
		s, err := sms.NewPlivo(sms.PlivoConfig{AuthID: t.AuthID, AuthToken: token, From: from, BaseURL: t.BaseURL}, log)
		if err != nil {
			return nil, 0, nil, wrap(name, err)
		}
		return s, t.Rate, nil, nil
	case "bandwidth":
		t := cfg.SMS.Bandwidth
		pw, err := cfg.secret(t.Password, t.PasswordFile, "sms.bandwidth.password_file")
		if err != nil {
			return nil, 0, nil, err
		}
		s, err := sms.NewBandwidth(sms.BandwidthConfig{AccountID: t.AccountID, Username: t.Username, Password: pw,
			ApplicationID: t.ApplicationID, From: from, BaseURL: t.BaseURL}, log)
		if err != nil {
			return nil, 0, nil, wrap(name, err)
		}
		return s, t.Rate, nil, nil
	case "webhook":
		t := cfg.SMS.Webhook
		secret, err := cfg.secret(t.Secret, t.SecretFile, "sms.webhook.secret_file")
		if err != nil {
			return nil, 0, nil, err
		}
		s, err := sms.NewWebhook(sms.WebhookConfig{URL: t.URL, Secret: secret}, log)
		if err != nil {
			return nil, 0, nil, wrap(name, err)
		}
		return s, t.Rate, nil, nil
	case "modem":
		var ms []*modem.Modem
		for i, mc := range cfg.Modems {
			pin, err := cfg.secret(mc.PIN, mc.PINFile, fmt.Sprintf("modem[%d].pin_file", i))
			if err != nil {
				return nil, 0, nil, err
			}
			m, err := modem.New(modem.Config{
				Name: mc.Name, Device: mc.Device, Baud: mc.Baud, PIN: pin, IMEI: mc.IMEI, TextMode: mc.TextMode,
			}, log)
			if err != nil {
				return nil, 0, nil, fmt.Errorf("%s:%d: modem[%d]: %w", cfg.path, nthTableLine(cfg.src, "modem", i), i, err)
			}
			ms = append(ms, m)
		}
		pool := modem.NewPool(ms, log)
		ready := func() bool { return slices.ContainsFunc(pool.Health(), modem.Health.Ready) }
		return pool, cfg.SMS.Modem.Rate, ready, nil
	default:
		return sms.NewLog(log), 0, nil, nil
	}
}

// runAll starts the senders that have a life of their own; they stop when
// ctx is done.
func (s senders) runAll(ctx context.Context) {
	for _, r := range s.runners {
		go r.Run(ctx)
	}
}
