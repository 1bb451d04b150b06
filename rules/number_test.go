package rules_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/textback/textback"
	"github.com/textback/textback/rules"
)

type callerCase struct {
	raw    string
	region string
	maxExt int
	want   textback.Number
	why    rules.Reason
}

var callerCases = []callerCase{
	// The forms a PBX hands over, US.
	{raw: "+13125550101", region: "US", want: "+13125550101"},
	{raw: "3125550101", region: "US", want: "+13125550101"},
	{raw: "(312) 555-0101", region: "US", want: "+13125550101"},
	{raw: "312.555.0101", region: "US", want: "+13125550101"},
	{raw: "13125550101", region: "US", want: "+13125550101"},
	{raw: "1 (312) 555-0101", region: "US", want: "+13125550101"},
	{raw: "  +1 312 555 0101 ", region: "US", want: "+13125550101"},
	{raw: "011 44 20 7946 0958", region: "US", want: "+442079460958"},
	{raw: "0044 20 7946 0958", region: "US", want: "+442079460958"},
	{raw: "+44 20 7946 0958", region: "US", want: "+442079460958"},
	{raw: "tel:+13125550101", region: "US", want: "+13125550101"},
	{raw: "tel:+1-312-555-0101;phone-context=example.com", region: "US", want: "+13125550101"},
	{raw: "sip:+13125550101@pbx.example.com", region: "US", want: "+13125550101"},
	{raw: "sip:+13125550101@pbx.example.com;user=phone", region: "US", want: "+13125550101"},
	{raw: "sips:+13125550101@10.0.0.1:5061", region: "US", want: "+13125550101"},
	{raw: "<sip:3125550101@10.0.0.1>", region: "US", want: "+13125550101"},
	{raw: "SIP:%2B13125550101@trunk", region: "US", want: "+13125550101"},
	{raw: "us", region: "us", why: rules.InvalidNumber},
	{raw: "3125550101", region: "us", want: "+13125550101"}, // region in any case

	// The forms a PBX hands over, GB.
	{raw: "+442079460958", region: "GB", want: "+442079460958"},
	{raw: "020 7946 0958", region: "GB", want: "+442079460958"},
	{raw: "02079460958", region: "GB", want: "+442079460958"},
	{raw: "0044 20 7946 0958", region: "GB", want: "+442079460958"},
	{raw: "+44 (0)20 7946 0958", region: "GB", want: "+442079460958"},
	{raw: "07400 123456", region: "GB", want: "+447400123456"},
	{raw: "001 312 555 0101", region: "GB", want: "+13125550101"},
	{raw: "+13125550101", region: "GB", want: "+13125550101"},
	{raw: "tel:+44-20-7946-0958", region: "GB", want: "+442079460958"},
	{raw: "sip:02079460958@gw.example.net", region: "GB", want: "+442079460958"},

	// Withheld, however the PBX says it.
	{raw: "", region: "US", why: rules.Withheld},
	{raw: "   ", region: "US", why: rules.Withheld},
	{raw: "anonymous", region: "US", why: rules.Withheld},
	{raw: "Anonymous", region: "GB", why: rules.Withheld},
	{raw: "ANONYMOUS", region: "US", why: rules.Withheld},
	{raw: "restricted", region: "US", why: rules.Withheld},
	{raw: "Restricted", region: "US", why: rules.Withheld},
	{raw: "private", region: "GB", why: rules.Withheld},
	{raw: "Private Number", region: "GB", why: rules.Withheld},
	{raw: "unavailable", region: "US", why: rules.Withheld},
	{raw: "unknown", region: "US", why: rules.Withheld},
	{raw: "<unknown>", region: "US", why: rules.Withheld},
	{raw: "asterisk", region: "US", why: rules.Withheld},
	{raw: "withheld", region: "GB", why: rules.Withheld},
	{raw: "Number Withheld", region: "GB", why: rules.Withheld},
	{raw: "Out-Of-Area", region: "US", why: rules.Withheld},
	{raw: "P", region: "US", why: rules.Withheld},
	{raw: "O", region: "US", why: rules.Withheld},
	{raw: "_undef_", region: "US", why: rules.Withheld},
	{raw: "0000000000", region: "US", why: rules.Withheld},
	{raw: "+0000000000", region: "US", why: rules.Withheld},
	{raw: "0", region: "US", why: rules.Withheld},
	{raw: "+", region: "US", why: rules.Withheld},
	{raw: "-", region: "US", why: rules.Withheld},
	{raw: "sip:anonymous@anonymous.invalid", region: "US", why: rules.Withheld},
	{raw: "sip:user@anonymous.invalid", region: "US", why: rules.Withheld},
	{raw: "<sip:anonymous@10.0.0.1>", region: "US", why: rules.Withheld},
	{raw: "tel:unknown", region: "US", why: rules.Withheld},
	{raw: "+266696687", region: "US", why: rules.Withheld},  // ANONYMOUS
	{raw: "+7378742833", region: "US", why: rules.Withheld}, // RESTRICTED
	{raw: "+2562533", region: "GB", why: rules.Withheld},    // BLOCKED

	// Internal extensions: bare digits, at most maxExt of them.
	{raw: "100", region: "US", why: rules.Internal},
	{raw: "2001", region: "US", why: rules.Internal},
	{raw: "611", region: "US", why: rules.Internal}, // also a short code, but a bare 3-digit caller is a phone of ours
	{raw: "55555", region: "US", why: rules.Internal},
	{raw: "999", region: "GB", why: rules.Internal},
	{raw: "123456", region: "GB", why: rules.Internal},
	{raw: "7", region: "US", why: rules.Internal},
	{raw: "sip:100@10.0.0.1", region: "US", why: rules.Internal},
	{raw: "<sip:2001@pbx.local>", region: "GB", why: rules.Internal},
	{raw: "1234", region: "US", maxExt: 3, why: rules.ShortCode}, // longer than the extensions: a short code's length
	{raw: "12345678", region: "US", maxExt: 8, why: rules.Internal},

	// Short codes: not in an extension's form.
	{raw: "tel:611", region: "US", why: rules.ShortCode},
	{raw: "+1 611", region: "US", why: rules.ShortCode},
	{raw: "+1611", region: "US", why: rules.ShortCode},
	{raw: "55555", region: "US", maxExt: 4, why: rules.ShortCode},
	{raw: "611", region: "US", maxExt: -1, why: rules.ShortCode},
	{raw: "tel:999", region: "GB", why: rules.ShortCode},
	{raw: "+44 999", region: "US", why: rules.ShortCode},
	{raw: "118118", region: "GB", maxExt: 4, why: rules.ShortCode},
	{raw: "+3114020", region: "US", why: rules.ShortCode}, // valid, but a 7-digit Dutch service number
	{raw: "+989601", region: "GB", why: rules.ShortCode},  // likewise, Iran

	// Not numbers.
	{raw: "s", region: "US", why: rules.InvalidNumber},
	{raw: "pbx.example.com", region: "US", why: rules.InvalidNumber},
	{raw: "5550101", region: "US", why: rules.InvalidNumber},     // 7-digit local: no area code
	{raw: "12345678", region: "US", why: rules.InvalidNumber},    // too long for an extension, too short for a number
	{raw: "1234567890", region: "US", why: rules.InvalidNumber},  // no such area code
	{raw: "02079460958", region: "US", why: rules.InvalidNumber}, // a GB national number
	{raw: "3125550101", region: "GB", why: rules.InvalidNumber},  // a US national number
	{raw: "+1312555010199999", region: "US", why: rules.InvalidNumber},
	{raw: "*67", region: "US", why: rules.InvalidNumber},
	{raw: "3125550101", region: "XX", why: rules.InvalidNumber}, // unknown region
	{raw: "+13125550101", region: "XX", want: "+13125550101"},   // but a "+" needs none
}

func TestParseCaller(t *testing.T) {
	for _, tt := range callerCases {
		t.Run(tt.region+"/"+tt.raw, func(t *testing.T) {
			got, why := rules.ParseCaller(tt.raw, tt.region, tt.maxExt)
			if got != tt.want || why != tt.why {
				t.Errorf("ParseCaller(%q, %q, %d) = %q, %q; want %q, %q", tt.raw, tt.region, tt.maxExt, got, why, tt.want, tt.why)
			}
		})
	}
}

func TestParseNumber(t *testing.T) {
	for _, tt := range []struct {
		s, region string
		want      textback.Number
		err       string
	}{
		{s: "+12125550100", region: "US", want: "+12125550100"},
		{s: "2125550100", region: "US", want: "+12125550100"},
		{s: "(212) 555-0100", region: "us", want: "+12125550100"},
		{s: "tel:+12125550100", region: "US", want: "+12125550100"},
		{s: "020 7946 0958", region: "GB", want: "+442079460958"},
		{s: "+442079460958", region: "US", want: "+442079460958"},
		{s: "555", region: "US", err: `not a valid phone number for region US: "555"`},
		{s: "", region: "US", err: `not a valid phone number for region US: ""`},
		{s: "anonymous", region: "US", err: `not a valid phone number for region US: "anonymous"`},
		{s: "2125550100", region: "GB", err: `not a valid phone number for region GB: "2125550100"`},
		{s: "+1 611", region: "US", err: `not a valid phone number for region US: "+1 611"`},
		{s: "+12125550100", region: "XX", err: `unknown region "XX"`},
		{s: "+12125550100", region: "", err: `unknown region ""`},
	} {
		t.Run(tt.region+"/"+tt.s, func(t *testing.T) {
			got, err := rules.ParseNumber(tt.s, tt.region)
			var msg string
			if err != nil {
				msg = err.Error()
			}
			if got != tt.want || msg != tt.err {
				t.Errorf("ParseNumber(%q, %q) = %q, %q; want %q, %q", tt.s, tt.region, got, msg, tt.want, tt.err)
			}
		})
	}
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

var fuzzRegions = []string{"US", "GB", "DE", "FR", "IN", "AU", "NL", "IR", "NU", "XX", ""}

func FuzzParseCaller(f *testing.F) {
	for _, tt := range callerCases {
		f.Add(tt.raw, uint8(0), int8(tt.maxExt))
	}
	for i := range fuzzRegions {
		f.Add("+6837012", uint8(i), int8(0))
	}
	f.Fuzz(func(t *testing.T, raw string, region uint8, maxExt int8) {
		r := fuzzRegions[int(region)%len(fuzzRegions)]
		n, why := rules.ParseCaller(raw, r, int(maxExt))
		if (n != "") != (why == rules.OK) {
			t.Fatalf("ParseCaller(%q, %q, %d) = %q, %q: a number comes with OK, and only then", raw, r, maxExt, n, why)
		}
		if n == "" {
			return
		}
		if !e164.MatchString(string(n)) {
			t.Fatalf("ParseCaller(%q, %q, %d) = %q: not E.164", raw, r, maxExt, n)
		}
		if again, why := rules.ParseCaller(string(n), r, int(maxExt)); again != n || why != rules.OK {
			t.Fatalf("ParseCaller(%q) = %q, %q; want it to re-parse to itself", n, again, why)
		}
		if strings.ContainsAny(string(n), " -()") {
			t.Fatalf("ParseCaller(%q) = %q: formatting left in", raw, n)
		}
	})
}
