package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/textback/textback"
)

// This file holds what the HTTP senders share: one request and its answer
// read in full, and the sorting of failed answers into permanent and
// transient errors.
//
// Timeouts and the rule "never send a second text silently". A provider
// that has read the whole request may have queued the text even if its
// answer never reaches us (a timeout waiting for headers, a reset
// connection, a load balancer's 504). Retrying, or falling over to the next
// sender, could then text the caller twice. So a POST whose body was written
// in full (net/http/httptrace's WroteRequest without error) and that got no
// answer wraps textback.ErrUnconfirmed, as does a 504 Gateway Timeout: the
// outbox records the text as Unknown and nothing resends it. A failure
// before the body was written (refused connection, DNS, TLS, a timeout while
// connecting) and a 5xx but 504 are plain transient errors: the provider
// never had the text, or said it did not take it.

// defaultClient does not follow redirects: no provider API redirects, and
// following one would turn the POST into a GET.
func defaultClient() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// transport makes requests for one sender.
type transport struct {
	client  *http.Client
	timeout time.Duration
}

func newTransport(client *http.Client, timeout time.Duration) transport {
	if client == nil {
		client = defaultClient()
	}
	if timeout == 0 {
		timeout = defaultTimeout
	}
	return transport{client: client, timeout: timeout}
}

// request is one call to a provider as a sender's builder makes it.
type request struct {
	method      string
	url         string
	contentType string // of body
	body        []byte
	auth        func(*http.Request) error // sets the credentials
	header      http.Header               // any further headers
}

// do makes the request under the transport's timeout and reads the answer.
// Its error means no answer.
func (t transport) do(ctx context.Context, rq request) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, rq.url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if rq.body != nil {
		req.Header.Set("Content-Type", rq.contentType)
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	if rq.auth != nil {
		if err := rq.auth(req); err != nil {
			return nil, err
		}
	}
	return roundTrip(t.client, req)
}

// roundTrip sends req and reads the answer (up to maxResponse). A POST that
// was written in full but got no answer comes back wrapping
// textback.ErrUnconfirmed. Error strings carry the URL without its query,
// which may hold a token.
func roundTrip(client *http.Client, req *http.Request) (*response, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wrote.Store(true)
		}
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	res, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			u := *req.URL
			u.RawQuery, u.Fragment, u.User = "", "", nil
			err = fmt.Errorf("%s %s: %w", ue.Op, u.String(), ue.Err)
		}
		if req.Method == http.MethodPost && wrote.Load() {
			return nil, fmt.Errorf("%w: request written, no answer: %w", textback.ErrUnconfirmed, err)
		}
		return nil, err
	}
	defer res.Body.Close()
	r := &response{status: res.StatusCode, header: res.Header}
	r.body, r.readErr = io.ReadAll(io.LimitReader(res.Body, maxResponse+1))
	if r.readErr == nil && len(r.body) > maxResponse {
		r.body, r.readErr = nil, fmt.Errorf("answer larger than %d bytes", maxResponse)
	}
	if r.readErr != nil {
		r.readErr = fmt.Errorf("read answer: %w", r.readErr)
	}
	return r, nil
}

// decode reads a JSON answer into v.
func (r *response) decode(v any) error {
	if r.readErr != nil {
		return r.readErr
	}
	return json.Unmarshal(r.body, v)
}

// jsonBody encodes v as the provider sees it: UTF-8, no HTML escaping.
func jsonBody(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only our own structs of strings come here
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// fault is what a provider's error code says about a failed send beyond its
// HTTP status.
type fault int

const (
	byStatus  fault = iota // nothing more: go by the HTTP status
	optedOut               // the recipient unsubscribed
	badNumber              // invalid, landline, unreachable
	badAuth                // wrong credentials, account suspended
	throttled              // slow down: a *textback.RetryError
	transient              // the provider's trouble, or no credit: retry, or fall over
	permanent              // the request is wrong: retrying cannot help
)

// classify turns an answer that was not a success into an error the run
// loop can act on: the provider's code first (f), then the HTTP status. op
// names the provider and the operation; creds names the config keys to check
// when the credentials are refused.
func classifyAnswer(op, creds string, r *response, f fault, apiErr *APIError, now time.Time) error {
	switch {
	case f == optedOut:
		return fmt.Errorf("%s: %w: %w", op, ErrOptedOut, apiErr)
	case f == badNumber:
		return fmt.Errorf("%s: %w: %w", op, ErrBadNumber, apiErr)
	case f == badAuth, f == byStatus && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden):
		return fmt.Errorf("%s: authentication failed (check %s): %w: %w", op, creds, textback.ErrUndeliverable, apiErr)
	case f == throttled, r.status == http.StatusTooManyRequests:
		return &textback.RetryError{
			After: retryAfter(r.header.Get("Retry-After"), now),
			Err:   fmt.Errorf("%s: rate limited: %w", op, apiErr),
		}
	case f == transient:
		return fmt.Errorf("%s: %w", op, apiErr)
	case f == permanent:
		return fmt.Errorf("%s: %w: %w", op, textback.ErrUndeliverable, apiErr)
	case r.status == http.StatusGatewayTimeout:
		return fmt.Errorf("%s: %w: a gateway timed out waiting for the provider: %w", op, textback.ErrUnconfirmed, apiErr)
	case r.status >= 500, r.status == http.StatusRequestTimeout:
		return fmt.Errorf("%s: %w", op, apiErr)
	case r.status == http.StatusNotFound:
		return fmt.Errorf("%s: not found (check base_url): %w: %w", op, textback.ErrUndeliverable, apiErr)
	case r.status >= 400:
		return fmt.Errorf("%s: %w: %w", op, textback.ErrUndeliverable, apiErr)
	case r.status >= 300:
		return fmt.Errorf("%s: unexpected redirect (check base_url): %w: %w", op, textback.ErrUndeliverable, apiErr)
	default: // a 2xx that says no: the provider's code decides, and it said nothing we know
		return fmt.Errorf("%s: %w: %w", op, textback.ErrUndeliverable, apiErr)
	}
}

// unreadable is the error for a 2xx whose answer cannot be read: the
// provider took the text, so it is not to be sent again, but we do not know
// its id.
func unreadable(op string, r *response, err error) error {
	return fmt.Errorf("%s: %w: the provider accepted the text (http %d) but its answer is unreadable: %w",
		op, textback.ErrUnconfirmed, r.status, err)
}

// statusError is an APIError for an answer without a body we understand.
func statusError(r *response) *APIError {
	return &APIError{Status: r.status, Message: http.StatusText(r.status)}
}

// basicAuth sets HTTP basic credentials.
func basicAuth(user, pass string) func(*http.Request) error {
	return func(r *http.Request) error { r.SetBasicAuth(user, pass); return nil }
}

// bearer sets a bearer token.
func bearer(token string) func(*http.Request) error {
	return func(r *http.Request) error { r.Header.Set("Authorization", "Bearer "+token); return nil }
}

// pathSafe reports whether s can go into a URL path as it is: ASCII letters,
// digits, '-' and '_'. Account ids are checked with it, so a config value
// cannot walk the path.
func pathSafe(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// checkBase validates an optional base_url for the provider named.
func checkBase(name, base string) error {
	if base == "" {
		return nil
	}
	if err := checkURL(base); err != nil {
		return fmt.Errorf("%s: base_url: %w", name, err)
	}
	return nil
}

// checkTimeout validates a timeout for the provider named.
func checkTimeout(name string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s: timeout %s is negative", name, d)
	}
	return nil
}

// checkMessage refuses what no provider would send.
func checkMessage(op string, m textback.Message, haveSender bool) error {
	switch {
	case m.To == "":
		return fmt.Errorf("%s: %w: no recipient", op, textback.ErrUndeliverable)
	case m.Body == "":
		return fmt.Errorf("%s: %w: empty body", op, textback.ErrUndeliverable)
	case !haveSender:
		return fmt.Errorf("%s: %w: no sender (set from)", op, textback.ErrUndeliverable)
	}
	return nil
}

// or returns a if it is set, else b.
func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
