package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/textback/textback"
)

var _ textback.Sender = (*Bandwidth)(nil)

// BandwidthConfig configures a Bandwidth sender ([sms.bandwidth]:
// account_id, username, password, application_id, from, base_url).
type BandwidthConfig struct {
	AccountID     string // digits
	Username      string // an API user
	Password      string
	ApplicationID string // the messaging application the From number belongs to
	From          string // default sender; Message.From overrides it
	BaseURL       string // default https://messaging.bandwidth.com

	HTTPClient *http.Client  // nil: a client that does not follow redirects
	Timeout    time.Duration // per request; zero means 10s
}

// String describes the config without the password.
func (c BandwidthConfig) String() string {
	return fmt.Sprintf("bandwidth account %s user %s application %s from %q base_url %q (password redacted)",
		c.AccountID, c.Username, c.ApplicationID, c.From, c.BaseURL)
}

// GoString is String, so %#v does not print the password either.
func (c BandwidthConfig) GoString() string { return c.String() }

// LogValue logs the config without the password.
func (c BandwidthConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("account_id", c.AccountID), slog.String("username", c.Username),
		slog.String("application_id", c.ApplicationID), slog.String("from", c.From), slog.String("base_url", c.BaseURL))
}

// Bandwidth sends texts through Bandwidth's Messaging API v2: POST
// /api/v2/users/{accountId}/messages with HTTP basic auth and a JSON body
// {from, to: [..], text, applicationId}, answered 202 with the message and
// its id (https://dev.bandwidth.com/docs/messaging/createMessage/,
// https://dev.bandwidth.com/docs/messaging). It is safe for concurrent use.
//
// Bandwidth has no Check: the messaging host offers no cheap authenticated
// GET that proves the credentials without listing messages.
type Bandwidth struct {
	cfg BandwidthConfig
	url string
	t   transport
	log *slog.Logger
	now func() time.Time
}

// NewBandwidth checks cfg and returns a Bandwidth sender.
func NewBandwidth(cfg BandwidthConfig, log *slog.Logger) (*Bandwidth, error) {
	var errs []error
	if cfg.AccountID == "" || strings.Trim(cfg.AccountID, "0123456789") != "" {
		errs = append(errs, fmt.Errorf("bandwidth: account_id %q is not an account id (digits)", cfg.AccountID))
	}
	if cfg.Username == "" {
		errs = append(errs, errors.New("bandwidth: username is empty"))
	}
	if cfg.Password == "" {
		errs = append(errs, errors.New("bandwidth: password is empty"))
	}
	if cfg.ApplicationID == "" {
		errs = append(errs, errors.New("bandwidth: application_id is empty"))
	}
	errs = append(errs, checkBase("bandwidth", cfg.BaseURL), checkTimeout("bandwidth", cfg.Timeout))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bandwidth{
		cfg: cfg,
		url: strings.TrimRight(or(cfg.BaseURL, "https://messaging.bandwidth.com"), "/") + "/api/v2/users/" + cfg.AccountID + "/messages",
		t:   newTransport(cfg.HTTPClient, cfg.Timeout),
		log: log.With("sender", "bandwidth", "account_id", cfg.AccountID),
		now: time.Now,
	}, nil
}

// String names the sender without its password.
func (b *Bandwidth) String() string { return "bandwidth account " + b.cfg.AccountID }

type bandwidthMessage struct {
	From          string   `json:"from"`
	To            []string `json:"to"`
	Text          string   `json:"text"`
	ApplicationID string   `json:"applicationId"`
}

// Send posts m and returns the message id. Errors: a 400
// request-validation whose fieldErrors name "to" wraps ErrBadNumber; 401
// and 403 are bad credentials, 429 a *textback.RetryError, 5xx transient,
// other 4xx permanent. Bandwidth reports opt-outs and carrier rejections
// later, in its message-failed webhook, so Send never returns ErrOptedOut.
func (b *Bandwidth) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	op := fmt.Sprintf("bandwidth: send for call %s", m.CallID)
	from := or(string(m.From), b.cfg.From)
	if err := checkMessage(op, m, from != ""); err != nil {
		return textback.Receipt{}, err
	}
	r, err := b.t.do(ctx, request{
		method: http.MethodPost, url: b.url, contentType: "application/json",
		body: jsonBody(bandwidthMessage{From: from, To: []string{string(m.To)}, Text: m.Body, ApplicationID: b.cfg.ApplicationID}),
		auth: basicAuth(b.cfg.Username, b.cfg.Password),
	})
	if err != nil {
		return textback.Receipt{}, fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		return textback.Receipt{}, b.classify(op, r)
	}
	var ans struct {
		ID string `json:"id"`
	}
	err = r.decode(&ans)
	if err == nil && ans.ID == "" {
		err = errors.New("no id in the answer")
	}
	if err != nil {
		return textback.Receipt{}, unreadable(op, r, err)
	}
	b.log.DebugContext(ctx, "bandwidth accepted text", "call_id", m.CallID, "to", m.To, "provider_id", ans.ID)
	return textback.Receipt{Sender: "bandwidth", ProviderID: ans.ID}, nil
}

func (b *Bandwidth) classify(op string, r *response) error {
	apiErr := statusError(r)
	f := byStatus
	var e struct {
		Type        string `json:"type"`
		Description string `json:"description"`
		FieldErrors []struct {
			FieldName   string `json:"fieldName"`
			Description string `json:"description"`
		} `json:"fieldErrors"`
	}
	if r.decode(&e) == nil && (e.Type != "" || e.Description != "") {
		apiErr.Type = e.Type
		msg := e.Description
		for _, fe := range e.FieldErrors {
			msg += "; " + fe.FieldName + ": " + fe.Description
			if fe.FieldName == "to" && r.status == http.StatusBadRequest {
				f = badNumber
			}
		}
		apiErr.Message = maskNumbers(msg)
	}
	return classifyAnswer(op, "username and password", r, f, apiErr, b.now())
}

// bandwidthTimeLayout is ISO 8601 as Bandwidth's examples write it,
// "2016-09-14T18:20:16.000Z".
const bandwidthTimeLayout = "2006-01-02T15:04:05.000Z"

// Find looks for m with Bandwidth's message search (see Finder): GET
// /api/v2/users/{accountId}/messages filtered by sourceTn, destinationTn and
// fromDateTime/toDateTime over the window (by receive time), in pages of
// 100 followed by pageInfo.nextPageToken, with the same basic auth as Send
// (https://dev.bandwidth.com/messaging/methods/messages/getMessages.html,
// https://dev.bandwidth.com/docs/messaging/getMessage). Bandwidth does not
// store the text, so the match is on the numbers and the time
// (Lookup.BodyChecked is false).
func (b *Bandwidth) Find(ctx context.Context, m textback.Message, since time.Time) (Lookup, error) {
	from := or(string(m.From), b.cfg.From)
	s, err := newSearch("bandwidth", m, from, since)
	if err != nil {
		return Lookup{}, err
	}
	if from == "" {
		return Lookup{}, fmt.Errorf("%s: no sender (set from)", s.op)
	}
	read := func(ctx context.Context, cursor string) ([]sentText, string, error) {
		q := url.Values{
			"sourceTn":      {from},
			"destinationTn": {string(m.To)},
			"fromDateTime":  {s.lo.UTC().Format(bandwidthTimeLayout)},
			"toDateTime":    {s.hi.UTC().Format(bandwidthTimeLayout)},
			"limit":         {"100"},
		}
		if cursor != "" {
			q.Set("pageToken", cursor)
		}
		r, err := b.t.do(ctx, request{method: http.MethodGet, url: b.url + "?" + q.Encode(), auth: basicAuth(b.cfg.Username, b.cfg.Password)})
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", s.op, err)
		}
		if r.status/100 != 2 {
			return nil, "", listError(s.op, "username and password", r, b.now())
		}
		var ans struct {
			PageInfo *struct {
				NextPageToken string `json:"nextPageToken"`
			} `json:"pageInfo"`
			Messages *[]struct {
				ID          string `json:"messageId"`
				Source      string `json:"sourceTn"`
				Destination string `json:"destinationTn"`
				Status      string `json:"messageStatus"`
				Direction   string `json:"messageDirection"`
				ReceiveTime string `json:"receiveTime"`
			} `json:"messages"`
		}
		if err := r.decode(&ans); err != nil {
			return nil, "", fmt.Errorf("%s: http %d: unreadable list: %w", s.op, r.status, err)
		}
		if ans.Messages == nil {
			return nil, "", fmt.Errorf("%s: http %d: no messages in the answer (check base_url)", s.op, r.status)
		}
		texts := make([]sentText, 0, len(*ans.Messages))
		for _, o := range *ans.Messages {
			created, err := time.Parse(time.RFC3339, o.ReceiveTime)
			if err != nil || o.ID == "" {
				return nil, "", fmt.Errorf("%s: message %q: unreadable (receiveTime %q): %v", s.op, o.ID, o.ReceiveTime, err)
			}
			texts = append(texts, sentText{id: o.ID, to: o.Destination, from: o.Source, status: o.Status, created: created, inbound: o.Direction == "INBOUND"})
		}
		next := ""
		if ans.PageInfo != nil {
			next = ans.PageInfo.NextPageToken
		}
		return texts, next, nil
	}
	l, err := s.run(ctx, b.now, read)
	if l.Found {
		b.log.DebugContext(ctx, "bandwidth has the text", "call_id", m.CallID, "to", m.To, "provider_id", l.Receipt.ProviderID, "status", l.Status)
	}
	return l, err
}
