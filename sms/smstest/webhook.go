package smstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NewWebhook starts a fake of an operator's own gateway as sms.Webhook
// documents it: a JSON POST {call_id, to, from, body, rule, id} to the
// configured URL (Fake.URL, on WebhookPath), signed in X-Textback-Signature
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of t.body>" with WebhookSecret,
// answered 200 {"id": ...}. The signature is checked by this code alone,
// written from that description, and must be at most five minutes old.
func NewWebhook(t testing.TB) *Fake {
	return newFake(t, "webhook", spec{
		send: post(WebhookPath),
		auth: func(_ *Fake, r *http.Request, raw []byte) string {
			if r.Header.Get("Authorization") != "" {
				return "an Authorization header: the webhook is signed, not authenticated"
			}
			return checkSignature(r.Header.Get("X-Textback-Signature"), raw, time.Now())
		},
		parse: func(f *Fake, r *http.Request, raw []byte) (Text, []string) {
			b := readJSON(r, raw)
			b.keys([]string{"call_id", "to", "from", "body", "rule", "id"}, nil)
			t := Text{To: b.e164("to"), From: b.str("from"), Body: b.nonEmpty("body"), Fields: b.fields}
			if t.From != "" && !isE164(t.From) {
				b.problemf("from %q is not an E.164 number", t.From)
			}
			b.nonEmpty("call_id")
			b.str("rule")
			if _, ok := b.fields["id"].(float64); !ok {
				b.problemf("id is %T, want a number", b.fields["id"])
			}
			return t, b.problems
		},
		id: func(n int, _ Text) string { return fmt.Sprintf("gw-%d", n) },
		ok: func(w http.ResponseWriter, t Text) { writeJSON(w, http.StatusOK, map[string]any{"id": t.ID}) },
		refuse: func(w http.ResponseWriter, status int, problem string) {
			writeJSON(w, status, map[string]any{"error": strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_"), "message": problem})
		},
	}, WebhookPath)
}

// checkSignature checks an X-Textback-Signature header; it returns a
// problem or "".
func checkSignature(hdr string, raw []byte, now time.Time) string {
	var ts, v1 string
	for _, kv := range strings.Split(hdr, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || v1 == "" {
		return fmt.Sprintf("X-Textback-Signature %q is not t=<seconds>,v1=<hex>", hdr)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Sprintf("X-Textback-Signature is %s off the clock", d)
	}
	mac := hmac.New(sha256.New, []byte(WebhookSecret))
	mac.Write([]byte(ts + "."))
	mac.Write(raw)
	if !hmac.Equal([]byte(v1), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		return "X-Textback-Signature v1 is not the HMAC-SHA256 of t.body with the secret"
	}
	return ""
}
