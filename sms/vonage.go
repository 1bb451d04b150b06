package sms

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/textback/textback"
)

var _ textback.Sender = (*Vonage)(nil)

// VonageConfig configures a Vonage sender ([sms.vonage]: api, api_key,
// api_secret, application_id, private_key_file, from, base_url).
//
// API "sms" (the default) is the SMS API and needs APIKey and APISecret.
// API "messages" is the Messages API and authenticates with a JWT when
// ApplicationID and PrivateKeyFile are set, else with basic auth
// APIKey:APISecret.
type VonageConfig struct {
	API            string // "sms" or "messages"
	APIKey         string
	APISecret      string
	ApplicationID  string // Messages API, JWT
	PrivateKeyFile string // Messages API, JWT: the application's PEM private key
	From           string // default sender: a number or an alphanumeric ID; Message.From overrides it
	BaseURL        string // default https://rest.nexmo.com (sms), https://api.nexmo.com (messages)

	HTTPClient *http.Client  // nil: a client that does not follow redirects
	Timeout    time.Duration // per request; zero means 10s
}

// String describes the config without the secret or key.
func (c VonageConfig) String() string {
	return fmt.Sprintf("vonage %s api_key %s application %s from %q base_url %q (secrets redacted)",
		or(c.API, "sms"), c.APIKey, c.ApplicationID, c.From, c.BaseURL)
}

// GoString is String, so %#v does not print the secret either.
func (c VonageConfig) GoString() string { return c.String() }

// LogValue logs the config without the secret.
func (c VonageConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("api", or(c.API, "sms")), slog.String("api_key", c.APIKey),
		slog.String("application_id", c.ApplicationID), slog.String("private_key_file", c.PrivateKeyFile),
		slog.String("from", c.From), slog.String("base_url", c.BaseURL))
}

// Vonage sends texts through one of Vonage's two SMS APIs.
//
// The SMS API: a form POST to /sms/json with api_key and api_secret in the
// body, answered 200 even on failure, with a status per message part
// (https://developer.vonage.com/messaging/sms/guides/troubleshooting-sms,
// https://developer.vonage.com/api-errors/sms). Texts beyond GSM-7 go as
// type=unicode, or Vonage would mangle them.
//
// The Messages API: a JSON POST to /v1/messages {message_type: "text", text,
// to, from, channel: "sms"}, answered 202 {message_uuid}; errors are RFC 7807
// problems whose type ends in the code
// (https://developer.vonage.com/tutorials/send-sms-with-messages/send-sms,
// https://developer.vonage.com/api-errors/messages,
// https://developer.vonage.com/concepts/guides/authentication). The JWT is
// RS256 with the claims application_id, iat, jti and exp, made afresh for
// each request.
//
// Vonage wants numbers without the leading "+". It is safe for concurrent use.
type Vonage struct {
	cfg      VonageConfig
	messages bool
	base     string
	key      *rsa.PrivateKey // Messages API with JWT
	t        transport
	log      *slog.Logger
	now      func() time.Time
	creds    string
}

// NewVonage checks cfg, reads the private key if any, and returns a Vonage
// sender.
func NewVonage(cfg VonageConfig, log *slog.Logger) (*Vonage, error) {
	v := &Vonage{cfg: cfg, now: time.Now}
	var errs []error
	switch cfg.API {
	case "", "sms":
		v.base, v.creds = "https://rest.nexmo.com", "api_key and api_secret"
		if cfg.APIKey == "" || cfg.APISecret == "" {
			errs = append(errs, errors.New("vonage: the sms api needs api_key and api_secret"))
		}
		if cfg.ApplicationID != "" || cfg.PrivateKeyFile != "" {
			errs = append(errs, errors.New(`vonage: application_id and private_key_file are for api = "messages"`))
		}
	case "messages":
		v.messages, v.base = true, "https://api.nexmo.com"
		switch {
		case cfg.ApplicationID != "" || cfg.PrivateKeyFile != "":
			v.creds = "application_id and private_key_file"
			if cfg.ApplicationID == "" || cfg.PrivateKeyFile == "" {
				errs = append(errs, errors.New("vonage: JWT auth needs both application_id and private_key_file"))
			} else if k, err := readRSAKey(cfg.PrivateKeyFile); err != nil {
				errs = append(errs, fmt.Errorf("vonage: private_key_file: %w", err))
			} else {
				v.key = k
			}
		case cfg.APIKey != "" && cfg.APISecret != "":
			v.creds = "api_key and api_secret"
		default:
			errs = append(errs, errors.New("vonage: the messages api needs application_id and private_key_file, or api_key and api_secret"))
		}
	default:
		errs = append(errs, fmt.Errorf(`vonage: api %q is not "sms" or "messages"`, cfg.API))
	}
	errs = append(errs, checkBase("vonage", cfg.BaseURL), checkTimeout("vonage", cfg.Timeout))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v.base = strings.TrimRight(or(cfg.BaseURL, v.base), "/")
	v.t = newTransport(cfg.HTTPClient, cfg.Timeout)
	v.log = log.With("sender", "vonage", "api", or(cfg.API, "sms"))
	return v, nil
}

// readRSAKey reads a PEM RSA private key, PKCS#8 (what Vonage's dashboard
// hands out) or PKCS#1. Errors do not quote the file.
func readRSAKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("not a PKCS#8 or PKCS#1 private key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an RSA key", k)
	}
	return rk, nil
}

// String names the sender without its secrets.
func (v *Vonage) String() string { return "vonage " + or(v.cfg.API, "sms") }

// jwt makes a Messages API token valid for five minutes.
func (v *Vonage) jwt() (string, error) {
	now := v.now()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims := enc.EncodeToString(jsonBody(struct {
		ApplicationID string `json:"application_id"`
		IAT           int64  `json:"iat"`
		JTI           string `json:"jti"`
		EXP           int64  `json:"exp"`
	}{v.cfg.ApplicationID, now.Unix(), hex.EncodeToString(jti), now.Add(5 * time.Minute).Unix()}))
	sum := sha256.Sum256([]byte(head + "." + claims))
	sig, err := rsa.SignPKCS1v15(rand.Reader, v.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return head + "." + claims + "." + enc.EncodeToString(sig), nil
}

func (v *Vonage) auth(r *http.Request) error {
	if v.key == nil {
		r.SetBasicAuth(v.cfg.APIKey, v.cfg.APISecret)
		return nil
	}
	tok, err := v.jwt()
	if err != nil {
		return fmt.Errorf("sign jwt: %w", err)
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// Send sends m through the configured API. Errors, by Vonage's code:
//
//	SMS API status     Messages API code   error
//	6, 7, 33           1040, 1050, 1170    ErrBadNumber (unknown prefix, barred, deactivated)
//	4, 8, 14, 32       1060, 401, 403      bad credentials or barred account (permanent)
//	1                  1000, 429           *textback.RetryError
//	5, 9, 10           1030, 1070, 1100    transient (internal, no credit, binds)
//	other              other 4xx           permanent
//
// Vonage reports opt-outs only later, in the delivery receipt (SMS API
// err-code 9) or status webhook, so Send never returns ErrOptedOut.
func (v *Vonage) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	op := fmt.Sprintf("vonage: send for call %s", m.CallID)
	from := or(string(m.From), v.cfg.From)
	if err := checkMessage(op, m, from != ""); err != nil {
		return textback.Receipt{}, err
	}
	to, from := strings.TrimPrefix(string(m.To), "+"), strings.TrimPrefix(from, "+")
	if v.messages {
		return v.sendMessages(ctx, op, m, to, from)
	}
	form := url.Values{"api_key": {v.cfg.APIKey}, "api_secret": {v.cfg.APISecret}, "from": {from}, "to": {to}, "text": {m.Body}}
	if !isGSM7(m.Body) {
		form.Set("type", "unicode")
	}
	r, err := v.t.do(ctx, request{method: http.MethodPost, url: v.base + "/sms/json",
		contentType: "application/x-www-form-urlencoded", body: []byte(form.Encode())})
	if err != nil {
		return textback.Receipt{}, fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		return textback.Receipt{}, classifyAnswer(op, v.creds, r, byStatus, statusError(r), v.now())
	}
	var ans struct {
		Messages []struct {
			ID        string `json:"message-id"`
			Status    string `json:"status"`
			ErrorText string `json:"error-text"`
		} `json:"messages"`
	}
	if err := r.decode(&ans); err != nil || len(ans.Messages) == 0 {
		return textback.Receipt{}, unreadable(op, r, errors.Join(err, errors.New("no messages in the answer")))
	}
	// A long text goes in parts, each with its status. If any part went,
	// the text is partly out: never send it again.
	var rc textback.Receipt
	var failed *APIError
	for _, p := range ans.Messages {
		if p.Status == "0" {
			if rc.ProviderID == "" {
				rc = textback.Receipt{Sender: "vonage", ProviderID: p.ID}
			}
			continue
		}
		if failed == nil {
			failed = &APIError{Status: r.status, Message: maskNumbers(p.ErrorText), MoreInfo: "https://developer.vonage.com/api-errors/sms"}
			failed.Code, _ = strconv.Atoi(p.Status)
		}
	}
	switch {
	case failed == nil && rc.ProviderID != "":
		v.log.DebugContext(ctx, "vonage accepted text", "call_id", m.CallID, "to", m.To, "provider_id", rc.ProviderID, "parts", len(ans.Messages))
		return rc, nil
	case failed == nil:
		return textback.Receipt{}, unreadable(op, r, errors.New("no message-id in the answer"))
	case rc.ProviderID != "":
		return rc, fmt.Errorf("%s: %w: some parts were accepted, others not: %w", op, textback.ErrUnconfirmed, failed)
	}
	return textback.Receipt{}, classifyAnswer(op, v.creds, r, vonageSMSFaults[failed.Code], failed, v.now())
}

// vonageSMSFaults sorts the SMS API's status codes
// (https://developer.vonage.com/api-errors/sms). Codes not here are
// permanent: Vonage refused the text.
var vonageSMSFaults = map[int]fault{
	1:  throttled,
	4:  badAuth,   // invalid credentials
	5:  transient, // internal error
	6:  badNumber, // invalid message: an unrecognised number prefix
	7:  badNumber, // number barred
	8:  badAuth,   // account barred
	9:  transient, // partner quota violation: no credit; another sender may have some
	10: transient, // too many existing binds
	14: badAuth,   // invalid signature
	32: badAuth,   // signature and api secret disallowed
	33: badNumber, // number de-activated
}

// vonageMessagesFaults sorts the Messages API's codes
// (https://developer.vonage.com/api-errors/messages).
var vonageMessagesFaults = map[int]fault{
	1000: throttled,
	1030: transient, // internal error
	1040: badNumber, // invalid message: an unrecognised prefix for the number
	1050: badNumber, // number barred
	1060: badAuth,   // account barred
	1070: transient, // partner quota exceeded: no credit
	1100: transient, // communication failed
	1170: badNumber, // invalid or missing msisdn
}

func (v *Vonage) sendMessages(ctx context.Context, op string, m textback.Message, to, from string) (textback.Receipt, error) {
	body := jsonBody(struct {
		MessageType string `json:"message_type"`
		Text        string `json:"text"`
		To          string `json:"to"`
		From        string `json:"from"`
		Channel     string `json:"channel"`
	}{"text", m.Body, to, from, "sms"})
	r, err := v.t.do(ctx, request{method: http.MethodPost, url: v.base + "/v1/messages",
		contentType: "application/json", body: body, auth: v.auth})
	if err != nil {
		return textback.Receipt{}, fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		apiErr := statusError(r)
		var p struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		f := byStatus
		if r.decode(&p) == nil && (p.Title != "" || p.Type != "") {
			apiErr.MoreInfo = p.Type
			apiErr.Message = maskNumbers(strings.TrimSuffix(p.Title+": "+p.Detail, ": "))
			if _, frag, ok := strings.Cut(p.Type, "#"); ok {
				if n, err := strconv.Atoi(frag); err == nil {
					apiErr.Code, f = n, vonageMessagesFaults[n]
				} else {
					apiErr.Type = frag
				}
			}
		}
		return textback.Receipt{}, classifyAnswer(op, v.creds, r, f, apiErr, v.now())
	}
	var ans struct {
		UUID string `json:"message_uuid"`
	}
	err = r.decode(&ans)
	if err == nil && ans.UUID == "" {
		err = errors.New("no message_uuid in the answer")
	}
	if err != nil {
		return textback.Receipt{}, unreadable(op, r, err)
	}
	v.log.DebugContext(ctx, "vonage accepted text", "call_id", m.CallID, "to", m.To, "provider_id", ans.UUID)
	return textback.Receipt{Sender: "vonage", ProviderID: ans.UUID}, nil
}

// Check fetches the account balance (GET /account/get-balance on
// rest.nexmo.com, basic auth api_key:api_secret,
// https://developer.vonage.com/en/api/account) when the key and secret are
// set. With JWT auth only there is no cheap authenticated GET, and Check
// only proves that the private key signs.
func (v *Vonage) Check(ctx context.Context) error {
	const op = "vonage: check"
	if v.cfg.APIKey == "" {
		if _, err := v.jwt(); err != nil {
			return fmt.Errorf("%s: sign jwt: %w", op, err)
		}
		return nil
	}
	base := v.base
	if v.messages && v.cfg.BaseURL == "" {
		base = "https://rest.nexmo.com"
	}
	r, err := v.t.do(ctx, request{method: http.MethodGet, url: base + "/account/get-balance", auth: basicAuth(v.cfg.APIKey, v.cfg.APISecret)})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if r.status/100 != 2 {
		return classifyAnswer(op, "api_key and api_secret", r, byStatus, statusError(r), v.now())
	}
	var bal struct {
		Value *float64 `json:"value"`
	}
	if err := r.decode(&bal); err != nil || bal.Value == nil {
		return fmt.Errorf("%s: http %d: not a balance answer (check base_url)", op, r.status)
	}
	return nil
}

// gsm7 is the GSM 03.38 default alphabet and its extension table: what an
// SMS can carry without switching to UCS-2.
const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà" +
	"\f^{}\\[~]|€"

// isGSM7 reports whether s fits the GSM-7 alphabet.
func isGSM7(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune(gsm7, c) {
			return false
		}
	}
	return true
}
