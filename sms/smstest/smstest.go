// Package smstest provides loopback fakes of the SMS providers package sms
// sends through (Twilio, SignalWire, Telnyx, Vonage's SMS and Messages APIs,
// Plivo, Bandwidth) and of an operator's webhook: for the tests of package
// sms and of cmd/textback, which runs the real binary against them.
//
// Each fake is an httptest.Server that checks every request field by field
// against the provider's documentation (path, method, credentials, content
// type, the body's fields and which of them are required), answers a good
// one as the provider documents, and records the text. A request that
// breaks the documentation is answered with the provider's error for a bad
// request and listed by Problems, not accepted. The fakes do not import
// package sms, so that sms's own tests can use them.
package smstest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The credentials the fakes accept. Each is shaped like the real thing, so
// the senders' own checks pass.
const (
	TwilioAccountSID = "AC0123456789abcdef0123456789abcdef"
	TwilioAuthToken  = "smstest-twilio-auth-token"

	SignalWireProjectID = "7b981d06-fa9e-4b2c-9d1a-0123456789ab"
	SignalWireAPIToken  = "PTsmstest0000000000000000000000000"

	TelnyxAPIKey = "KEY0123456789ABCDEF_smstest"

	VonageAPIKey        = "abcd1234"
	VonageAPISecret     = "Sm5t3stS3cr3t"
	VonageApplicationID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"

	PlivoAuthID    = "MAXXXXXXXXXXXXXXXXXX"
	PlivoAuthToken = "smstest-plivo-auth-token"

	BandwidthAccountID     = "9900000"
	BandwidthUsername      = "smstest-api-user"
	BandwidthPassword      = "smstest-bw-password"
	BandwidthApplicationID = "93de2206-9669-4e07-948d-329f4b722ee2"

	WebhookSecret = "whsec_smstest"
	// WebhookPath is where the webhook fake takes texts; Fake.URL includes it.
	WebhookPath = "/hooks/sms"
)

// maxBody bounds what a fake reads of a request.
const maxBody = 1 << 20

// Text is one text a fake accepted.
type Text struct {
	Provider string // "twilio", "signalwire", "telnyx", "vonage", "plivo", "bandwidth" or "webhook"
	API      string // Vonage only: "sms" or "messages"
	// To and From are E.164 numbers with their "+" even where the
	// provider takes them without (Vonage); From may be an alphanumeric
	// sender, or empty where the provider picks it (Twilio's messaging
	// service, Telnyx's profile).
	To, From string
	Body     string
	ID       string // the message id the fake answered with
	// Fields are the request's form or JSON fields as sent, for checks
	// beyond the above (Twilio's MessagingServiceSid, the webhook's
	// call_id). JSON values are decoded as by encoding/json into any.
	Fields map[string]any
}

// Fake is a loopback provider. Its methods are safe for concurrent use.
type Fake struct {
	// URL is what the sender's base_url is set to; for the webhook fake,
	// the url texts are POSTed to (WebhookPath on the fake).
	URL string
	// Provider names it: "twilio", "signalwire", "telnyx", "vonage",
	// "plivo", "bandwidth" or "webhook".
	Provider string

	spec spec
	srv  *httptest.Server

	mu       sync.Mutex
	texts    []Text
	problems []string
	requests int // to the send endpoint
	checks   int // to the account endpoint
	fail     int // answer sends with this status; 0: success
	changed  chan struct{}
	jwtKey   any // Vonage: the *rsa.PublicKey that JWTs must verify with
}

// spec is what differs between providers.
type spec struct {
	// send reports whether the request is for the send endpoint.
	send func(r *http.Request) bool
	// auth checks the credentials; it returns a problem or "".
	auth func(f *Fake, r *http.Request, raw []byte) string
	// parse checks a send request's content type and body and returns the
	// text it asks for, and what breaks the documentation.
	parse func(f *Fake, r *http.Request, raw []byte) (Text, []string)
	// id makes the id of the n-th text, t.
	id func(n int, t Text) string
	// ok answers an accepted text.
	ok func(w http.ResponseWriter, t Text)
	// refuse answers with the provider's error for status; problem is why.
	refuse func(w http.ResponseWriter, status int, problem string)
	// check is the account endpoint textback check reads: its path, and
	// the answer. Empty path: the provider has none.
	checkPath   string
	checkAnswer func(w http.ResponseWriter)
}

func newFake(t testing.TB, provider string, s spec, path string) *Fake {
	t.Helper()
	f := &Fake{Provider: provider, spec: s, changed: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.URL = f.srv.URL + path
	return f
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		f.problem(w, http.StatusBadRequest, fmt.Sprintf("read request: %v", err))
		return
	}
	if f.spec.checkPath != "" && r.Method == http.MethodGet && r.URL.Path == f.spec.checkPath {
		f.mu.Lock()
		f.checks++
		f.mu.Unlock()
		if p := f.spec.auth(f, r, raw); p != "" {
			f.spec.refuse(w, http.StatusUnauthorized, p) // bad credentials are the point of a check: not a problem
			return
		}
		f.spec.checkAnswer(w)
		return
	}
	if !f.spec.send(r) {
		f.problem(w, http.StatusNotFound, fmt.Sprintf("unexpected request %s %s", r.Method, r.URL.Path))
		return
	}
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	if p := f.spec.auth(f, r, raw); p != "" {
		f.problem(w, http.StatusUnauthorized, p)
		return
	}
	text, problems := f.spec.parse(f, r, raw)
	if len(problems) > 0 {
		f.problem(w, http.StatusBadRequest, strings.Join(problems, "; "))
		return
	}
	f.mu.Lock()
	if status := f.fail; status != 0 {
		f.mu.Unlock()
		f.spec.refuse(w, status, http.StatusText(status))
		return
	}
	text.Provider = f.Provider
	text.ID = f.spec.id(len(f.texts)+1, text)
	f.texts = append(f.texts, text)
	f.notify()
	f.mu.Unlock()
	f.spec.ok(w, text)
}

// problem records a request that breaks the documentation and answers it.
func (f *Fake) problem(w http.ResponseWriter, status int, p string) {
	f.mu.Lock()
	f.problems = append(f.problems, p)
	f.notify()
	f.mu.Unlock()
	f.spec.refuse(w, status, p)
}

// notify wakes Wait; f.mu is held.
func (f *Fake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Texts returns the texts accepted so far, in order.
func (f *Fake) Texts() []Text {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Text(nil), f.texts...)
}

// Problems returns what broke the provider's documentation in the requests
// so far: wrong path, credentials, content type, missing or unknown fields.
func (f *Fake) Problems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.problems...)
}

// Requests returns how many requests came to the send endpoint, accepted
// or not.
func (f *Fake) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// Checks returns how many requests came to the account endpoint that
// textback check reads.
func (f *Fake) Checks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checks
}

// Fail makes the fake answer every good send request from now on with
// status and the provider's documented error body for it, accepting
// nothing; Fail(0) makes it accept texts again. A 503 makes a sender fall
// over to the next one; a 400 is permanent.
func (f *Fake) Fail(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = status
}

// Wait waits until the fake has accepted n texts, or a request broke the
// documentation, or ctx is done, and returns the texts so far. Its error
// says which of the last two happened.
func (f *Fake) Wait(ctx context.Context, n int) ([]Text, error) {
	for {
		f.mu.Lock()
		texts, problems, changed := append([]Text(nil), f.texts...), len(f.problems), f.changed
		f.mu.Unlock()
		switch {
		case problems > 0:
			return texts, fmt.Errorf("smstest: %s: %s", f.Provider, strings.Join(f.Problems(), "; "))
		case len(texts) >= n:
			return texts, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return texts, fmt.Errorf("smstest: %s: %d of %d texts: %w", f.Provider, len(texts), n, ctx.Err())
		}
	}
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
