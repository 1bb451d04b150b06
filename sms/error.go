package sms

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/textback/textback"
)

// Sentinels for the permanent failures callers act on. Each wraps
// textback.ErrUndeliverable, so the run loop does not retry them.
var (
	// ErrOptedOut: the recipient has unsubscribed (replied STOP) from the
	// sending number. The daemon puts the number on its opt-out list.
	ErrOptedOut = fmt.Errorf("recipient opted out: %w", textback.ErrUndeliverable)
	// ErrBadNumber: the number cannot take texts at all: invalid, a landline,
	// deactivated or barred. Remember keeps such numbers for a while.
	ErrBadNumber = fmt.Errorf("number cannot receive texts: %w", textback.ErrUndeliverable)
	// ErrRememberedFailure: Remember refused a number that failed with
	// ErrBadNumber a short while ago, without asking the provider again.
	ErrRememberedFailure = fmt.Errorf("number failed recently: %w", textback.ErrUndeliverable)
)

// APIError is an error answer from a provider's REST API: the HTTP status and
// the provider's own error code, message and documentation link. For Twilio
// (https://www.twilio.com/docs/usage/twilios-response) callers look at Code
// to tell, say, an opted-out recipient (21610) from a bad number (21211).
// Providers whose codes are not numbers (Bandwidth's "request-validation",
// SignalWire's "invalid_parameter") put them in Type. Phone numbers in
// Message are masked. Code is zero when the answer had no error body (a
// proxy's 502, say), and Message is then the status text.
type APIError struct {
	Status   int    // HTTP status
	Code     int    // the provider's numeric error code (Twilio, Telnyx, Vonage)
	Type     string // the provider's error type when it is not a number
	Message  string // the provider's message, phone numbers masked
	MoreInfo string // link to the code's documentation
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "http %d", e.Status)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Type != "" {
		fmt.Fprintf(&b, ", %s", e.Type)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.MoreInfo != "" {
		fmt.Fprintf(&b, " (%s)", e.MoreInfo)
	}
	return b.String()
}

// Twilio error codes this package treats on their own.
const (
	codeAuthenticate = 20003 // Permission Denied: wrong credentials, suspended or closed account
	codeQueueFull    = 21611 // the From sender's queue is full: slow down, the queue drains
	codeOptedOut     = 21610 // the recipient replied STOP to this sender
	codeInvalidTo    = 21211 // the To number is not a valid phone number
	codeNotMobile    = 21614 // the To number is not a mobile number (a landline)
)

// classify turns an answer that was not a success into an error the run loop
// can act on. Following Twilio's guidance on retries (help.twilio.com,
// "Handling Twilio REST API Error Codes and Implementing Retry Logic"), it goes
// by the HTTP status rather than by error code: 4xx but 429 is permanent, 429
// and 5xx are worth retrying. The exception is 21611 (a full sender queue),
// which says to slow down rather than that the text is wrong.
func classify(op string, r *response, now time.Time) error {
	apiErr := r.apiError()
	switch {
	case r.status == http.StatusUnauthorized || apiErr.Code == codeAuthenticate:
		return fmt.Errorf("twilio: authentication failed (check account_sid and auth_token): %w: %w", textback.ErrUndeliverable, apiErr)
	case r.status == http.StatusTooManyRequests:
		return &textback.RetryError{
			After: retryAfter(r.header.Get("Retry-After"), now),
			Err:   fmt.Errorf("%s: rate limited: %w", op, apiErr),
		}
	case r.status >= 500, r.status == http.StatusRequestTimeout, apiErr.Code == codeQueueFull:
		return fmt.Errorf("%s: %w", op, apiErr)
	case r.status == http.StatusNotFound:
		return fmt.Errorf("%s: not found (check base_url): %w: %w", op, textback.ErrUndeliverable, apiErr)
	case apiErr.Code == codeOptedOut:
		return fmt.Errorf("%s: %w: %w", op, ErrOptedOut, apiErr)
	case apiErr.Code == codeInvalidTo, apiErr.Code == codeNotMobile:
		return fmt.Errorf("%s: %w: %w", op, ErrBadNumber, apiErr)
	case r.status >= 400:
		return fmt.Errorf("%s: %w: %w", op, textback.ErrUndeliverable, apiErr)
	default: // 3xx: api.twilio.com does not redirect, so base_url points elsewhere
		return fmt.Errorf("%s: unexpected redirect (check base_url): %w: %w", op, textback.ErrUndeliverable, apiErr)
	}
}

// Retry-After bounds: Twilio asks to honour the header on 429 but does not
// always send it; without it we wait a second, Twilio's suggested first step
// of backoff. A far-off value is capped so that a bad header cannot park a
// text for days.
const (
	defaultRetryAfter = time.Second
	maxRetryAfter     = time.Hour
)

// retryAfter reads a Retry-After value, delay-seconds or HTTP-date (RFC 9110
// section 10.2.3), relative to now.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return defaultRetryAfter
	}
	var d time.Duration
	if strings.Trim(v, "0123456789") == "" { // delay-seconds, maybe past any int
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil || secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return defaultRetryAfter
	}
	return min(max(d, 0), maxRetryAfter)
}

// numberRE finds phone numbers in Twilio's messages ("The 'To' number
// +15005550001 is not a valid phone number."): 7 to 15 digits standing alone,
// not digits inside a SID.
var numberRE = regexp.MustCompile(`\+?\b\d{7,15}\b`)

// maskNumbers masks the phone numbers in s: error strings end up in the logs,
// and phone numbers are personal data.
func maskNumbers(s string) string {
	return numberRE.ReplaceAllStringFunc(s, func(n string) string { return textback.Number(n).Masked() })
}
