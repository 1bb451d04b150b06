package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/metrics"
	"github.com/textback/textback/modem"
	"github.com/textback/textback/replies"
	"github.com/textback/textback/rules"
	"github.com/textback/textback/webhook"
)

// HTTPConfig is the [http] table: the listener for the carriers' webhooks
// (replies, STOP, delivery reports) and the health check.
type HTTPConfig struct {
	// Listen is host:port; loopback by default, so that the carriers reach
	// it only through a reverse proxy the admin sets up. Empty: no listener.
	Listen string `toml:"listen"`
	// PublicURL is the address the carriers call ("https://pbx.example.com"),
	// which their signatures cover.
	PublicURL string `toml:"public_url"`
}

// RepliesConfig is the [replies] table: what happens to a text a caller
// sends back that is not STOP, START or HELP.
type RepliesConfig struct {
	ForwardTo         string `toml:"forward_to"`  // a staff mobile, texted "Reply from …: …"
	ForwardURL        string `toml:"forward_url"` // or a URL, POSTed signed JSON
	ForwardSecret     string `toml:"forward_secret"`
	ForwardSecretFile string `toml:"forward_secret_file"`
}

// webhookConfig gathers the webhook credentials of the senders in use.
func (c *Config) webhookConfig() (webhook.Config, error) {
	wc := webhook.Config{PublicURL: c.HTTP.PublicURL}
	for _, name := range c.senderList() {
		switch name {
		case "twilio":
			token, err := c.secret(c.SMS.Twilio.AuthToken, c.SMS.Twilio.AuthTokenFile, "sms.twilio.auth_token_file")
			if err != nil {
				return wc, err
			}
			wc.Twilio.AuthToken = token
		case "signalwire":
			key, err := c.secret(c.SMS.SignalWire.SigningKey, c.SMS.SignalWire.SigningKeyFile, "sms.signalwire.signing_key_file")
			if err != nil {
				return wc, err
			}
			wc.SignalWire.SigningKey = key
		case "telnyx":
			wc.Telnyx.PublicKey = c.SMS.Telnyx.PublicKey
		case "plivo":
			token, err := c.secret(c.SMS.Plivo.AuthToken, c.SMS.Plivo.AuthTokenFile, "sms.plivo.auth_token_file")
			if err != nil {
				return wc, err
			}
			wc.Plivo.AuthToken = token
		case "vonage":
			v := c.SMS.Vonage
			secret, err := c.secret(v.SignatureSecret, v.SignatureSecretFile, "sms.vonage.signature_secret_file")
			if err != nil {
				return wc, err
			}
			wc.Vonage = webhook.VonageConfig{SignatureSecret: secret, SignatureMethod: v.SignatureMethod, APIKey: v.APIKey}
		case "bandwidth":
			b := c.SMS.Bandwidth
			pw, err := c.secret(b.CallbackPassword, b.CallbackPasswordFile, "sms.bandwidth.callback_password_file")
			if err != nil {
				return wc, err
			}
			wc.Bandwidth = webhook.BandwidthConfig{Username: b.CallbackUsername, Password: pw}
		case "webhook":
			secret, err := c.secret(c.SMS.Webhook.Secret, c.SMS.Webhook.SecretFile, "sms.webhook.secret_file")
			if err != nil {
				return wc, err
			}
			wc.Webhook.Secret = secret
		}
	}
	if err := wc.Validate(); err != nil {
		return wc, c.errorf("http", "webhooks: %v", err)
	}
	return wc, nil
}

// repliesConfig builds the [replies] settings.
func (c *Config) repliesConfig(forward textback.Sender) (replies.Config, error) {
	rc := replies.Config{ForwardURL: c.Replies.ForwardURL}
	if c.Replies.ForwardTo != "" {
		n, err := rules.ParseNumber(c.Replies.ForwardTo, c.Detect.DefaultRegion)
		if err != nil {
			return rc, c.errorf("replies.forward_to", "%v", err)
		}
		rc.ForwardTo = n
	}
	secret, err := c.secret(c.Replies.ForwardSecret, c.Replies.ForwardSecretFile, "replies.forward_secret_file")
	if err != nil {
		return rc, err
	}
	rc.ForwardSecret = secret
	if err := rc.Validate(forward); err != nil {
		return rc, c.errorf("replies", "%v", err)
	}
	return rc, nil
}

// observability is what the listener serves besides the webhooks.
type observability struct {
	metrics http.Handler // /metrics; nil: not served
	ready   readiness    // /readyz
}

// readiness is what /readyz checks. A nil field is not checked.
type readiness struct {
	pbx    interface{ Connected() bool }
	store  interface{ Ping(context.Context) error }
	modems func() []modem.Health // nil: no modem sender
	// waiting is how many calls wait in memory for the store to take
	// them (it failed: disk full, locked); nil: not checked.
	waiting func() int
}

// check returns why the daemon cannot do its job now, or nothing when it can.
func (r readiness) check(ctx context.Context) []string {
	var why []string
	if r.pbx != nil && !r.pbx.Connected() {
		why = append(why, "pbx: not connected")
	}
	if r.store != nil {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := r.store.Ping(ctx); err != nil {
			why = append(why, "store: "+err.Error())
		}
	}
	if r.waiting != nil {
		switch n := r.waiting(); {
		case n == 1:
			why = append(why, "store: 1 call waiting to be journaled")
		case n > 1:
			why = append(why, fmt.Sprintf("store: %d calls waiting to be journaled", n))
		}
	}
	if r.modems != nil {
		hs := r.modems()
		if !slices.ContainsFunc(hs, modem.Health.Ready) {
			var each []string
			for _, h := range hs {
				each = append(each, h.Name+": "+h.Err)
			}
			why = append(why, "modem: none ready ("+strings.Join(each, "; ")+")")
		}
	}
	return why
}

// ServeHTTP answers 200 when the daemon can take a call and send its text,
// else 503 with the reasons, one a line.
func (r readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if why := r.check(req.Context()); len(why) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(why, "\n"))
		return
	}
	fmt.Fprintln(w, "ready")
}

// serveHTTP starts the listener of [http] and serves the webhooks,
// /healthz, /readyz and /metrics until ctx is done. Listening happens
// before it returns, so a port in use is an error at start-up, not a line
// in the log later.
func serveHTTP(ctx context.Context, cfg *Config, sink webhook.Sink, obs observability, log *slog.Logger) (wait func(), err error) {
	if cfg.HTTP.Listen == "" {
		return func() {}, nil
	}
	wc, err := cfg.webhookConfig()
	if err != nil {
		return nil, err
	}
	hooks := webhook.New(wc, sink, log.With("component", "webhook"))
	mux := http.NewServeMux()
	mux.Handle("/webhook/", hooks)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /readyz", obs.ready)
	if obs.metrics != nil {
		mux.Handle("GET /metrics", obs.metrics)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return nil, cfg.errorf("http.listen", "%v", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http: serve", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		// Answer the requests in flight; a carrier retries what we cut off.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("http listening", "addr", ln.Addr().String(), "webhooks", hooks.Routes())
	return func() { <-done }, nil
}

// countInbound counts each new text received, by keyword, on its way into
// the store.
type countInbound struct {
	replies.Store
	m *metrics.Metrics
}

func (c countInbound) RecordInbound(ctx context.Context, m textback.InboundText) (bool, error) {
	isNew, err := c.Store.RecordInbound(ctx, m)
	if err == nil && isNew {
		c.m.Inbound(textback.ParseKeyword(m.Body))
	}
	return isNew, err
}
