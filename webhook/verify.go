package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// verifyTwilio checks Twilio's X-Twilio-Signature, which SignalWire's
// compatibility API copies as X-SignalWire-Signature keyed with the
// project's Signing Key: the base64 HMAC-SHA1 of the full URL the provider
// called followed by each POST parameter's name and value, sorted by name,
// keyed with the auth token
// (https://www.twilio.com/docs/usage/webhooks/webhooks-security,
// https://developer.signalwire.com/guides/webhook-security). Like Twilio's
// own libraries it also tries the URL with the default port added or
// removed, since Twilio signs the URL exactly as configured.
func (h *Handler) verifyTwilio(r *request, header, key string) error {
	got := r.Header.Get(header)
	if got == "" {
		return unauthenticated(header)
	}
	for _, u := range portVariants(h.publicURL(r)) {
		if hmac.Equal([]byte(got), []byte(twilioSignature(key, u, r.params))) {
			return nil
		}
	}
	return forbidden(header)
}

// twilioSignature computes X-Twilio-Signature for a form POST to u.
func twilioSignature(key, u string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(key))
	mac.Write([]byte(u))
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := append([]string(nil), params[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			mac.Write([]byte(k + v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// portVariants returns u, and u with its scheme's default port added or
// removed.
func portVariants(u string) []string {
	pu, err := url.Parse(u)
	if err != nil {
		return []string{u}
	}
	def := map[string]string{"https": "443", "http": "80"}[pu.Scheme]
	other := *pu
	switch pu.Port() {
	case "":
		other.Host = pu.Host + ":" + def
	case def:
		other.Host = pu.Hostname()
	default:
		return []string{u}
	}
	return []string{u, other.String()}
}

// verifyTelnyx checks Telnyx's API v2 webhook signature: the base64
// Ed25519 signature in telnyx-signature-ed25519 over telnyx-timestamp, "|"
// and the raw body, made with the account's key pair, whose public half
// Mission Control shows (https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks,
// https://developers.telnyx.com/docs/development/api-fundamentals/webhooks).
// A timestamp older than MaxAge is refused, against replays.
func (h *Handler) verifyTelnyx(r *request, key ed25519.PublicKey) error {
	sig64, ts := r.Header.Get("Telnyx-Signature-Ed25519"), r.Header.Get("Telnyx-Timestamp")
	if sig64 == "" || ts == "" {
		return unauthenticated("telnyx-signature-ed25519 or telnyx-timestamp")
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return forbidden("telnyx-signature-ed25519")
	}
	if err := h.fresh(ts); err != nil {
		return err
	}
	msg := make([]byte, 0, len(ts)+1+len(r.body))
	msg = append(append(append(msg, ts...), '|'), r.body...)
	if !ed25519.Verify(key, msg, sig) {
		return forbidden("telnyx-signature-ed25519")
	}
	return nil
}

// fresh checks a signature's Unix timestamp against MaxAge, either way.
func (h *Handler) fresh(ts string) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return forbidden("timestamp")
	}
	// Compared in seconds against a window around now, so that an extreme
	// timestamp cannot overflow a Duration into looking fresh.
	now, window := h.now().Unix(), int64(h.cfg.MaxAge/time.Second)
	if sec < now-window || sec > now+window {
		off := "far"
		if d := now - sec; d > -1<<32 && d < 1<<32 {
			off = r0(time.Duration(d) * time.Second).String()
		}
		return forbidden(fmt.Sprintf("timestamp (%s off)", off))
	}
	return nil
}

func r0(d time.Duration) time.Duration {
	if d < 0 {
		d = -d
	}
	return d.Round(time.Second)
}

// verifyPlivo checks Plivo's signature. V3 (X-Plivo-Signature-V3 or, with
// the main account's token, X-Plivo-Signature-Ma-V3, and
// X-Plivo-Signature-V3-Nonce) is the base64 HMAC-SHA256, keyed with the
// auth token, of the URL without its query, "?", the POST parameters' names
// and values concatenated in name order, ".", and the nonce; a URL with a
// query puts the sorted "k=v&…" query first and "." before the parameters.
// The header may carry several signatures, comma-separated
// (https://www.plivo.com/docs/voice/xml/request/validation; the
// construction is that of Plivo's SDKs, plivo-go utils.go
// ComputeSignatureV3). Messaging callbacks documented with V2 are accepted
// too: X-Plivo-Signature-V2 (or -Ma-V2) over the URL without its query
// followed by X-Plivo-Signature-V2-Nonce
// (https://www.plivo.com/docs/messaging/concepts/signature-validation).
func (h *Handler) verifyPlivo(r *request) error {
	u := h.publicURL(r)
	key := []byte(h.cfg.Plivo.AuthToken)
	if nonce := r.Header.Get("X-Plivo-Signature-V3-Nonce"); nonce != "" {
		want := plivoV3(key, u, nonce, r.params)
		for _, hdr := range []string{"X-Plivo-Signature-V3", "X-Plivo-Signature-Ma-V3"} {
			for s := range strings.SplitSeq(r.Header.Get(hdr), ",") {
				if s = strings.TrimSpace(s); s != "" && hmac.Equal([]byte(s), []byte(want)) {
					return nil
				}
			}
		}
		return forbidden("X-Plivo-Signature-V3")
	}
	if nonce := r.Header.Get("X-Plivo-Signature-V2-Nonce"); nonce != "" {
		want := plivoV2(key, u, nonce)
		for _, hdr := range []string{"X-Plivo-Signature-V2", "X-Plivo-Signature-Ma-V2"} {
			if s := r.Header.Get(hdr); s != "" && hmac.Equal([]byte(s), []byte(want)) {
				return nil
			}
		}
		return forbidden("X-Plivo-Signature-V2")
	}
	return unauthenticated("X-Plivo-Signature-V3")
}

func plivoV3(key []byte, u, nonce string, params url.Values) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	s := pu.Scheme + "://" + pu.Host + pu.Path
	if len(params) > 0 || pu.RawQuery != "" {
		s += "?"
	}
	concat := sortedPairs(firsts(params), "", "")
	if pu.RawQuery != "" {
		s += sortedPairs(firsts(pu.Query()), "=", "&")
		if concat != "" {
			s += "." + concat
		}
	} else {
		s += concat
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(s + "." + nonce))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func plivoV2(key []byte, u, nonce string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(pu.Scheme + "://" + pu.Host + pu.Path + nonce))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// firsts keeps each parameter's first value, as Plivo's SDKs do.
func firsts(v url.Values) map[string]string {
	m := make(map[string]string, len(v))
	for k, vs := range v {
		if len(vs) > 0 {
			m[k] = vs[0]
		}
	}
	return m
}

// sortedPairs joins k+kv+v for each key in order, with sep between pairs.
func sortedPairs(m map[string]string, kv, sep string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(k + kv + m[k])
	}
	return b.String()
}

// vonageMethod maps the SMS API signature method to its hash; md5hash (the
// dashboard's default) is the only one that is not an HMAC.
func vonageMethod(s string) (string, error) {
	switch m := strings.ToLower(strings.TrimSpace(s)); m {
	case "", "md5hash":
		return "md5hash", nil
	case "md5", "sha1", "sha256", "sha512":
		return m, nil
	}
	return "", fmt.Errorf("unknown method %q (want md5hash, md5, sha1, sha256 or sha512)", s)
}

// verifyVonage checks either of Vonage's two schemes.
//
// The Messages API sends "Authorization: Bearer <JWT>", HS256-signed with
// the signature secret, whose payload_hash claim is the hex SHA-256 of the
// body (https://developer.vonage.com/en/messages/concepts/signed-webhooks).
// We require the hash to match, and iat within MaxAge when present.
//
// The SMS API adds a sig parameter (with timestamp and nonce): every other
// parameter as "&name=value" in name order, with "&" and "=" in values
// replaced by "_", then for md5hash the MD5 of that string followed by the
// secret, else the HMAC of the string keyed with the secret, in hex
// (https://developer.vonage.com/en/getting-started/concepts/signing-messages).
// A timestamp older than MaxAge is refused.
func (h *Handler) verifyVonage(r *request, method string) error {
	secret := h.cfg.Vonage.SignatureSecret
	if auth := r.Header.Get("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return unauthenticated("bearer token")
		}
		return h.verifyVonageJWT(strings.TrimSpace(tok), secret, r.body)
	}
	params := r.params
	if r.mtype == "application/json" {
		var m map[string]any
		if err := json.Unmarshal(r.body, &m); err != nil {
			return malformed("json: %v", err)
		}
		params = url.Values{}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				params.Set(k, v)
			case nil:
				params.Set(k, "")
			default:
				b, _ := json.Marshal(v)
				params.Set(k, string(b))
			}
		}
		r.params = params
	}
	got := params.Get("sig")
	if got == "" {
		return unauthenticated("sig")
	}
	if err := h.fresh(params.Get("timestamp")); err != nil {
		return err
	}
	if !hmac.Equal([]byte(strings.ToLower(got)), []byte(vonageSig(method, secret, params))) {
		return forbidden("sig")
	}
	return nil
}

// vonageSig computes the SMS API's sig, in lower-case hex.
func vonageSig(method, secret string, params url.Values) string {
	m := firsts(params)
	delete(m, "sig")
	clean := strings.NewReplacer("&", "_", "=", "_")
	for k, v := range m {
		m[k] = clean.Replace(v)
	}
	s := "&" + sortedPairs(m, "=", "&")
	if len(m) == 0 {
		s = ""
	}
	if method == "md5hash" {
		sum := md5.Sum([]byte(s + secret))
		return hex.EncodeToString(sum[:])
	}
	var hf func() hash.Hash
	switch method {
	case "md5":
		hf = md5.New
	case "sha1":
		hf = sha1.New
	case "sha256":
		hf = sha256.New
	default:
		hf = sha512.New
	}
	mac := hmac.New(hf, []byte(secret))
	mac.Write([]byte(s))
	return hex.EncodeToString(mac.Sum(nil))
}

func (h *Handler) verifyVonageJWT(tok, secret string, body []byte) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return forbidden("bearer token")
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if b, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(b, &hdr) != nil || hdr.Alg != "HS256" {
		return forbidden("bearer token header")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return forbidden("bearer token signature")
	}
	var claims struct {
		IAT         *json.Number `json:"iat"`
		PayloadHash string       `json:"payload_hash"`
		APIKey      string       `json:"api_key"`
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(b, &claims) != nil {
		return forbidden("bearer token claims")
	}
	if k := h.cfg.Vonage.APIKey; k != "" && claims.APIKey != k {
		return forbidden("bearer token api_key")
	}
	if claims.IAT != nil {
		if err := h.fresh(strings.Split(claims.IAT.String(), ".")[0]); err != nil {
			return err
		}
	}
	sum := sha256.Sum256(body)
	if !hmac.Equal([]byte(strings.ToLower(claims.PayloadHash)), []byte(hex.EncodeToString(sum[:]))) {
		return forbidden("bearer token payload_hash")
	}
	return nil
}

// verifyBandwidth checks the HTTP basic-auth credentials Bandwidth sends
// with each callback once they are set on the messaging application
// (https://dev.bandwidth.com/docs/messaging/webhooks/). Both are compared
// in constant time.
func (h *Handler) verifyBandwidth(r *request) error {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return unauthenticated("basic auth")
	}
	u := sha256.Sum256([]byte(user))
	wu := sha256.Sum256([]byte(h.cfg.Bandwidth.Username))
	p := sha256.Sum256([]byte(pass))
	wp := sha256.Sum256([]byte(h.cfg.Bandwidth.Password))
	if subtle.ConstantTimeCompare(u[:], wu[:])&subtle.ConstantTimeCompare(p[:], wp[:]) != 1 {
		return forbidden("basic auth")
	}
	return nil
}

// verifyWebhook checks our own scheme, the one sms.Webhook signs with:
// "X-Textback-Signature: t=<unix seconds>,v1=<hex>", v1 the HMAC-SHA256,
// keyed with the shared secret, of t, "." and the raw body. Several v1
// values are allowed (a gateway rotating secrets); a t older than MaxAge
// is refused.
func (h *Handler) verifyWebhook(r *request) error {
	hdr := r.Header.Get("X-Textback-Signature")
	if hdr == "" {
		return unauthenticated("X-Textback-Signature")
	}
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(hdr, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, strings.ToLower(v))
		}
	}
	if ts == "" || len(sigs) == 0 {
		return forbidden("X-Textback-Signature")
	}
	if err := h.fresh(ts); err != nil {
		return err
	}
	want := []byte(sign(h.cfg.Webhook.Secret, ts, r.body))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return forbidden("X-Textback-Signature")
}

// sign returns the hex HMAC-SHA256 of ts, "." and body keyed with secret:
// the v1 of an X-Textback-Signature.
func sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}
