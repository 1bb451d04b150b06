package sms

import (
	"context"
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

// plivoTimeLayout is how Plivo's message_time filters take a time, in UTC.
const plivoTimeLayout = "2006-01-02 15:04:05"

// plivoNumber is a number as Plivo's from_number and to_number filters take
// it, E.164 with its "+"; Send's src may be configured without it, and a
// sender ID is left as it is.
func plivoNumber(s string) string {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		return "+" + s
	}
	return s
}

// Find looks for m among the account's outbound Message Detail Records (see
// Finder): List all messages filtered by message_direction=outbound,
// from_number, to_number and message_time__gte/__lte over the window, in
// pages of 20, Plivo's most
// (https://www.plivo.com/docs/messaging/api/message/list-all-messages/).
// An MDR holds no text, so the match is on the numbers and the time
// (Lookup.BodyChecked is false). Plivo allows 20 list requests a minute; a
// 429 comes back as a *textback.RetryError.
func (p *Plivo) Find(ctx context.Context, m textback.Message, since time.Time) (Lookup, error) {
	from := or(string(m.From), p.cfg.From)
	s, err := newSearch("plivo", m, from, since)
	if err != nil {
		return Lookup{}, err
	}
	if from == "" {
		return Lookup{}, fmt.Errorf("%s: no sender (set from)", s.op)
	}
	const limit = 20
	read := func(ctx context.Context, cursor string) ([]sentText, string, error) {
		offset := 0
		if cursor != "" {
			offset, _ = strconv.Atoi(cursor)
		}
		q := url.Values{
			"message_direction": {"outbound"},
			"from_number":       {plivoNumber(from)},
			"to_number":         {plivoNumber(string(m.To))},
			"message_time__gte": {s.lo.UTC().Format(plivoTimeLayout)},
			"message_time__lte": {s.hi.UTC().Format(plivoTimeLayout)},
			"limit":             {strconv.Itoa(limit)},
			"offset":            {strconv.Itoa(offset)},
		}
		r, err := p.t.do(ctx, request{method: http.MethodGet, url: p.accountURL + "Message/?" + q.Encode(), auth: basicAuth(p.cfg.AuthID, p.cfg.AuthToken)})
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", s.op, err)
		}
		if r.status/100 != 2 {
			return nil, "", listError(s.op, "auth_id and auth_token", r, p.now())
		}
		var ans struct {
			Meta *struct {
				Next *string `json:"next"`
			} `json:"meta"`
			Objects *[]struct {
				UUID      string `json:"message_uuid"`
				From      string `json:"from_number"`
				To        string `json:"to_number"`
				Time      string `json:"message_time"`
				State     string `json:"message_state"`
				Direction string `json:"message_direction"`
			} `json:"objects"`
		}
		if err := r.decode(&ans); err != nil {
			return nil, "", fmt.Errorf("%s: http %d: unreadable list: %w", s.op, r.status, err)
		}
		if ans.Meta == nil || ans.Objects == nil {
			return nil, "", fmt.Errorf("%s: http %d: no meta or objects in the answer (check base_url)", s.op, r.status)
		}
		texts := make([]sentText, 0, len(*ans.Objects))
		for _, o := range *ans.Objects {
			created, err := plivoTime(o.Time)
			if err != nil || o.UUID == "" {
				return nil, "", fmt.Errorf("%s: message %q: unreadable (message_time %q): %v", s.op, o.UUID, o.Time, err)
			}
			texts = append(texts, sentText{id: o.UUID, to: o.To, from: o.From, status: o.State, created: created, inbound: o.Direction == "inbound"})
		}
		next := ""
		if ans.Meta.Next != nil && *ans.Meta.Next != "" {
			if len(texts) == 0 {
				return nil, "", fmt.Errorf("%s: an empty page that says more follow", s.op)
			}
			next = strconv.Itoa(offset + len(texts))
		}
		return texts, next, nil
	}
	l, err := s.run(ctx, p.now, read)
	if l.Found {
		p.log.DebugContext(ctx, "plivo has the text", "call_id", m.CallID, "to", m.To, "provider_id", l.Receipt.ProviderID, "status", l.Status)
	}
	return l, err
}

// plivoTime reads an MDR's message_time: "2021-07-13 13:04:06.799021+05:30",
// or without the zone, then UTC.
func plivoTime(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02 15:04:05Z07:00", s); err == nil {
		return t, nil
	}
	return time.Parse(plivoTimeLayout, s)
}
