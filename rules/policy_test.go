package rules_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/textback/textback"
	"github.com/textback/textback/rules"
)

var now = time.Date(2025, 3, 3, 9, 30, 0, 0, time.UTC) // a Monday morning

// history is a fake History: the last text to each number.
type history map[textback.Number]time.Time

func (h history) LastTexted(_ context.Context, to textback.Number) (time.Time, bool, error) {
	t, ok := h[to]
	return t, ok, nil
}
func (history) OptedOut(context.Context, textback.Number) (bool, error)    { return false, nil }
func (history) CountTexts(context.Context, string, time.Time) (int, error) { return 0, nil }

// brokenHistory fails every lookup.
type brokenHistory struct{ err error }

func (h brokenHistory) LastTexted(context.Context, textback.Number) (time.Time, bool, error) {
	return time.Time{}, false, h.err
}
func (h brokenHistory) OptedOut(context.Context, textback.Number) (bool, error) { return false, nil }
func (h brokenHistory) CountTexts(context.Context, string, time.Time) (int, error) {
	return 0, nil
}

const (
	sales   = "+12125550100"
	support = "+12125550111"
	caller  = textback.Number("+13125550101")
)

func config() rules.Config {
	return rules.Config{
		Region:   "US",
		MinRings: 2,
		From:     "+1 (212) 555-0199",
		Business: "Acme Plumbing",
		Rules: []rules.Rule{
			{
				Name:    "sales",
				DIDs:    []string{"(212) 555-0100"}, // national format: matches "+12125550100"
				Message: "Hi, this is {business}. Sorry we missed your call to {did}. Reply here and we'll get back to you.",
			},
			{
				Name:    "support",
				DIDs:    []string{"2125550111", "s", "700"},
				Message: "{business} support: your call from {caller} was {outcome}.",
				From:    "did",
			},
		},
	}
}

func policy(t *testing.T, cfg rules.Config) *rules.Policy {
	t.Helper()
	p, err := rules.New(cfg)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return p
}

// call is a missed inbound call to sales, changed by opts.
func call(opts ...func(*textback.Call)) textback.Call {
	c := textback.Call{
		ID:         "1741000000.42",
		Source:     "ami",
		Direction:  textback.Inbound,
		Outcome:    textback.NoAnswer,
		CallerNum:  "3125550101",
		CallerName: "{business} CALL 1-900-SCAM",
		DID:        sales,
		Context:    "from-trunk",
		Started:    now.Add(-40 * time.Second),
		Ended:      now.Add(-time.Second),
		Rang:       30 * time.Second,
		Decided:    now,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func direction(d textback.Direction) func(*textback.Call) {
	return func(c *textback.Call) { c.Direction = d }
}
func outcome(o textback.Outcome) func(*textback.Call) {
	return func(c *textback.Call) { c.Outcome = o }
}
func from(num string) func(*textback.Call) { return func(c *textback.Call) { c.CallerNum = num } }
func to(did string) func(*textback.Call)   { return func(c *textback.Call) { c.DID = did } }
func rang(d time.Duration) func(*textback.Call) {
	return func(c *textback.Call) { c.Rang = d }
}
func abandoned(d time.Duration) func(*textback.Call) {
	return func(c *textback.Call) { c.Outcome, c.Rang = textback.Abandoned, d }
}
func withheld(c *textback.Call) { c.Withheld = true }

const salesBody = "Hi, this is Acme Plumbing. Sorry we missed your call to (212) 555-0100. Reply here and we'll get back to you."

func TestDecide(t *testing.T) {
	p := policy(t, config())
	texted := history{caller: now.Add(-2 * time.Hour)}
	for name, tt := range map[string]struct {
		call textback.Call
		h    rules.History
		want rules.Decision
	}{
		"outbound": {
			call: call(direction(textback.Outbound)),
			want: rules.Decision{Reason: rules.NotInbound, Detail: "direction outbound, not inbound"},
		},
		"internal call": {
			call: call(direction(textback.Internal), from("100")),
			want: rules.Decision{Reason: rules.NotInbound, Detail: "direction internal, not inbound"},
		},
		"no direction": {
			call: call(direction("")),
			want: rules.Decision{Reason: rules.NotInbound, Detail: "direction unknown, not inbound"},
		},
		"answered": {
			call: call(outcome(textback.Answered), rang(8*time.Second)),
			want: rules.Decision{Reason: rules.Answered, Detail: "answered after ringing 8s"},
		},
		"answered by a withheld caller": { // answered comes first
			call: call(outcome(textback.Answered), withheld, from("anonymous"), rang(0)),
			want: rules.Decision{Reason: rules.Answered, Detail: "answered after ringing 0s"},
		},
		"no outcome": {
			call: call(outcome("")),
			want: rules.Decision{Reason: rules.UnknownOutcome, Detail: `outcome "" is none of [answered no_answer busy abandoned voicemail unavailable unattended]`},
		},
		"withheld flag, number known": {
			call: call(withheld),
			want: rules.Decision{Reason: rules.Withheld, Detail: "caller asked for their number to be withheld"},
		},
		"withheld number": {
			call: call(from("anonymous")),
			want: rules.Decision{Reason: rules.Withheld, Detail: `caller ID "anonymous" is no number`},
		},
		"empty number": {
			call: call(from("")),
			want: rules.Decision{Reason: rules.Withheld, Detail: `caller ID "" is no number`},
		},
		"extension": {
			call: call(from("2001")),
			want: rules.Decision{Reason: rules.Internal, Detail: `caller "2001" is an extension (at most 6 digits)`},
		},
		"short code": {
			call: call(from("tel:611")),
			want: rules.Decision{Reason: rules.ShortCode, Detail: `caller "tel:611" is a short code`},
		},
		"invalid number": {
			call: call(from("1234567890")),
			want: rules.Decision{Reason: rules.InvalidNumber, Detail: `caller "12****7890" is not a valid phone number for region US`},
		},
		"a long caller ID is cut short": {
			call: call(from("+1 312 555 0101 " + strings.Repeat("é", 50))),
			want: rules.Decision{Reason: rules.InvalidNumber, Detail: `caller "+1 3** *** 0101 éééééééééééééééééééééééé…" is not a valid phone number for region US`},
		},
		"no rule": {
			call: call(to("+12125550199")),
			want: rules.Decision{Reason: rules.NoRule, Caller: caller, Detail: `no rule covers DID "+12125550199"`},
		},
		"no DID": {
			call: call(to("")),
			want: rules.Decision{Reason: rules.NoRule, Caller: caller, Detail: `no rule covers DID "unknown"`},
		},
		"hung up after 1 ring": {
			call: call(abandoned(4 * time.Second)),
			want: rules.Decision{Reason: rules.TooFewRings, Caller: caller, Rule: "sales", Detail: "rang 1 time (4s), fewer than min_rings 2"},
		},
		"texted 2h ago": {
			call: call(),
			h:    texted,
			want: rules.Decision{Reason: rules.Cooldown, Caller: caller, Rule: "sales", Detail: "texted 2h ago (2025-03-03T07:30:00Z), within cooldown 24h"},
		},
		"send": {
			call: call(),
			h:    history{},
			want: rules.Decision{
				Send: true, Reason: rules.Send, Caller: caller, Rule: "sales", Detail: "no_answer, rang 5 times (30s)",
				Message: &textback.Message{CallID: "1741000000.42", Rule: "sales", To: caller, From: "+12125550199", Body: salesBody},
			},
		},
		"send, texted another number": {
			call: call(from("+1 773 555 0123")),
			h:    texted,
			want: rules.Decision{
				Send: true, Reason: rules.Send, Caller: "+17735550123", Rule: "sales", Detail: "no_answer, rang 5 times (30s)",
				Message: &textback.Message{CallID: "1741000000.42", Rule: "sales", To: "+17735550123", From: "+12125550199", Body: salesBody},
			},
		},
		"send without history": {
			call: call(outcome(textback.Busy), rang(0)),
			want: rules.Decision{
				Send: true, Reason: rules.Send, Caller: caller, Rule: "sales", Detail: "busy, rang 0 times (0s)",
				Message: &textback.Message{CallID: "1741000000.42", Rule: "sales", To: caller, From: "+12125550199", Body: salesBody},
			},
		},
		"send from the DID": {
			call: call(to(support), outcome(textback.Voicemail)),
			h:    history{},
			want: rules.Decision{
				Send: true, Reason: rules.Send, Caller: caller, Rule: "support", Detail: "voicemail, rang 5 times (30s)",
				Message: &textback.Message{
					CallID: "1741000000.42", Rule: "support", To: caller, From: support,
					Body: "Acme Plumbing support: your call from (312) 555-0101 was sent to voicemail.",
				},
			},
		},
		"send from a DID that is no number": {
			call: call(to("s")),
			want: rules.Decision{
				Send: true, Reason: rules.Send, Caller: caller, Rule: "support",
				Detail: `no_answer, rang 5 times (30s); DID "s" is no number to text from, so from the default`,
				Message: &textback.Message{
					CallID: "1741000000.42", Rule: "support", To: caller, From: "+12125550199",
					Body: "Acme Plumbing support: your call from (312) 555-0101 was missed.",
				},
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := p.Decide(t.Context(), tt.call, now, tt.h)
			if err != nil {
				t.Fatalf("Decide() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide() mismatch (-want +got):\n%s", diff)
			}
			if got.Send != (got.Message != nil) || got.Send != (got.Reason == rules.Send) {
				t.Errorf("Decide() = Send %v, Reason %q, Message %v: they disagree", got.Send, got.Reason, got.Message)
			}
		})
	}
}

func TestDecideMinRings(t *testing.T) {
	p := policy(t, config()) // min_rings 2, ring_cycle 6s
	for name, tt := range map[string]struct {
		call textback.Call
		want rules.Reason
	}{
		"abandoned at once":           {call(abandoned(0)), rules.TooFewRings},
		"abandoned after 1 ring":      {call(abandoned(5 * time.Second)), rules.TooFewRings},
		"abandoned just before 2":     {call(abandoned(6*time.Second - time.Millisecond)), rules.TooFewRings},
		"abandoned after 1 full ring": {call(abandoned(6 * time.Second)), rules.TooFewRings},
		"abandoned in the 2nd ring":   {call(abandoned(6*time.Second + time.Millisecond)), rules.Send},
		"abandoned after 4 rings":     {call(abandoned(20 * time.Second)), rules.Send},
		"no answer, 0 rings":          {call(outcome(textback.NoAnswer), rang(0)), rules.Send},
		"busy, 0 rings":               {call(outcome(textback.Busy), rang(0)), rules.Send},
		"voicemail, 1 ring":           {call(outcome(textback.Voicemail), rang(6*time.Second)), rules.Send},
		"unavailable, 0 rings":        {call(outcome(textback.Unavailable), rang(0)), rules.Send},
		"unattended, 0 rings":         {call(outcome(textback.Unattended), rang(0)), rules.Send},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := p.Decide(t.Context(), tt.call, now, history{})
			if err != nil || got.Reason != tt.want {
				t.Errorf("Decide(rang %s, %s) = %q (%s), %v; want %q", tt.call.Rang, tt.call.Outcome, got.Reason, got.Detail, err, tt.want)
			}
		})
	}

	t.Run("detail counts rings heard", func(t *testing.T) {
		got, _ := p.Decide(t.Context(), call(abandoned(5500*time.Millisecond)), now, nil)
		if want := "rang 1 time (5.5s), fewer than min_rings 2"; got.Detail != want {
			t.Errorf("Detail = %q, want %q", got.Detail, want)
		}
	})

	t.Run("ring_cycle and min_rings 0", func(t *testing.T) {
		cfg := config()
		cfg.RingCycle = 4 * time.Second
		cfg.MinRings = 3
		p := policy(t, cfg)
		for d, want := range map[time.Duration]rules.Reason{8 * time.Second: rules.TooFewRings, 8100 * time.Millisecond: rules.Send} {
			if got, _ := p.Decide(t.Context(), call(abandoned(d)), now, nil); got.Reason != want {
				t.Errorf("ring_cycle 4s, min_rings 3: Decide(abandoned after %s) = %q (%s), want %q", d, got.Reason, got.Detail, want)
			}
		}
		cfg.MinRings = 0
		p = policy(t, cfg)
		if got, _ := p.Decide(t.Context(), call(abandoned(0)), now, nil); got.Reason != rules.Send {
			t.Errorf("min_rings 0: Decide(abandoned at once) = %q (%s), want send", got.Reason, got.Detail)
		}
	})
}

func TestDecideCooldown(t *testing.T) {
	p := policy(t, config()) // cooldown 24h
	for name, tt := range map[string]struct {
		h    history
		want rules.Reason
	}{
		"never texted":         {history{}, rules.Send},
		"texted a second ago":  {history{caller: now.Add(-time.Second)}, rules.Cooldown},
		"just inside":          {history{caller: now.Add(-24*time.Hour + time.Second)}, rules.Cooldown},
		"exactly the cooldown": {history{caller: now.Add(-24 * time.Hour)}, rules.Send},
		"just outside":         {history{caller: now.Add(-24*time.Hour - time.Second)}, rules.Send},
		"texted in the future": {history{caller: now.Add(time.Minute)}, rules.Cooldown}, // a clock step back
	} {
		t.Run(name, func(t *testing.T) {
			got, err := p.Decide(t.Context(), call(), now, tt.h)
			if err != nil || got.Reason != tt.want {
				t.Errorf("Decide() = %q (%s), %v; want %q", got.Reason, got.Detail, err, tt.want)
			}
		})
	}

	t.Run("detail", func(t *testing.T) {
		got, _ := p.Decide(t.Context(), call(), now, history{caller: now.Add(-24*time.Hour + 90*time.Second)})
		if want := "texted 23h58m30s ago (2025-03-02T09:31:30Z), within cooldown 24h"; got.Detail != want {
			t.Errorf("Detail = %q, want %q", got.Detail, want)
		}
	})

	t.Run("shorter cooldown", func(t *testing.T) {
		cfg := config()
		cfg.Cooldown = time.Hour
		p := policy(t, cfg)
		if got, _ := p.Decide(t.Context(), call(), now, history{caller: now.Add(-2 * time.Hour)}); got.Reason != rules.Send {
			t.Errorf("cooldown 1h, texted 2h ago: Decide() = %q (%s), want send", got.Reason, got.Detail)
		}
	})

	t.Run("no cooldown asks no history", func(t *testing.T) {
		cfg := config()
		cfg.Cooldown = -1
		p := policy(t, cfg)
		got, err := p.Decide(t.Context(), call(), now, brokenHistory{errors.New("must not be asked")})
		if err != nil || got.Reason != rules.Send {
			t.Errorf("Decide() = %q, %v; want send, nil", got.Reason, err)
		}
	})

	t.Run("history fails", func(t *testing.T) {
		errDB := errors.New("database is locked")
		got, err := p.Decide(t.Context(), call(), now, brokenHistory{errDB})
		if !errors.Is(err, errDB) {
			t.Fatalf("Decide() error = %v, want it to wrap %v", err, errDB)
		}
		if want := "rules: last text to +1******0101: database is locked"; err.Error() != want {
			t.Errorf("Decide() error = %q, want %q", err, want)
		}
		if diff := cmp.Diff(rules.Decision{}, got); diff != "" {
			t.Errorf("Decide() with an error: Decision not zero (-want +got):\n%s", diff)
		}
	})

	t.Run("refused calls ask no history", func(t *testing.T) {
		got, err := p.Decide(t.Context(), call(abandoned(time.Second)), now, brokenHistory{errors.New("must not be asked")})
		if err != nil || got.Reason != rules.TooFewRings {
			t.Errorf("Decide() = %q, %v; want too_few_rings, nil", got.Reason, err)
		}
	})
}

func TestDecideRuleSelection(t *testing.T) {
	cfg := config()
	cfg.Rules = append(cfg.Rules,
		rules.Rule{Name: "second sales", DIDs: []string{"+12125550100"}, Message: "never: sales comes first"},
		rules.Rule{Name: "london", DIDs: []string{"+44 20 7946 0000"}, Message: "hello from {did}"},
	)
	p := policy(t, cfg)
	for did, want := range map[string]string{
		"+12125550100":                   "sales",
		"2125550100":                     "sales",
		"12125550100":                    "sales",
		"(212) 555-0100":                 "sales",
		" +1 212 555 0100 ":              "sales",
		"tel:+12125550100":               "sales",
		"sip:+12125550100@trunk.example": "sales",
		"+12125550111":                   "support",
		"s":                              "support",
		"700":                            "support",
		"+442079460000":                  "london",
		"011442079460000":                "london",
		"S":                              "", // raw DIDs match as written
		"7000":                           "",
		"+12125550199":                   "",
	} {
		t.Run(did, func(t *testing.T) {
			got, err := p.Decide(t.Context(), call(to(did)), now, nil)
			if err != nil || got.Rule != want {
				t.Errorf("Decide(DID %q) = rule %q (%s: %s), %v; want rule %q", did, got.Rule, got.Reason, got.Detail, err, want)
			}
			if want == "" && got.Reason != rules.NoRule {
				t.Errorf("Decide(DID %q) = %q, want no_rule", did, got.Reason)
			}
		})
	}

	t.Run("a rule with no dids takes every call", func(t *testing.T) {
		cfg := config()
		cfg.Rules = append(cfg.Rules, rules.Rule{Name: "everything else", Message: "Sorry we missed you."})
		p := policy(t, cfg)
		for _, did := range []string{"+12125550199", "", "anything"} {
			if got, _ := p.Decide(t.Context(), call(to(did)), now, nil); got.Rule != "everything else" || !got.Send {
				t.Errorf("Decide(DID %q) = %q, rule %q; want send by rule everything else", did, got.Reason, got.Rule)
			}
		}
	})
}

func TestDecideMessage(t *testing.T) {
	for name, tt := range map[string]struct {
		msg, business string
		call          textback.Call
		want          string
	}{
		"every placeholder": {
			msg:  "{business} missed ({outcome}) a call from {caller} to {did} [{rule}]",
			call: call(outcome(textback.Busy)),
			want: "Acme missed (busy) a call from (312) 555-0101 to (212) 555-0100 [any]",
		},
		"literal braces": {
			msg:  "{{business}} is {business}; {{}} }}{{",
			call: call(),
			want: "{business} is Acme; {} }{",
		},
		"no placeholders": {
			msg:  "Sorry we missed your call.",
			call: call(),
			want: "Sorry we missed your call.",
		},
		"a foreign caller is written internationally": {
			msg:  "{caller}",
			call: call(from("+44 20 7946 0958")),
			want: "+44 20 7946 0958",
		},
		"a DID that is no number is kept as it is": {
			msg:  "{did}",
			call: call(to("{business}")),
			want: "{business}",
		},
		"values are never expanded again": {
			msg:      "{business} / {did}",
			business: "{caller} {{rule}}",
			call:     call(to("sip:{rule}@pbx")),
			want:     "{caller} {{rule}} / sip:{rule}@pbx",
		},
		"control characters in a DID go": {
			msg:  "{did}",
			call: call(to("main\r\nline\x1b[2J")),
			want: "mainline[2J",
		},
		"the caller ID name is never used": {
			msg:  "{business} {caller} {did} {outcome} {rule}",
			call: call(func(c *textback.Call) { c.CallerName = "EVIL" }),
			want: "Acme (312) 555-0101 (212) 555-0100 missed any",
		},
	} {
		t.Run(name, func(t *testing.T) {
			business := tt.business
			if business == "" {
				business = "Acme"
			}
			p := policy(t, rules.Config{Region: "US", Business: business, AllowedCountries: []string{"*"}, Rules: []rules.Rule{{Name: "any", Message: tt.msg}}})
			got, err := p.Decide(t.Context(), tt.call, now, nil)
			if err != nil || got.Message == nil {
				t.Fatalf("Decide() = %q (%s), %v; want send", got.Reason, got.Detail, err)
			}
			if got.Message.Body != tt.want {
				t.Errorf("Body = %q, want %q", got.Message.Body, tt.want)
			}
			if strings.Contains(got.Message.Body, "EVIL") || strings.Contains(got.Message.Body, "SCAM") {
				t.Errorf("Body = %q: has the caller ID name", got.Message.Body)
			}
		})
	}
}

func TestNew(t *testing.T) {
	for name, tt := range map[string]struct {
		edit func(*rules.Config)
		want []string // each a line of the error; none: no error
	}{
		"valid": {edit: func(*rules.Config) {}},
		"defaults": {edit: func(c *rules.Config) {
			*c = rules.Config{Region: "gb", Rules: []rules.Rule{{Name: "all", Message: "Sorry we missed you."}}}
		}},
		"unknown placeholder": {
			edit: func(c *rules.Config) {
				c.Rules = []rules.Rule{c.Rules[0], {Name: "after-hours", Message: "Hi {nmae}"}, c.Rules[1]}
			},
			want: []string{"rules[1] (after-hours): message: unknown placeholder {nmae} (want one of {business}, {did}, {caller}, {outcome}, {rule}, {opens})"},
		},
		"unclosed placeholder": {
			edit: func(c *rules.Config) { c.Rules[0].Message = "Hi {business" },
			want: []string{"rules[0] (sales): message: unclosed { at byte 3 (write {{ for a literal brace)"},
		},
		"single close brace": {
			edit: func(c *rules.Config) { c.Rules[1].Message = "Hi :}" },
			want: []string{"rules[1] (support): message: single } at byte 4 (write }} for a literal brace)"},
		},
		"empty message": {
			edit: func(c *rules.Config) { c.Rules[1].Message = " " },
			want: []string{"rules[1] (support): message: required"},
		},
		"business placeholder without a business": {
			edit: func(c *rules.Config) { c.Business = "" },
			want: []string{
				"rules[0] (sales): message: {business} needs business to be set",
				"rules[1] (support): message: {business} needs business to be set",
			},
		},
		"no region": {
			edit: func(c *rules.Config) { c.Region = "" },
			want: []string{`region: required, e.g. "US" or "GB"`},
		},
		"unknown region": {
			edit: func(c *rules.Config) { c.Region = "UK" },
			want: []string{`region: unknown region "UK"`},
		},
		"no rules": {
			edit: func(c *rules.Config) { c.Rules = nil },
			want: []string{"rules: at least one rule is required"},
		},
		"bad DID": {
			edit: func(c *rules.Config) { c.Rules[1].DIDs = []string{"2125550111", "212555011", ""} },
			want: []string{
				`rules[1] (support): dids[1]: not a valid phone number for region US: "212555011"`,
				"rules[1] (support): dids[2]: empty",
			},
		},
		"bad from": {
			edit: func(c *rules.Config) { c.From = "555" },
			want: []string{`from: not a valid phone number for region US: "555"`},
		},
		"bad rule from": {
			edit: func(c *rules.Config) { c.Rules[0].From = "dialed" },
			want: []string{`rules[0] (sales): from: not a valid phone number for region US: "dialed" (or "did" for the number dialed)`},
		},
		"no name": {
			edit: func(c *rules.Config) { c.Rules[0].Name = "" },
			want: []string{"rules[0]: name: required"},
		},
		"duplicate name": {
			edit: func(c *rules.Config) { c.Rules[1].Name = "sales" },
			want: []string{`rules[1] (sales): name: "sales" is also rules[0]`},
		},
		"negative durations": {
			edit: func(c *rules.Config) { c.MinRings, c.RingCycle = -1, -time.Second },
			want: []string{"min_rings: -1 is negative", "ring_cycle: -1s is negative"},
		},
		"too many rings": {
			edit: func(c *rules.Config) { c.MinRings, c.RingCycle = 1<<40, time.Hour },
			want: []string{"min_rings: 1099511627776 is more than 1000", "ring_cycle: 1h0m0s is longer than 1m"},
		},
		"extensions as long as numbers": {
			edit: func(c *rules.Config) { c.MaxExtensionLen = 10 },
			want: []string{"max_extension_length: 10 would take US numbers (10 digits) for extensions"},
		},
		"every fault at once": {
			edit: func(c *rules.Config) {
				c.From = "x"
				c.Rules[0].Message = "{x}"
				c.Rules[1].Name = ""
			},
			want: []string{
				`from: not a valid phone number for region US: "x"`,
				"rules[0] (sales): message: unknown placeholder {x} (want one of {business}, {did}, {caller}, {outcome}, {rule}, {opens})",
				"rules[1]: name: required",
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config()
			tt.edit(&cfg)
			p, err := rules.New(cfg)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("New() error mismatch (-want +got):\n%s", diff)
			}
			if (p == nil) == (err == nil) {
				t.Errorf("New() = %v, %v: want a Policy or an error", p, err)
			}
		})
	}
}

func TestDecisionVerdict(t *testing.T) {
	p := policy(t, config())
	c := call(abandoned(time.Second))
	d, _ := p.Decide(t.Context(), c, now, nil)
	want := textback.Verdict{
		Call: c, Caller: caller, Send: false, Reason: "too_few_rings", Rule: "sales",
		Detail: "rang 1 time (1s), fewer than min_rings 2",
	}
	if diff := cmp.Diff(want, d.Verdict(c)); diff != "" {
		t.Errorf("Verdict() mismatch (-want +got):\n%s", diff)
	}
}

func TestDecideConcurrent(t *testing.T) {
	p := policy(t, config())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				c := call(from(fmt.Sprintf("+1312555%04d", i*100+j)), to([]string{sales, support, "s", "+12125550199"}[j%4]))
				if _, err := p.Decide(t.Context(), c, now, history{}); err != nil {
					t.Errorf("Decide() error = %v", err)
				}
			}
		})
	}
	wg.Wait()
}

// The Store is a History.
var _ rules.History = textback.Store(nil)

// TestDIDSeenAgain: a DID's second call is decided as its first (the
// parse of a DID is kept), and so is a known DID's after thousands of
// others have come past the kept ones.
func TestDIDSeenAgain(t *testing.T) {
	p := policy(t, config())
	ctx := context.Background()
	first, err := p.Decide(ctx, call(), now, history{})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Send || first.Rule != "sales" || !strings.Contains(first.Message.Body, "(212) 555-0100") {
		t.Fatalf("first call: %+v", first)
	}
	for i := range 5000 {
		d, err := p.Decide(ctx, call(func(c *textback.Call) { c.DID = fmt.Sprintf("+1646555%04d", i) }), now, history{})
		if err != nil || d.Reason != rules.NoRule {
			t.Fatalf("DID %d: %+v, %v; want no rule", i, d, err)
		}
	}
	for _, did := range []string{sales, "+16465559999"} {
		again, err := p.Decide(ctx, call(func(c *textback.Call) { c.DID = did }), now, history{})
		if err != nil {
			t.Fatal(err)
		}
		want := first
		if did != sales {
			want = rules.Decision{Reason: rules.NoRule}
		}
		if again.Send != want.Send || again.Rule != want.Rule || again.Reason != want.Reason ||
			(want.Message != nil && again.Message.Body != want.Message.Body) {
			t.Errorf("DID %s again: %+v, want %+v", did, again, want)
		}
	}
}

// BenchmarkDecide measures the decision of a missed call, the journal's
// reads left out.
func BenchmarkDecide(b *testing.B) {
	p, err := rules.New(config())
	if err != nil {
		b.Fatal(err)
	}
	c := call()
	for b.Loop() {
		if d, err := p.Decide(context.Background(), c, now, history{}); err != nil || !d.Send {
			b.Fatal(d, err)
		}
	}
}
