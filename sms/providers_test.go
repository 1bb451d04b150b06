package sms

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback"
)

const (
	uniBody    = "Désolé, on a manqué votre appel 📞 — rappel sous peu ✅"
	swProject  = "7b981d06-fa9e-4b2c-9d1a-0123456789ab"
	swToken    = "PTda745eb0000000000000000000000000"
	tnxKey     = "KEY0123456789ABCDEF_secret"
	tnxProfile = "40017f8e-49bd-4f16-9e3d-ef103f916228"
	tnxMsgID   = "40385f64-5717-4562-b3fc-2c963f66afa6"
	vgKey      = "abcd1234"
	vgSecret   = "Sup3rS3cr3t"
	vgApp      = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
	vgUUID     = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
	plAuthID   = "MAXXXXXXXXXXXXXXXXXX"
	plToken    = "plivo-token-0123456789"
	plUUID     = "db3ce55a-7f1d-11e1-8ea7-1231380bc196"
	bwAccount  = "9900000"
	bwUser     = "api-user"
	bwPass     = "bw-p4ssw0rd"
	bwApp      = "93de2206-9669-4e07-948d-329f4b722ee2"
	bwMsgID    = "1589228074636lm4k2je7j7jklbn2"
	whSecret   = "whsec_0123456789"
)

// secrets must never show in errors.
var secrets = []string{swToken, tnxKey, vgSecret, plToken, bwPass, whSecret}

// fake is one provider's loopback double: it checks the request against the
// provider's documentation and answers.
type fake struct {
	t      *testing.T
	method string
	path   string
	query  string // the operator's own query (webhook)
	auth   func(*http.Request) bool
	ctype  string
	// form or JSON body wanted, exactly
	form url.Values
	json map[string]any
}

func (f fake) check(r *http.Request) []byte {
	t := f.t
	t.Helper()
	if r.Method != f.method || r.URL.Path != f.path || r.URL.RawQuery != f.query {
		t.Errorf("request = %s %s?%s, want %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery, f.method, f.path, f.query)
	}
	if !f.auth(r) {
		t.Errorf("auth header %q is not the documented credentials", r.Header.Get("Authorization"))
	}
	if ct := r.Header.Get("Content-Type"); ct != f.ctype {
		t.Errorf("Content-Type = %q, want %q", ct, f.ctype)
	}
	raw, _ := io.ReadAll(r.Body)
	switch {
	case f.form != nil:
		got, err := url.ParseQuery(string(raw))
		if err != nil || !reflect.DeepEqual(got, f.form) {
			t.Errorf("form = %v (%v), want %v", got, err, f.form)
		}
	case f.json != nil:
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil || !reflect.DeepEqual(got, f.json) {
			t.Errorf("json = %s (%v), want %v", raw, err, f.json)
		}
	}
	return raw
}

func basicIs(user, pass string) func(*http.Request) bool {
	return func(r *http.Request) bool { u, p, ok := r.BasicAuth(); return ok && u == user && p == pass }
}

func bearerIs(tok string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+tok }
}

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// writeKey writes a fresh RSA key as PKCS#8 PEM, as Vonage's dashboard does.
func writeKey(t *testing.T) (string, *rsa.PublicKey) {
	t.Helper()
	k := must(rsa.GenerateKey(rand.Reader, 2048))
	der := must(x509.MarshalPKCS8PrivateKey(k))
	p := filepath.Join(t.TempDir(), "private.key")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, &k.PublicKey
}

// senderCase builds a sender against base and the fake that checks its
// request and answers like the provider's documented success.
type senderCase struct {
	name    string
	build   func(t *testing.T, base string) textback.Sender
	fake    func(t *testing.T) fake
	success func(w http.ResponseWriter)
	id      string
}

var unicodeMsg = textback.Message{ID: 42, CallID: "1700000000.42", Rule: "default", To: testTo, Body: uniBody}

func senderCases() []senderCase {
	return []senderCase{
		{
			name: "signalwire",
			build: func(t *testing.T, base string) textback.Sender {
				return must(NewSignalWire(SignalWireConfig{ProjectID: swProject, APIToken: swToken, From: testFrom, BaseURL: base}, nil))
			},
			fake: func(t *testing.T) fake {
				return fake{t: t, method: "POST", path: "/api/laml/2010-04-01/Accounts/" + swProject + "/Messages",
					auth: basicIs(swProject, swToken), ctype: "application/x-www-form-urlencoded",
					form: url.Values{"To": {string(testTo)}, "From": {testFrom}, "Body": {uniBody}}}
			},
			success: func(w http.ResponseWriter) {
				writeJSON(w, 201, map[string]any{"account_sid": swProject, "api_version": "2010-04-01", "body": uniBody,
					"sid": "b3877c40-da60-4998-90ad-b792e98472af", "status": "queued", "direction": "outbound-api",
					"error_code": nil, "error_message": nil, "to": string(testTo), "from": testFrom})
			},
			id: "b3877c40-da60-4998-90ad-b792e98472af",
		},
		{
			name: "telnyx",
			build: func(t *testing.T, base string) textback.Sender {
				return must(NewTelnyx(TelnyxConfig{APIKey: tnxKey, MessagingProfileID: tnxProfile, From: testFrom, BaseURL: base}, nil))
			},
			fake: func(t *testing.T) fake {
				return fake{t: t, method: "POST", path: "/v2/messages", auth: bearerIs(tnxKey), ctype: "application/json",
					json: map[string]any{"from": testFrom, "to": string(testTo), "text": uniBody, "messaging_profile_id": tnxProfile}}
			},
			success: func(w http.ResponseWriter) {
				writeJSON(w, 200, map[string]any{"data": map[string]any{"record_type": "message", "direction": "outbound",
					"id": tnxMsgID, "type": "SMS", "messaging_profile_id": tnxProfile, "text": uniBody,
					"from":  map[string]any{"phone_number": testFrom, "carrier": "TELNYX LLC", "line_type": "VoIP"},
					"to":    []any{map[string]any{"phone_number": string(testTo), "status": "queued", "carrier": "T-MOBILE USA, INC.", "line_type": "Wireless"}},
					"parts": 1, "encoding": "UCS-2", "errors": []any{}}})
			},
			id: tnxMsgID,
		},
		{
			name: "vonage sms",
			build: func(t *testing.T, base string) textback.Sender {
				return must(NewVonage(VonageConfig{APIKey: vgKey, APISecret: vgSecret, From: testFrom, BaseURL: base}, nil))
			},
			fake: func(t *testing.T) fake {
				return fake{t: t, method: "POST", path: "/sms/json", auth: func(r *http.Request) bool { return r.Header.Get("Authorization") == "" },
					ctype: "application/x-www-form-urlencoded",
					form: url.Values{"api_key": {vgKey}, "api_secret": {vgSecret}, "from": {testFrom[1:]}, "to": {string(testTo)[1:]},
						"text": {uniBody}, "type": {"unicode"}}}
			},
			success: func(w http.ResponseWriter) {
				writeJSON(w, 200, map[string]any{"message-count": "1", "messages": []any{map[string]any{
					"to": string(testTo)[1:], "message-id": "0A0000000123ABCD1", "status": "0", "remaining-balance": "3.14159265",
					"message-price": "0.03330000", "network": "12345"}}})
			},
			id: "0A0000000123ABCD1",
		},
		{
			name: "vonage messages basic",
			build: func(t *testing.T, base string) textback.Sender {
				return must(NewVonage(VonageConfig{API: "messages", APIKey: vgKey, APISecret: vgSecret, From: testFrom, BaseURL: base}, nil))
			},
			fake: func(t *testing.T) fake {
				return fake{t: t, method: "POST", path: "/v1/messages", auth: basicIs(vgKey, vgSecret), ctype: "application/json",
					json: map[string]any{"message_type": "text", "text": uniBody, "to": string(testTo)[1:], "from": testFrom[1:], "channel": "sms"}}
			},
			success: func(w http.ResponseWriter) { writeJSON(w, 202, map[string]any{"message_uuid": vgUUID}) },
			id:      vgUUID,
		},
		{
			name: "plivo",
			build: func(t *testing.T, base string) textback.Sender {
				return must(NewPlivo(PlivoConfig{AuthID: plAuthID, AuthToken: plToken, From: testFrom, BaseURL: base}, nil))
			},
			fake: func(t *testing.T) fake {
				return fake{t: t, method: "POST", path: "/v1/Account/" + plAuthID + "/Message/", auth: basicIs(plAuthID, plToken),
					ctype: "application/json", json: map[string]any{"src": testFrom, "dst": string(testTo), "text": uniBody}}
			},
			success: func(w http.ResponseWriter) {
				writeJSON(w, 202, map[string]any{"api_id": "db342550-7f1d-11e1-8ea7-1231380bc196", "message": "message(s) queued", "message_uuid": []string{plUUID}})
			},
			id: plUUID,
		},
		{
			name: "bandwidth",
			build: func(t *testing.T, base string) textback.Sender {
				return must(NewBandwidth(BandwidthConfig{AccountID: bwAccount, Username: bwUser, Password: bwPass, ApplicationID: bwApp, From: testFrom, BaseURL: base}, nil))
			},
			fake: func(t *testing.T) fake {
				return fake{t: t, method: "POST", path: "/api/v2/users/" + bwAccount + "/messages", auth: basicIs(bwUser, bwPass),
					ctype: "application/json", json: map[string]any{"from": testFrom, "to": []any{string(testTo)}, "text": uniBody, "applicationId": bwApp}}
			},
			success: func(w http.ResponseWriter) {
				writeJSON(w, 202, map[string]any{"id": bwMsgID, "owner": testFrom, "applicationId": bwApp, "time": "2020-05-11T20:14:34.636Z",
					"segmentCount": 1, "direction": "out", "to": []string{string(testTo)}, "from": testFrom, "text": uniBody})
			},
			id: bwMsgID,
		},
		{
			name: "webhook",
			build: func(t *testing.T, base string) textback.Sender {
				return must(NewWebhook(WebhookConfig{URL: base + "/hooks/sms?token=q", Secret: whSecret}, nil))
			},
			fake: func(t *testing.T) fake {
				return fake{t: t, method: "POST", path: "/hooks/sms", query: "token=q", auth: func(r *http.Request) bool {
					return r.Header.Get("Authorization") == "" && r.Header.Get("X-Textback-Signature") != ""
				}, ctype: "application/json",
					json: map[string]any{"call_id": "1700000000.42", "to": string(testTo), "from": "", "body": uniBody, "rule": "default", "id": float64(42)}}
			},
			success: func(w http.ResponseWriter) { writeJSON(w, 200, map[string]any{"id": "kannel-77"}) },
			id:      "kannel-77",
		},
	}
}

func TestProvidersSend(t *testing.T) {
	for _, c := range senderCases() {
		t.Run(c.name, func(t *testing.T) {
			n := 0
			base := serve(t, func(w http.ResponseWriter, r *http.Request) {
				n++
				c.fake(t).check(r)
				c.success(w)
			})
			rc, err := c.build(t, base).Send(context.Background(), unicodeMsg)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if want := strings.Fields(c.name)[0]; rc.Sender != want || rc.ProviderID != c.id {
				t.Errorf("receipt = %+v, want %s/%s", rc, want, c.id)
			}
			if n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// The Messages API JWT: RS256 over header.claims, verified with the
// public key, and the claims Vonage asks for.
func TestVonageJWT(t *testing.T) {
	keyFile, pub := writeKey(t)
	fixed := time.Unix(1700000000, 0)
	base := serve(t, func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		parts := strings.Split(tok, ".")
		if !ok || len(parts) != 3 {
			t.Fatalf("Authorization = %q, want a bearer JWT", r.Header.Get("Authorization"))
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, 5 /* crypto.SHA256 */, sum[:], sig); err != nil {
			t.Errorf("signature does not verify with the public key: %v", err)
		}
		var head, claims map[string]any
		json.Unmarshal(must(base64.RawURLEncoding.DecodeString(parts[0])), &head)
		json.Unmarshal(must(base64.RawURLEncoding.DecodeString(parts[1])), &claims)
		if head["alg"] != "RS256" || head["typ"] != "JWT" {
			t.Errorf("header = %v", head)
		}
		if claims["application_id"] != vgApp || claims["iat"] != float64(fixed.Unix()) || claims["exp"] != float64(fixed.Unix()+300) ||
			len(claims["jti"].(string)) != 32 || len(claims) != 4 {
			t.Errorf("claims = %v", claims)
		}
		writeJSON(w, 202, map[string]any{"message_uuid": vgUUID})
	})
	v := must(NewVonage(VonageConfig{API: "messages", ApplicationID: vgApp, PrivateKeyFile: keyFile, From: "AcmeInc", BaseURL: base}, nil))
	v.now = func() time.Time { return fixed }
	rc, err := v.Send(context.Background(), unicodeMsg)
	if err != nil || rc.ProviderID != vgUUID {
		t.Fatalf("Send = %+v, %v", rc, err)
	}
	if err := v.Check(context.Background()); err != nil {
		t.Errorf("Check with JWT only = %v", err)
	}
}

// The webhook signature, checked with an implementation of the documented
// scheme that shares no code with the sender.
func TestWebhookSignature(t *testing.T) {
	fixed := time.Unix(1700000000, 0)
	base := serve(t, func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		hdr := r.Header.Get("X-Textback-Signature")
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
		if ts != "1700000000" {
			t.Errorf("t = %q in %q", ts, hdr)
		}
		want := hmacHex(whSecret, ts+"."+string(raw))
		if v1 != want {
			t.Errorf("v1 = %q, want %q", v1, want)
		}
		w.WriteHeader(204) // no body: still a success
	})
	wh := must(NewWebhook(WebhookConfig{URL: base, Secret: whSecret}, nil))
	wh.now = func() time.Time { return fixed }
	rc, err := wh.Send(context.Background(), unicodeMsg)
	if err != nil || rc != (textback.Receipt{Sender: "webhook"}) {
		t.Errorf("Send = %+v, %v", rc, err)
	}
}

// errWant is how a failed send must classify.
type errWant struct {
	optedOut, badNumber, undeliverable, unconfirmed bool
	retryAfter                                      time.Duration
	code                                            int
}

func checkErr(t *testing.T, prefix string, err error, w errWant) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	t.Logf("err: %v", err)
	for _, c := range []struct {
		name     string
		got, exp bool
	}{
		{"ErrOptedOut", errors.Is(err, ErrOptedOut), w.optedOut},
		{"ErrBadNumber", errors.Is(err, ErrBadNumber), w.badNumber},
		{"ErrUndeliverable", errors.Is(err, textback.ErrUndeliverable), w.undeliverable || w.optedOut || w.badNumber},
		{"ErrUnconfirmed", errors.Is(err, textback.ErrUnconfirmed), w.unconfirmed},
	} {
		if c.got != c.exp {
			t.Errorf("errors.Is(%s) = %v, want %v", c.name, c.got, c.exp)
		}
	}
	var re *textback.RetryError
	if got := errors.As(err, &re); got != (w.retryAfter > 0) {
		t.Errorf("RetryError = %v, want %v", got, w.retryAfter > 0)
	} else if got && re.After != w.retryAfter {
		t.Errorf("After = %s, want %s", re.After, w.retryAfter)
	}
	var ae *APIError
	if w.code != 0 && (!errors.As(err, &ae) || ae.Code != w.code) {
		t.Errorf("APIError = %+v, want code %d", ae, w.code)
	}
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("error does not start with %q", prefix)
	}
	for _, s := range append(secrets, string(testTo), string(testTo)[1:]) {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows %q", s)
		}
	}
}

type answer struct {
	status int
	header map[string]string
	body   any
}

func (a answer) write(w http.ResponseWriter) {
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	if s, ok := a.body.(string); ok {
		w.WriteHeader(a.status)
		io.WriteString(w, s)
		return
	}
	writeJSON(w, a.status, a.body)
}

func telnyxErr(status int, code, title, detail string) answer {
	return answer{status: status, body: map[string]any{"errors": []any{map[string]any{"code": code, "title": title, "detail": detail,
		"source": map[string]any{"pointer": "/to"}, "meta": map[string]any{"url": "https://developers.telnyx.com/docs/overview/errors/" + code}}}}}
}

func vonageSMSErr(status, text string) answer {
	return answer{status: 200, body: map[string]any{"message-count": "1", "messages": []any{map[string]any{"status": status, "error-text": text}}}}
}

func vonageProblem(status, code int, title, detail string) answer {
	return answer{status: status, body: map[string]any{"type": fmt.Sprintf("https://developer.vonage.com/api-errors/messages#%d", code),
		"title": title, "detail": detail, "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf"}}
}

func plivoErr(status int, msg string) answer {
	return answer{status: status, body: map[string]any{"api_id": "97ceeb52-58b6-11e1-86da-77300b68f8bb", "error": msg}}
}

func bwErr(status int, typ, desc string, fields ...string) answer {
	var fe []any
	for i := 0; i+1 < len(fields); i += 2 {
		fe = append(fe, map[string]any{"fieldName": fields[i], "description": fields[i+1]})
	}
	return answer{status: status, body: map[string]any{"type": typ, "description": desc, "fieldErrors": fe}}
}

func swErr(status int, code any, msg string) answer {
	return answer{status: status, body: map[string]any{"code": code, "message": msg, "more_info": "https://developer.signalwire.com/compatibility-api/reference/error-codes", "status": status}}
}

func TestProvidersErrors(t *testing.T) {
	cases := map[string]senderCase{}
	for _, c := range senderCases() {
		cases[c.name] = c
	}
	retry7 := map[string]string{"Retry-After": "7"}
	for _, tt := range []struct {
		sender, name string
		ans          answer
		want         errWant
	}{
		{"telnyx", "opted out 40300", telnyxErr(409, "40300", "Blocked due to STOP message", "Messages cannot be sent from +13125550199 to +13125550101 due to an existing block rule."), errWant{optedOut: true, code: 40300}},
		{"telnyx", "invalid number 10002", telnyxErr(400, "10002", "Invalid phone number", "The phone number is invalid."), errWant{badNumber: true, code: 10002}},
		{"telnyx", "landline 40001", telnyxErr(400, "40001", "Not routable", "The destination number is either a landline or a non-routable wireless number."), errWant{badNumber: true}},
		{"telnyx", "auth 10009", telnyxErr(401, "10009", "Authentication failed", "The required authentication headers were either invalid or not included in the request."), errWant{undeliverable: true, code: 10009}},
		{"telnyx", "rate 10011", answer{429, retry7, telnyxErr(429, "10011", "Too many requests", "").body}, errWant{retryAfter: 7 * time.Second}},
		{"telnyx", "unexpected 10007", telnyxErr(500, "10007", "Unexpected error", "An unexpected error occured."), errWant{code: 10007}},
		{"telnyx", "missing param 10004", telnyxErr(400, "10004", "Missing required parameter", ""), errWant{undeliverable: true}},
		{"telnyx", "gateway timeout", answer{status: 504, body: "<html>504</html>"}, errWant{unconfirmed: true}},
		{"telnyx", "200 without id", answer{status: 200, body: map[string]any{"data": map[string]any{}}}, errWant{unconfirmed: true}},

		{"signalwire", "opted out 21610 string", swErr(400, "21610", "Attempt to send to unsubscribed recipient"), errWant{optedOut: true, code: 21610}},
		{"signalwire", "invalid 21211 number", swErr(400, 21211, "The 'To' number +13125550101 is not a valid phone number."), errWant{badNumber: true, code: 21211}},
		{"signalwire", "auth 401", swErr(401, "20003", "Authentication Failed"), errWant{undeliverable: true}},
		{"signalwire", "invalid_parameter", swErr(422, "invalid_parameter", "From must be a number you own"), errWant{undeliverable: true}},
		{"signalwire", "rate", answer{429, retry7, swErr(429, 20429, "Too Many Requests").body}, errWant{retryAfter: 7 * time.Second}},
		{"signalwire", "500", swErr(500, 20500, "Internal error"), errWant{}},

		{"vonage sms", "throttled 1", vonageSMSErr("1", "Throttled"), errWant{retryAfter: time.Second, code: 1}},
		{"vonage sms", "missing params 2", vonageSMSErr("2", "Missing to param"), errWant{undeliverable: true, code: 2}},
		{"vonage sms", "bad credentials 4", vonageSMSErr("4", "Bad Credentials"), errWant{undeliverable: true, code: 4}},
		{"vonage sms", "internal 5", vonageSMSErr("5", "Internal Error"), errWant{code: 5}},
		{"vonage sms", "invalid prefix 6", vonageSMSErr("6", "Invalid Message"), errWant{badNumber: true}},
		{"vonage sms", "barred 7", vonageSMSErr("7", "Number barred."), errWant{badNumber: true, code: 7}},
		{"vonage sms", "no credit 9", vonageSMSErr("9", "Quota Exceeded - rejected"), errWant{code: 9}},
		{"vonage sms", "whitelist 29", vonageSMSErr("29", "Non White-listed Destination - rejected"), errWant{undeliverable: true, code: 29}},
		{"vonage sms", "part sent part not", answer{status: 200, body: map[string]any{"message-count": "2", "messages": []any{
			map[string]any{"to": "13125550101", "message-id": "0A01", "status": "0"}, map[string]any{"status": "5", "error-text": "Internal Error"}}}}, errWant{unconfirmed: true}},
		{"vonage sms", "http 500", answer{status: 500, body: "oops"}, errWant{}},

		{"vonage messages basic", "unauthorized", answer{status: 401, body: map[string]any{"type": "https://developer.nexmo.com/api-errors#unauthorized",
			"title": "Unauthorized", "detail": "You did not provide correct credentials.", "instance": "797a8f199c45014ab7b08bfe9cc1c12c"}}, errWant{undeliverable: true}},
		{"vonage messages basic", "invalid params 1020", vonageProblem(422, 1020, "Invalid params", "The value of one or more parameters is invalid."), errWant{undeliverable: true, code: 1020}},
		{"vonage messages basic", "barred 1050", vonageProblem(422, 1050, "Number barred", "The number you are trying to submit to is blacklisted."), errWant{badNumber: true, code: 1050}},
		{"vonage messages basic", "throttled 1000", vonageProblem(429, 1000, "Throttled", "Please wait and retry"), errWant{retryAfter: time.Second}},
		{"vonage messages basic", "no credit 1070", vonageProblem(402, 1070, "Partner quota exceeded", ""), errWant{code: 1070}},

		{"plivo", "bad param", plivoErr(400, "dst parameter is invalid: 13125550101"), errWant{undeliverable: true}},
		{"plivo", "auth", plivoErr(401, "authentication failed"), errWant{undeliverable: true}},
		{"plivo", "rate", answer{429, retry7, plivoErr(429, "too many requests").body}, errWant{retryAfter: 7 * time.Second}},
		{"plivo", "server", plivoErr(500, "server error"), errWant{}},
		{"plivo", "202 without uuid", answer{status: 202, body: map[string]any{"api_id": "x", "message": "message(s) queued"}}, errWant{unconfirmed: true}},

		{"bandwidth", "bad to", bwErr(400, "request-validation", "Your request could not be accepted.", "to", "'+1312' must be replaced with a valid E164 formatted telephone number"), errWant{badNumber: true}},
		{"bandwidth", "bad application", bwErr(400, "request-validation", "Your request could not be accepted.", "applicationId", "is not valid"), errWant{undeliverable: true}},
		{"bandwidth", "unauthorized", bwErr(401, "unauthorized", "Authentication Failed"), errWant{undeliverable: true}},
		{"bandwidth", "forbidden", bwErr(403, "forbidden", "Access is denied"), errWant{undeliverable: true}},
		{"bandwidth", "rate", answer{429, retry7, bwErr(429, "too-many-requests", "Too many requests").body}, errWant{retryAfter: 7 * time.Second}},
		{"bandwidth", "503", answer{status: 503, body: ""}, errWant{}},

		{"webhook", "opted out", answer{status: 422, body: map[string]any{"error": "opted_out", "message": "+13125550101 sent STOP"}}, errWant{optedOut: true}},
		{"webhook", "bad number", answer{status: 400, body: map[string]any{"error": "bad_number"}}, errWant{badNumber: true}},
		{"webhook", "other 4xx", answer{status: 400, body: "no"}, errWant{undeliverable: true}},
		{"webhook", "unauthorized", answer{status: 401, body: ""}, errWant{undeliverable: true}},
		{"webhook", "rate", answer{status: 429, header: retry7, body: ""}, errWant{retryAfter: 7 * time.Second}},
		{"webhook", "502", answer{status: 502, body: ""}, errWant{}},
		{"webhook", "504", answer{status: 504, body: ""}, errWant{unconfirmed: true}},
		{"webhook", "redirect", answer{status: 302, header: map[string]string{"Location": "https://elsewhere.example.com/"}, body: ""}, errWant{undeliverable: true}},
	} {
		t.Run(tt.sender+"/"+tt.name, func(t *testing.T) {
			c := cases[tt.sender]
			base := serve(t, func(w http.ResponseWriter, r *http.Request) { io.ReadAll(r.Body); tt.ans.write(w) })
			_, err := c.build(t, base).Send(context.Background(), msg(testTo, "Sorry we missed your call."))
			checkErr(t, strings.Fields(tt.sender)[0]+": send for call ", err, tt.want)
		})
	}
}

// No answer after the request was written: unconfirmed, never resent. No
// connection at all: plainly transient.
func TestProvidersNoAnswer(t *testing.T) {
	for _, c := range senderCases() {
		t.Run(c.name+"/timeout after write", func(t *testing.T) {
			base := serve(t, func(w http.ResponseWriter, r *http.Request) {
				io.ReadAll(r.Body)
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			})
			s := c.build(t, base)
			setTimeout(s, 50*time.Millisecond)
			_, err := s.Send(context.Background(), unicodeMsg)
			checkErr(t, strings.Fields(c.name)[0]+": ", err, errWant{unconfirmed: true})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("not a deadline: %v", err)
			}
		})
		t.Run(c.name+"/refused", func(t *testing.T) {
			srv := httptest.NewServer(http.NotFoundHandler())
			srv.Close()
			_, err := c.build(t, srv.URL).Send(context.Background(), unicodeMsg)
			checkErr(t, strings.Fields(c.name)[0]+": ", err, errWant{})
		})
	}
}

func setTimeout(s textback.Sender, d time.Duration) {
	switch s := s.(type) {
	case *SignalWire:
		s.t.timeout = d
	case *Telnyx:
		s.t.timeout = d
	case *Vonage:
		s.t.timeout = d
	case *Plivo:
		s.t.timeout = d
	case *Bandwidth:
		s.t.timeout = d
	case *Webhook:
		s.t.timeout = d
	}
}

func TestProvidersCheck(t *testing.T) {
	for _, tt := range []struct {
		name  string
		path  string
		auth  func(*http.Request) bool
		ok    any
		build func(base string) interface{ Check(context.Context) error }
	}{
		{"telnyx", "/v2/balance", bearerIs(tnxKey),
			map[string]any{"data": map[string]any{"record_type": "balance", "balance": "300.00", "currency": "USD"}},
			func(b string) interface{ Check(context.Context) error } {
				return must(NewTelnyx(TelnyxConfig{APIKey: tnxKey, BaseURL: b}, nil))
			}},
		{"signalwire", "/api/laml/2010-04-01/Accounts/" + swProject, basicIs(swProject, swToken),
			map[string]any{"sid": swProject, "friendly_name": "Joe's Plumbing", "status": "active"},
			func(b string) interface{ Check(context.Context) error } {
				return must(NewSignalWire(SignalWireConfig{ProjectID: swProject, APIToken: swToken, BaseURL: b}, nil))
			}},
		{"plivo", "/v1/Account/" + plAuthID + "/", basicIs(plAuthID, plToken),
			map[string]any{"account_type": "standard", "auth_id": plAuthID, "cash_credits": "23.5", "api_id": "x"},
			func(b string) interface{ Check(context.Context) error } {
				return must(NewPlivo(PlivoConfig{AuthID: plAuthID, AuthToken: plToken, BaseURL: b}, nil))
			}},
		{"vonage", "/account/get-balance", basicIs(vgKey, vgSecret),
			map[string]any{"value": 10.28, "autoReload": false},
			func(b string) interface{ Check(context.Context) error } {
				return must(NewVonage(VonageConfig{APIKey: vgKey, APISecret: vgSecret, BaseURL: b}, nil))
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fail := false
			base := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != "GET" || r.URL.Path != tt.path || !tt.auth(r) {
					t.Errorf("request %s %s, want GET %s with the credentials", r.Method, r.URL.Path, tt.path)
				}
				if fail {
					writeJSON(w, 401, map[string]any{"error": "authentication failed"})
					return
				}
				writeJSON(w, 200, tt.ok)
			})
			s := tt.build(base)
			if err := s.Check(context.Background()); err != nil {
				t.Errorf("Check = %v", err)
			}
			fail = true
			err := s.Check(context.Background())
			if !errors.Is(err, textback.ErrUndeliverable) || !strings.Contains(err.Error(), "authentication failed") {
				t.Errorf("Check with bad credentials = %v", err)
			}
		})
	}
}

func TestProvidersConfig(t *testing.T) {
	keyFile, _ := writeKey(t)
	for name, tt := range map[string]struct {
		build func() error
		want  string
	}{
		"telnyx no key": {func() error { _, err := NewTelnyx(TelnyxConfig{}, nil); return err }, "api_key"},
		"signalwire no base": {func() error {
			_, err := NewSignalWire(SignalWireConfig{ProjectID: swProject, APIToken: swToken}, nil)
			return err
		}, "base_url"},
		"signalwire path": {func() error {
			_, err := NewSignalWire(SignalWireConfig{ProjectID: "../x", APIToken: "t", BaseURL: "https://x.signalwire.com"}, nil)
			return err
		}, "project_id"},
		"plivo no token": {func() error { _, err := NewPlivo(PlivoConfig{AuthID: plAuthID}, nil); return err }, "auth_token"},
		"bandwidth account": {func() error {
			_, err := NewBandwidth(BandwidthConfig{AccountID: "12/3", Username: "u", Password: "p", ApplicationID: "a"}, nil)
			return err
		}, "account_id"},
		"vonage bad api":       {func() error { _, err := NewVonage(VonageConfig{API: "voice"}, nil); return err }, `api "voice"`},
		"vonage sms no secret": {func() error { _, err := NewVonage(VonageConfig{APIKey: vgKey}, nil); return err }, "api_secret"},
		"vonage jwt no app": {func() error {
			_, err := NewVonage(VonageConfig{API: "messages", PrivateKeyFile: keyFile}, nil)
			return err
		}, "application_id"},
		"vonage jwt missing key": {func() error {
			_, err := NewVonage(VonageConfig{API: "messages", ApplicationID: vgApp, PrivateKeyFile: "/nonexistent"}, nil)
			return err
		}, "private_key_file"},
		"webhook no secret": {func() error { _, err := NewWebhook(WebhookConfig{URL: "https://gw.example.com/sms"}, nil); return err }, "secret"},
		"webhook bad url":   {func() error { _, err := NewWebhook(WebhookConfig{URL: "gw.example.com", Secret: "s"}, nil); return err }, "url"},
		"negative timeout":  {func() error { _, err := NewTelnyx(TelnyxConfig{APIKey: "k", Timeout: -1}, nil); return err }, "timeout"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tt.build()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one about %s", err, tt.want)
			}
		})
	}
	// Secrets stay out of what is printed or logged about a config.
	var b strings.Builder
	for _, c := range []any{
		TelnyxConfig{APIKey: tnxKey}, SignalWireConfig{APIToken: swToken}, VonageConfig{APISecret: vgSecret},
		PlivoConfig{AuthToken: plToken}, BandwidthConfig{Password: bwPass}, WebhookConfig{URL: "https://gw.example.com/?token=" + whSecret, Secret: whSecret},
	} {
		fmt.Fprintf(&b, "%v %+v %#v %s\n", c, c, c, c)
		slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "cfg", c)
	}
	for _, s := range secrets {
		if strings.Contains(b.String(), s) {
			t.Errorf("%q printed:\n%s", s, b.String())
		}
	}
}

func TestIsGSM7(t *testing.T) {
	for s, want := range map[string]bool{"Sorry we missed your call.": true, "Désolé": true, "rêve": false, "Prix: 5€ {ok}": true, "📞": false, "Ça va?": true} {
		if got := isGSM7(s); got != want {
			t.Errorf("isGSM7(%q) = %v, want %v", s, got, want)
		}
	}
}
