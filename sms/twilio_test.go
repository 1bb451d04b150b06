package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/textback/textback"
)

const (
	testSID     = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	testToken   = "f00dfacef00dfacef00dfacef00dface"
	testService = "MGbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	testMsgSID  = "SMcccccccccccccccccccccccccccccccc"
	testFrom    = "+13125550199"                  // the business's Twilio number
	testTo      = textback.Number("+13125550101") // the missed caller
	testInvalid = textback.Number("+15005550001") // Twilio's magic "invalid number"
	testMasked  = "+1******0101"                  // testTo as logs show it
	messagesP   = "/2010-04-01/Accounts/" + testSID + "/Messages.json"
	accountP    = "/2010-04-01/Accounts/" + testSID + ".json"
)

// checkAuth checks what Twilio requires of every request: HTTP basic auth
// with the account SID and auth token.
func checkAuth(t *testing.T, r *http.Request) {
	t.Helper()
	user, pass, ok := r.BasicAuth()
	if !ok || user != testSID || pass != testToken {
		t.Errorf("basic auth = %q, %q, %v; want the account SID and auth token", user, pass, ok)
	}
}

// checkCreate checks a Create Message request exactly as Twilio documents it
// and returns its form.
func checkCreate(t *testing.T, r *http.Request, want url.Values) url.Values {
	t.Helper()
	if r.Method != http.MethodPost {
		t.Errorf("method = %s, want POST", r.Method)
	}
	if r.URL.Path != messagesP {
		t.Errorf("path = %s, want %s", r.URL.Path, messagesP)
	}
	if r.URL.RawQuery != "" {
		t.Errorf("query = %q, want none", r.URL.RawQuery)
	}
	checkAuth(t, r)
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q, want application/x-www-form-urlencoded", ct)
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read body: %v", err)
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		t.Errorf("body %q is not form encoded: %v", raw, err)
	}
	if want != nil && !maps.EqualFunc(form, want, slices.Equal) {
		t.Errorf("form = %v, want %v", form, want)
	}
	return form
}

// created answers like Twilio's Create Message example: 201 and the new
// Message resource, echoing the request.
func created(w http.ResponseWriter, form url.Values) {
	from := any(nil)
	if f := form.Get("From"); f != "" {
		from = f
	}
	svc := any(nil)
	if s := form.Get("MessagingServiceSid"); s != "" {
		svc = s
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"account_sid":           testSID,
		"api_version":           "2010-04-01",
		"body":                  form.Get("Body"),
		"date_created":          "Thu, 30 Jul 2015 20:12:31 +0000",
		"date_sent":             nil,
		"date_updated":          "Thu, 30 Jul 2015 20:12:31 +0000",
		"direction":             "outbound-api",
		"error_code":            nil,
		"error_message":         nil,
		"from":                  from,
		"messaging_service_sid": svc,
		"num_media":             "0",
		"num_segments":          "1",
		"price":                 nil,
		"price_unit":            "USD",
		"sid":                   testMsgSID,
		"status":                "queued",
		"subresource_uris": map[string]string{
			"media": "/2010-04-01/Accounts/" + testSID + "/Messages/" + testMsgSID + "/Media.json",
		},
		"to":  form.Get("To"),
		"uri": "/2010-04-01/Accounts/" + testSID + "/Messages/" + testMsgSID + ".json",
	})
}

// twilioError answers like Twilio's REST API errors.
func twilioError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{
		"code":      code,
		"message":   msg,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
		"status":    status,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// newTwilio starts a loopback Twilio with h and a sender pointing at it.
func newTwilio(t *testing.T, h http.HandlerFunc, edit func(*TwilioConfig)) *Twilio {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: srv.URL}
	if edit != nil {
		edit(&cfg)
	}
	tw, err := NewTwilio(cfg, nil)
	if err != nil {
		t.Fatalf("NewTwilio: %v", err)
	}
	return tw
}

func msg(to textback.Number, body string) textback.Message {
	return textback.Message{ID: 7, CallID: "1700000000.42", Rule: "default", To: to, Body: body}
}

func TestSendRequest(t *testing.T) {
	const unicode = "Désolé, on a manqué votre appel 📞 — rappel sous peu ✅"
	for name, tt := range map[string]struct {
		cfg  func(*TwilioConfig)
		m    textback.Message
		want url.Values
	}{
		"default from": {
			m:    msg(testTo, "Sorry we missed your call."),
			want: url.Values{"To": {string(testTo)}, "From": {testFrom}, "Body": {"Sorry we missed your call."}},
		},
		"message from overrides": {
			m:    textback.Message{CallID: "c1", To: testTo, From: "+13125550142", Body: "hi"},
			want: url.Values{"To": {string(testTo)}, "From": {"+13125550142"}, "Body": {"hi"}},
		},
		"messaging service": {
			cfg:  func(c *TwilioConfig) { c.From, c.MessagingServiceSID = "", testService },
			m:    msg(testTo, "hi"),
			want: url.Values{"To": {string(testTo)}, "MessagingServiceSid": {testService}, "Body": {"hi"}},
		},
		"status callback": {
			cfg: func(c *TwilioConfig) { c.StatusCallback = "https://textback.example.com/twilio/status?x=1" },
			m:   msg(testTo, "hi"),
			want: url.Values{"To": {string(testTo)}, "From": {testFrom}, "Body": {"hi"},
				"StatusCallback": {"https://textback.example.com/twilio/status?x=1"}},
		},
		"unicode body": {
			m:    msg(testTo, unicode),
			want: url.Values{"To": {string(testTo)}, "From": {testFrom}, "Body": {unicode}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			tw := newTwilio(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				created(w, checkCreate(t, r, tt.want))
			}, tt.cfg)
			rc, err := tw.Send(context.Background(), tt.m)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if want := (textback.Receipt{Sender: "twilio", ProviderID: testMsgSID}); rc != want {
				t.Errorf("receipt = %+v, want %+v", rc, want)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// The body goes as UTF-8, percent-encoded, not transliterated or escaped.
func TestSendUnicodeWire(t *testing.T) {
	var raw string
	tw := newTwilio(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		raw = string(b)
		form, _ := url.ParseQuery(raw)
		created(w, form)
	}, nil)
	if _, err := tw.Send(context.Background(), msg(testTo, "é📞")); err != nil {
		t.Fatal(err)
	}
	if want := "Body=%C3%A9%F0%9F%93%9E"; !strings.Contains(raw, want) {
		t.Errorf("body %q does not contain %q", raw, want)
	}
}

func TestSendErrors(t *testing.T) {
	fixed := time.Date(2025, 3, 3, 9, 30, 0, 0, time.UTC)
	type want struct {
		undeliverable bool
		retryAfter    time.Duration // > 0: a *RetryError with this After
		code          int           // > 0: an *APIError with this code
		status        int           // > 0: an *APIError with this status
		receipt       bool          // the receipt carries the sid
		contains      string
	}
	for name, tt := range map[string]struct {
		h    http.HandlerFunc
		want want
	}{
		"invalid to 21211": {
			h: func(w http.ResponseWriter, r *http.Request) {
				twilioError(w, 400, 21211, "The 'To' number +15005550001 is not a valid phone number.")
			},
			want: want{undeliverable: true, code: 21211, status: 400, contains: "+1******0001"},
		},
		"landline 21614": {
			h: func(w http.ResponseWriter, r *http.Request) {
				twilioError(w, 400, 21614, "'To' number is not a valid mobile number")
			},
			want: want{undeliverable: true, code: 21614},
		},
		"opted out 21610": {
			h: func(w http.ResponseWriter, r *http.Request) {
				twilioError(w, 400, 21610, "Attempt to send to unsubscribed recipient")
			},
			want: want{undeliverable: true, code: 21610, contains: "unsubscribed"},
		},
		"region 21408": {
			h: func(w http.ResponseWriter, r *http.Request) {
				twilioError(w, 400, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +15005550001.")
			},
			want: want{undeliverable: true, code: 21408},
		},
		"bad from 21606": {
			h: func(w http.ResponseWriter, r *http.Request) {
				twilioError(w, 400, 21606, "The 'From' phone number provided (+13125550199) is not a valid message-capable Twilio phone number for this destination.")
			},
			want: want{undeliverable: true, code: 21606},
		},
		"auth 20003": {
			h: func(w http.ResponseWriter, r *http.Request) {
				twilioError(w, 401, 20003, "Authenticate")
			},
			want: want{undeliverable: true, code: 20003, status: 401,
				contains: "twilio: authentication failed (check account_sid and auth_token)"},
		},
		"forbidden 403": {
			h: func(w http.ResponseWriter, r *http.Request) {
				twilioError(w, 403, 20003, "Permission Denied")
			},
			want: want{undeliverable: true, code: 20003, status: 403, contains: "authentication failed"},
		},
		"not found": {
			h: func(w http.ResponseWriter, r *http.Request) {
				twilioError(w, 404, 20404, "The requested resource was not found")
			},
			want: want{undeliverable: true, code: 20404, contains: "check base_url"},
		},
		"rate limited": {
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				twilioError(w, 429, 20429, "Too Many Requests")
			},
			want: want{retryAfter: 7 * time.Second, code: 20429, status: 429},
		},
		"rate limited until a date": {
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", fixed.Add(90*time.Second).Format(http.TimeFormat))
				twilioError(w, 429, 20429, "Too Many Requests")
			},
			want: want{retryAfter: 90 * time.Second},
		},
		"rate limited, no advice": {
			h: func(w http.ResponseWriter, r *http.Request) {
				twilioError(w, 429, 20429, "Too Many Requests")
			},
			want: want{retryAfter: time.Second},
		},
		"sender queue full 21611": {
			h: func(w http.ResponseWriter, r *http.Request) {
				twilioError(w, 400, 21611, "This 'From' number has exceeded the maximum number of queued messages")
			},
			want: want{code: 21611},
		},
		"unavailable 503": {
			h: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "<html>upstream connect error</html>", 503)
			},
			want: want{status: 503, contains: "Service Unavailable"},
		},
		"server error 500": {
			h: func(w http.ResponseWriter, r *http.Request) {
				twilioError(w, 500, 20500, "An internal server error has occurred")
			},
			want: want{code: 20500, status: 500},
		},
		"redirect": {
			h: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://elsewhere.example.com/", http.StatusMovedPermanently)
			},
			want: want{undeliverable: true, status: 301, contains: "check base_url"},
		},
		"garbage json on 201": {
			h: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(201)
				io.WriteString(w, `{"sid": "SMcc`)
			},
			want: want{undeliverable: true, contains: "not retrying"},
		},
		"201 without sid": {
			h: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 201, map[string]any{"status": "queued", "to": string(testTo)})
			},
			want: want{undeliverable: true, contains: "no sid"},
		},
		"201 too large": {
			h: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(201)
				io.WriteString(w, `{"sid":"`+testMsgSID+`","pad":"`+strings.Repeat("x", maxResponse)+`"}`)
			},
			want: want{undeliverable: true, contains: "larger than"},
		},
		"201 already failed": {
			h: func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 201, map[string]any{"sid": testMsgSID, "status": "failed",
					"error_code": 30007, "error_message": "Message filtered"})
			},
			want: want{undeliverable: true, code: 30007, status: 201, receipt: true},
		},
	} {
		t.Run(name, func(t *testing.T) {
			tw := newTwilio(t, tt.h, nil)
			tw.now = func() time.Time { return fixed }
			rc, err := tw.Send(context.Background(), msg(testTo, "Sorry we missed your call."))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			t.Logf("err: %v", err)
			if got := errors.Is(err, textback.ErrUndeliverable); got != tt.want.undeliverable {
				t.Errorf("errors.Is(ErrUndeliverable) = %v, want %v", got, tt.want.undeliverable)
			}
			var re *textback.RetryError
			if got := errors.As(err, &re); got != (tt.want.retryAfter > 0) {
				t.Errorf("errors.As(*RetryError) = %v, want %v", got, tt.want.retryAfter > 0)
			} else if got && re.After != tt.want.retryAfter {
				t.Errorf("RetryError.After = %s, want %s", re.After, tt.want.retryAfter)
			}
			if tt.want.code > 0 || tt.want.status > 0 {
				var ae *APIError
				if !errors.As(err, &ae) {
					t.Fatalf("no *APIError in %v", err)
				}
				if tt.want.code > 0 && ae.Code != tt.want.code {
					t.Errorf("APIError.Code = %d, want %d", ae.Code, tt.want.code)
				}
				if tt.want.status > 0 && ae.Status != tt.want.status {
					t.Errorf("APIError.Status = %d, want %d", ae.Status, tt.want.status)
				}
			}
			if want := (textback.Receipt{Sender: "twilio", ProviderID: testMsgSID}); tt.want.receipt && rc != want {
				t.Errorf("receipt = %+v, want %+v", rc, want)
			}
			s := err.Error()
			if !strings.HasPrefix(s, "twilio: ") {
				t.Errorf("error %q does not name the provider", s)
			}
			if tt.want.contains != "" && !strings.Contains(s, tt.want.contains) {
				t.Errorf("error %q does not contain %q", s, tt.want.contains)
			}
			for _, secret := range []string{testToken, string(testTo), string(testInvalid), testFrom} {
				if strings.Contains(s, secret) {
					t.Errorf("error %q contains %q", s, secret)
				}
			}
		})
	}
}

// Transient failures: no answer at all. Neither permanent nor with advice.
func TestSendTransport(t *testing.T) {
	transient := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("Send succeeded, want an error")
		}
		t.Logf("err: %v", err)
		var re *textback.RetryError
		if errors.Is(err, textback.ErrUndeliverable) || errors.As(err, &re) {
			t.Errorf("error %v is permanent or a RetryError, want a plain transient error", err)
		}
		if !strings.HasPrefix(err.Error(), "twilio: ") || strings.Contains(err.Error(), testToken) {
			t.Errorf("error %q: want the provider named and no token", err)
		}
	}

	t.Run("timeout", func(t *testing.T) {
		tw := newTwilio(t, func(w http.ResponseWriter, r *http.Request) {
			io.ReadAll(r.Body) // so that the server notices the client hanging up
			select {           // sleep past the client's timeout; give up when it hangs up
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, func(c *TwilioConfig) { c.Timeout = 50 * time.Millisecond })
		start := time.Now()
		_, err := tw.Send(context.Background(), msg(testTo, "hi"))
		transient(t, err)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v is not a deadline", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Send took %s with a 50ms timeout", d)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		tw, err := NewTwilio(TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: srv.URL}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tw.Send(context.Background(), msg(testTo, "hi"))
		transient(t, err)
	})
	t.Run("cancelled", func(t *testing.T) {
		tw := newTwilio(t, func(w http.ResponseWriter, r *http.Request) { created(w, url.Values{}) }, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := tw.Send(ctx, msg(testTo, "hi"))
		transient(t, err)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v is not context.Canceled", err)
		}
	})
}

// Texts Twilio would refuse are refused without asking it.
func TestSendRefusedLocally(t *testing.T) {
	for name, tt := range map[string]struct {
		cfg func(*TwilioConfig)
		m   textback.Message
	}{
		"no recipient": {m: msg("", "hi")},
		"empty body":   {m: msg(testTo, "")},
		"no sender":    {cfg: func(c *TwilioConfig) { c.From = "" }, m: msg(testTo, "hi")},
	} {
		t.Run(name, func(t *testing.T) {
			tw := newTwilio(t, func(w http.ResponseWriter, r *http.Request) {
				t.Errorf("unexpected request %s %s", r.Method, r.URL)
			}, tt.cfg)
			_, err := tw.Send(context.Background(), tt.m)
			if !errors.Is(err, textback.ErrUndeliverable) {
				t.Errorf("Send = %v, want ErrUndeliverable", err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	account := func(status string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || r.URL.Path != accountP {
				t.Errorf("request = %s %s, want GET %s", r.Method, r.URL.Path, accountP)
			}
			checkAuth(t, r)
			if b, _ := io.ReadAll(r.Body); len(b) != 0 {
				t.Errorf("GET with a body: %q", b)
			}
			writeJSON(w, 200, map[string]any{ // Twilio's Account resource carries the token
				"auth_token":        testToken,
				"date_created":      "Thu, 30 Jul 2015 20:00:00 +0000",
				"date_updated":      "Thu, 30 Jul 2015 20:00:00 +0000",
				"friendly_name":     "Joe's Plumbing",
				"owner_account_sid": testSID,
				"sid":               testSID,
				"status":            status,
				"type":              "Full",
				"uri":               accountP,
			})
		}
	}
	for name, tt := range map[string]struct {
		h        http.HandlerFunc
		ok       bool
		contains string
	}{
		"active":    {h: account("active"), ok: true},
		"suspended": {h: account("suspended"), contains: "is suspended"},
		"closed":    {h: account("closed"), contains: "is closed"},
		"bad credentials": {
			h: func(w http.ResponseWriter, r *http.Request) {
				twilioError(w, 401, 20003, "Authenticate")
			},
			contains: "twilio: authentication failed (check account_sid and auth_token)",
		},
		"not twilio": {
			h: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "<html>hello</html>")
			},
			contains: "twilio: check",
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := newTwilio(t, tt.h, nil).Check(context.Background())
			if tt.ok {
				if err != nil {
					t.Errorf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Check = nil, want an error")
			}
			t.Logf("err: %v", err)
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("Check = %q, want it to contain %q", err, tt.contains)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("Check = %q, contains the auth token", err)
			}
		})
	}
}

func TestNewTwilio(t *testing.T) {
	good := TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom}
	for name, tt := range map[string]struct {
		edit func(*TwilioConfig)
		want string // "" means valid
	}{
		"minimal":                {},
		"service only":           {edit: func(c *TwilioConfig) { c.From, c.MessagingServiceSID = "", testService }},
		"base url with slash":    {edit: func(c *TwilioConfig) { c.BaseURL = "http://127.0.0.1:8080/" }},
		"empty sid":              {edit: func(c *TwilioConfig) { c.AccountSID = "" }, want: "account_sid"},
		"short sid":              {edit: func(c *TwilioConfig) { c.AccountSID = "AC123" }, want: "account_sid"},
		"api key sid":            {edit: func(c *TwilioConfig) { c.AccountSID = "SK" + testSID[2:] }, want: "account_sid"},
		"sid not hex":            {edit: func(c *TwilioConfig) { c.AccountSID = "AC" + strings.Repeat("z", 32) }, want: "account_sid"},
		"sid with path":          {edit: func(c *TwilioConfig) { c.AccountSID = "AC" + strings.Repeat("a", 29) + "/.." }, want: "account_sid"},
		"no token":               {edit: func(c *TwilioConfig) { c.AuthToken = "" }, want: "auth_token"},
		"bad service":            {edit: func(c *TwilioConfig) { c.MessagingServiceSID = "PN" + testService[2:] }, want: "messaging_service_sid"},
		"base url unparseable":   {edit: func(c *TwilioConfig) { c.BaseURL = "http://[::1" }, want: "base_url"},
		"base url relative":      {edit: func(c *TwilioConfig) { c.BaseURL = "api.twilio.com" }, want: "base_url"},
		"base url ftp":           {edit: func(c *TwilioConfig) { c.BaseURL = "ftp://api.twilio.com" }, want: "base_url"},
		"base url no host":       {edit: func(c *TwilioConfig) { c.BaseURL = "https://" }, want: "base_url"},
		"base url credentials":   {edit: func(c *TwilioConfig) { c.BaseURL = "https://u:" + testToken + "@api.twilio.com" }, want: "must not hold credentials"},
		"status callback bad":    {edit: func(c *TwilioConfig) { c.StatusCallback = "/status" }, want: "status_callback"},
		"negative timeout":       {edit: func(c *TwilioConfig) { c.Timeout = -time.Second }, want: "timeout"},
		"several errors at once": {edit: func(c *TwilioConfig) { c.AccountSID, c.AuthToken = "x", "" }, want: "auth_token"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			tw, err := NewTwilio(cfg, nil)
			if tt.want == "" {
				if err != nil || tw == nil {
					t.Errorf("NewTwilio = %v, %v; want a sender", tw, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewTwilio succeeded, want an error about %s", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "twilio: ") {
				t.Errorf("NewTwilio = %q, want a twilio error about %q", err, tt.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("NewTwilio = %q, contains the auth token", err)
			}
		})
	}
}

// The auth token stays out of anything printed or logged about the sender.
func TestTokenRedacted(t *testing.T) {
	cfg := TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom}
	tw, err := NewTwilio(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%v %+v %#v %s %v %+v", cfg, cfg, cfg, cfg, tw, tw)
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "cfg", cfg, "sender", tw)
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "cfg", cfg, "sender", tw)
	if strings.Contains(b.String(), testToken) {
		t.Errorf("auth token printed: %s", b.String())
	}
	if !strings.Contains(b.String(), testSID) {
		t.Errorf("account SID missing from %s", b.String())
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 3, 9, 30, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                               time.Second,
		"0":                              0,
		"7":                              7 * time.Second,
		" 120 ":                          2 * time.Minute,
		"-3":                             time.Second,
		"soon":                           time.Second,
		"99999999999999999999999":        time.Hour,
		"86400":                          time.Hour,
		"Mon, 03 Mar 2025 09:30:30 GMT":  30 * time.Second,
		"Mon, 03 Mar 2025 09:29:00 GMT":  0,
		"Monday, 03-Mar-25 09:31:00 GMT": time.Minute,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestMaskNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"The 'To' number +15005550001 is not a valid phone number.": "The 'To' number +1******0001 is not a valid phone number.",
		"To 15005550001 and +447700900123":                          "To 15*****0001 and +4*******0123",
		"Message SMcccc1234567890cccc not found (20404)":            "Message SMcccc1234567890cccc not found (20404)",
	} {
		if got := maskNumbers(in); got != want {
			t.Errorf("maskNumbers(%q) = %q, want %q", in, got, want)
		}
	}
}
