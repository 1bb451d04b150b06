package sms

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/textback/textback"
)

var _ textback.Sender = (*Webhook)(nil)

// WebhookConfig configures a webhook sender ([sms.webhook]: url, secret).
type WebhookConfig struct {
	URL    string // where texts are POSTed
	Secret string // HMAC-SHA256 key; required

	HTTPClient *http.Client  // nil: a client that does not follow redirects
	Timeout    time.Duration // per request; zero means 10s
}

// String describes the config without the secret or the URL's query.
func (c WebhookConfig) String() string {
	return fmt.Sprintf("webhook %s (secret redacted)", redactURL(c.URL))
}

// GoString is String, so %#v does not print the secret either.
func (c WebhookConfig) GoString() string { return c.String() }

// LogValue logs the config without the secret.
func (c WebhookConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", redactURL(c.URL)))
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// Webhook hands each text to an HTTP endpoint of the operator's choosing (a
// Kannel glue script, an in-house gateway). It POSTs
//
//	Content-Type: application/json
//	X-Textback-Signature: t=<unix seconds>,v1=<hex>
//
//	{"call_id": "...", "to": "+13125550101", "from": "+13125550199",
//	 "body": "...", "rule": "...", "id": 42}
//
// where v1 is the lower-case hex HMAC-SHA256, keyed with the secret, of the
// decimal timestamp, a ".", and the request body exactly as received:
// HMAC(secret, t + "." + body). To verify, recompute it over the raw body,
// compare in constant time, and refuse timestamps more than a few minutes
// off, against replays. "from" is empty when the gateway should choose.
//
// Any 2xx is success; an optional JSON answer {"id": "..."} becomes the
// receipt's ProviderID. 429 (honouring Retry-After) and 5xx are retried, and
// a 504 or no answer after the request was written is unconfirmed (never
// resent). Other 4xx are permanent; a 4xx answer {"error": "opted_out"}
// wraps ErrOptedOut and {"error": "bad_number"} ErrBadNumber, so a gateway
// can report those. There is no Check: the endpoint has no standard GET.
// It is safe for concurrent use.
type Webhook struct {
	cfg WebhookConfig
	t   transport
	log *slog.Logger
	now func() time.Time
}

// NewWebhook checks cfg and returns a Webhook sender.
func NewWebhook(cfg WebhookConfig, log *slog.Logger) (*Webhook, error) {
	var errs []error
	if err := checkURL(cfg.URL); err != nil {
		errs = append(errs, fmt.Errorf("webhook: url: %w", err))
	}
	if cfg.Secret == "" {
		errs = append(errs, errors.New("webhook: secret is empty"))
	}
	errs = append(errs, checkTimeout("webhook", cfg.Timeout))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhook{cfg: cfg, t: newTransport(cfg.HTTPClient, cfg.Timeout), log: log.With("sender", "webhook"), now: time.Now}, nil
}

// String names the sender.
func (w *Webhook) String() string { return "webhook " + redactURL(w.cfg.URL) }

type webhookText struct {
	CallID string `json:"call_id"`
	To     string `json:"to"`
	From   string `json:"from"`
	Body   string `json:"body"`
	Rule   string `json:"rule"`
	ID     int64  `json:"id"`
}

// sign returns the X-Textback-Signature value for body at t.
func sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Send POSTs m, signed.
func (w *Webhook) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	op := fmt.Sprintf("webhook: send for call %s", m.CallID)
	if err := checkMessage(op, m, true); err != nil {
		return textback.Receipt{}, err
	}
	body := jsonBody(webhookText{CallID: string(m.CallID), To: string(m.To), From: string(m.From), Body: m.Body, Rule: m.Rule, ID: m.ID})
	r, err := w.t.do(ctx, request{method: http.MethodPost, url: w.cfg.URL, contentType: "application/json", body: body,
		header: http.Header{"X-Textback-Signature": {sign(w.cfg.Secret, w.now(), body)}}})
	if err != nil {
		return textback.Receipt{}, fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		apiErr := statusError(r)
		f := byStatus
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		if r.decode(&e) == nil && e.Error != "" {
			apiErr.Type, apiErr.Message = e.Error, maskNumbers(or(e.Message, apiErr.Message))
			if r.status/100 == 4 {
				switch e.Error {
				case "opted_out":
					f = optedOut
				case "bad_number":
					f = badNumber
				}
			}
		}
		return textback.Receipt{}, classifyAnswer(op, "secret", r, f, apiErr, w.now())
	}
	var ans struct {
		ID string `json:"id"`
	}
	_ = r.decode(&ans) // the answer is optional; any 2xx is success
	w.log.DebugContext(ctx, "webhook accepted text", "call_id", m.CallID, "to", m.To, "provider_id", ans.ID)
	return textback.Receipt{Sender: "webhook", ProviderID: ans.ID}, nil
}
