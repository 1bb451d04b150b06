package webhook

import (
	"net/url"
	"slices"
	"testing"
	"time"
)

// Twilio's documented example: auth token 12345, a POST to
// https://mycompany.com/myapp.php?foo=1&bar=2 (twilio-php's validation docs,
// "Validate Incoming Requests").
func TestTwilioSignatureDocExample(t *testing.T) {
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+14158675309"},
		"Digits":  {"1234"},
		"From":    {"+14158675309"},
		"To":      {"+18005551212"},
	}
	const want = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
	if got := twilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params); got != want {
		t.Errorf("twilioSignature = %q, want %q", got, want)
	}
	params.Set("Digits", "1235")
	if got := twilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params); got == want {
		t.Error("twilioSignature ignores a changed parameter")
	}
}

func TestPortVariants(t *testing.T) {
	for in, want := range map[string][]string{
		"https://a.example/x?y=1":     {"https://a.example/x?y=1", "https://a.example:443/x?y=1"},
		"https://a.example:443/x":     {"https://a.example:443/x", "https://a.example/x"},
		"http://a.example:8080/x":     {"http://a.example:8080/x"},
		"http://127.0.0.1/webhook/tw": {"http://127.0.0.1/webhook/tw", "http://127.0.0.1:80/webhook/tw"},
	} {
		if got := portVariants(in); !slices.Equal(got, want) {
			t.Errorf("portVariants(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+13125550101":      "+13125550101",
		"13125550101":       "+13125550101",
		"447700900001":      "+447700900001",
		"12345":             "12345",
		" +13125550101 ":    "+13125550101",
		"":                  "",
		"+":                 "",
		"Google":            "",
		"+1312555010a":      "",
		"12":                "",
		"+1234567890123456": "",
	} {
		got, ok := number(in)
		if string(got) != want || ok != (want != "") {
			t.Errorf("number(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// Vonage's md5hash: the MD5 of "&k=v…" then the secret, values cleaned of
// "&" and "=".
func TestVonageSigCleansValues(t *testing.T) {
	p := url.Values{"text": {"a&b=c"}, "msisdn": {"447700900001"}, "sig": {"ignored"}}
	q := url.Values{"text": {"a_b_c"}, "msisdn": {"447700900001"}}
	if vonageSig("md5hash", "s", p) != vonageSig("md5hash", "s", q) {
		t.Error("vonageSig does not replace & and = in values, or signs sig itself")
	}
	if vonageSig("sha256", "s", q) == vonageSig("sha256", "t", q) {
		t.Error("vonageSig ignores the secret")
	}
}

func TestFreshExtremeTimestamps(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	h := &Handler{cfg: Config{MaxAge: 5 * time.Minute}, now: func() time.Time { return now }}
	for ts, ok := range map[string]bool{
		"1772442000":           true,  // now
		"1772441760":           true,  // 4 minutes ago
		"1772442240":           true,  // 4 minutes ahead
		"1772441000":           false, // too old
		"1772443000":           false, // too far ahead
		"9223372036854775807":  false, // would overflow a Duration
		"-9223372036854775808": false,
		"":                     false,
	} {
		if err := h.fresh(ts); (err == nil) != ok {
			t.Errorf("fresh(%q) = %v, want ok %v", ts, err, ok)
		}
	}
}
