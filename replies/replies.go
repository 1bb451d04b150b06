// Package replies turns the texts people send us, and the carriers'
// delivery reports, into changes to the store: STOP and its synonyms put the
// sender on the opt-out list, START takes them off, and any other text is
// forwarded to staff, by SMS and/or an HTTP POST. Its Handler is the
// webhook package's Sink.
//
// Webhooks come at least once, so every step is safe to repeat, and the
// order of the steps is chosen so that a failure is retried, not lost:
//
//   - Opt-out: SetOptOut first (it keeps the first STOP's time and source,
//     so a repeat changes nothing), then RecordInbound. A failure at either
//     step answers 500 and the provider's retry does both again. A stale
//     retry of a STOP arriving after a later START would opt the number out
//     again: the safe way to be wrong.
//   - Opt-in: RecordInbound first, and SetOptOut(false) only for a text not
//     seen before, so that a stale retry of a START can never undo a later
//     STOP. If SetOptOut fails after the record, the START is lost and the
//     person stays opted out until they send it again: again the safe way.
//   - Anything else: RecordInbound first (a repeat stops there: no second
//     forward), then the forward. A forward that fails is remembered in
//     memory as owed, and the error answers 500; the provider's retry is a
//     repeat for the store but finds the debt and forwards again. The store
//     has no "forwarded" flag, so a daemon restart between the failure and
//     the retry loses that forward (the text itself stays in the inbound
//     journal).
package replies

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/textback/textback"
)

// Store is what replies needs of the store; *sqlite.DB has it.
type Store interface {
	RecordInbound(ctx context.Context, m textback.InboundText) (bool, error)
	RecordDelivery(ctx context.Context, d textback.Delivery) error
	SetOptOut(ctx context.Context, n textback.Number, out bool, source string, now time.Time) error
}

// Config says where replies go. The zero value records and handles
// keywords but forwards nothing.
type Config struct {
	// ForwardTo is staff's phone: each reply is texted there, through the
	// sender New is given, as "Reply from +13125550101: <body>".
	ForwardTo textback.Number
	// ForwardURL receives each reply as a signed JSON POST (see Handler).
	ForwardURL string
	// ForwardSecret keys the X-Textback-Signature of the POST; required with ForwardURL.
	ForwardSecret string
	// MaxForward caps the forwarded body, in characters; zero means 480
	// (three concatenated GSM-7 segments).
	MaxForward int
	// Timeout bounds each forward; zero means 10s.
	Timeout time.Duration
	// HTTPClient posts to ForwardURL; nil means one that follows no redirects.
	HTTPClient *http.Client
}

// String describes the config without the secret or the URL's query.
func (c Config) String() string {
	return fmt.Sprintf("replies forward_to %s forward_url %q (secret redacted)", c.ForwardTo.Masked(), redactURL(c.ForwardURL))
}

// GoString is String, so %#v does not print the secret either.
func (c Config) GoString() string { return c.String() }

// LogValue logs the config without the secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("forward_to", c.ForwardTo), slog.String("forward_url", redactURL(c.ForwardURL)))
}

func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// Validate checks the config; forward is the sender New will be given.
func (c Config) Validate(forward textback.Sender) error {
	var errs []error
	if c.ForwardTo != "" && forward == nil {
		errs = append(errs, errors.New("replies: forward_to needs an SMS sender"))
	}
	if c.ForwardTo != "" && !strings.HasPrefix(string(c.ForwardTo), "+") {
		errs = append(errs, fmt.Errorf("replies: forward_to %s: want E.164, +<country><number>", c.ForwardTo.Masked()))
	}
	if c.ForwardURL != "" {
		u, err := url.Parse(c.ForwardURL)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			errs = append(errs, errors.New("replies: forward_url: want http(s)://host/path"))
		}
		if c.ForwardSecret == "" {
			errs = append(errs, errors.New("replies: forward_url needs forward_secret"))
		}
	}
	if c.MaxForward < 0 || c.Timeout < 0 {
		errs = append(errs, errors.New("replies: max_forward and timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// maxOwed bounds the memory of forwards owed; past it the oldest is
// forgotten (and logged).
const maxOwed = 1024

// Handler records what the webhooks report and acts on it. It is safe for
// concurrent use.
//
// A POST to ForwardURL carries
//
//	Content-Type: application/json
//	X-Textback-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
//
//	{"from": "+13125550101", "to": "+13125550199", "body": "...",
//	 "received": "2025-03-03T09:30:00Z", "provider": "twilio", "id": "SM..."}
//
// the scheme of the webhook sender; any 2xx is success. The body is what the
// person wrote, control characters removed and cut to MaxForward.
type Handler struct {
	cfg     Config
	store   Store
	forward textback.Sender
	client  *http.Client
	log     *slog.Logger
	now     func() time.Time

	mu   sync.Mutex
	owed map[string]time.Time // provider+"\x00"+id of texts recorded but not yet forwarded
}

// New returns a Handler. forward may be nil when ForwardTo is empty.
func New(cfg Config, store Store, forward textback.Sender, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxForward == 0 {
		cfg.MaxForward = 480
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Handler{cfg: cfg, store: store, forward: forward, client: client, log: log.With("component", "replies"),
		now: time.Now, owed: map[string]time.Time{}}
}

// Inbound handles a text someone sent us.
func (h *Handler) Inbound(ctx context.Context, m textback.InboundText) error {
	kw := textback.ParseKeyword(m.Body)
	word := strings.ToUpper(strings.Join(strings.Fields(strings.TrimFunc(m.Body, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)
	})), ""))
	switch kw {
	case textback.OptOutKeyword:
		if err := h.store.SetOptOut(ctx, m.From, true, m.Provider+":"+word, h.now()); err != nil {
			return fmt.Errorf("replies: opt out: %w", err)
		}
		isNew, err := h.store.RecordInbound(ctx, m)
		if err != nil {
			return fmt.Errorf("replies: record: %w", err)
		}
		if isNew {
			h.log.InfoContext(ctx, "number opted out", "from", m.From, "to", m.To, "provider", m.Provider, "keyword", word)
		}
		return nil
	case textback.OptInKeyword:
		isNew, err := h.store.RecordInbound(ctx, m)
		if err != nil {
			return fmt.Errorf("replies: record: %w", err)
		}
		if !isNew {
			return nil
		}
		if err := h.store.SetOptOut(ctx, m.From, false, m.Provider+":"+word, h.now()); err != nil {
			return fmt.Errorf("replies: opt in: %w", err)
		}
		h.log.InfoContext(ctx, "number opted in", "from", m.From, "to", m.To, "provider", m.Provider, "keyword", word)
		return nil
	case textback.HelpKeyword:
		// The carriers answer HELP themselves (Twilio, Telnyx, the
		// toll-free network); a second answer from us would be noise.
		if _, err := h.store.RecordInbound(ctx, m); err != nil {
			return fmt.Errorf("replies: record: %w", err)
		}
		return nil
	}
	key := m.Provider + "\x00" + m.ProviderID
	isNew, err := h.store.RecordInbound(ctx, m)
	if err != nil {
		return fmt.Errorf("replies: record: %w", err)
	}
	if !isNew && !h.isOwed(key) {
		return nil // a repeat of a text already handled
	}
	h.log.InfoContext(ctx, "reply received", "from", m.From, "to", m.To, "provider", m.Provider)
	if err := h.forwardText(ctx, m); err != nil {
		h.owe(key)
		return err
	}
	h.paid(key)
	return nil
}

func (h *Handler) isOwed(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.owed[key]
	return ok
}

func (h *Handler) owe(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.owed) >= maxOwed {
		var oldest string
		var at time.Time
		for k, t := range h.owed {
			if oldest == "" || t.Before(at) {
				oldest, at = k, t
			}
		}
		delete(h.owed, oldest)
		h.log.Error("replies: too many forwards owed; one is forgotten", "provider_id", strings.ReplaceAll(oldest, "\x00", ":"))
	}
	h.owed[key] = h.now()
}

func (h *Handler) paid(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.owed, key)
}

// forwardText sends m to staff by SMS and by URL, as configured; both are
// tried, and the errors joined.
func (h *Handler) forwardText(ctx context.Context, m textback.InboundText) error {
	if m.From == h.cfg.ForwardTo && h.cfg.ForwardTo != "" {
		// Staff answering a forward: texting it back to them would loop.
		h.log.DebugContext(ctx, "reply from the forward number not forwarded", "from", m.From)
		return nil
	}
	body := Clean(m.Body, h.cfg.MaxForward)
	var errs []error
	if h.cfg.ForwardTo != "" && h.forward != nil {
		ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
		_, err := h.forward.Send(ctx, textback.Message{
			CallID: textback.CallID("reply:" + m.Provider + ":" + m.ProviderID),
			Rule:   "reply-forward",
			To:     h.cfg.ForwardTo,
			Body:   fmt.Sprintf("Reply from %s: %s", m.From, body),
		})
		cancel()
		switch {
		case errors.Is(err, textback.ErrUndeliverable) || errors.Is(err, textback.ErrUnconfirmed):
			// A retry cannot help, or might text staff twice: give up here.
			h.log.ErrorContext(ctx, "reply not forwarded by sms", "from", m.From, "err", err)
		case err != nil:
			errs = append(errs, fmt.Errorf("replies: forward by sms: %w", err))
		}
	}
	if h.cfg.ForwardURL != "" {
		if err := h.post(ctx, m, body); err != nil {
			errs = append(errs, fmt.Errorf("replies: forward to url: %w", err))
		}
	}
	return errors.Join(errs...)
}

type forwarded struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Body     string `json:"body"`
	Received string `json:"received"`
	Provider string `json:"provider"`
	ID       string `json:"id"`
}

func (h *Handler) post(ctx context.Context, m textback.InboundText, body string) error {
	b, err := json.Marshal(forwarded{From: string(m.From), To: string(m.To), Body: body,
		Received: m.Received.UTC().Format(time.RFC3339), Provider: m.Provider, ID: m.ProviderID})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.ForwardURL, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Textback-Signature", sign(h.cfg.ForwardSecret, h.now(), b))
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a token; the operation says where
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// sign returns the X-Textback-Signature value for body at t: the scheme of
// sms.Webhook, copied rather than imported (adapters do not import each other).
func sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Clean makes an attacker's text safe to pass on: control and format
// characters (escape sequences, bidi overrides) become spaces, runs of
// space collapse, invalid UTF-8 is replaced, and the result is cut to max
// characters with "…".
func Clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "(no text)"
	}
	if max > 0 && utf8.RuneCountInString(s) > max {
		rs := []rune(s)
		s = string(rs[:max-1]) + "…"
	}
	return s
}

// Delivery records a provider's delivery report. A report on a text the
// store does not know yet is held by the store for a while (the carrier
// may have called back before the send's answer was written down) and
// answered as taken: the provider retrying would not help.
func (h *Handler) Delivery(ctx context.Context, d textback.Delivery) error {
	err := h.store.RecordDelivery(ctx, d)
	if errors.Is(err, textback.ErrUnknownText) {
		h.log.DebugContext(ctx, "delivery report for a text not known (yet): held", "provider", d.Provider, "provider_id", d.ProviderID, "status", d.Status)
		return nil
	}
	if err != nil {
		return fmt.Errorf("replies: record delivery: %w", err)
	}
	h.log.DebugContext(ctx, "delivery recorded", "provider", d.Provider, "provider_id", d.ProviderID, "status", d.Status)
	return nil
}
