package webhook_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback/webhook"
)

var routes = []string{"twilio", "signalwire", "telnyx", "plivo", "vonage", "bandwidth", "webhook"}

// fuzzBase is the URL the fuzzed requests come to, as the providers sign it.
const fuzzBase = "http://sms.example.com"

// request builds the server side of c, without a network: the handler
// sees what net/http would hand it.
func request(c call) *http.Request {
	u, err := url.ParseRequestURI(c.path)
	if err != nil {
		u = &url.URL{Path: c.path}
	}
	r := &http.Request{
		Method:     or(c.method, http.MethodPost),
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{},
		Body:          io.NopCloser(strings.NewReader(c.body)),
		ContentLength: int64(len(c.body)),
		Host:          strings.TrimPrefix(fuzzBase, "http://"),
		RequestURI:    c.path,
		RemoteAddr:    "192.0.2.1:4000",
	}
	for k, vs := range c.header {
		r.Header[k] = vs
	}
	if c.ctype != "" {
		r.Header.Set("Content-Type", c.ctype)
	}
	if c.user[0] != "" {
		r.SetBasicAuth(c.user[0], c.user[1])
	}
	return r
}

// headers reads "Name: value" lines, as a client could send any.
func headers(raw string) http.Header {
	h := http.Header{}
	for l := range strings.SplitSeq(raw, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)), strings.TrimSpace(v))
	}
	return h
}

func randomSecret() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// FuzzUnsigned sends arbitrary requests — method, content type, headers,
// query and body — to every route of a handler whose secrets are drawn at
// random when the fuzzer starts, so that no input can carry a valid
// signature: each must be refused with a 4xx and a logged reason, and the
// Sink must see nothing.
//
//	go test ./webhook -run '^$' -fuzz '^FuzzUnsigned$' -fuzztime 75s
func FuzzUnsigned(f *testing.F) {
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	twilioForm := url.Values{"MessageSid": {"SM123"}, "From": {"+13125550101"}, "To": {"+13125550199"}, "Body": {"STOP"}}
	// Seeds: well-formed requests signed with the wrong secrets, and the
	// usual tricks (alg none, empty signatures, basic auth without password).
	add := func(route int, c call) {
		var hb strings.Builder
		for k, vs := range c.header {
			for _, v := range vs {
				hb.WriteString(k + ": " + v + "\n")
			}
		}
		if c.user[0] != "" {
			hb.WriteString("Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(c.user[0]+":"+c.user[1])) + "\n")
		}
		path, query, _ := strings.Cut(c.path, "?")
		kind := byte(0)
		if strings.HasSuffix(path, "/status") {
			kind = 1
		}
		f.Add(byte(route)<<1|kind, or(c.method, "POST"), c.ctype, hb.String(), query, []byte(c.body))
	}
	add(0, twilioCall("X-Twilio-Signature", "wrong", fuzzBase, "/webhook/twilio/inbound", twilioForm))
	add(0, call{path: "/webhook/twilio/inbound", ctype: form, body: twilioForm.Encode(), header: http.Header{"X-Twilio-Signature": {""}}})
	add(1, twilioCall("X-Signalwire-Signature", "wrong", fuzzBase, "/webhook/signalwire/status", url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}))
	add(2, telnyxCall("/webhook/telnyx/inbound", `{"data":{"event_type":"message.received","payload":{"id":"x","from":{"phone_number":"+13125550101"},"to":[{"phone_number":"+13125550199"}],"text":"hi"}}}`, now, otherPriv))
	add(3, plivoCall(fuzzBase, "/webhook/plivo/inbound", url.Values{"From": {"13125550101"}, "To": {"13125550199"}, "Text": {"hello"}, "MessageUUID": {"pl-1"}}, "wrong"))
	add(4, call{method: "GET", path: "/webhook/vonage/inbound?" + vonageSMS(url.Values{"msisdn": {"447700900001"}, "to": {"447700900000"}, "messageId": {"1"}, "text": {"x"}, "timestamp": {"1"}}, "wrong").Encode()})
	msg := `{"message_uuid":"a","to":"447700900000","from":"447700900001","text":"Hello"}`
	add(4, call{path: "/webhook/vonage/inbound", ctype: "application/json", body: msg, header: http.Header{"Authorization": {"Bearer " + vonageJWT("wrong", msg, now)}}})
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"payload_hash":""}`)) + "."
	add(4, call{path: "/webhook/vonage/inbound", ctype: "application/json", body: "", header: http.Header{"Authorization": {"Bearer " + none}}})
	add(4, call{path: "/webhook/vonage/inbound", ctype: "application/json", body: `{"sig":"00","timestamp":"99999999999999999999"}`})
	add(5, call{path: "/webhook/bandwidth/inbound", ctype: "application/json", body: `[{"type":"message-received","message":{"id":"b","from":"+13125550101","to":["+13125550199"],"text":"y"}}]`, user: [2]string{"bw-user", "bw-pass"}})
	add(5, call{path: "/webhook/bandwidth/status", ctype: "application/json", body: `[]`, user: [2]string{"", ""}})
	add(6, ourCall("/webhook/webhook/inbound", `{"id":"gw-1","from":"+13125550101","to":"+13125550199","body":"ok"}`, "wrong", now))
	add(6, call{path: "/webhook/webhook/status", ctype: "application/json", body: `{}`, header: http.Header{"X-Textback-Signature": {"t=,v1="}}})

	cfg := webhook.Config{
		Twilio:     webhook.TwilioConfig{AuthToken: randomSecret()},
		SignalWire: webhook.SignalWireConfig{SigningKey: randomSecret()},
		Plivo:      webhook.PlivoConfig{AuthToken: randomSecret()},
		Vonage:     webhook.VonageConfig{SignatureSecret: randomSecret()},
		Bandwidth:  webhook.BandwidthConfig{Username: randomSecret(), Password: randomSecret()},
		Webhook:    webhook.WebhookConfig{Secret: randomSecret()},
		MaxBody:    4 << 10,
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	cfg.Telnyx.PublicKey = base64.StdEncoding.EncodeToString(pub)
	reason := regexp.MustCompile(`msg="webhook refused" .*reason=("(?:[^"\\]|\\.)+"|[^ "]+) `)

	f.Fuzz(func(t *testing.T, route byte, method, ctype, rawHeader, query string, body []byte) {
		name := routes[int(route>>1)%len(routes)]
		kind := "inbound"
		if route&1 == 1 {
			kind = "status"
		}
		path := "/webhook/" + name + "/" + kind
		if query != "" {
			path += "?" + query
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			t.Skip() // net/http answers 400 before any handler
		}
		var logs bytes.Buffer
		s := &sink{}
		h := webhook.New(cfg, s, slog.New(slog.NewTextHandler(&logs, nil)))
		c := call{method: method, path: path, ctype: ctype, body: string(body), header: headers(rawHeader)}
		if c.method == "" {
			c.method = http.MethodPost
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request(c))
		if n := s.calls(); n != 0 {
			t.Fatalf("%s %s with no valid signature: the Sink got %d events (status %d)", c.method, path, n, w.Code)
		}
		if w.Code < 400 || w.Code >= 500 {
			t.Fatalf("%s %s with no valid signature: status %d, want 4xx", c.method, path, w.Code)
		}
		if !reason.Match(logs.Bytes()) {
			t.Fatalf("refused with no reason logged: %s", logs.String())
		}
	})
}

// FuzzSigned sends arbitrary payloads to every route, each signed the way
// its provider signs, so that the parsers behind the checks are reached:
// they must not panic, must answer a 2xx or a 4xx (never a 5xx, the Sink
// failing nothing here), and what they pass on must be well-formed.
//
//	go test ./webhook -run '^$' -fuzz '^FuzzSigned$' -fuzztime 75s
func FuzzSigned(f *testing.F) {
	for i, body := range []string{
		"MessageSid=SM123&From=%2B13125550101&To=%2B13125550199&Body=STOP",
		"MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003",
		`{"data":{"event_type":"message.received","id":"ev1","payload":{"id":"tx-msg-1","from":{"phone_number":"+13125550101"},"to":[{"phone_number":"+13125550199","status":"webhook_delivered"}],"text":"call me"}}}`,
		`{"data":{"event_type":"message.finalized","payload":{"id":"tx-1","to":[{"phone_number":"+13125550101","status":"delivery_failed"}],"errors":[{"code":"40300"}]}}}`,
		"From=13125550101&To=13125550199&Text=hello&Type=sms&MessageUUID=pl-1",
		"MessageUUID=pl-1&Status=failed&ErrorCode=200",
		"msisdn=447700900001&to=447700900000&messageId=0A1&text=Hi+%26+bye&type=text&nonce=n1",
		`{"channel":"sms","message_uuid":"aaaaaaaa-bbbb","to":"447700900000","from":"447700900001","message_type":"text","text":"Hello"}`,
		`{"message_uuid":"a","status":"rejected","error":{"type":"x","title":"1320"}}`,
		`[{"type":"message-received","time":"2025-03-03T09:30:00Z","to":"+13125550199","message":{"id":"bw-1","owner":"+13125550199","direction":"in","to":["+13125550199"],"from":"+13125550101","text":"yes"}}]`,
		`[{"type":"message-failed","errorCode":4432,"message":{"id":"bw-1"}},{"type":"message-delivered","message":{"id":"bw-2"}}]`,
		`{"id":"gw-1","from":"+13125550101","to":"+13125550199","body":"ok"}`,
		`{"id":"gw-1","status":"delivered"}`,
		`null`, `[]`, `{}`, `[null]`, `{"data":null}`, `{"data":{"payload":{"to":[]}}}`, "",
	} {
		for r := range len(routes) * 2 {
			if i%3 == r%3 || r < 2 {
				f.Add(byte(r), body)
			}
		}
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, route byte, body string) {
		name := routes[int(route>>1)%len(routes)]
		kind := "inbound"
		if route&1 == 1 {
			kind = "status"
		}
		path := "/webhook/" + name + "/" + kind
		params, formErr := url.ParseQuery(body)
		var c call
		switch name {
		case "twilio", "signalwire":
			if formErr != nil {
				t.Skip()
			}
			hdr, key := "X-Twilio-Signature", twilioToken
			if name == "signalwire" {
				hdr, key = "X-Signalwire-Signature", swKey
			}
			c = twilioCall(hdr, key, fuzzBase, path, params)
			c.body = body
		case "telnyx":
			c = telnyxCall(path, body, now, telnyxPriv)
		case "plivo":
			if formErr != nil {
				t.Skip()
			}
			c = plivoCall(fuzzBase, path, params, plivoToken)
			c.body = body
		case "vonage":
			if route&0x80 != 0 && formErr == nil {
				params.Set("timestamp", strconv.FormatInt(now.Unix(), 10))
				c = call{method: "GET", path: path + "?" + vonageSMS(params, vonageSecret).Encode()}
			} else {
				c = call{path: path, ctype: "application/json", body: body,
					header: http.Header{"Authorization": {"Bearer " + vonageJWT(vonageSecret, body, now)}}}
			}
		case "bandwidth":
			c = call{path: path, ctype: "application/json", body: body, user: [2]string{"bw-user", "bw-pass"}}
		case "webhook":
			c = ourCall(path, body, ourSecret, now)
		}
		s := &sink{}
		h := webhook.New(config(), s, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, request(c))
		if w.Code >= 500 || w.Code < 200 {
			t.Fatalf("%s %q: status %d", path, body, w.Code)
		}
		if w.Code >= 300 && s.calls() != 0 {
			t.Fatalf("%s %q: status %d after the Sink got %d events", path, body, w.Code, s.calls())
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, m := range s.inbound {
			if m.Provider != name || m.ProviderID == "" || m.From == "" || m.To == "" {
				t.Fatalf("%s %q: inbound %+v", path, body, m)
			}
		}
		for _, d := range s.deliveries {
			if d.Provider != name || d.ProviderID == "" || d.Status == "" {
				t.Fatalf("%s %q: delivery %+v", path, body, d)
			}
		}
	})
}
