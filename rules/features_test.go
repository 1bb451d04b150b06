package rules_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, on a machine without a tz database

	"github.com/textback/textback"
	"github.com/textback/textback/rules"
)

// journal is a fake History with opt-outs and hourly counts.
type journal struct {
	last     map[textback.Number]time.Time
	optedOut map[textback.Number]bool
	counts   map[string]int // by rule; "" all
}

func (j journal) LastTexted(_ context.Context, to textback.Number) (time.Time, bool, error) {
	t, ok := j.last[to]
	return t, ok, nil
}
func (j journal) OptedOut(_ context.Context, n textback.Number) (bool, error) {
	return j.optedOut[n], nil
}
func (j journal) CountTexts(_ context.Context, rule string, _ time.Time) (int, error) {
	return j.counts[rule], nil
}

func zone(t *testing.T, name string) rules.Zone {
	t.Helper()
	z, err := rules.LoadZone(name)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func hours(t *testing.T, lines ...string) []rules.Hours {
	t.Helper()
	var hs []rules.Hours
	for _, l := range lines {
		h, err := rules.ParseHours(l)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return hs
}

func holidays(t *testing.T, lines ...string) []rules.Holiday {
	t.Helper()
	var hs []rules.Holiday
	for _, l := range lines {
		h, err := rules.ParseHoliday(l)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return hs
}

func span(t *testing.T, s string) rules.Span {
	t.Helper()
	v, err := rules.ParseSpan(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ny(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.ParseInLocation("2006-01-02 15:04", s, zone(t, "America/New_York").Location())
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// hoursConfig is one rule with business hours in New York, and an
// after-hours message that says when it opens.
func hoursConfig(t *testing.T) rules.Config {
	return rules.Config{
		Region: "US", Business: "Acme", From: "+12125550199",
		Rules: []rules.Rule{{
			Name: "main", Message: "open", AfterHoursMessage: "closed; we open {opens}",
			Hours:    hours(t, "Mon-Fri 08:00-18:00", "Sat 09:00-13:00", "Fri 22:00-02:00"),
			Timezone: zone(t, "America/New_York"),
			Holidays: holidays(t, "2026-12-25", "2026-12-31..2027-01-01"),
		}},
	}
}

func TestDecideHours(t *testing.T) {
	p := policy(t, hoursConfig(t))
	for name, tt := range map[string]struct {
		at   string // New York wall clock
		want string
	}{
		"weekday morning":                 {"2026-03-02 09:30", "open"},
		"opening minute":                  {"2026-03-02 08:00", "open"},
		"closing minute is closed":        {"2026-03-02 18:00", "closed; we open Tuesday 8:00"},
		"early morning":                   {"2026-03-03 07:59", "closed; we open Tuesday 8:00"},
		"saturday":                        {"2026-03-07 10:00", "open"},
		"saturday afternoon":              {"2026-03-07 14:00", "closed; we open Monday 8:00"},
		"friday late span":                {"2026-03-06 23:30", "open"},
		"friday span past midnight":       {"2026-03-07 01:30", "open"},
		"after the friday span":           {"2026-03-07 02:00", "closed; we open Saturday 9:00"},
		"DST spring forward, sunday":      {"2026-03-08 03:30", "closed; we open Monday 8:00"},
		"DST spring forward, monday open": {"2026-03-09 08:00", "open"},
		"DST fall back, sunday":           {"2026-11-01 01:30", "closed; we open Monday 8:00"},
		"DST fall back, monday 07:59":     {"2026-11-02 07:59", "closed; we open Monday 8:00"},
		"DST fall back, monday 08:00":     {"2026-11-02 08:00", "open"},
		"holiday, in hours":               {"2026-12-25 10:00", "closed; we open Saturday 9:00"},
		"holiday range across new year":   {"2027-01-01 10:00", "closed; we open Saturday 9:00"},
		"holiday range, first day":        {"2026-12-31 09:00", "closed; we open Saturday 9:00"},
		"the day before a holiday":        {"2026-12-24 17:59", "open"},
		// Christmas 2026 is a Friday: the Friday span starts on the holiday,
		// so its hours past midnight stay closed too.
		"span starting on a holiday": {"2026-12-26 01:00", "closed; we open Saturday 9:00"},
		"holiday at midnight":        {"2026-12-25 00:00", "closed; we open Saturday 9:00"},
	} {
		t.Run(name, func(t *testing.T) {
			at := ny(t, tt.at)
			d, err := p.Decide(t.Context(), call(), at, nil)
			if err != nil || !d.Send {
				t.Fatalf("Decide() = %s (%s), %v; want send", d.Reason, d.Detail, err)
			}
			if d.Message.Body != tt.want {
				t.Errorf("Body = %q, want %q (%s)", d.Message.Body, tt.want, d.Detail)
			}
			if d.AfterHours != (tt.want != "open") {
				t.Errorf("AfterHours = %v, detail %s", d.AfterHours, d.Detail)
			}
		})
	}
}

func TestDecideOpensFarAway(t *testing.T) {
	cfg := hoursConfig(t)
	cfg.Rules[0].Holidays = holidays(t, "2026-12-20..2027-01-03")
	p := policy(t, cfg)
	d, _ := p.Decide(t.Context(), call(), ny(t, "2026-12-22 10:00"), nil)
	if want := "closed; we open Monday 4 January 8:00"; d.Message == nil || d.Message.Body != want {
		t.Errorf("Decide() = %+v, want body %q", d, want)
	}
}

func TestDecideMessagesByOutcome(t *testing.T) {
	cfg := hoursConfig(t)
	cfg.Rules[0].Messages = map[textback.Outcome]string{
		textback.Busy:      "busy: {outcome}",
		textback.Voicemail: "thanks for the message",
	}
	p := policy(t, cfg)
	for name, tt := range map[string]struct {
		outcome textback.Outcome
		at      string
		want    string
	}{
		"busy in hours":             {textback.Busy, "2026-03-02 09:30", "busy: busy"},
		"voicemail in hours":        {textback.Voicemail, "2026-03-02 09:30", "thanks for the message"},
		"no override":               {textback.NoAnswer, "2026-03-02 09:30", "open"},
		"after hours beats outcome": {textback.Busy, "2026-03-02 20:00", "closed; we open Tuesday 8:00"},
	} {
		t.Run(name, func(t *testing.T) {
			d, _ := p.Decide(t.Context(), call(outcome(tt.outcome)), ny(t, tt.at), nil)
			if d.Message == nil || d.Message.Body != tt.want {
				t.Errorf("Decide() = %s %+v, want body %q", d.Reason, d.Message, tt.want)
			}
		})
	}
}

func TestDecideQuietHours(t *testing.T) {
	base := func(action rules.QuietAction) *rules.Policy {
		return policy(t, rules.Config{
			Region: "US", AllowedCountries: []string{"US", "GB"},
			Rules: []rules.Rule{{Name: "main", Message: "hi", Timezone: zone(t, "America/New_York"),
				QuietHours: span(t, "21:00-08:00"), QuietAction: action}},
		})
	}
	utc := func(s string) time.Time {
		at, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return at.UTC()
	}
	for name, tt := range map[string]struct {
		action    rules.QuietAction
		caller    string
		at        time.Time
		reason    rules.Reason
		notBefore time.Time
		detailHas string
	}{
		"daytime in New York":               {"", "+12125550123", ny(t, "2026-03-02 12:00"), rules.Send, time.Time{}, ""},
		"night in New York: deferred":       {"", "+12125550123", ny(t, "2026-03-02 23:00"), rules.Send, ny(t, "2026-03-03 08:00"), "deferred"},
		"night, skip":                       {rules.QuietSkip, "+12125550123", ny(t, "2026-03-02 23:00"), rules.QuietHours, time.Time{}, "quiet_action skip"},
		"night, send":                       {rules.QuietSend, "+12125550123", ny(t, "2026-03-02 23:00"), rules.Send, time.Time{}, "quiet_action send"},
		"caller's own zone: LA at 19:00 NY": {"", "+13105550123", ny(t, "2026-03-02 22:30"), rules.Send, time.Time{}, ""},
		"caller's own zone: LA at 23:00":    {"", "+13105550123", utc("2026-03-03 07:30"), rules.Send, utc("2026-03-03 16:00"), "America/Los_Angeles"},
		"London caller, evening there":      {"", "+442079460958", utc("2026-03-02 22:00"), rules.Send, utc("2026-03-03 08:00"), "Europe/London"},
		// Spring forward: 08:00 EDT is 12:00 UTC; fall back: 08:00 EST is 13:00 UTC.
		"DST spring forward": {"", "+12125550123", utc("2026-03-08 06:30"), rules.Send, utc("2026-03-08 12:00"), "deferred"},
		"DST fall back":      {"", "+12125550123", utc("2026-11-01 05:30"), rules.Send, utc("2026-11-01 13:00"), "deferred"},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := base(tt.action).Decide(t.Context(), call(from(tt.caller)), tt.at, nil)
			if err != nil || d.Reason != tt.reason {
				t.Fatalf("Decide() = %s (%s), %v; want %s", d.Reason, d.Detail, err, tt.reason)
			}
			if !d.NotBefore.Equal(tt.notBefore) {
				t.Errorf("NotBefore = %v, want %v (%s)", d.NotBefore, tt.notBefore, d.Detail)
			}
			if d.Message != nil && !d.Message.NotBefore.Equal(d.NotBefore) {
				t.Errorf("Message.NotBefore = %v, Decision.NotBefore %v", d.Message.NotBefore, d.NotBefore)
			}
			if !strings.Contains(d.Detail, tt.detailHas) {
				t.Errorf("Detail = %q, want it to say %q", d.Detail, tt.detailHas)
			}
		})
	}
}

func TestDecideFilters(t *testing.T) {
	dir := t.TempDir()
	denyFile := filepath.Join(dir, "deny.txt")
	if err := os.WriteFile(denyFile, []byte("# spammers\n+13125550177\n(312) 555-0178 # a comment\n+1773*\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := rules.Config{
		Region: "US", From: "+12125550199", Business: "Acme",
		Deny:     []string{"+13125550166", "+1876*"},
		Allow:    []string{"+442079460958", "+1900*", "+13125550166"},
		DenyFile: denyFile,
		Rules:    []rules.Rule{{Name: "main", Message: "hi"}},
	}
	p := policy(t, cfg)
	j := journal{optedOut: map[textback.Number]bool{"+13125550155": true, "+442079460958": true}}
	for name, tt := range map[string]struct {
		caller string
		want   rules.Reason
	}{
		"ordinary caller":                      {"+13125550101", rules.Send},
		"opted out":                            {"+13125550155", rules.OptedOut},
		"opted out beats the allow list":       {"+442079460958", rules.OptedOut},
		"deny list":                            {"+13125550166", rules.Denied},
		"deny prefix (Jamaica)":                {"+18765550123", rules.Denied},
		"deny file":                            {"3125550177", rules.Denied},
		"deny file, national format":           {"+13125550178", rules.Denied},
		"deny file prefix":                     {"+17735550123", rules.Denied},
		"premium rate":                         {"+447000000000", rules.CountryNotAllowed}, // GB, and not allowed
		"US premium rate is allowed by prefix": {"+19005550123", rules.Send},
		"another country":                      {"+4915112345678", rules.CountryNotAllowed},
		"Canada is another country":            {"+14165550123", rules.CountryNotAllowed},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := p.Decide(t.Context(), call(from(tt.caller)), now, j)
			if err != nil || d.Reason != tt.want {
				t.Errorf("Decide(%s) = %s (%s), %v; want %s", tt.caller, d.Reason, d.Detail, err, tt.want)
			}
		})
	}

	t.Run("premium rate, country allowed", func(t *testing.T) {
		p := policy(t, rules.Config{Region: "GB", AllowedCountries: []string{"*"}, Rules: []rules.Rule{{Name: "m", Message: "hi"}}})
		for caller, want := range map[string]rules.Reason{
			"+449090000000": rules.PremiumRate, // 09 premium rate
			"+448431234567": rules.PremiumRate, // 084 shared cost
			"+447400123456": rules.Send,        // a mobile
			"+19005550123":  rules.PremiumRate, // US 900
		} {
			if d, _ := p.Decide(t.Context(), call(from(caller)), now, nil); d.Reason != want {
				t.Errorf("Decide(%s) = %s (%s), want %s", caller, d.Reason, d.Detail, want)
			}
		}
	})

	t.Run("deny file is read again when it changes", func(t *testing.T) {
		at := now
		check := func(caller string, want rules.Reason) {
			t.Helper()
			if d, _ := p.Decide(t.Context(), call(from(caller)), at, nil); d.Reason != want {
				t.Errorf("at +%s: Decide(%s) = %s (%s), want %s", at.Sub(now), caller, d.Reason, d.Detail, want)
			}
		}
		check("+13125550199", rules.Send)
		if err := os.WriteFile(denyFile, []byte("+13125550199\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		future := time.Now().Add(time.Minute) // a new mtime, whatever the file system's resolution
		os.Chtimes(denyFile, future, future)
		at = now.Add(rules.ListCheckInterval)
		check("+13125550199", rules.Denied)
		check("+13125550177", rules.Send) // gone from the file
		// A broken file leaves the last good list in force.
		os.WriteFile(denyFile, []byte("not a number\n"), 0o600)
		os.Chtimes(denyFile, future.Add(time.Minute), future.Add(time.Minute))
		at = at.Add(rules.ListCheckInterval)
		check("+13125550199", rules.Denied)
		if err := p.ListErrors(); err == nil || !strings.Contains(err.Error(), "deny.txt:1") {
			t.Errorf("ListErrors() = %v, want the bad line", err)
		}
		if err := p.Reload(); err == nil {
			t.Error("Reload() of a broken file = nil, want an error")
		}
	})
}

func TestDecideCaps(t *testing.T) {
	p := policy(t, rules.Config{
		Region: "US", MaxPerHour: 10,
		Rules: []rules.Rule{{Name: "main", Message: "hi", MaxPerHour: 3}, {Name: "other", DIDs: []string{"+12125550111"}, Message: "hi"}},
	})
	for name, tt := range map[string]struct {
		counts map[string]int
		did    string
		want   rules.Reason
	}{
		"under both caps":          {map[string]int{"main": 2, "": 5}, sales, rules.Send},
		"rule cap reached":         {map[string]int{"main": 3, "": 5}, sales, rules.RateLimited},
		"global cap reached":       {map[string]int{"main": 0, "": 10}, sales, rules.RateLimited},
		"rule without its own cap": {map[string]int{"main": 3, "": 9}, "+12125550111", rules.Send},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := p
			if tt.did == "+12125550111" {
				cfg = policy(t, rules.Config{Region: "US", MaxPerHour: 10,
					Rules: []rules.Rule{{Name: "main", DIDs: []string{sales}, Message: "hi", MaxPerHour: 3}, {Name: "other", Message: "hi"}}})
			}
			d, err := cfg.Decide(t.Context(), call(to(tt.did)), now, journal{counts: tt.counts})
			if err != nil || d.Reason != tt.want {
				t.Errorf("Decide() = %s (%s), %v; want %s", d.Reason, d.Detail, err, tt.want)
			}
		})
	}
}

func TestDecideDIDPatterns(t *testing.T) {
	p := policy(t, rules.Config{
		Region: "US", From: "+12125550199",
		Rules: []rules.Rule{
			{Name: "exact", DIDs: []string{"+12125550100"}, Message: "exact"},
			{Name: "block", DIDs: []string{"+1212555*"}, Message: "block", From: "did"},
			{Name: "overlap", DIDs: []string{"+12125550123"}, Message: "never: block comes first"},
			{Name: "raw", DIDs: []string{"7*"}, Message: "raw"},
		},
	})
	for did, want := range map[string]string{
		"+12125550100":   "exact",
		"2125550100":     "exact",
		"+12125550123":   "block", // matches two rules: the first wins
		"(212) 555-0188": "block",
		"+12125560100":   "",
		"700":            "raw",
		"800":            "",
	} {
		d, _ := p.Decide(t.Context(), call(to(did)), now, nil)
		if d.Rule != want {
			t.Errorf("DID %q: rule %q (%s), want %q", did, d.Rule, d.Reason, want)
		}
		if want == "block" && d.Message.From == "+12125550199" {
			t.Errorf("DID %q: from %s, want the DID", did, d.Message.From)
		}
	}
}

func TestOptOutSuffix(t *testing.T) {
	p := policy(t, rules.Config{Region: "US", OptOutSuffix: "Reply STOP to opt out.", Rules: []rules.Rule{{Name: "m", Message: "Sorry we missed you."}}})
	d, _ := p.Decide(t.Context(), call(), now, nil)
	if want := "Sorry we missed you. Reply STOP to opt out."; d.Message == nil || d.Message.Body != want {
		t.Errorf("Body = %+v, want %q", d.Message, want)
	}
}

func TestSegments(t *testing.T) {
	for name, tt := range map[string]struct {
		text  string
		enc   rules.Encoding
		units int
		parts int
	}{
		"empty":                {"", rules.GSM7, 0, 0},
		"plain":                {"Hello", rules.GSM7, 5, 1},
		"160 GSM is one":       {strings.Repeat("a", 160), rules.GSM7, 160, 1},
		"161 GSM is two":       {strings.Repeat("a", 161), rules.GSM7, 161, 2},
		"306 GSM is two":       {strings.Repeat("a", 306), rules.GSM7, 306, 2},
		"307 GSM is three":     {strings.Repeat("a", 307), rules.GSM7, 307, 3},
		"extension counts 2":   {strings.Repeat("€", 80), rules.GSM7, 160, 1},
		"extension past 160":   {strings.Repeat("{", 81), rules.GSM7, 162, 2},
		"accents in GSM":       {"café Ñandü ü", rules.GSM7, 12, 1},
		"emoji is UCS-2":       {"Hi 👋", rules.UCS2, 5, 1},
		"curly quote is UCS-2": {"we’ll", rules.UCS2, 5, 1},
		"70 UCS-2 is one":      {strings.Repeat("ж", 70), rules.UCS2, 70, 1},
		"71 UCS-2 is two":      {strings.Repeat("ж", 71), rules.UCS2, 71, 2},
		"135 UCS-2 is three":   {strings.Repeat("ж", 135), rules.UCS2, 135, 3},
	} {
		t.Run(name, func(t *testing.T) {
			enc, units, parts := rules.Segments(tt.text)
			if enc != tt.enc || units != tt.units || parts != tt.parts {
				t.Errorf("Segments() = %s, %d, %d; want %s, %d, %d", enc, units, parts, tt.enc, tt.units, tt.parts)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	for name, tt := range map[string]struct {
		rule rules.Rule
		want []string // each must be in one warning
	}{
		"clean": {rules.Rule{Name: "m", Message: "Sorry we missed your call."}, nil},
		"two segments": {rules.Rule{Name: "m", Message: strings.Repeat("x", 160) + " {business}"},
			[]string{"rules[0] (m): message: 165 GSM 7-bit units with the placeholders filled: 2 SMS parts"}},
		"UCS-2": {rules.Rule{Name: "m", Message: strings.Repeat("x", 70) + " 👋"},
			[]string{"rules[0] (m): message: 73 UCS-2 units"}},
		"link":         {rules.Rule{Name: "m", Message: "See www.example.com"}, []string{"message: has a link"}},
		"https":        {rules.Rule{Name: "m", Message: "x", Messages: map[textback.Outcome]string{textback.Busy: "https://x.y"}}, []string{"messages.busy: has a link"}},
		"capitals":     {rules.Rule{Name: "m", Message: "SORRY WE MISSED YOU"}, []string{"message: is written in capitals"}},
		"shouty run":   {rules.Rule{Name: "m", Message: "Hi! CALL US NOW please"}, []string{"message: is written in capitals"}},
		"STOP is fine": {rules.Rule{Name: "m", Message: "Reply STOP to opt out"}, nil},
		"overlapping hours": {rules.Rule{Name: "m", Message: "x", Timezone: zone(t, "UTC"),
			Hours: hours(t, "Mon-Fri 08:00-18:00", "Fri 17:00-20:00")}, []string{"hours[0] and hours[1] overlap"}},
		"overnight hours overlap the week's start": {rules.Rule{Name: "m", Message: "x", Timezone: zone(t, "UTC"),
			Hours: hours(t, "Sun 22:00-02:00", "Mon 01:00-03:00")}, []string{"overlap"}},
	} {
		t.Run(name, func(t *testing.T) {
			p := policy(t, rules.Config{Region: "US", Business: "Acme", OptOutSuffix: "", Rules: []rules.Rule{tt.rule}})
			got := p.Warnings()
			if len(tt.want) == 0 && len(got) > 0 {
				t.Errorf("Warnings() = %q, want none", got)
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, w) }) {
					t.Errorf("Warnings() = %q, want one with %q", got, w)
				}
			}
		})
	}
	t.Run("the suffix counts", func(t *testing.T) {
		p := policy(t, rules.Config{Region: "US", OptOutSuffix: "Reply STOP to opt out.", Rules: []rules.Rule{{Name: "m", Message: strings.Repeat("x", 150)}}})
		if len(p.Warnings()) != 1 {
			t.Errorf("Warnings() = %q, want the 2-part warning", p.Warnings())
		}
	})
}

func TestNewFeatureErrors(t *testing.T) {
	ok := rules.Rule{Name: "m", Message: "hi"}
	for name, tt := range map[string]struct {
		cfg  rules.Config
		want string
	}{
		"hours without a zone": {rules.Config{Region: "US", Rules: []rules.Rule{{Name: "m", Message: "x", Hours: hours(t, "Mon 08:00-09:00")}}},
			"rules[0] (m): timezone: required"},
		"quiet hours without a zone": {rules.Config{Region: "US", Rules: []rules.Rule{{Name: "m", Message: "x", QuietHours: span(t, "21:00-08:00")}}},
			"timezone: required"},
		"quiet action without quiet hours": {rules.Config{Region: "US", Rules: []rules.Rule{{Name: "m", Message: "x", QuietAction: rules.QuietSkip}}},
			"quiet_action: needs quiet_hours"},
		"negative delay": {rules.Config{Region: "US", Rules: []rules.Rule{{Name: "m", Message: "x", Delay: -time.Second}}},
			"rules[0] (m): delay: -1s is negative"},
		"{opens} without hours": {rules.Config{Region: "US", Rules: []rules.Rule{{Name: "m", Message: "open {opens}"}}},
			"message: {opens} needs hours"},
		"after-hours message without hours": {rules.Config{Region: "US", Rules: []rules.Rule{{Name: "m", Message: "x", AfterHoursMessage: "closed"}}},
			"after_hours_message: needs hours"},
		"bad per-outcome placeholder": {rules.Config{Region: "US", Rules: []rules.Rule{{Name: "m", Message: "x", Messages: map[textback.Outcome]string{textback.Busy: "{nope}"}}}},
			"messages.busy: unknown placeholder {nope}"},
		"message for answered": {rules.Config{Region: "US", Rules: []rules.Rule{{Name: "m", Message: "x", Messages: map[textback.Outcome]string{textback.Answered: "hi"}}}},
			"messages.answered"},
		"bad DID prefix": {rules.Config{Region: "US", Rules: []rules.Rule{{Name: "m", Message: "x", DIDs: []string{"+1a*"}}}},
			"dids[0]: prefix"},
		"bare star":         {rules.Config{Region: "US", Rules: []rules.Rule{{Name: "m", Message: "x", DIDs: []string{"*"}}}}, "leave dids empty"},
		"bad allow":         {rules.Config{Region: "US", Allow: []string{"nope"}, Rules: []rules.Rule{ok}}, "allow[0]: "},
		"bad deny prefix":   {rules.Config{Region: "US", Deny: []string{"1900*"}, Rules: []rules.Rule{ok}}, "deny[0]: prefix"},
		"missing deny file": {rules.Config{Region: "US", DenyFile: "/nonexistent/deny", Rules: []rules.Rule{ok}}, "deny_file: "},
		"bad country":       {rules.Config{Region: "US", AllowedCountries: []string{"XX"}, Rules: []rules.Rule{ok}}, `allowed_countries[0]: unknown region "XX"`},
		"star and more":     {rules.Config{Region: "US", AllowedCountries: []string{"*", "US"}, Rules: []rules.Rule{ok}}, "allowed_countries"},
		"negative cap":      {rules.Config{Region: "US", MaxPerHour: -1, Rules: []rules.Rule{ok}}, "max_per_hour: -1 is negative"},
		"negative rule cap": {rules.Config{Region: "US", Rules: []rules.Rule{{Name: "m", Message: "x", MaxPerHour: -2}}}, "rules[0] (m): max_per_hour"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := rules.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	for _, tt := range []struct {
		in, err string
		parse   func(string) error
	}{
		{"Mon-Fri 08:00-18:00", "", hoursErr},
		{"Fri-Mon 20:00-02:00", "", hoursErr},
		{"daily 00:00-24:00", "", hoursErr},
		{"Saturday,sun 9:00-13:00", "", hoursErr},
		{"Mon 08:00", "invalid time span", hoursErr},
		{"Mon-Fri", "want days and times", hoursErr},
		{"Mox 08:00-09:00", `unknown day "Mox"`, hoursErr},
		{"Mon 08:00-08:00", "is empty", hoursErr},
		{"Mon 25:00-26:00", "invalid time of day", hoursErr},
		{"Mon 8:5-9:00", "invalid time of day", hoursErr},
		{"21:00-08:00", "", spanErr},
		{"21:00", "invalid time span", spanErr},
		{"24:00-08:00", "starts at 24:00", spanErr},
		{"2026-12-25", "", holidayErr},
		{"2026-12-24..2026-12-26", "", holidayErr},
		{"2026-12-26..2026-12-24", "ends before it starts", holidayErr},
		{"2026-02-30", "invalid date", holidayErr},
		{"America/New_York", "", zoneErr},
		{"Mars/Olympus", "unknown time zone", zoneErr},
		{"Local", "want a tz database name", zoneErr},
		{"defer", "", actionErr},
		{"later", "unknown quiet action", actionErr},
	} {
		err := tt.parse(tt.in)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("parse %q = %v, want error %q", tt.in, err, tt.err)
		}
	}
}

func hoursErr(s string) error   { var v rules.Hours; return v.UnmarshalText([]byte(s)) }
func spanErr(s string) error    { var v rules.Span; return v.UnmarshalText([]byte(s)) }
func holidayErr(s string) error { var v rules.Holiday; return v.UnmarshalText([]byte(s)) }
func zoneErr(s string) error    { var v rules.Zone; return v.UnmarshalText([]byte(s)) }
func actionErr(s string) error  { var v rules.QuietAction; return v.UnmarshalText([]byte(s)) }

// FuzzSchedule: no schedule line, span or holiday crashes the parsers, and
// a policy built of what parses never crashes Decide at any time.
func FuzzSchedule(f *testing.F) {
	f.Add("Mon-Fri 08:00-18:00", "21:00-08:00", "2026-12-24..2026-12-26", int64(1772000000), "+12125550123")
	f.Add("Fri-Mon 23:59-00:00", "00:00-24:00", "2026-03-08", int64(1793500000), "anonymous")
	f.Add("daily 00:00-24:00", "08:00-07:59", "2027-01-01", int64(0), "+442079460958")
	f.Fuzz(func(t *testing.T, h, q, hol string, unix int64, caller string) {
		var r rules.Rule
		r.Name, r.Message, r.AfterHoursMessage = "m", "hi {opens}", "closed {opens}"
		r.Timezone, _ = rules.LoadZone("America/New_York")
		if v, err := rules.ParseHours(h); err == nil {
			r.Hours = []rules.Hours{v}
		} else {
			r.Hours = hours(t, "Mon 08:00-09:00")
		}
		if v, err := rules.ParseSpan(q); err == nil {
			r.QuietHours = v
		}
		if v, err := rules.ParseHoliday(hol); err == nil {
			r.Holidays = []rules.Holiday{v}
		}
		p, err := rules.New(rules.Config{Region: "US", AllowedCountries: []string{"*"}, Rules: []rules.Rule{r}})
		if err != nil {
			t.Fatalf("New() = %v", err)
		}
		at := time.Unix(unix%(1<<33), 0)
		d, err := p.Decide(context.Background(), call(from(caller)), at, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.Send && d.NotBefore.Before(at) && !d.NotBefore.IsZero() {
			t.Errorf("NotBefore %v before the decision %v", d.NotBefore, at)
		}
	})
}

// TestDecideDelay: a rule's delay holds the text from the decision, later
// than quiet hours only when it ends later, and marks it as one a redial
// or a call back cancels.
func TestDecideDelay(t *testing.T) {
	policyWith := func(delay time.Duration) *rules.Policy {
		return policy(t, rules.Config{
			Region: "US",
			Rules: []rules.Rule{{Name: "main", Message: "hi", Timezone: zone(t, "America/New_York"),
				QuietHours: span(t, "21:00-08:00"), Delay: delay}},
		})
	}
	for name, tt := range map[string]struct {
		delay     time.Duration
		at        time.Time
		notBefore time.Time
		grace     bool
		detailHas string
	}{
		"no delay":                {0, ny(t, "2026-03-02 12:00"), time.Time{}, false, ""},
		"2m by day":               {2 * time.Minute, ny(t, "2026-03-02 12:00"), ny(t, "2026-03-02 12:02"), true, "held 2m for a redial or a call back"},
		"quiet hours end later":   {2 * time.Minute, ny(t, "2026-03-02 23:00"), ny(t, "2026-03-03 08:00"), true, "held 2m"},
		"delay ends after quiet":  {2 * time.Hour, ny(t, "2026-03-03 07:00"), ny(t, "2026-03-03 09:00"), true, "held 2h"},
		"seconds":                 {3 * time.Second, ny(t, "2026-03-02 12:00"), ny(t, "2026-03-02 12:00").Add(3 * time.Second), true, "held 3s"},
		"no delay in quiet hours": {0, ny(t, "2026-03-02 23:00"), ny(t, "2026-03-03 08:00"), false, "deferred"},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := policyWith(tt.delay).Decide(t.Context(), call(from("+12125550123")), tt.at, nil)
			if err != nil || d.Reason != rules.Send || d.Message == nil {
				t.Fatalf("Decide() = %s (%s), %v; want send", d.Reason, d.Detail, err)
			}
			if !d.NotBefore.Equal(tt.notBefore) || !d.Message.NotBefore.Equal(tt.notBefore) {
				t.Errorf("NotBefore = %v, Message.NotBefore = %v, want %v (%s)", d.NotBefore, d.Message.NotBefore, tt.notBefore, d.Detail)
			}
			if got := !d.Message.Grace.IsZero(); got != tt.grace || tt.grace && !d.Message.Grace.Equal(tt.at) {
				t.Errorf("Message.Grace = %v, want set %v (at the decision, %v)", d.Message.Grace, tt.grace, tt.at)
			}
			if !strings.Contains(d.Detail, tt.detailHas) || !tt.grace && strings.Contains(d.Detail, "held") {
				t.Errorf("Detail = %q, want it to say %q", d.Detail, tt.detailHas)
			}
			if got := policyWith(tt.delay).MaxDelay(); got != tt.delay {
				t.Errorf("MaxDelay() = %v, want %v", got, tt.delay)
			}
		})
	}
}
