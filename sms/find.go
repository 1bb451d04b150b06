package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/textback/textback"
)

// This file holds Find: looking up afterwards whether a text whose send had
// an unknown outcome (textback.ErrUnconfirmed: the request left, no answer
// came; or the daemon died mid-send) reached the carrier.
//
// Which carriers can answer, from their API references:
//
//   - Twilio: yes. Read multiple Message resources, GET
//     /2010-04-01/Accounts/{AccountSid}/Messages.json, filters To, From,
//     DateSent (a day), PageSize (max 1000), paged by next_page_uri; each
//     Message has sid, to, from, body, status, direction, date_created (RFC
//     2822) and messaging_service_sid
//     (https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources).
//   - SignalWire: yes, the same shape under the Space URL, GET
//     /api/laml/2010-04-01/Accounts/{project_id}/Messages.json
//     (https://developer.signalwire.com/compatibility-api/client-sdks/methods/messaging/list,
//     https://signalwire.com/docs/compatibility-api/rest/messages/list-messages).
//   - Plivo: yes, without the text. List all messages, GET
//     /v1/Account/{auth_id}/Message/, filters message_direction,
//     from_number, to_number, message_time__gte/__lte ("YYYY-MM-DD
//     HH:MM[:ss]", UTC), limit (max 20), offset; the Message Detail Record
//     holds message_uuid, from_number, to_number, message_time,
//     message_state, message_direction but no text
//     (https://www.plivo.com/docs/messaging/api/message/list-all-messages/,
//     https://www.plivo.com/docs/sms/api/message/the-message-object/).
//   - Bandwidth: yes, without the text. GET
//     /api/v2/users/{accountId}/messages, filters sourceTn, destinationTn,
//     fromDateTime/toDateTime (ISO 8601, by receive time, 14 days at most),
//     limit, pageToken; items hold messageId, sourceTn, destinationTn,
//     messageStatus, messageDirection, receiveTime. "Bandwidth does not
//     store text message content"
//     (https://dev.bandwidth.com/docs/messaging/getMessage,
//     https://dev.bandwidth.com/messaging/methods/messages/getMessages.html).
//   - Telnyx: not implemented. Messages can be fetched by id only (GET
//     /v2/messages/{id}); finding one by number and time takes the usage
//     reporting APIs (GET /v2/detail_records with filter[record_type]=messaging
//     and filter[cld], or /v2/reports/mdrs), whose records are billing
//     records without the text, and whose delay is not documented: an
//     absence there proves nothing
//     (https://developers.telnyx.com/api-reference/detail-records/search-detail-records,
//     https://developers.telnyx.com/api-reference/messages/retrieve-a-message).
//   - Vonage: not implemented. The SMS API has no search; the Reports API
//     (GET /v2/reports/records, product=SMS, direction, from, to,
//     date_start/date_end within 24 hours, include_message) is a separately
//     paid product with its own subscription, so most accounts would get a
//     refusal (https://developer.vonage.com/en/api/reports).
//   - Webhook, Log, and the modem: no (an operator's endpoint has no
//     documented search; a modem keeps no record of a PDU it may have sent).

// Lookup is what Find learned about a text.
type Lookup struct {
	// Found: the carrier has a text matching the Message. False with a nil
	// error only when the carrier's whole list for the window was read
	// and held none.
	Found bool
	// Receipt names the sender and the carrier's id for the text, as Send
	// would have returned them.
	Receipt textback.Receipt
	// Status is the carrier's status for the text, as it spells it
	// ("queued", "delivered", "failed", "DELIVERED", …).
	Status string
	// Created is when the carrier created the text, by its clock.
	Created time.Time
	// BodyChecked: the carrier's record held the text and it equals the
	// Message's Body. It is false where the carrier keeps no text (Plivo,
	// Bandwidth, a Twilio body redacted or empty): the match is then on the
	// numbers and the time only. Rules send one text per caller per
	// cooldown, so another text from the same number to the same caller in
	// the window is unlikely; and were it another's, taking it for ours
	// leaves the caller as an unknown outcome leaves them today, never
	// texted twice.
	BodyChecked bool
}

// Finder is a Sender that can look up afterwards whether a text reached the
// carrier.
//
// Find looks for a text to m.To, from m.From (or the sender's default; a
// Twilio Messaging Service where no From is set), with m.Body (exactly, where
// the carrier keeps the text), created within [since-FindSkew,
// since+FindWindow+FindSkew] by the carrier's clock. since is when the send
// began (the text was marked Sending). It reads at most maxFindPages pages of
// the carrier's list.
//
// It returns Found with the carrier's id in the Receipt; Found false and a nil
// error only when the whole list was read and held no such text, and since
// is at least FindWindow ago (before that it returns an error wrapping
// ErrTooSoon: the carrier may still be creating the text); an error in every
// other case (the carrier did not answer, its answer was unreadable, more
// pages than the bound), and the text's outcome stays unknown.
type Finder interface {
	textback.Sender
	Find(ctx context.Context, m textback.Message, since time.Time) (Lookup, error)
}

var (
	// ErrCannotFind: the sender, or one a decorator wraps, cannot look up
	// sent texts (Telnyx, Vonage, a webhook, a modem).
	ErrCannotFind = errors.New("the sender cannot look up sent texts")
	// ErrTooSoon: the carrier's list holds no such text yet, but it is too
	// soon after the send to say it never will. Ask again after
	// since+FindWindow.
	ErrTooSoon = errors.New("too soon to say the text is absent")
)

const (
	// FindSkew allows for the difference between our clock and the
	// carrier's.
	FindSkew = 2 * time.Minute
	// FindWindow is how long after the send began the carrier may still
	// create the text: far longer than any request timeout. Find says a
	// text is absent only once it has passed.
	FindWindow = 5 * time.Minute
	// maxFindPages bounds the pages Find reads. The lists are filtered to
	// one caller (and, where the carrier can, one sender and the window),
	// so one page is the rule; beyond the bound Find gives up with an
	// error rather than call a text absent that it did not see.
	maxFindPages = 5
)

// CanFind reports whether s can look up sent texts: it is a Finder and,
// when it is a decorator, what it wraps can (for Failover: at least one of
// its senders).
func CanFind(s textback.Sender) bool {
	if c, ok := s.(interface{ CanFind() bool }); ok {
		return c.CanFind()
	}
	_, ok := s.(Finder)
	return ok
}

// find asks s, if it can.
func find(ctx context.Context, s textback.Sender, m textback.Message, since time.Time) (Lookup, error) {
	if f, ok := s.(Finder); ok && CanFind(s) {
		return f.Find(ctx, m, since)
	}
	return Lookup{}, fmt.Errorf("sms: find for call %s: %T: %w", m.CallID, s, ErrCannotFind)
}

// Find asks the wrapped sender, without waiting for the limiter: it limits
// texts, and Find sends none.
func (l *Limiter) Find(ctx context.Context, m textback.Message, since time.Time) (Lookup, error) {
	return find(ctx, l.s, m, since)
}

// CanFind reports whether the wrapped sender can find.
func (l *Limiter) CanFind() bool { return CanFind(l.s) }

// Find asks the wrapped sender.
func (r *Rememberer) Find(ctx context.Context, m textback.Message, since time.Time) (Lookup, error) {
	return find(ctx, r.s, m, since)
}

// CanFind reports whether the wrapped sender can find.
func (r *Rememberer) CanFind() bool { return CanFind(r.s) }

// Find asks every sender of the list in order, whatever its health, and
// returns the first that found the text, its Receipt's Sender set to the
// sender's name as Send sets it. It asks them all because the outbox does not
// keep which sender an unknown text went through (a daemon that died mid-send
// never learned it), and Failover falls over only past senders that did not
// take the text, so it can be at most one of them, any one. The text is
// absent only when every sender can find and each read its whole list
// without it; a sender that cannot find (a modem, a webhook) or that failed
// to answer makes Find return an error, as the text may have gone through
// it.
func (f *FailoverSender) Find(ctx context.Context, m textback.Message, since time.Time) (Lookup, error) {
	if len(f.senders) == 0 {
		return Lookup{}, fmt.Errorf("sms failover: find for call %s: no senders", m.CallID)
	}
	var errs []error
	for _, ns := range f.senders {
		l, err := find(ctx, ns.Sender, m, since)
		if err != nil {
			errs = append(errs, fmt.Errorf("sender %s: %w", ns.Name, err))
			continue
		}
		if l.Found {
			l.Receipt.Sender = ns.Name
			return l, nil
		}
	}
	if len(errs) > 0 {
		return Lookup{}, fmt.Errorf("sms failover: find for call %s: %w", m.CallID, errors.Join(errs...))
	}
	return Lookup{}, nil
}

// CanFind reports whether any sender of the list can find. Find confirms an
// absence only when all can.
func (f *FailoverSender) CanFind() bool {
	for _, ns := range f.senders {
		if CanFind(ns.Sender) {
			return true
		}
	}
	return false
}

// sentText is one text of a carrier's list, as Find compares it.
type sentText struct {
	id, to, from, status string
	body                 *string // nil: the carrier keeps no text
	created              time.Time
	inbound              bool
	service              string // Twilio's messaging_service_sid
}

// search is one Find: what it looks for, and where.
type search struct {
	op, sender string
	to, from   string // from "": any, the service picks it
	service    string // with from "": the Messaging Service that must have sent it
	body       string
	since      time.Time
	lo, hi     time.Time // the window, by the carrier's clock
}

func newSearch(sender string, m textback.Message, from string, since time.Time) (search, error) {
	s := search{
		op: fmt.Sprintf("%s: find for call %s", sender, m.CallID), sender: sender,
		to: string(m.To), from: from, body: m.Body, since: since,
		lo: since.Add(-FindSkew), hi: since.Add(FindWindow + FindSkew),
	}
	switch {
	case m.To == "":
		return s, fmt.Errorf("%s: no recipient", s.op)
	case m.Body == "":
		return s, fmt.Errorf("%s: empty body", s.op)
	case since.IsZero():
		return s, fmt.Errorf("%s: no send time", s.op)
	}
	return s, nil
}

// sameNumber compares numbers with or without their "+": carriers list them
// either way (Plivo's from_number "17087654321").
func sameNumber(a, b string) bool {
	return strings.TrimPrefix(a, "+") == strings.TrimPrefix(b, "+")
}

// match reports whether t is the text looked for, and whether its body was
// compared.
func (s search) match(t sentText) (ok, bodyChecked bool) {
	if t.inbound || !sameNumber(t.to, s.to) || t.created.Before(s.lo) || t.created.After(s.hi) {
		return false, false
	}
	switch {
	case s.from != "" && !sameNumber(t.from, s.from):
		return false, false
	case s.from == "" && s.service != "" && t.service != s.service:
		return false, false
	}
	if t.body == nil || *t.body == "" { // not kept, or redacted: cannot tell
		return true, false
	}
	return *t.body == s.body, true
}

// page reads one page of the carrier's list at cursor ("" for the first) and
// returns its texts and the next cursor, "" at the end.
type page func(ctx context.Context, cursor string) ([]sentText, string, error)

// run reads pages until it finds the text, reaches the end, or the bound.
func (s search) run(ctx context.Context, now func() time.Time, read page) (Lookup, error) {
	cursor := ""
	for range maxFindPages {
		texts, next, err := read(ctx, cursor)
		if err != nil {
			return Lookup{}, err
		}
		for _, t := range texts {
			if ok, checked := s.match(t); ok {
				return Lookup{
					Found: true, Receipt: textback.Receipt{Sender: s.sender, ProviderID: t.id},
					Status: t.status, Created: t.created, BodyChecked: checked,
				}, nil
			}
		}
		if next == "" {
			if at := s.since.Add(FindWindow); now().Before(at) {
				return Lookup{}, fmt.Errorf("%s: %w: not listed yet; ask again after %s", s.op, ErrTooSoon, at.UTC().Format(time.RFC3339))
			}
			return Lookup{}, nil
		}
		if next == cursor {
			return Lookup{}, fmt.Errorf("%s: the carrier's list does not advance", s.op)
		}
		cursor = next
	}
	return Lookup{}, fmt.Errorf("%s: more than %d pages of texts to %s: cannot say the text is absent",
		s.op, maxFindPages, textback.Number(s.to).Masked())
}

// listError turns a list answer that was not a success into an error: a
// *textback.RetryError on 429, else a plain error naming the credentials on
// 401 and 403. No sentinel: a failed lookup leaves the text unknown, whatever
// the cause.
func listError(op, creds string, r *response, now time.Time) error {
	e := statusError(r)
	var b struct {
		Code        json.RawMessage `json:"code"`
		Message     string          `json:"message"`
		Error       string          `json:"error"`
		Description string          `json:"description"`
		Type        string          `json:"type"`
		MoreInfo    string          `json:"more_info"`
	}
	if r.decode(&b) == nil {
		if n, err := strconv.Atoi(strings.Trim(string(b.Code), `"`)); err == nil {
			e.Code = n
		}
		if msg := or(b.Message, or(b.Error, b.Description)); msg != "" {
			e.Message = maskNumbers(msg)
		}
		e.Type, e.MoreInfo = b.Type, b.MoreInfo
	}
	switch r.status {
	case http.StatusTooManyRequests:
		return &textback.RetryError{After: retryAfter(r.header.Get("Retry-After"), now), Err: fmt.Errorf("%s: rate limited: %w", op, e)}
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s: authentication failed (check %s): %w", op, creds, e)
	}
	return fmt.Errorf("%s: %w", op, e)
}

// listed is a Message resource as Twilio's and SignalWire's lists hold it.
type listed struct {
	SID         string  `json:"sid"`
	To          string  `json:"to"`
	From        string  `json:"from"`
	Body        *string `json:"body"`
	Status      string  `json:"status"`
	Direction   string  `json:"direction"`
	DateCreated string  `json:"date_created"` // RFC 2822, "Mon, 13 Aug 2018 23:08:35 +0000"
	ServiceSID  *string `json:"messaging_service_sid"`
}

// twilioPages reads a Twilio-shaped Messages list: first is the list URL with
// its filters; later pages are next_page_uri, a path on base.
//
// The list is filtered by To and From only. DateSent filters on date_sent,
// which Twilio sets when the text leaves its platform: a text still queued,
// or failed before it left, has none, and those are the very texts a
// timed-out request may have made. The window is checked here on
// date_created instead; the list of texts from one number to one caller is
// short.
func twilioPages(s search, base, first, creds string, get func(context.Context, string) (*response, error), now func() time.Time) page {
	return func(ctx context.Context, cursor string) ([]sentText, string, error) {
		u := first
		if cursor != "" {
			u = base + cursor
		}
		r, err := get(ctx, u)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", s.op, err)
		}
		if r.status/100 != 2 {
			return nil, "", listError(s.op, creds, r, now())
		}
		var ans struct {
			Messages *[]listed `json:"messages"`
			Next     *string   `json:"next_page_uri"`
		}
		if err := r.decode(&ans); err != nil {
			return nil, "", fmt.Errorf("%s: http %d: unreadable list: %w", s.op, r.status, err)
		}
		if ans.Messages == nil {
			return nil, "", fmt.Errorf("%s: http %d: no messages in the answer (check base_url)", s.op, r.status)
		}
		next := ""
		if ans.Next != nil {
			next = *ans.Next
			if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
				return nil, "", fmt.Errorf("%s: next_page_uri %q is not a path", s.op, next)
			}
		}
		texts := make([]sentText, 0, len(*ans.Messages))
		for _, m := range *ans.Messages {
			created, err := time.Parse(time.RFC1123Z, m.DateCreated)
			if err != nil {
				return nil, "", fmt.Errorf("%s: message %s: date_created: %w", s.op, m.SID, err)
			}
			t := sentText{id: m.SID, to: m.To, from: m.From, body: m.Body, status: m.Status, created: created, inbound: m.Direction == "inbound"}
			if m.ServiceSID != nil {
				t.service = *m.ServiceSID
			}
			if t.id == "" {
				return nil, "", fmt.Errorf("%s: a message without a sid", s.op)
			}
			texts = append(texts, t)
		}
		return texts, next, nil
	}
}

// Find looks for m in the account's Messages list (see Finder), filtered by
// To and by From, or, when the sender has no From but a Messaging Service,
// by To alone and matched on messaging_service_sid. It reads pages of 100.
func (t *Twilio) Find(ctx context.Context, m textback.Message, since time.Time) (Lookup, error) {
	from := or(string(m.From), t.cfg.From)
	s, err := newSearch("twilio", m, from, since)
	if err != nil {
		return Lookup{}, err
	}
	if from == "" {
		if t.cfg.MessagingServiceSID == "" {
			return Lookup{}, fmt.Errorf("%s: no sender (set from or messaging_service_sid)", s.op)
		}
		s.service = t.cfg.MessagingServiceSID
	}
	q := url.Values{"To": {string(m.To)}, "PageSize": {"100"}}
	if from != "" {
		q.Set("From", from)
	}
	get := func(ctx context.Context, u string) (*response, error) { return t.do(ctx, http.MethodGet, u, nil) }
	l, err := s.run(ctx, t.now, twilioPages(s, t.base, t.messagesURL+"?"+q.Encode(), "account_sid and auth_token", get, t.now))
	if l.Found {
		t.log.DebugContext(ctx, "twilio has the text", "call_id", m.CallID, "to", m.To, "sid", l.Receipt.ProviderID, "status", l.Status)
	}
	return l, err
}

// Find looks for m in the project's Messages list, as Twilio's Find does
// (see Finder), filtered by To and From, in pages of 100.
func (s *SignalWire) Find(ctx context.Context, m textback.Message, since time.Time) (Lookup, error) {
	from := or(string(m.From), s.cfg.From)
	sr, err := newSearch("signalwire", m, from, since)
	if err != nil {
		return Lookup{}, err
	}
	if from == "" {
		return Lookup{}, fmt.Errorf("%s: no sender (set from)", sr.op)
	}
	q := url.Values{"To": {string(m.To)}, "From": {from}, "PageSize": {"100"}}
	get := func(ctx context.Context, u string) (*response, error) {
		return s.t.do(ctx, request{method: http.MethodGet, url: u, auth: basicAuth(s.cfg.ProjectID, s.cfg.APIToken)})
	}
	base := strings.TrimRight(s.cfg.BaseURL, "/")
	l, err := sr.run(ctx, s.now, twilioPages(sr, base, s.accountURL+"/Messages.json?"+q.Encode(), "project_id and api_token", get, s.now))
	if l.Found {
		s.log.DebugContext(ctx, "signalwire has the text", "call_id", m.CallID, "to", m.To, "sid", l.Receipt.ProviderID, "status", l.Status)
	}
	return l, err
}

var (
	_ Finder = (*Twilio)(nil)
	_ Finder = (*SignalWire)(nil)
	_ Finder = (*Plivo)(nil)
	_ Finder = (*Bandwidth)(nil)
	_ Finder = (*Limiter)(nil)
	_ Finder = (*Rememberer)(nil)
	_ Finder = (*FailoverSender)(nil)
)
