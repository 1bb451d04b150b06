package smstest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NewVonage starts a fake of both of Vonage's SMS APIs and its balance:
//
// The SMS API: POST /sms/json, a form with api_key, api_secret, from, to,
// text and type=unicode for text beyond GSM-7 (else Vonage mangles it),
// answered 200 {message-count, messages: [{message-id, status: "0"}]}
// (https://developer.vonage.com/en/api/sms). Numbers go without "+".
//
// The Messages API: POST /v1/messages, JSON {message_type: "text", text, to,
// from, channel: "sms"}, with basic auth api_key:api_secret or a bearer JWT
// (RS256, claims application_id, iat, jti, exp) that must verify with the
// key PrivateKeyFile wrote, answered 202 {message_uuid}
// (https://developer.vonage.com/en/api/messages,
// https://developer.vonage.com/en/getting-started/concepts/authentication).
// Errors are RFC 7807 problems.
//
// GET /account/get-balance with basic auth answers {value, autoReload}.
func NewVonage(t testing.TB) *Fake {
	return newFake(t, "vonage", spec{
		send: func(r *http.Request) bool {
			return r.Method == http.MethodPost && (r.URL.Path == "/sms/json" || r.URL.Path == "/v1/messages")
		},
		auth: func(f *Fake, r *http.Request, raw []byte) string {
			if r.URL.Path == "/v1/messages" {
				return f.vonageMessagesAuth(r)
			}
			if r.URL.Path == "/sms/json" {
				if r.Header.Get("Authorization") != "" {
					return "the SMS API takes api_key and api_secret in the body, not an Authorization header"
				}
				return "" // checked with the body
			}
			return basic(VonageAPIKey, VonageAPISecret)(f, r, raw)
		},
		parse: func(f *Fake, r *http.Request, raw []byte) (Text, []string) {
			if r.URL.Path == "/v1/messages" {
				return vonageMessages(r, raw)
			}
			return vonageSMS(r, raw)
		},
		id: func(n int, t Text) string {
			if t.API == "messages" {
				return fmt.Sprintf("aaaaaaaa-bbbb-cccc-dddd-%012x", n)
			}
			return fmt.Sprintf("0A%015X", n) // the SMS API's message-id
		},
		ok: func(w http.ResponseWriter, t Text) {
			if t.API == "messages" {
				writeJSON(w, http.StatusAccepted, map[string]any{"message_uuid": t.ID})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"message-count": "1", "messages": []any{map[string]any{
				"to": strings.TrimPrefix(t.To, "+"), "message-id": t.ID, "status": "0", "remaining-balance": "3.14159265",
				"message-price": "0.03330000", "network": "12345"}}})
		},
		refuse: func(w http.ResponseWriter, status int, problem string) {
			typ := "https://developer.vonage.com/api-errors#" + strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "-")
			if status == http.StatusBadRequest || status == http.StatusUnprocessableEntity {
				typ = "https://developer.vonage.com/api-errors/messages#1020" // invalid params
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{"type": typ, "title": http.StatusText(status), "detail": problem,
				"instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf"})
		},
		checkPath: "/account/get-balance",
		checkAnswer: func(w http.ResponseWriter) {
			writeJSON(w, http.StatusOK, map[string]any{"value": 10.28, "autoReload": false})
		},
	}, "")
}

// vonageSMS reads an SMS API request.
func vonageSMS(r *http.Request, raw []byte) (Text, []string) {
	b := readForm(r, raw)
	b.keys([]string{"api_key", "from", "to", "text"}, []string{"api_secret", "sig", "type", "ttl", "status-report-req",
		"callback", "message-class", "client-ref", "account-ref", "entity-id", "content-id"})
	if b.str("api_key") != VonageAPIKey || b.str("api_secret") != VonageAPISecret {
		b.problemf("api_key and api_secret are not the account's")
	}
	t := Text{API: "sms", To: vonageNumber(b, "to"), From: plus(b.sender("from")), Body: b.nonEmpty("text"), Fields: b.fields}
	switch typ := b.str("type"); {
	case typ != "" && typ != "text" && typ != "unicode":
		b.problemf("type %q is not text or unicode", typ)
	case typ != "unicode" && !isGSM7(t.Body):
		b.problemf("text %q is beyond GSM-7 but type is %q, not unicode: Vonage would mangle it", t.Body, typ)
	}
	return t, b.problems
}

// vonageMessages reads a Messages API request.
func vonageMessages(r *http.Request, raw []byte) (Text, []string) {
	b := readJSON(r, raw)
	b.keys([]string{"message_type", "to", "from", "channel", "text"}, []string{"client_ref", "webhook_url", "webhook_version", "ttl", "sms"})
	if mt := b.str("message_type"); mt != "text" {
		b.problemf("message_type %q, want text", mt)
	}
	if ch := b.str("channel"); ch != "sms" {
		b.problemf("channel %q, want sms", ch)
	}
	return Text{API: "messages", To: vonageNumber(b, "to"), From: plus(b.sender("from")), Body: b.nonEmpty("text"), Fields: b.fields}, b.problems
}

// vonageNumber reads a number Vonage takes in E.164 without its "+".
func vonageNumber(b *body, k string) string {
	s := b.str(k)
	if _, ok := b.fields[k]; ok && !isE164("+"+s) {
		b.problemf("field %s = %q is not an E.164 number without its +", k, s)
	}
	return plus(s)
}

// vonageMessagesAuth checks the Messages API's credentials: basic
// api_key:api_secret, or a JWT signed with the application's key.
func (f *Fake) vonageMessagesAuth(r *http.Request) string {
	if _, _, ok := r.BasicAuth(); ok {
		return basic(VonageAPIKey, VonageAPISecret)(f, r, nil)
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "no basic auth and no bearer JWT"
	}
	f.mu.Lock()
	pub, _ := f.jwtKey.(*rsa.PublicKey)
	f.mu.Unlock()
	if pub == nil {
		return "a JWT, but no key was made with PrivateKeyFile"
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "the bearer token is not a JWT"
	}
	enc := base64.RawURLEncoding
	sig, err := enc.DecodeString(parts[2])
	if err != nil {
		return "JWT signature: " + err.Error()
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return "JWT signature does not verify with the application's key"
	}
	var head struct{ Alg, Typ string }
	var claims map[string]any
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	if err1 != nil || err2 != nil || json.Unmarshal(hb, &head) != nil || json.Unmarshal(cb, &claims) != nil {
		return "JWT header or claims are not base64url JSON"
	}
	if head.Alg != "RS256" {
		return fmt.Sprintf("JWT alg %q, want RS256", head.Alg)
	}
	if claims["application_id"] != VonageApplicationID {
		return fmt.Sprintf("JWT application_id %v is not %s", claims["application_id"], VonageApplicationID)
	}
	now := float64(time.Now().Unix())
	iat, _ := claims["iat"].(float64)
	exp, hasExp := claims["exp"].(float64)
	switch {
	case iat == 0 || iat > now+300 || iat < now-86400:
		return fmt.Sprintf("JWT iat %v is not about now", claims["iat"])
	case hasExp && exp <= now:
		return "JWT expired"
	case claims["jti"] == nil || claims["jti"] == "":
		return "JWT without jti"
	}
	return ""
}

// PrivateKeyFile makes an RSA key for the Vonage application, writes it
// as PKCS#8 PEM (what Vonage's dashboard hands out) to a file in dir, and
// returns the file's path. From then on the fake accepts JWTs signed with it.
func (f *Fake) PrivateKeyFile(t testing.TB, dir string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "vonage-private.key")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.jwtKey = &k.PublicKey
	f.mu.Unlock()
	return p
}

// gsm7 is the GSM 03.38 default alphabet and its extension table (copied
// from package sms, which smstest must not import).
const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà" +
	"\f^{}\\[~]|€"

func isGSM7(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune(gsm7, c) {
			return false
		}
	}
	return true
}
