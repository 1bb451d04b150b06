package webhook_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/webhook"
)

type sink struct {
	mu         sync.Mutex
	inbound    []textback.InboundText
	deliveries []textback.Delivery
	err        error
}

func (s *sink) Inbound(_ context.Context, m textback.InboundText) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inbound = append(s.inbound, m)
	return s.err
}

func (s *sink) Delivery(_ context.Context, d textback.Delivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries = append(s.deliveries, d)
	return s.err
}

func (s *sink) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inbound) + len(s.deliveries)
}

const (
	twilioToken  = "twilio-token"
	swKey        = "PSK_signalwire"
	plivoToken   = "plivo-token"
	vonageSecret = "vonage-signature-secret"
	ourSecret    = "our-secret"
)

var telnyxPub, telnyxPriv, _ = ed25519.GenerateKey(rand.Reader)

func config() webhook.Config {
	return webhook.Config{
		Twilio:     webhook.TwilioConfig{AuthToken: twilioToken},
		SignalWire: webhook.SignalWireConfig{SigningKey: swKey},
		Telnyx:     webhook.TelnyxConfig{PublicKey: base64.StdEncoding.EncodeToString(telnyxPub)},
		Plivo:      webhook.PlivoConfig{AuthToken: plivoToken},
		Vonage:     webhook.VonageConfig{SignatureSecret: vonageSecret},
		Bandwidth:  webhook.BandwidthConfig{Username: "bw-user", Password: "bw-pass"},
		Webhook:    webhook.WebhookConfig{Secret: ourSecret},
		MaxBody:    4 << 10,
	}
}

func serve(t *testing.T, cfg webhook.Config, s *sink) *httptest.Server {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	srv := httptest.NewServer(webhook.New(cfg, s, nil))
	t.Cleanup(srv.Close)
	return srv
}

// call is one webhook request.
type call struct {
	method string
	path   string
	ctype  string
	body   string
	header http.Header
	user   [2]string
}

func do(t *testing.T, base string, c call) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, or(c.method, http.MethodPost), base+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	if c.user[0] != "" {
		req.SetBasicAuth(c.user[0], c.user[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

const form = "application/x-www-form-urlencoded"

// Independent implementations of each provider's signing, from their docs.

func twilioSign(key, u string, p url.Values) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := u
	for _, k := range keys {
		s += k + p.Get(k)
	}
	mac := hmac.New(sha1.New, []byte(key))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func twilioCall(header, key, base, path string, p url.Values) call {
	return call{path: path, ctype: form, body: p.Encode(), header: http.Header{header: {twilioSign(key, base+path, p)}}}
}

func telnyxCall(path string, body string, ts time.Time, priv ed25519.PrivateKey) call {
	t := strconv.FormatInt(ts.Unix(), 10)
	sig := ed25519.Sign(priv, []byte(t+"|"+body))
	return call{path: path, ctype: "application/json", body: body, header: http.Header{
		"Telnyx-Signature-Ed25519": {base64.StdEncoding.EncodeToString(sig)}, "Telnyx-Timestamp": {t}}}
}

// plivoV3 follows plivo-go's ComputeSignatureV3 for a POST to a URL without
// a query: url + "?" + sorted name+value pairs + "." + nonce.
func plivoCall(base, path string, p url.Values, token string) call {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := base + path + "?"
	for _, k := range keys {
		s += k + p.Get(k)
	}
	const nonce = "05429567804466091622"
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte(s + "." + nonce))
	return call{path: path, ctype: form, body: p.Encode(), header: http.Header{
		"X-Plivo-Signature-V3":       {"bogus," + base64.StdEncoding.EncodeToString(mac.Sum(nil))},
		"X-Plivo-Signature-V3-Nonce": {nonce}}}
}

// vonageSMS signs SMS API parameters with md5hash, Vonage's default.
func vonageSMS(p url.Values, secret string) url.Values {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += "&" + k + "=" + strings.NewReplacer("&", "_", "=", "_").Replace(p.Get(k))
	}
	sum := md5.Sum([]byte(s + secret))
	q := url.Values{}
	for k, v := range p {
		q[k] = v
	}
	q.Set("sig", hex.EncodeToString(sum[:]))
	return q
}

// vonageJWT makes a Messages API webhook token: HS256 with the signature
// secret, payload_hash the hex SHA-256 of the body.
func vonageJWT(secret, body string, iat time.Time) string {
	enc := base64.RawURLEncoding
	hdr := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	sum := sha256.Sum256([]byte(body))
	claims, _ := json.Marshal(map[string]any{"iat": iat.Unix(), "jti": "x", "iss": "Vonage", "payload_hash": hex.EncodeToString(sum[:]), "api_key": "abcd1234"})
	pl := enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(hdr + "." + pl))
	return hdr + "." + pl + "." + enc.EncodeToString(mac.Sum(nil))
}

func ourCall(path, body, secret string, ts time.Time) call {
	t := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t + "." + body))
	return call{path: path, ctype: "application/json", body: body, header: http.Header{
		"X-Textback-Signature": {"t=" + t + ",v1=" + hex.EncodeToString(mac.Sum(nil))}}}
}

func TestInbound(t *testing.T) {
	s := &sink{}
	srv := serve(t, config(), s)
	now := time.Now()
	twilioForm := url.Values{"MessageSid": {"SM123"}, "From": {"+13125550101"}, "To": {"+13125550199"}, "Body": {"STOP"}, "AccountSid": {"AC1"}}
	vonageParams := url.Values{"msisdn": {"447700900001"}, "to": {"447700900000"}, "messageId": {"0A0000000123ABCD1"},
		"text": {"Hi & bye"}, "type": {"text"}, "timestamp": {strconv.FormatInt(now.Unix(), 10)}, "nonce": {"n1"}}
	vonageMsg := `{"channel":"sms","message_uuid":"aaaaaaaa-bbbb","to":"447700900000","from":"447700900001","message_type":"text","text":"Hello"}`
	telnyxBody := `{"data":{"event_type":"message.received","id":"ev1","payload":{"id":"tx-msg-1","from":{"phone_number":"+13125550101"},"to":[{"phone_number":"+13125550199","status":"webhook_delivered"}],"text":"call me"}}}`
	bwBody := `[{"type":"message-received","time":"2025-03-03T09:30:00Z","description":"Incoming message received","to":"+13125550199","message":{"id":"bw-1","owner":"+13125550199","direction":"in","to":["+13125550199"],"from":"+13125550101","text":"yes"}}]`

	for name, tt := range map[string]struct {
		c      call
		want   textback.InboundText
		status int
		ctype  string
	}{
		"twilio": {c: twilioCall("X-Twilio-Signature", twilioToken, srv.URL, "/webhook/twilio/inbound", twilioForm), status: 200, ctype: "text/xml",
			want: textback.InboundText{Provider: "twilio", ProviderID: "SM123", From: "+13125550101", To: "+13125550199", Body: "STOP"}},
		"signalwire": {c: twilioCall("X-Signalwire-Signature", swKey, srv.URL, "/webhook/signalwire/inbound", twilioForm), status: 200, ctype: "text/xml",
			want: textback.InboundText{Provider: "signalwire", ProviderID: "SM123", From: "+13125550101", To: "+13125550199", Body: "STOP"}},
		"telnyx": {c: telnyxCall("/webhook/telnyx/inbound", telnyxBody, now, telnyxPriv), status: 204,
			want: textback.InboundText{Provider: "telnyx", ProviderID: "tx-msg-1", From: "+13125550101", To: "+13125550199", Body: "call me"}},
		"plivo": {c: plivoCall(srv.URL, "/webhook/plivo/inbound", url.Values{"From": {"13125550101"}, "To": {"13125550199"}, "Text": {"hello"}, "Type": {"sms"}, "MessageUUID": {"pl-1"}}, plivoToken), status: 200,
			want: textback.InboundText{Provider: "plivo", ProviderID: "pl-1", From: "+13125550101", To: "+13125550199", Body: "hello"}},
		"vonage sms get": {c: call{method: "GET", path: "/webhook/vonage/inbound?" + vonageSMS(vonageParams, vonageSecret).Encode()}, status: 204,
			want: textback.InboundText{Provider: "vonage", ProviderID: "0A0000000123ABCD1", From: "+447700900001", To: "+447700900000", Body: "Hi & bye"}},
		"vonage sms form": {c: call{path: "/webhook/vonage/inbound", ctype: form, body: vonageSMS(vonageParams, vonageSecret).Encode()}, status: 204,
			want: textback.InboundText{Provider: "vonage", ProviderID: "0A0000000123ABCD1", From: "+447700900001", To: "+447700900000", Body: "Hi & bye"}},
		"vonage messages": {c: call{path: "/webhook/vonage/inbound", ctype: "application/json", body: vonageMsg,
			header: http.Header{"Authorization": {"Bearer " + vonageJWT(vonageSecret, vonageMsg, now)}}}, status: 204,
			want: textback.InboundText{Provider: "vonage", ProviderID: "aaaaaaaa-bbbb", From: "+447700900001", To: "+447700900000", Body: "Hello"}},
		"bandwidth": {c: call{path: "/webhook/bandwidth/inbound", ctype: "application/json", body: bwBody, user: [2]string{"bw-user", "bw-pass"}}, status: 204,
			want: textback.InboundText{Provider: "bandwidth", ProviderID: "bw-1", From: "+13125550101", To: "+13125550199", Body: "yes"}},
		"webhook": {c: ourCall("/webhook/webhook/inbound", `{"id":"gw-1","from":"+13125550101","to":"+13125550199","body":"ok"}`, ourSecret, now), status: 204,
			want: textback.InboundText{Provider: "webhook", ProviderID: "gw-1", From: "+13125550101", To: "+13125550199", Body: "ok"}},
	} {
		t.Run(name, func(t *testing.T) {
			s.mu.Lock()
			s.inbound, s.deliveries = nil, nil
			s.mu.Unlock()
			code, body, h := do(t, srv.URL, tt.c)
			if code != tt.status {
				t.Fatalf("status %d (%s), want %d", code, body, tt.status)
			}
			if tt.ctype != "" && !strings.HasPrefix(h.Get("Content-Type"), tt.ctype) || tt.ctype == "text/xml" && !strings.Contains(body, "<Response/>") {
				t.Errorf("answer %q %q, want empty TwiML", h.Get("Content-Type"), body)
			}
			if len(s.inbound) != 1 || len(s.deliveries) != 0 {
				t.Fatalf("sink got %d inbound, %d deliveries; want 1, 0", len(s.inbound), len(s.deliveries))
			}
			got := s.inbound[0]
			if got.Received.IsZero() {
				t.Error("Received not set")
			}
			got.Received = time.Time{}
			if got != tt.want {
				t.Errorf("inbound = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestRefused: every way a request can be wrong is refused with its status
// and never reaches the sink.
func TestRefused(t *testing.T) {
	s := &sink{}
	cfg := config()
	cfg.Bandwidth = webhook.BandwidthConfig{} // not configured: 404
	srv := serve(t, cfg, s)
	now := time.Now()
	twilioForm := url.Values{"MessageSid": {"SM123"}, "From": {"+13125550101"}, "To": {"+13125550199"}, "Body": {"STOP"}}
	good := twilioCall("X-Twilio-Signature", twilioToken, srv.URL, "/webhook/twilio/inbound", twilioForm)
	tampered := good
	tampered.body = strings.Replace(good.body, "STOP", "START", 1)
	otherKey := twilioCall("X-Twilio-Signature", "not-the-token", srv.URL, "/webhook/twilio/inbound", twilioForm)
	swWithTwilioKey := twilioCall("X-Signalwire-Signature", twilioToken, srv.URL, "/webhook/signalwire/inbound", twilioForm)
	wrongURL := twilioCall("X-Twilio-Signature", twilioToken, "https://evil.example", "/webhook/twilio/inbound", twilioForm)
	wrongURL.path = "/webhook/twilio/inbound"
	telnyxBody := `{"data":{"event_type":"message.received","payload":{"id":"m","from":{"phone_number":"+13125550101"},"to":[{"phone_number":"+13125550199"}],"text":"x"}}}`
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	vonageMsg := `{"message_uuid":"u","to":"447700900000","from":"447700900001","text":"Hello"}`
	vonageParams := url.Values{"msisdn": {"447700900001"}, "to": {"447700900000"}, "messageId": {"1"}, "text": {"x"}, "timestamp": {strconv.FormatInt(now.Unix(), 10)}}
	vonageOld := url.Values{"msisdn": {"447700900001"}, "to": {"447700900000"}, "messageId": {"1"}, "text": {"x"}, "timestamp": {strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}}
	ourBody := `{"id":"1","from":"+13125550101","to":"+13125550199","body":"x"}`
	badNumber := url.Values{"MessageSid": {"SM1"}, "From": {"not a number"}, "To": {"+13125550199"}, "Body": {"x"}}

	for name, tt := range map[string]struct {
		c    call
		want int
	}{
		"unknown provider":         {call{path: "/webhook/nope/inbound", ctype: form}, 404},
		"unconfigured provider":    {call{path: "/webhook/bandwidth/inbound", ctype: "application/json", body: "[]", user: [2]string{"a", "b"}}, 404},
		"unknown kind":             {call{path: "/webhook/twilio/other", ctype: form}, 404},
		"twilio GET":               {call{method: "GET", path: "/webhook/twilio/inbound"}, 405},
		"twilio json":              {call{path: "/webhook/twilio/inbound", ctype: "application/json", body: "{}"}, 415},
		"twilio unsigned":          {call{path: good.path, ctype: form, body: good.body}, 401},
		"twilio tampered":          {tampered, 403},
		"twilio other token":       {otherKey, 403},
		"twilio signed other URL":  {wrongURL, 403},
		"signalwire, twilio key":   {swWithTwilioKey, 403},
		"twilio bad form":          {call{path: good.path, ctype: form, body: "a=%zz", header: good.header}, 400},
		"twilio bad number":        {twilioCall("X-Twilio-Signature", twilioToken, srv.URL, "/webhook/twilio/inbound", badNumber), 400},
		"oversized":                {call{path: good.path, ctype: form, body: "Body=" + strings.Repeat("x", 5<<10), header: good.header}, 413},
		"telnyx other key":         {telnyxCall("/webhook/telnyx/inbound", telnyxBody, now, otherPriv), 403},
		"telnyx old":               {telnyxCall("/webhook/telnyx/inbound", telnyxBody, now.Add(-10*time.Minute), telnyxPriv), 403},
		"telnyx unsigned":          {call{path: "/webhook/telnyx/inbound", ctype: "application/json", body: telnyxBody}, 401},
		"telnyx malformed":         {telnyxCall("/webhook/telnyx/inbound", `{"data":`, now, telnyxPriv), 400},
		"plivo wrong token":        {plivoCall(srv.URL, "/webhook/plivo/inbound", url.Values{"From": {"13125550101"}, "To": {"13125550199"}, "Text": {"x"}, "MessageUUID": {"p"}}, "nope"), 403},
		"plivo unsigned":           {call{path: "/webhook/plivo/inbound", ctype: form, body: "From=1"}, 401},
		"vonage wrong secret":      {call{path: "/webhook/vonage/inbound", ctype: form, body: vonageSMS(vonageParams, "nope").Encode()}, 403},
		"vonage old timestamp":     {call{path: "/webhook/vonage/inbound", ctype: form, body: vonageSMS(vonageOld, vonageSecret).Encode()}, 403},
		"vonage no sig":            {call{path: "/webhook/vonage/inbound", ctype: form, body: vonageParams.Encode()}, 401},
		"vonage jwt wrong secret":  {call{path: "/webhook/vonage/inbound", ctype: "application/json", body: vonageMsg, header: http.Header{"Authorization": {"Bearer " + vonageJWT("nope", vonageMsg, now)}}}, 403},
		"vonage jwt other payload": {call{path: "/webhook/vonage/inbound", ctype: "application/json", body: strings.Replace(vonageMsg, "Hello", "Bye", 1), header: http.Header{"Authorization": {"Bearer " + vonageJWT(vonageSecret, vonageMsg, now)}}}, 403},
		"vonage jwt stale":         {call{path: "/webhook/vonage/inbound", ctype: "application/json", body: vonageMsg, header: http.Header{"Authorization": {"Bearer " + vonageJWT(vonageSecret, vonageMsg, now.Add(-time.Hour))}}}, 403},
		"vonage DELETE":            {call{method: "DELETE", path: "/webhook/vonage/inbound"}, 405},
		"ours wrong secret":        {ourCall("/webhook/webhook/inbound", ourBody, "nope", now), 403},
		"ours old":                 {ourCall("/webhook/webhook/inbound", ourBody, ourSecret, now.Add(-time.Hour)), 403},
		"ours unsigned":            {call{path: "/webhook/webhook/inbound", ctype: "application/json", body: ourBody}, 401},
		"ours no id":               {ourCall("/webhook/webhook/inbound", `{"from":"+13125550101","to":"+13125550199","body":"x"}`, ourSecret, now), 400},
	} {
		t.Run(name, func(t *testing.T) {
			if code, body, _ := do(t, srv.URL, tt.c); code != tt.want {
				t.Errorf("status %d (%s), want %d", code, body, tt.want)
			}
			if n := s.calls(); n != 0 {
				t.Errorf("the sink was called %d times", n)
			}
		})
	}
}

func TestBandwidthAuth(t *testing.T) {
	s := &sink{}
	srv := serve(t, config(), s)
	body := `[{"type":"message-delivered","to":"+13125550101","message":{"id":"bw-9"}}]`
	for name, tt := range map[string]struct {
		user [2]string
		want int
	}{
		"none":           {[2]string{}, 401},
		"wrong password": {[2]string{"bw-user", "nope"}, 403},
		"wrong user":     {[2]string{"nope", "bw-pass"}, 403},
		"right":          {[2]string{"bw-user", "bw-pass"}, 204},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, h := do(t, srv.URL, call{path: "/webhook/bandwidth/status", ctype: "application/json", body: body, user: tt.user})
			if code != tt.want {
				t.Errorf("status %d, want %d", code, tt.want)
			}
			if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("401 without a Basic challenge: %q", h.Get("WWW-Authenticate"))
			}
		})
	}
	if len(s.deliveries) != 1 {
		t.Errorf("deliveries = %d, want 1 (only the authenticated call)", len(s.deliveries))
	}
}

func TestStatusMapping(t *testing.T) {
	s := &sink{}
	srv := serve(t, config(), s)
	now := time.Now()
	tw := func(status, code string) call {
		p := url.Values{"MessageSid": {"SM9"}, "MessageStatus": {status}, "To": {"+13125550101"}}
		if code != "" {
			p.Set("ErrorCode", code)
		}
		return twilioCall("X-Twilio-Signature", twilioToken, srv.URL, "/webhook/twilio/status", p)
	}
	tx := func(status string) call {
		return telnyxCall("/webhook/telnyx/status", `{"data":{"event_type":"message.finalized","payload":{"id":"tx-9","to":[{"phone_number":"+13125550101","status":"`+status+`"}],"errors":[{"code":"40008","title":"Undeliverable"}]}}}`, now, telnyxPriv)
	}
	pl := func(status string) call {
		return plivoCall(srv.URL, "/webhook/plivo/status", url.Values{"MessageUUID": {"pl-9"}, "Status": {status}, "ErrorCode": {"000"}}, plivoToken)
	}
	vo := func(status string) call {
		p := url.Values{"messageId": {"vo-9"}, "msisdn": {"447700900001"}, "to": {"Textback"}, "status": {status}, "err-code": {"0"}, "timestamp": {strconv.FormatInt(now.Unix(), 10)}}
		return call{method: "GET", path: "/webhook/vonage/status?" + vonageSMS(p, vonageSecret).Encode()}
	}
	vm := func(status string) call {
		b := `{"message_uuid":"vm-9","to":"447700900001","from":"447700900000","status":"` + status + `","channel":"sms"}`
		return call{path: "/webhook/vonage/status", ctype: "application/json", body: b, header: http.Header{"Authorization": {"Bearer " + vonageJWT(vonageSecret, b, now)}}}
	}
	bw := func(typ string) call {
		return call{path: "/webhook/bandwidth/status", ctype: "application/json", user: [2]string{"bw-user", "bw-pass"},
			body: `[{"type":"` + typ + `","to":"+13125550101","errorCode":4720,"message":{"id":"bw-9"}}]`}
	}
	ours := func(status string) call {
		return ourCall("/webhook/webhook/status", `{"id":"gw-9","status":"`+status+`"}`, ourSecret, now)
	}
	for name, tt := range map[string]struct {
		c      call
		want   textback.DeliveryStatus // "" for none
		id     string
		detail string
	}{
		"twilio delivered":     {tw("delivered", ""), textback.Delivered, "SM9", "twilio delivered"},
		"twilio undelivered":   {tw("undelivered", "30003"), textback.Undelivered, "SM9", "twilio undelivered, error 30003"},
		"twilio failed":        {tw("failed", "30007"), textback.Undelivered, "SM9", ""},
		"twilio sent":          {tw("sent", ""), "", "", ""},
		"twilio queued":        {tw("queued", ""), "", "", ""},
		"telnyx delivered":     {tx("delivered"), textback.Delivered, "tx-9", ""},
		"telnyx failed":        {tx("delivery_failed"), textback.Undelivered, "tx-9", "telnyx delivery_failed, error 40008"},
		"telnyx unconfirmed":   {tx("delivery_unconfirmed"), "", "", ""},
		"plivo delivered":      {pl("delivered"), textback.Delivered, "pl-9", ""},
		"plivo undelivered":    {pl("undelivered"), textback.Undelivered, "pl-9", ""},
		"plivo queued":         {pl("queued"), "", "", ""},
		"vonage sms delivered": {vo("delivered"), textback.Delivered, "vo-9", ""},
		"vonage sms expired":   {vo("expired"), textback.Undelivered, "vo-9", ""},
		"vonage sms buffered":  {vo("buffered"), "", "", ""},
		"vonage msg delivered": {vm("delivered"), textback.Delivered, "vm-9", ""},
		"vonage msg rejected":  {vm("rejected"), textback.Undelivered, "vm-9", ""},
		"vonage msg submitted": {vm("submitted"), "", "", ""},
		"bandwidth delivered":  {bw("message-delivered"), textback.Delivered, "bw-9", ""},
		"bandwidth failed":     {bw("message-failed"), textback.Undelivered, "bw-9", "bandwidth failed, error 4720"},
		"bandwidth sending":    {bw("message-sending"), "", "", ""},
		"ours delivered":       {ours("delivered"), textback.Delivered, "gw-9", ""},
		"ours undelivered":     {ours("undelivered"), textback.Undelivered, "gw-9", ""},
		"ours other":           {ours("accepted"), "", "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			s.mu.Lock()
			s.inbound, s.deliveries = nil, nil
			s.mu.Unlock()
			if code, body, _ := do(t, srv.URL, tt.c); code/100 != 2 {
				t.Fatalf("status %d (%s)", code, body)
			}
			if tt.want == "" {
				if len(s.deliveries) != 0 {
					t.Errorf("intermediate status recorded: %+v", s.deliveries)
				}
				return
			}
			if len(s.deliveries) != 1 {
				t.Fatalf("deliveries = %+v, want one", s.deliveries)
			}
			d := s.deliveries[0]
			if d.Status != tt.want || d.ProviderID != tt.id || tt.detail != "" && d.Detail != tt.detail || d.At.IsZero() {
				t.Errorf("delivery = %+v, want status %s id %s detail %q", d, tt.want, tt.id, tt.detail)
			}
			if p := strings.SplitN(name, " ", 2)[0]; d.Provider != map[string]string{"ours": "webhook"}[p] && d.Provider != p {
				t.Errorf("provider = %q", d.Provider)
			}
		})
	}
}

// TestPublicURL: behind a proxy the signed URL is the public one.
func TestPublicURL(t *testing.T) {
	s := &sink{}
	cfg := config()
	cfg.PublicURL = "https://sms.example.com/"
	srv := serve(t, cfg, s)
	p := url.Values{"MessageSid": {"SM1"}, "From": {"+13125550101"}, "To": {"+13125550199"}, "Body": {"hi"}}
	public := twilioCall("X-Twilio-Signature", twilioToken, "https://sms.example.com", "/webhook/twilio/inbound", p)
	if code, body, _ := do(t, srv.URL, public); code != 200 {
		t.Errorf("signed with the public URL: status %d (%s), want 200", code, body)
	}
	withPort := twilioCall("X-Twilio-Signature", twilioToken, "https://sms.example.com:443", "/webhook/twilio/inbound", p)
	if code, body, _ := do(t, srv.URL, withPort); code != 200 {
		t.Errorf("signed with the public URL and :443: status %d (%s), want 200", code, body)
	}
	local := twilioCall("X-Twilio-Signature", twilioToken, srv.URL, "/webhook/twilio/inbound", p)
	if code, _, _ := do(t, srv.URL, local); code != 403 {
		t.Errorf("signed with the local URL: status %d, want 403", code)
	}
}

func TestSinkErrorIs500(t *testing.T) {
	s := &sink{err: errors.New("database is locked")}
	srv := serve(t, config(), s)
	c := ourCall("/webhook/webhook/inbound", `{"id":"1","from":"+13125550101","to":"+13125550199","body":"x"}`, ourSecret, time.Now())
	if code, _, _ := do(t, srv.URL, c); code != 500 {
		t.Errorf("status %d, want 500 so that the provider retries", code)
	}
}

func TestConfig(t *testing.T) {
	cfg := config()
	if s := cfg.String() + cfg.GoString(); strings.Contains(s, twilioToken) || strings.Contains(s, "bw-pass") || strings.Contains(s, ourSecret) {
		t.Errorf("config prints a secret: %s", s)
	}
	bad := webhook.Config{PublicURL: "ftp://x", Telnyx: webhook.TelnyxConfig{PublicKey: "AAAA"},
		Vonage: webhook.VonageConfig{SignatureSecret: "s", SignatureMethod: "sha3"}, Bandwidth: webhook.BandwidthConfig{Username: "u"}}
	err := bad.Validate()
	for _, want := range []string{"public_url", "telnyx", "vonage", "bandwidth"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
	h := webhook.New(webhook.Config{PublicURL: "https://sms.example.com", Twilio: webhook.TwilioConfig{AuthToken: "x"}}, &sink{}, nil)
	want := []string{"POST https://sms.example.com/webhook/twilio/inbound", "POST https://sms.example.com/webhook/twilio/status"}
	if got := h.Routes(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Routes() = %q, want %q", got, want)
	}
}
