// Package webhook turns carriers' inbound-message webhooks and delivery
// status callbacks into textback InboundTexts and Deliveries, after checking
// that each request really comes from the carrier, and hands them to a Sink.
//
// Routes (paste the public base URL followed by these into the provider's
// console; only providers with credentials configured are served, others
// answer 404):
//
//	POST /webhook/twilio/inbound       Twilio number "A message comes in"
//	POST /webhook/twilio/status        Twilio status callback (sms.twilio status_callback)
//	POST /webhook/signalwire/inbound   SignalWire number, LaML/cXML "when a message comes in"
//	POST /webhook/signalwire/status    SignalWire status callback
//	POST /webhook/telnyx/inbound       Telnyx messaging profile webhook URL (both routes take every event)
//	POST /webhook/telnyx/status
//	POST /webhook/plivo/inbound        Plivo application message URL
//	POST /webhook/plivo/status         Plivo message status URL
//	GET|POST /webhook/vonage/inbound   Vonage SMS API "Inbound SMS" or Messages API application inbound URL
//	GET|POST /webhook/vonage/status    Vonage SMS API "Delivery receipts" or Messages API status URL
//	POST /webhook/bandwidth/inbound    Bandwidth messaging application callback URL (both routes take every event)
//	POST /webhook/bandwidth/status
//	POST /webhook/webhook/inbound      the generic webhook sender's gateway
//	POST /webhook/webhook/status
//
// Every request is authenticated the way its provider signs it (see the
// verify functions for each scheme and its documentation). A request that
// is unauthenticated (401, 403), too large (413), malformed (400), of the
// wrong method (405) or content type (415) is refused, logged once at Warn
// without its body, and changes nothing. A Sink error answers 500, so that
// the provider, which delivers at least once, tries again; the Sink must
// therefore take repeats in its stride.
package webhook

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/textback/textback"
)

// Sink receives what the webhooks report. Both methods must be idempotent:
// providers repeat webhooks. An error makes the webhook answer 500.
type Sink interface {
	Inbound(ctx context.Context, m textback.InboundText) error
	Delivery(ctx context.Context, d textback.Delivery) error
}

// Config says which providers to serve and how to check their signatures.
// A provider is served only when its credentials are set. The zero value
// serves nothing.
type Config struct {
	// PublicURL is the scheme and host (and any path prefix) the providers
	// call, "https://sms.example.com", as entered in their consoles. Twilio,
	// SignalWire and Plivo sign the full URL, which behind a proxy differs
	// from what the server sees. Empty: the request's own Host, with https
	// when the request came over TLS.
	PublicURL string

	Twilio     TwilioConfig
	SignalWire SignalWireConfig
	Telnyx     TelnyxConfig
	Plivo      PlivoConfig
	Vonage     VonageConfig
	Bandwidth  BandwidthConfig
	Webhook    WebhookConfig

	MaxBody int64         // largest body accepted; zero means 64 KiB
	MaxAge  time.Duration // how old a timestamped signature may be (Telnyx, Vonage, ours); zero means 5 minutes
}

// TwilioConfig holds the account's auth token, the key of X-Twilio-Signature.
type TwilioConfig struct{ AuthToken string }

// SignalWireConfig holds the project's Signing Key (Dashboard, API
// Credentials), the key of X-SignalWire-Signature.
type SignalWireConfig struct{ SigningKey string }

// TelnyxConfig holds the account's Ed25519 public key, base64 as Mission
// Control shows it (Keys & Credentials, Public Key).
type TelnyxConfig struct{ PublicKey string }

// PlivoConfig holds the auth token of the account (or subaccount) that owns
// the number.
type PlivoConfig struct{ AuthToken string }

// VonageConfig holds the account's signature secret (Dashboard, API
// settings). SignatureMethod is the SMS API's signing method chosen there:
// "md5hash" (the default), "md5", "sha1", "sha256" or "sha512" (HMACs);
// Messages API webhooks are always HS256 JWTs. When APIKey is set, a
// Messages API token must name it.
type VonageConfig struct {
	SignatureSecret string
	SignatureMethod string
	APIKey          string
}

// BandwidthConfig holds the basic-auth credentials set on the Bandwidth
// messaging application's callback.
type BandwidthConfig struct{ Username, Password string }

// WebhookConfig holds the secret shared with the generic webhook gateway:
// the same one as the webhook sender's.
type WebhookConfig struct{ Secret string }

// Providers lists the providers cfg serves, in a stable order.
func (c Config) Providers() []string {
	var ps []string
	for _, p := range []struct {
		name string
		on   bool
	}{
		{"twilio", c.Twilio.AuthToken != ""},
		{"signalwire", c.SignalWire.SigningKey != ""},
		{"telnyx", c.Telnyx.PublicKey != ""},
		{"plivo", c.Plivo.AuthToken != ""},
		{"vonage", c.Vonage.SignatureSecret != ""},
		{"bandwidth", c.Bandwidth.Username != "" || c.Bandwidth.Password != ""},
		{"webhook", c.Webhook.Secret != ""},
	} {
		if p.on {
			ps = append(ps, p.name)
		}
	}
	return ps
}

// String describes the config without its secrets.
func (c Config) String() string {
	return fmt.Sprintf("webhooks at %q for %v (secrets redacted)", c.PublicURL, c.Providers())
}

// GoString is String, so %#v does not print the secrets either.
func (c Config) GoString() string { return c.String() }

// LogValue logs the config without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("public_url", c.PublicURL), slog.Any("providers", c.Providers()))
}

// Validate checks the config, naming each bad field.
func (c Config) Validate() error {
	var errs []error
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("webhook: public_url: %w", err))
		case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
			errs = append(errs, errors.New("webhook: public_url: want http(s)://host[/prefix]"))
		case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			errs = append(errs, errors.New("webhook: public_url: no query, fragment or credentials"))
		}
	}
	if c.Telnyx.PublicKey != "" {
		if _, err := telnyxKey(c.Telnyx.PublicKey); err != nil {
			errs = append(errs, fmt.Errorf("webhook: telnyx public_key: %w", err))
		}
	}
	if c.Vonage.SignatureSecret != "" {
		if _, err := vonageMethod(c.Vonage.SignatureMethod); err != nil {
			errs = append(errs, fmt.Errorf("webhook: vonage signature_method: %w", err))
		}
	}
	if (c.Bandwidth.Username == "") != (c.Bandwidth.Password == "") {
		errs = append(errs, errors.New("webhook: bandwidth: set both username and password"))
	}
	if c.MaxBody < 0 || c.MaxAge < 0 {
		errs = append(errs, errors.New("webhook: max_body and max_age must not be negative"))
	}
	return errors.Join(errs...)
}

func telnyxKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Handler serves the webhook routes. It is safe for concurrent use.
type Handler struct {
	cfg       Config
	sink      Sink
	log       *slog.Logger
	now       func() time.Time
	providers map[string]*provider
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler for the providers cfg configures. A provider whose
// config does not pass Validate is not served (and logged at Error): call
// Validate first to report it to the user.
func New(cfg Config, sink Sink, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 64 << 10
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 5 * time.Minute
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	h := &Handler{cfg: cfg, sink: sink, log: log.With("component", "webhook"), now: time.Now, providers: map[string]*provider{}}
	for _, name := range cfg.Providers() {
		p, err := h.provider(name)
		if err != nil {
			h.log.Error("webhook provider not served", "provider", name, "err", err)
			continue
		}
		h.providers[name] = p
	}
	return h
}

// Routes lists the URLs to enter in the providers' consoles, one per route
// served, with the public URL (or "" when none is configured) in front.
func (h *Handler) Routes() []string {
	var rs []string
	for _, name := range h.cfg.Providers() {
		if p := h.providers[name]; p != nil {
			for _, kind := range []string{"inbound", "status"} {
				rs = append(rs, strings.Join(p.methods, "|")+" "+h.cfg.PublicURL+"/webhook/"+name+"/"+kind)
			}
		}
	}
	return rs
}

// provider is how one carrier's webhooks are checked, read and answered.
type provider struct {
	name    string
	methods []string // POST, and GET for Vonage
	types   []string // the media types a POST body may have
	verify  func(r *request) error
	parse   func(r *request) ([]event, error)
	ok      func(w http.ResponseWriter)
}

// request is one webhook call, its body read.
type request struct {
	*http.Request
	kind   string     // "inbound" or "status"
	body   []byte     // the raw body
	mtype  string     // its media type
	params url.Values // form (or, for GET, query) parameters
	now    time.Time
}

// event is one thing a webhook reported.
type event struct {
	inbound  *textback.InboundText
	delivery *textback.Delivery
}

// refusal is a request refused before the Sink saw it.
type refusal struct {
	status int
	reason string
}

func (e *refusal) Error() string { return e.reason }

func refuse(status int, format string, args ...any) error {
	return &refusal{status: status, reason: fmt.Sprintf(format, args...)}
}

// unauthenticated and forbidden are the two ways a signature check fails:
// no credentials at all, or wrong ones.
func unauthenticated(what string) error { return refuse(http.StatusUnauthorized, "no %s", what) }
func forbidden(what string) error       { return refuse(http.StatusForbidden, "bad %s", what) }
func malformed(format string, args ...any) error {
	return refuse(http.StatusBadRequest, "malformed: "+format, args...)
}

// ServeHTTP routes /webhook/{provider}/{inbound|status}.
func (h *Handler) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	rest, ok := strings.CutPrefix(hr.URL.Path, "/webhook/")
	name, kind, ok2 := strings.Cut(rest, "/")
	p := h.providers[name]
	if !ok || !ok2 || p == nil || kind != "inbound" && kind != "status" {
		h.log.DebugContext(hr.Context(), "webhook: no such route", "path", hr.URL.Path, "remote", hr.RemoteAddr)
		http.NotFound(w, hr)
		return
	}
	r := &request{Request: hr, kind: kind, now: h.now()}
	events, err := h.read(w, p, r)
	if err != nil {
		var rf *refusal
		if !errors.As(err, &rf) {
			rf = &refusal{status: http.StatusBadRequest, reason: err.Error()}
		}
		if rf.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", strings.Join(p.methods, ", "))
		}
		if rf.status == http.StatusUnauthorized && p.name == "bandwidth" {
			w.Header().Set("WWW-Authenticate", `Basic realm="textback"`)
		}
		h.log.WarnContext(hr.Context(), "webhook refused", "provider", p.name, "kind", kind, "status", rf.status,
			"reason", rf.reason, "remote", hr.RemoteAddr)
		http.Error(w, http.StatusText(rf.status), rf.status)
		return
	}
	for _, ev := range events {
		var err error
		if ev.inbound != nil {
			err = h.sink.Inbound(hr.Context(), *ev.inbound)
		} else {
			err = h.sink.Delivery(hr.Context(), *ev.delivery)
		}
		if err != nil {
			// The provider retries on a 5xx; the Sink takes the repeat.
			h.log.ErrorContext(hr.Context(), "webhook failed; the provider will retry", "provider", p.name, "kind", kind, "err", err)
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
	}
	h.log.DebugContext(hr.Context(), "webhook accepted", "provider", p.name, "kind", kind, "events", len(events))
	p.ok(w)
}

// read checks the method and content type, reads the body within the
// limit, verifies the signature and parses the payload.
func (h *Handler) read(w http.ResponseWriter, p *provider, r *request) ([]event, error) {
	if !slices.Contains(p.methods, r.Method) {
		return nil, refuse(http.StatusMethodNotAllowed, "method %s", r.Method)
	}
	if r.Method == http.MethodPost {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || !slices.Contains(p.types, mt) {
			return nil, refuse(http.StatusUnsupportedMediaType, "content type %q", r.Header.Get("Content-Type"))
		}
		r.mtype = mt
	}
	if r.ContentLength > h.cfg.MaxBody {
		return nil, refuse(http.StatusRequestEntityTooLarge, "body of %d bytes", r.ContentLength)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, refuse(http.StatusRequestEntityTooLarge, "body over %d bytes", h.cfg.MaxBody)
		}
		return nil, malformed("reading the body: %v", err)
	}
	r.body = body
	switch {
	case r.Method == http.MethodGet:
		if len(body) > 0 {
			return nil, malformed("a body on GET")
		}
		r.params = r.URL.Query()
	case r.mtype == "application/x-www-form-urlencoded":
		if r.params, err = url.ParseQuery(string(body)); err != nil {
			return nil, malformed("form: %v", err)
		}
	}
	if err := p.verify(r); err != nil {
		return nil, err
	}
	events, err := p.parse(r)
	if err != nil {
		return nil, err
	}
	return events, nil
}

// publicURL is the URL the provider called, as it signed it: the
// configured public base and the request URI as it arrived.
func (h *Handler) publicURL(r *request) string {
	uri := r.RequestURI
	if uri == "" || !strings.HasPrefix(uri, "/") {
		uri = r.URL.RequestURI()
	}
	if h.cfg.PublicURL != "" {
		return h.cfg.PublicURL + uri
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + uri
}

func twiml(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response/>`)
}

func okEmpty(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) }

func noContent(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

func (h *Handler) provider(name string) (*provider, error) {
	form := []string{"application/x-www-form-urlencoded"}
	json := []string{"application/json"}
	post := []string{http.MethodPost}
	switch name {
	case "twilio":
		return &provider{name: name, methods: post, types: form, ok: twiml,
			verify: func(r *request) error {
				return h.verifyTwilio(r, "X-Twilio-Signature", h.cfg.Twilio.AuthToken)
			},
			parse: func(r *request) ([]event, error) { return parseTwilio("twilio", r) }}, nil
	case "signalwire":
		return &provider{name: name, methods: post, types: form, ok: twiml,
			verify: func(r *request) error {
				return h.verifyTwilio(r, "X-SignalWire-Signature", h.cfg.SignalWire.SigningKey)
			},
			parse: func(r *request) ([]event, error) { return parseTwilio("signalwire", r) }}, nil
	case "telnyx":
		key, err := telnyxKey(h.cfg.Telnyx.PublicKey)
		if err != nil {
			return nil, err
		}
		return &provider{name: name, methods: post, types: json, ok: noContent,
			verify: func(r *request) error { return h.verifyTelnyx(r, key) },
			parse:  parseTelnyx}, nil
	case "plivo":
		return &provider{name: name, methods: post, types: form, ok: okEmpty,
			verify: h.verifyPlivo, parse: parsePlivo}, nil
	case "vonage":
		m, err := vonageMethod(h.cfg.Vonage.SignatureMethod)
		if err != nil {
			return nil, err
		}
		return &provider{name: name, methods: []string{http.MethodGet, http.MethodPost}, types: append(form, json...), ok: noContent,
			verify: func(r *request) error { return h.verifyVonage(r, m) },
			parse:  parseVonage}, nil
	case "bandwidth":
		return &provider{name: name, methods: post, types: json, ok: noContent,
			verify: h.verifyBandwidth, parse: parseBandwidth}, nil
	case "webhook":
		return &provider{name: name, methods: post, types: json, ok: noContent,
			verify: h.verifyWebhook, parse: parseWebhook}, nil
	}
	return nil, fmt.Errorf("unknown provider %q", name)
}
