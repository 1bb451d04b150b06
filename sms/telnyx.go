package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/textback/textback"
)

var _ textback.Sender = (*Telnyx)(nil)

// TelnyxConfig configures a Telnyx sender ([sms.telnyx]: api_key,
// messaging_profile_id, from, base_url). Set From, MessagingProfileID or
// both: with only the profile, Telnyx picks a number from its pool.
type TelnyxConfig struct {
	APIKey             string // API v2 key, sent as a bearer token
	MessagingProfileID string // optional
	From               string // default sender; Message.From overrides it
	BaseURL            string // default https://api.telnyx.com

	HTTPClient *http.Client  // nil: a client that does not follow redirects
	Timeout    time.Duration // per request; zero means 10s
}

// String describes the config without the API key.
func (c TelnyxConfig) String() string {
	return fmt.Sprintf("telnyx profile %q from %q base_url %q (api key redacted)", c.MessagingProfileID, c.From, c.BaseURL)
}

// GoString is String, so %#v does not print the API key either.
func (c TelnyxConfig) GoString() string { return c.String() }

// LogValue logs the config without the API key.
func (c TelnyxConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("messaging_profile_id", c.MessagingProfileID),
		slog.String("from", c.From), slog.String("base_url", c.BaseURL))
}

// Telnyx sends texts through Telnyx's Messaging API v2: one POST /v2/messages
// per text, JSON, with the API key as a bearer token
// (https://developers.telnyx.com/docs/messaging/messages/send-message,
// https://developers.telnyx.com/docs/messaging). It is safe for concurrent use.
type Telnyx struct {
	cfg   TelnyxConfig
	base  string
	t     transport
	log   *slog.Logger
	now   func() time.Time
	creds string
}

// NewTelnyx checks cfg and returns a Telnyx sender.
func NewTelnyx(cfg TelnyxConfig, log *slog.Logger) (*Telnyx, error) {
	var errs []error
	if cfg.APIKey == "" {
		errs = append(errs, errors.New("telnyx: api_key is empty"))
	}
	errs = append(errs, checkBase("telnyx", cfg.BaseURL), checkTimeout("telnyx", cfg.Timeout))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Telnyx{
		cfg:   cfg,
		base:  strings.TrimRight(or(cfg.BaseURL, "https://api.telnyx.com"), "/"),
		t:     newTransport(cfg.HTTPClient, cfg.Timeout),
		log:   log.With("sender", "telnyx"),
		now:   time.Now,
		creds: "api_key",
	}, nil
}

// String names the sender.
func (t *Telnyx) String() string { return "telnyx" }

// telnyxMessage is the Send Message request body.
type telnyxMessage struct {
	From               string `json:"from,omitempty"`
	To                 string `json:"to"`
	Text               string `json:"text"`
	MessagingProfileID string `json:"messaging_profile_id,omitempty"`
}

// Send posts m to /v2/messages and returns the message id Telnyx answers
// with (data.id). Errors, by Telnyx's code
// (https://developers.telnyx.com/development/api-fundamentals/api-errors,
// https://developers.telnyx.com/docs/messaging/messages/error-codes):
// 40300 (blocked by the recipient's STOP, HTTP 409) wraps ErrOptedOut;
// 10002, 10016, 40001, 40012 (invalid or landline number) ErrBadNumber;
// 10009, 10010 and 401/403 are bad credentials; 10011 and 429 a
// *textback.RetryError; 10007, 10008 and 5xx transient; other 4xx
// permanent.
func (t *Telnyx) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	op := fmt.Sprintf("telnyx: send for call %s", m.CallID)
	from := or(string(m.From), t.cfg.From)
	// Without a from, the messaging profile's number pool picks the sender.
	if err := checkMessage(op, m, from != "" || t.cfg.MessagingProfileID != ""); err != nil {
		return textback.Receipt{}, err
	}
	body := telnyxMessage{From: from, To: string(m.To), Text: m.Body, MessagingProfileID: t.cfg.MessagingProfileID}
	r, err := t.t.do(ctx, request{
		method: http.MethodPost, url: t.base + "/v2/messages",
		contentType: "application/json", body: jsonBody(body), auth: bearer(t.cfg.APIKey),
	})
	if err != nil {
		return textback.Receipt{}, fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		return textback.Receipt{}, t.classify(op, r)
	}
	var ans struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	err = r.decode(&ans)
	if err == nil && ans.Data.ID == "" {
		err = errors.New("no data.id in the answer")
	}
	if err != nil {
		return textback.Receipt{}, unreadable(op, r, err)
	}
	t.log.DebugContext(ctx, "telnyx accepted text", "call_id", m.CallID, "to", m.To, "provider_id", ans.Data.ID)
	return textback.Receipt{Sender: "telnyx", ProviderID: ans.Data.ID}, nil
}

// Check fetches the account balance (GET /v2/balance,
// https://developers.telnyx.com/api/billing/get-user-balance) to prove the
// API key works.
func (t *Telnyx) Check(ctx context.Context) error {
	const op = "telnyx: check"
	r, err := t.t.do(ctx, request{method: http.MethodGet, url: t.base + "/v2/balance", auth: bearer(t.cfg.APIKey)})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		return t.classify(op, r)
	}
	var ans struct {
		Data struct {
			RecordType string `json:"record_type"`
		} `json:"data"`
	}
	if err := r.decode(&ans); err != nil || ans.Data.RecordType != "balance" {
		return fmt.Errorf("%s: http %d: not a telnyx balance answer (check base_url)", op, r.status)
	}
	return nil
}

// Telnyx error codes this package treats on their own.
var telnyxFaults = map[int]fault{
	10002: badNumber, // invalid phone number
	10016: badNumber, // phone number must be in +E.164 format
	40001: badNumber, // not routable: a landline or non-routable number
	40012: badNumber, // invalid destination number
	40300: optedOut,  // blocked due to STOP message
	10009: badAuth,   // authentication failed
	10010: badAuth,   // authorization failed
	10011: throttled, // too many requests
	10007: transient, // unexpected error
	10008: transient, // request timeout
}

func (t *Telnyx) classify(op string, r *response) error {
	apiErr := statusError(r)
	f := byStatus
	var ans struct {
		Errors []struct {
			Code   string `json:"code"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
			Meta   struct {
				URL string `json:"url"`
			} `json:"meta"`
		} `json:"errors"`
	}
	if r.decode(&ans) == nil && len(ans.Errors) > 0 {
		e := ans.Errors[0]
		apiErr.Code, _ = strconv.Atoi(e.Code)
		apiErr.Message = maskNumbers(strings.TrimSpace(e.Title + ": " + e.Detail))
		apiErr.MoreInfo = e.Meta.URL
		f = telnyxFaults[apiErr.Code]
	}
	return classifyAnswer(op, t.creds, r, f, apiErr, t.now())
}
