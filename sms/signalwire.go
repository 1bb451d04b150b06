package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/textback/textback"
)

var _ textback.Sender = (*SignalWire)(nil)

// SignalWireConfig configures a SignalWire sender ([sms.signalwire]:
// project_id, api_token, from, base_url). BaseURL is the Space URL,
// https://example.signalwire.com, and is required.
type SignalWireConfig struct {
	ProjectID string // the project's UUID, the Compatibility API's account SID
	APIToken  string // "PT…"
	From      string // default sender; Message.From overrides it
	BaseURL   string // the Space URL

	HTTPClient *http.Client  // nil: a client that does not follow redirects
	Timeout    time.Duration // per request; zero means 10s
}

// String describes the config without the API token.
func (c SignalWireConfig) String() string {
	return fmt.Sprintf("signalwire project %s from %q base_url %q (api token redacted)", c.ProjectID, c.From, c.BaseURL)
}

// GoString is String, so %#v does not print the API token either.
func (c SignalWireConfig) GoString() string { return c.String() }

// LogValue logs the config without the API token.
func (c SignalWireConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("project_id", c.ProjectID), slog.String("from", c.From), slog.String("base_url", c.BaseURL))
}

// SignalWire sends texts through SignalWire's Compatibility (LaML) REST API,
// which is shaped like Twilio's: a form POST to
// {space}/api/laml/2010-04-01/Accounts/{project_id}/Messages with HTTP basic
// auth project_id:api_token, answered with a Twilio-style Message resource
// (https://developer.signalwire.com/compatibility-api/reference,
// https://developer.signalwire.com/guides/messaging/sending-your-first-sms).
// It is safe for concurrent use.
type SignalWire struct {
	cfg        SignalWireConfig
	accountURL string
	t          transport
	log        *slog.Logger
	now        func() time.Time
}

// NewSignalWire checks cfg and returns a SignalWire sender.
func NewSignalWire(cfg SignalWireConfig, log *slog.Logger) (*SignalWire, error) {
	var errs []error
	if !pathSafe(cfg.ProjectID) {
		errs = append(errs, fmt.Errorf("signalwire: project_id %q is not a project id (a UUID)", cfg.ProjectID))
	}
	if cfg.APIToken == "" {
		errs = append(errs, errors.New("signalwire: api_token is empty"))
	}
	if cfg.BaseURL == "" {
		errs = append(errs, errors.New("signalwire: base_url is empty (set your Space URL, https://example.signalwire.com)"))
	}
	errs = append(errs, checkBase("signalwire", cfg.BaseURL), checkTimeout("signalwire", cfg.Timeout))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SignalWire{
		cfg:        cfg,
		accountURL: strings.TrimRight(cfg.BaseURL, "/") + "/api/laml/2010-04-01/Accounts/" + cfg.ProjectID,
		t:          newTransport(cfg.HTTPClient, cfg.Timeout),
		log:        log.With("sender", "signalwire", "project_id", cfg.ProjectID),
		now:        time.Now,
	}, nil
}

// String names the sender without its token.
func (s *SignalWire) String() string { return "signalwire project " + s.cfg.ProjectID }

// Send creates a Message for m and returns its sid. Errors follow Twilio's
// codes, which the Compatibility API reuses: 21610 wraps ErrOptedOut, 21211
// and 21614 ErrBadNumber; 401/403 are bad credentials, 429 a
// *textback.RetryError, 5xx transient, other 4xx permanent.
func (s *SignalWire) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	op := fmt.Sprintf("signalwire: send for call %s", m.CallID)
	from := or(string(m.From), s.cfg.From)
	if err := checkMessage(op, m, from != ""); err != nil {
		return textback.Receipt{}, err
	}
	form := url.Values{"To": {string(m.To)}, "From": {from}, "Body": {m.Body}}
	r, err := s.t.do(ctx, request{
		method: http.MethodPost, url: s.accountURL + "/Messages",
		contentType: "application/x-www-form-urlencoded", body: []byte(form.Encode()),
		auth: basicAuth(s.cfg.ProjectID, s.cfg.APIToken),
	})
	if err != nil {
		return textback.Receipt{}, fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		return textback.Receipt{}, s.classify(op, r)
	}
	var msg message
	err = r.decode(&msg)
	if err == nil && msg.SID == "" {
		err = errors.New("no sid in the answer")
	}
	if err != nil {
		return textback.Receipt{}, unreadable(op, r, err)
	}
	rc := textback.Receipt{Sender: "signalwire", ProviderID: msg.SID}
	if msg.Status == "failed" || msg.Status == "undelivered" {
		apiErr := &APIError{Status: r.status, Message: msg.Status}
		if msg.ErrorCode != nil {
			apiErr.Code = *msg.ErrorCode
		}
		return rc, fmt.Errorf("%s: message %s has status %s: %w: %w", op, msg.SID, msg.Status, textback.ErrUndeliverable, apiErr)
	}
	s.log.DebugContext(ctx, "signalwire accepted text", "call_id", m.CallID, "to", m.To, "sid", msg.SID, "status", msg.Status)
	return rc, nil
}

// Check fetches the project's Account resource (GET
// /api/laml/2010-04-01/Accounts/{project_id}) to prove the credentials work.
func (s *SignalWire) Check(ctx context.Context) error {
	const op = "signalwire: check"
	r, err := s.t.do(ctx, request{method: http.MethodGet, url: s.accountURL, auth: basicAuth(s.cfg.ProjectID, s.cfg.APIToken)})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		return s.classify(op, r)
	}
	var acct struct {
		Status string `json:"status"`
	}
	if err := r.decode(&acct); err != nil || acct.Status == "" {
		return fmt.Errorf("%s: http %d: not an account answer (check base_url)", op, r.status)
	}
	if acct.Status != "active" {
		return fmt.Errorf("%s: %w: project %s is %s", op, textback.ErrUndeliverable, s.cfg.ProjectID, acct.Status)
	}
	return nil
}

func (s *SignalWire) classify(op string, r *response) error {
	apiErr := statusError(r)
	var b struct {
		Code     json.RawMessage `json:"code"` // a number, or a string of digits
		Message  string          `json:"message"`
		MoreInfo string          `json:"more_info"`
	}
	if r.decode(&b) == nil {
		code := strings.Trim(string(b.Code), `"`)
		if n, err := strconv.Atoi(code); err == nil {
			apiErr.Code = n
		} else if code != "null" {
			apiErr.Type = code
		}
		if b.Message != "" {
			apiErr.Message = maskNumbers(b.Message)
		}
		apiErr.MoreInfo = b.MoreInfo
	}
	f := byStatus
	switch apiErr.Code {
	case codeOptedOut:
		f = optedOut
	case codeInvalidTo, codeNotMobile:
		f = badNumber
	case codeAuthenticate:
		f = badAuth
	case codeQueueFull:
		f = transient
	}
	return classifyAnswer(op, "project_id and api_token", r, f, apiErr, s.now())
}
