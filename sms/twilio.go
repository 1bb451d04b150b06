package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/textback/textback"
)

var _ textback.Sender = (*Twilio)(nil)

const (
	defaultBaseURL = "https://api.twilio.com"
	defaultTimeout = 10 * time.Second
	// maxResponse bounds what we read of an answer. Twilio's are a few KiB;
	// anything near this is not Twilio.
	maxResponse = 256 << 10
	userAgent   = "textback (+https://github.com/textback/textback)"
)

// TwilioConfig configures a Twilio sender. Set From, MessagingServiceSID or
// both: with both, Twilio sends from From, which must be in the service's
// sender pool; with only the service, Twilio picks the sender.
type TwilioConfig struct {
	AccountSID string // "AC" and 32 hex digits
	AuthToken  string
	From       string // default sender (E.164 number, short code or alphanumeric ID); Message.From overrides it
	BaseURL    string // default https://api.twilio.com

	MessagingServiceSID string // optional, "MG…"
	StatusCallback      string // optional URL Twilio posts delivery status to

	HTTPClient *http.Client  // nil: a client that does not follow redirects
	Timeout    time.Duration // per request; zero means 10s
}

// String describes the config without the auth token.
func (c TwilioConfig) String() string {
	return fmt.Sprintf("twilio account %s from %q service %q base_url %q (auth token redacted)",
		c.AccountSID, c.From, c.MessagingServiceSID, c.BaseURL)
}

// GoString is String, so %#v does not print the auth token either.
func (c TwilioConfig) GoString() string { return c.String() }

// LogValue logs the config without the auth token.
func (c TwilioConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_sid", c.AccountSID),
		slog.String("from", c.From),
		slog.String("messaging_service_sid", c.MessagingServiceSID),
		slog.String("base_url", c.BaseURL),
	)
}

// Twilio sends texts through Twilio's Programmable Messaging API: one POST
// to the Messages resource per text
// (https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource).
// It is safe for concurrent use.
type Twilio struct {
	cfg         TwilioConfig
	base        string // BaseURL without its trailing slash
	messagesURL string
	accountURL  string
	client      *http.Client
	timeout     time.Duration
	log         *slog.Logger
	now         func() time.Time // reads Retry-After dates; tests replace it
}

// NewTwilio checks cfg and returns a Twilio sender.
func NewTwilio(cfg TwilioConfig, log *slog.Logger) (*Twilio, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = defaultBaseURL
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	client := cfg.HTTPClient
	if client == nil {
		// Like Twilio's own Go library: api.twilio.com never redirects, and
		// following one would turn the POST into a GET.
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	account := base + "/2010-04-01/Accounts/" + cfg.AccountSID
	return &Twilio{
		cfg:         cfg,
		base:        base,
		messagesURL: account + "/Messages.json",
		accountURL:  account + ".json",
		client:      client,
		timeout:     timeout,
		log:         log.With("sender", "twilio", "account_sid", cfg.AccountSID),
		now:         time.Now,
	}, nil
}

func (c TwilioConfig) validate() error {
	var errs []error
	if !isSID(c.AccountSID, "AC") {
		errs = append(errs, fmt.Errorf("twilio: account_sid %q is not an account SID (AC and 32 hex digits)", c.AccountSID))
	}
	if c.AuthToken == "" {
		errs = append(errs, errors.New("twilio: auth_token is empty"))
	}
	if c.MessagingServiceSID != "" && !isSID(c.MessagingServiceSID, "MG") {
		errs = append(errs, fmt.Errorf("twilio: messaging_service_sid %q is not a Messaging Service SID (MG and 32 hex digits)", c.MessagingServiceSID))
	}
	if c.BaseURL != "" {
		if err := checkURL(c.BaseURL); err != nil {
			errs = append(errs, fmt.Errorf("twilio: base_url: %w", err))
		}
	}
	if c.StatusCallback != "" {
		if err := checkURL(c.StatusCallback); err != nil {
			errs = append(errs, fmt.Errorf("twilio: status_callback: %w", err))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("twilio: timeout %s is negative", c.Timeout))
	}
	return errors.Join(errs...)
}

// isSID reports whether s is a Twilio SID of the given kind: two letters and
// 32 hex digits (Twilio's pattern ^AC[0-9a-fA-F]{32}$). The account SID goes
// into the request path, so this also keeps the path clean.
func isSID(s, prefix string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for _, c := range s[2:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// checkURL accepts absolute http(s) URLs without credentials, which would
// otherwise end up in error messages.
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q is not an http(s) URL", s)
	case u.Host == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return fmt.Errorf("%s must not hold credentials", u.Redacted())
	}
	return nil
}

// String names the sender without its auth token.
func (t *Twilio) String() string { return "twilio account " + t.cfg.AccountSID }

// message is what Send reads of Twilio's Message resource.
type message struct {
	SID          string  `json:"sid"`
	Status       string  `json:"status"`
	ErrorCode    *int    `json:"error_code"`
	ErrorMessage *string `json:"error_message"`
}

// Send creates a Message resource for m. Twilio's error answers come back
// as an *APIError in the chain. 4xx answers but 429 (a bad or opted-out
// number, bad credentials, a bad sender) wrap textback.ErrUndeliverable, as
// does a 2xx whose answer cannot be read; 21610 (opted out) wraps
// ErrOptedOut, 21211 and 21614 (invalid, landline) ErrBadNumber. 429 is a
// *textback.RetryError; 5xx, 21611 (sender queue full) and network failures
// before the request was written are plain errors worth retrying; no answer
// after it was written wraps textback.ErrUnconfirmed (see http.go). Delivery failures found after Twilio has
// accepted the text (30003 unreachable, 30007 filtered, …) come later, to
// StatusCallback; Send does not see them.
func (t *Twilio) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	op := fmt.Sprintf("twilio: send for call %s", m.CallID)
	from := string(m.From)
	if from == "" {
		from = t.cfg.From
	}
	switch {
	case m.To == "":
		return textback.Receipt{}, fmt.Errorf("%s: %w: no recipient", op, textback.ErrUndeliverable)
	case m.Body == "":
		return textback.Receipt{}, fmt.Errorf("%s: %w: empty body", op, textback.ErrUndeliverable)
	case from == "" && t.cfg.MessagingServiceSID == "":
		return textback.Receipt{}, fmt.Errorf("%s: %w: no sender (set from or messaging_service_sid)", op, textback.ErrUndeliverable)
	}
	form := url.Values{"To": {string(m.To)}, "Body": {m.Body}}
	if from != "" {
		form.Set("From", from)
	}
	if t.cfg.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", t.cfg.MessagingServiceSID)
	}
	if t.cfg.StatusCallback != "" {
		form.Set("StatusCallback", t.cfg.StatusCallback)
	}

	r, err := t.do(ctx, http.MethodPost, t.messagesURL, form)
	if err != nil {
		return textback.Receipt{}, fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		return textback.Receipt{}, classify(op, r, t.now())
	}
	// Twilio has created the message and will send it. If we cannot read
	// its answer we cannot know the sid, but a retry would text the caller
	// twice: report the text as not to be retried.
	var msg message
	err = r.readErr
	if err == nil {
		err = json.Unmarshal(r.body, &msg)
	}
	if err == nil && msg.SID == "" {
		err = errors.New("no sid in the answer")
	}
	if err != nil {
		return textback.Receipt{}, fmt.Errorf("%s: %w: twilio accepted the text (http %d) but its answer is unreadable, not retrying lest it be sent twice: %w",
			op, textback.ErrUndeliverable, r.status, err)
	}
	rc := textback.Receipt{Sender: "twilio", ProviderID: msg.SID}
	if msg.Status == "failed" || msg.Status == "undelivered" {
		apiErr := &APIError{Status: r.status}
		if msg.ErrorCode != nil {
			apiErr.Code = *msg.ErrorCode
		}
		if msg.ErrorMessage != nil {
			apiErr.Message = maskNumbers(*msg.ErrorMessage)
		}
		return rc, fmt.Errorf("%s: twilio created message %s with status %s: %w: %w", op, msg.SID, msg.Status, textback.ErrUndeliverable, apiErr)
	}
	t.log.DebugContext(ctx, "twilio accepted text", "call_id", m.CallID, "to", m.To, "sid", msg.SID, "status", msg.Status)
	return rc, nil
}

// Check fetches the Account resource
// (https://www.twilio.com/docs/iam/api/account) to
// prove the credentials work and the account can send.
func (t *Twilio) Check(ctx context.Context) error {
	const op = "twilio: check"
	r, err := t.do(ctx, http.MethodGet, t.accountURL, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		return classify(op, r, t.now())
	}
	// The Account resource also carries the auth token: read the status only.
	var acct struct {
		Status string `json:"status"`
	}
	err = r.readErr
	if err == nil {
		err = json.Unmarshal(r.body, &acct)
	}
	if err == nil && acct.Status == "" {
		err = errors.New("no account status in the answer")
	}
	if err != nil {
		return fmt.Errorf("%s: http %d: %w", op, r.status, err)
	}
	if acct.Status == "suspended" || acct.Status == "closed" {
		return fmt.Errorf("%s: %w: account %s is %s", op, textback.ErrUndeliverable, t.cfg.AccountSID, acct.Status)
	}
	return nil
}

// response is an answer read in full (up to maxResponse).
type response struct {
	status  int
	header  http.Header
	body    []byte
	readErr error // reading the body failed, or it was too large
}

// apiError reads Twilio's error body, or makes do with the status.
func (r *response) apiError() *APIError {
	e := &APIError{Status: r.status}
	var b struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
	}
	if r.readErr == nil && json.Unmarshal(r.body, &b) == nil {
		e.Code, e.Message, e.MoreInfo = b.Code, maskNumbers(b.Message), b.MoreInfo
	}
	if e.Message == "" {
		e.Message = http.StatusText(r.status)
	}
	return e
}

// do makes one authenticated request with a form body, if any, and reads the
// answer. Its error means no answer: a transport failure or timeout.
func (t *Twilio) do(ctx context.Context, method, u string, form url.Values) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(t.cfg.AccountSID, t.cfg.AuthToken)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return roundTrip(t.client, req)
}
