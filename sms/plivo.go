package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/textback/textback"
)

var _ textback.Sender = (*Plivo)(nil)

// PlivoConfig configures a Plivo sender ([sms.plivo]: auth_id, auth_token,
// from, base_url).
type PlivoConfig struct {
	AuthID    string // "MA…" or "SA…"
	AuthToken string
	From      string // default sender (src); Message.From overrides it
	BaseURL   string // default https://api.plivo.com

	HTTPClient *http.Client  // nil: a client that does not follow redirects
	Timeout    time.Duration // per request; zero means 10s
}

// String describes the config without the auth token.
func (c PlivoConfig) String() string {
	return fmt.Sprintf("plivo auth_id %s from %q base_url %q (auth token redacted)", c.AuthID, c.From, c.BaseURL)
}

// GoString is String, so %#v does not print the auth token either.
func (c PlivoConfig) GoString() string { return c.String() }

// LogValue logs the config without the auth token.
func (c PlivoConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("auth_id", c.AuthID), slog.String("from", c.From), slog.String("base_url", c.BaseURL))
}

// Plivo sends texts through Plivo's Message API: POST
// /v1/Account/{auth_id}/Message/ with HTTP basic auth auth_id:auth_token and
// a JSON body {src, dst, text}, answered 202 with
// {"api_id", "message": "message(s) queued", "message_uuid": [...]}
// (https://www.plivo.com/docs/messaging/api/messages/,
// https://docs.plivo.com/docs/messaging/api/response). It is safe for
// concurrent use.
type Plivo struct {
	cfg        PlivoConfig
	accountURL string
	t          transport
	log        *slog.Logger
	now        func() time.Time
}

// NewPlivo checks cfg and returns a Plivo sender.
func NewPlivo(cfg PlivoConfig, log *slog.Logger) (*Plivo, error) {
	var errs []error
	if !pathSafe(cfg.AuthID) {
		errs = append(errs, fmt.Errorf("plivo: auth_id %q is not an auth id", cfg.AuthID))
	}
	if cfg.AuthToken == "" {
		errs = append(errs, errors.New("plivo: auth_token is empty"))
	}
	errs = append(errs, checkBase("plivo", cfg.BaseURL), checkTimeout("plivo", cfg.Timeout))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Plivo{
		cfg:        cfg,
		accountURL: strings.TrimRight(or(cfg.BaseURL, "https://api.plivo.com"), "/") + "/v1/Account/" + cfg.AuthID + "/",
		t:          newTransport(cfg.HTTPClient, cfg.Timeout),
		log:        log.With("sender", "plivo", "auth_id", cfg.AuthID),
		now:        time.Now,
	}, nil
}

// String names the sender without its token.
func (p *Plivo) String() string { return "plivo " + p.cfg.AuthID }

type plivoMessage struct {
	Src  string `json:"src"`
	Dst  string `json:"dst"`
	Text string `json:"text"`
}

// Send posts m and returns the first message_uuid. Plivo's synchronous
// errors carry no code, only an "error" text, so they are sorted by HTTP
// status: 401 bad credentials, 429 a *textback.RetryError, 5xx transient,
// other 4xx (a bad number among them) permanent. Plivo reports opt-outs
// and unreachable numbers later, to the delivery callback, so Send never
// returns ErrOptedOut or ErrBadNumber.
func (p *Plivo) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	op := fmt.Sprintf("plivo: send for call %s", m.CallID)
	from := or(string(m.From), p.cfg.From)
	if err := checkMessage(op, m, from != ""); err != nil {
		return textback.Receipt{}, err
	}
	r, err := p.t.do(ctx, request{
		method: http.MethodPost, url: p.accountURL + "Message/",
		contentType: "application/json", body: jsonBody(plivoMessage{Src: from, Dst: string(m.To), Text: m.Body}),
		auth: basicAuth(p.cfg.AuthID, p.cfg.AuthToken),
	})
	if err != nil {
		return textback.Receipt{}, fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		return textback.Receipt{}, p.classify(op, r)
	}
	var ans struct {
		MessageUUID []string `json:"message_uuid"`
	}
	err = r.decode(&ans)
	if err == nil && (len(ans.MessageUUID) == 0 || ans.MessageUUID[0] == "") {
		err = errors.New("no message_uuid in the answer")
	}
	if err != nil {
		return textback.Receipt{}, unreadable(op, r, err)
	}
	p.log.DebugContext(ctx, "plivo accepted text", "call_id", m.CallID, "to", m.To, "provider_id", ans.MessageUUID[0])
	return textback.Receipt{Sender: "plivo", ProviderID: ans.MessageUUID[0]}, nil
}

// Check fetches the Account resource (GET /v1/Account/{auth_id}/,
// https://www.plivo.com/docs/account/api/account) to prove the credentials
// work.
func (p *Plivo) Check(ctx context.Context) error {
	const op = "plivo: check"
	r, err := p.t.do(ctx, request{method: http.MethodGet, url: p.accountURL, auth: basicAuth(p.cfg.AuthID, p.cfg.AuthToken)})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		return p.classify(op, r)
	}
	var acct struct {
		AuthID string `json:"auth_id"`
	}
	if err := r.decode(&acct); err != nil || acct.AuthID != p.cfg.AuthID {
		return fmt.Errorf("%s: http %d: not the account's answer (check base_url)", op, r.status)
	}
	return nil
}

func (p *Plivo) classify(op string, r *response) error {
	apiErr := statusError(r)
	var b struct {
		Error string `json:"error"`
	}
	if r.decode(&b) == nil && b.Error != "" {
		apiErr.Message = maskNumbers(b.Error)
	}
	return classifyAnswer(op, "auth_id and auth_token", r, byStatus, apiErr, p.now())
}
