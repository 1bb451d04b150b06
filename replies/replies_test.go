package replies_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/replies"
	"github.com/textback/textback/sqlite"
	"github.com/textback/textback/webhook"
)

const (
	secret  = "gateway-secret"
	caller  = textback.Number("+13125550101")
	ours    = textback.Number("+13125550199")
	staff   = textback.Number("+13125550142")
	timeout = 5 * time.Second
)

// recorder is a Sender that records what it sends and fails while told to.
type recorder struct {
	mu   sync.Mutex
	sent []textback.Message
	fail error
}

func (r *recorder) Send(_ context.Context, m textback.Message) (textback.Receipt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return textback.Receipt{}, r.fail
	}
	r.sent = append(r.sent, m)
	return textback.Receipt{Sender: "recorder", ProviderID: strconv.Itoa(len(r.sent))}, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

func open(t *testing.T) *sqlite.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "textback.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rig is the daemon's inbound path: the webhook handler on 127.0.0.1, the
// replies handler behind it, the real store behind that.
type rig struct {
	t   *testing.T
	db  *sqlite.DB
	srv *httptest.Server
	sms *recorder
}

func newRig(t *testing.T, cfg replies.Config) *rig {
	t.Helper()
	db := open(t)
	sms := &recorder{}
	if cfg.ForwardTo == "" {
		cfg.ForwardTo = staff
	}
	if err := cfg.Validate(sms); err != nil {
		t.Fatal(err)
	}
	h := replies.New(cfg, db, sms, nil)
	srv := httptest.NewServer(webhook.New(webhook.Config{Webhook: webhook.WebhookConfig{Secret: secret}}, h, nil))
	t.Cleanup(srv.Close)
	return &rig{t: t, db: db, srv: srv, sms: sms}
}

// post delivers a signed webhook from the generic gateway and returns the status.
func (r *rig) post(kind string, v any) int {
	r.t.Helper()
	b, _ := json.Marshal(v)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(b)))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.srv.URL+"/webhook/webhook/"+kind, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Textback-Signature", "t="+ts+",v1="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (r *rig) text(id, body string) int {
	r.t.Helper()
	return r.post("inbound", map[string]string{"id": id, "from": string(caller), "to": string(ours), "body": body})
}

func (r *rig) optedOut() bool {
	r.t.Helper()
	out, err := r.db.OptedOut(context.Background(), caller)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

func TestKeywordsThroughWebhook(t *testing.T) {
	r := newRig(t, replies.Config{})
	steps := []struct {
		id, body string
		wantOut  bool
		wantFwd  int
	}{
		{"1", "Stop.", true, 0},
		{"1", "Stop.", true, 0}, // the provider repeats the webhook
		{"2", "START", false, 0},
		{"3", "HELP", false, 0}, // the carrier answers HELP; we do nothing more
		{"4", "QUIT", true, 0},
		{"2", "START", true, 0}, // a stale retry of the START must not undo the later QUIT
		{"5", "unstop", false, 0},
		{"6", "please don't stop by tomorrow", false, 1},
		{"6", "please don't stop by tomorrow", false, 1}, // a repeat is not forwarded again
	}
	for i, s := range steps {
		if code := r.text(s.id, s.body); code != http.StatusNoContent {
			t.Fatalf("step %d %q: status %d", i, s.body, code)
		}
		if got := r.optedOut(); got != s.wantOut {
			t.Errorf("step %d %q: opted out = %v, want %v", i, s.body, got, s.wantOut)
		}
		if got := r.sms.count(); got != s.wantFwd {
			t.Errorf("step %d %q: forwards = %d, want %d", i, s.body, got, s.wantFwd)
		}
	}
	if code := r.text("11", " opt out! "); code != http.StatusNoContent {
		t.Fatalf("status %d", code)
	}
	outs, err := r.db.OptOuts(context.Background())
	if err != nil || len(outs) != 1 || outs[0].Number != caller || outs[0].Source != "webhook:OPTOUT" {
		t.Errorf("OptOuts() = %+v, %v; want the caller, from webhook:OPTOUT", outs, err)
	}
	m := r.sms.sent[0]
	if m.To != staff || m.Body != "Reply from +13125550101: please don't stop by tomorrow" {
		t.Errorf("forward = %+v", m)
	}
}

// TestFailedForwardIsRetried: the provider's retry after a failed forward
// forwards it, though the store has seen the text.
func TestFailedForwardIsRetried(t *testing.T) {
	r := newRig(t, replies.Config{})
	r.sms.setFail(errors.New("twilio: 503"))
	if code := r.text("7", "call me back"); code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 so that the provider retries", code)
	}
	r.sms.setFail(nil)
	if code := r.text("7", "call me back"); code != http.StatusNoContent {
		t.Fatalf("retry: status %d", code)
	}
	if code := r.text("7", "call me back"); code != http.StatusNoContent {
		t.Fatalf("second repeat: status %d", code)
	}
	if n := r.sms.count(); n != 1 {
		t.Errorf("forwards = %d, want 1", n)
	}
}

// TestUndeliverableForwardNotRetried: a permanent failure is not worth a retry.
func TestUndeliverableForwardNotRetried(t *testing.T) {
	r := newRig(t, replies.Config{})
	r.sms.setFail(textback.ErrUndeliverable)
	if code := r.text("8", "hello"); code != http.StatusNoContent {
		t.Errorf("status %d, want 204", code)
	}
}

func TestForwardURL(t *testing.T) {
	const fwdSecret = "forward-secret"
	type got struct {
		sigOK bool
		body  map[string]string
	}
	posts := make(chan got, 4)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var ts, v1 string
		for p := range strings.SplitSeq(req.Header.Get("X-Textback-Signature"), ",") {
			k, v, _ := strings.Cut(p, "=")
			if k == "t" {
				ts = v
			} else if k == "v1" {
				v1 = v
			}
		}
		mac := hmac.New(sha256.New, []byte(fwdSecret))
		mac.Write([]byte(ts + "." + string(b)))
		sec, _ := strconv.ParseInt(ts, 10, 64)
		ok := hmac.Equal([]byte(v1), []byte(hex.EncodeToString(mac.Sum(nil)))) && time.Since(time.Unix(sec, 0)).Abs() < time.Minute &&
			req.Header.Get("Content-Type") == "application/json"
		var m map[string]string
		_ = json.Unmarshal(b, &m)
		posts <- got{ok, m}
	}))
	defer gw.Close()
	r := newRig(t, replies.Config{ForwardURL: gw.URL + "/replies?token=x", ForwardSecret: fwdSecret, MaxForward: 20})
	if code := r.text("9", "Hi\x1b[2J there\u202e, this is a long message"); code != http.StatusNoContent {
		t.Fatalf("status %d", code)
	}
	var g got
	select {
	case g = <-posts:
	case <-time.After(timeout):
		t.Fatal("no POST")
	}
	if !g.sigOK {
		t.Error("bad X-Textback-Signature")
	}
	want := map[string]string{"from": "+13125550101", "to": "+13125550199", "body": "Hi [2J there , this…", "provider": "webhook", "id": "9"}
	for k, v := range want {
		if g.body[k] != v {
			t.Errorf("%s = %q, want %q", k, g.body[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339, g.body["received"]); err != nil {
		t.Errorf("received = %q: %v", g.body["received"], err)
	}
	if r.sms.count() != 1 {
		t.Errorf("sms forwards = %d, want 1 (both ways configured)", r.sms.count())
	}
}

func TestForwardURLFailureIs500(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer gw.Close()
	r := newRig(t, replies.Config{ForwardURL: gw.URL, ForwardSecret: "s"})
	if code := r.text("10", "hello"); code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", code)
	}
}

func TestDeliveryThroughWebhook(t *testing.T) {
	r := newRig(t, replies.Config{})
	ctx := context.Background()
	now := time.Now()
	call := textback.Call{ID: "call-1", Source: "ami", Direction: textback.Inbound, Outcome: textback.NoAnswer, CallerNum: string(caller), Started: now, Ended: now}
	id, err := r.db.Record(ctx, textback.Verdict{Call: call, Caller: caller, Send: true, Reason: "send"},
		&textback.Message{CallID: call.ID, To: caller, Body: "Sorry we missed you"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.db.MarkSending(ctx, id, now); err != nil {
		t.Fatal(err)
	}
	if err := r.db.MarkSent(ctx, id, textback.Receipt{Sender: "webhook", ProviderID: "gw-42"}, now); err != nil {
		t.Fatal(err)
	}
	if code := r.post("status", map[string]string{"id": "gw-42", "status": "delivered"}); code != http.StatusNoContent {
		t.Fatalf("status %d", code)
	}
	if code := r.post("status", map[string]string{"id": "unknown", "status": "delivered"}); code != http.StatusNoContent {
		t.Errorf("unknown text: status %d, want 204 (not retried)", code)
	}
	h, err := r.db.History(ctx, now.Add(-time.Minute))
	if err != nil || len(h) != 1 || h[0].Text == nil {
		t.Fatalf("History() = %+v, %v", h, err)
	}
	if got := h[0].Text.Delivery; got != textback.Delivered {
		t.Errorf("delivery = %q, want delivered", got)
	}
}

// failing is a Store whose writes fail.
type failing struct{}

func (failing) RecordInbound(context.Context, textback.InboundText) (bool, error) {
	return false, errors.New("disk full")
}
func (failing) RecordDelivery(context.Context, textback.Delivery) error {
	return errors.New("disk full")
}
func (failing) SetOptOut(context.Context, textback.Number, bool, string, time.Time) error {
	return errors.New("disk full")
}

func TestStoreErrorsReturned(t *testing.T) {
	h := replies.New(replies.Config{}, failing{}, nil, nil)
	ctx := context.Background()
	for _, body := range []string{"STOP", "START", "HELP", "hi"} {
		if err := h.Inbound(ctx, textback.InboundText{Provider: "twilio", ProviderID: "SM1", From: caller, To: ours, Body: body}); err == nil {
			t.Errorf("Inbound(%q) = nil, want the store's error", body)
		}
	}
	if err := h.Delivery(ctx, textback.Delivery{Provider: "twilio", ProviderID: "SM1", Status: textback.Delivered}); err == nil {
		t.Error("Delivery = nil, want the store's error")
	}
}

func TestClean(t *testing.T) {
	for _, tt := range []struct {
		in   string
		max  int
		want string
	}{
		{"hello", 10, "hello"},
		{"a\r\nb\tc\x00d", 10, "a b c d"},
		{"\x1b]0;pwned\x07x", 20, "]0;pwned x"},
		{"left\u202eright", 20, "left right"},
		{"   ", 10, "(no text)"},
		{"ééééé", 3, "éé…"},
		{"bad\xffutf8", 20, "bad\uFFFDutf8"},
	} {
		if got := replies.Clean(tt.in, tt.max); got != tt.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (replies.Config{ForwardTo: staff}).Validate(nil); err == nil {
		t.Error("forward_to without a sender: no error")
	}
	if err := (replies.Config{ForwardURL: "https://x.example/r"}).Validate(nil); err == nil {
		t.Error("forward_url without a secret: no error")
	}
	c := replies.Config{ForwardTo: staff, ForwardURL: "https://x.example/r?token=abc", ForwardSecret: "s3cret"}
	if s := c.String() + c.GoString(); strings.Contains(s, "s3cret") || strings.Contains(s, "abc") || strings.Contains(s, "5550142") {
		t.Errorf("config prints a secret or the number: %s", s)
	}
}
