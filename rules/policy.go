package rules

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/textback/textback"
)

// Defaults for the zero values of Config.
const (
	DefaultRingCycle = 6 * time.Second
	DefaultCooldown  = 24 * time.Hour
)

// maxMinRings bounds Config.MinRings: more is a typo, and could overflow
// the ringing time it stands for.
const maxMinRings = 1000

// FromDID is the Rule.From that texts back from the number the caller
// dialed.
const FromDID = "did"

// Config is what a Policy is made from. Its zero durations take the
// defaults; only Region and one Rule are required.
type Config struct {
	// Region is the ISO 3166 region ("US", "GB") of numbers that come
	// without a country code: caller numbers, DIDs, rule numbers.
	Region string
	// MaxExtensionLen is the longest caller number, in bare digits, that is
	// an internal extension: 0 means DefaultMaxExtensionLen, negative means
	// none.
	MaxExtensionLen int
	// MinRings is how many rings a caller who hung up while it rang must
	// have heard to be texted; 0 texts every one. The first ring sounds at
	// once and another after every RingCycle, so 1 means "any ringing at
	// all" and 2 "still there after the first ring cycle".
	MinRings int
	// RingCycle is how long one ring lasts: 0 means DefaultRingCycle.
	RingCycle time.Duration
	// Cooldown is how long after a text the same number is not texted
	// again: 0 means DefaultCooldown, negative means never held back.
	Cooldown time.Duration
	// From is the number texts come from; empty leaves it to the sender.
	From textback.Number
	// Business is the name {business} stands for.
	Business string
	// Rules are tried in order; the first whose DIDs match the call's wins.
	Rules []Rule
}

// Rule says which calls get which text.
type Rule struct {
	// Name identifies the rule in the journal and in {rule}. Required and
	// unique.
	Name string
	// DIDs are the numbers dialed that the rule covers; none means every
	// one. Numbers match in any format ("2125550100" matches a DID of
	// "+12125550100"); anything that is not a number ("s", an extension
	// like "100") matches the DID as the PBX reports it.
	DIDs []string
	// Message is the text, with placeholders (see template).
	Message string
	// From overrides Config.From: a number, or FromDID to text from the
	// number dialed (or from Config.From when the DID is not a number).
	From string
}

// Policy decides which missed callers get a text. It is immutable and safe
// for concurrent use.
type Policy struct {
	region    string
	cc        int // the region's country calling code
	maxExt    int
	minRings  int
	ringCycle time.Duration
	cooldown  time.Duration // negative: none
	from      textback.Number
	business  string
	rules     []rule
}

// rule is a Rule made ready to match and fill.
type rule struct {
	name    string
	any     bool            // no DIDs: every call
	raw     map[string]bool // DIDs as written, for non-numbers
	numbers map[textback.Number]bool
	tmpl    *template
	from    textback.Number
	fromDID bool
}

// New checks cfg and makes a Policy of it. The error lists every fault,
// each named by its config key: "rules[1] (after-hours): message: unknown
// placeholder {nmae} …".
func New(cfg Config) (*Policy, error) {
	p := &Policy{
		region:    strings.ToUpper(strings.TrimSpace(cfg.Region)),
		maxExt:    cfg.MaxExtensionLen,
		minRings:  cfg.MinRings,
		ringCycle: cfg.RingCycle,
		cooldown:  cfg.Cooldown,
		business:  cfg.Business,
	}
	if p.maxExt == 0 {
		p.maxExt = DefaultMaxExtensionLen
	}
	if p.ringCycle == 0 {
		p.ringCycle = DefaultRingCycle
	}
	if p.cooldown == 0 {
		p.cooldown = DefaultCooldown
	}

	var errs []error
	bad := func(key string, err error) { errs = append(errs, fmt.Errorf("%s: %w", key, err)) }
	switch {
	case p.region == "":
		bad("region", errors.New(`required, e.g. "US" or "GB"`))
	case !knownRegion(p.region):
		bad("region", fmt.Errorf("unknown region %q", cfg.Region))
	default:
		p.cc = phonenumbers.GetCountryCodeForRegion(p.region)
		// An extension as long as a national number would swallow callers.
		if ex := phonenumbers.GetExampleNumber(p.region); ex != nil {
			if n := len(phonenumbers.GetNationalSignificantNumber(ex)); p.maxExt >= n {
				bad("max_extension_length", fmt.Errorf("%d would take %s numbers (%d digits) for extensions", p.maxExt, p.region, n))
			}
		}
	}
	switch {
	case p.minRings < 0:
		bad("min_rings", fmt.Errorf("%d is negative", p.minRings))
	case p.minRings > maxMinRings:
		bad("min_rings", fmt.Errorf("%d is more than %d", p.minRings, maxMinRings))
	}
	switch {
	case p.ringCycle < 0:
		bad("ring_cycle", fmt.Errorf("%s is negative", p.ringCycle))
	case p.ringCycle > time.Minute: // a ring and its pause last seconds
		bad("ring_cycle", fmt.Errorf("%s is longer than 1m", p.ringCycle))
	}
	if cfg.From != "" && p.cc != 0 {
		n, err := ParseNumber(string(cfg.From), p.region)
		if err != nil {
			bad("from", err)
		}
		p.from = n
	}
	if len(cfg.Rules) == 0 {
		bad("rules", errors.New("at least one rule is required"))
	}
	names := make(map[string]int)
	for i, r := range cfg.Rules {
		key := fmt.Sprintf("rules[%d]", i)
		if r.Name != "" {
			key = fmt.Sprintf("rules[%d] (%s)", i, r.Name)
		}
		if j, dup := names[r.Name]; dup && r.Name != "" {
			bad(key, fmt.Errorf("name: %q is also rules[%d]", r.Name, j))
		}
		names[r.Name] = i
		cr, rerrs := p.compile(r)
		for _, err := range rerrs {
			bad(key, err)
		}
		p.rules = append(p.rules, cr)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// compile checks one rule and makes it ready.
func (p *Policy) compile(r Rule) (rule, []error) {
	cr := rule{
		name:    r.Name,
		any:     len(r.DIDs) == 0,
		raw:     make(map[string]bool),
		numbers: make(map[textback.Number]bool),
	}
	var errs []error
	if strings.TrimSpace(r.Name) == "" {
		errs = append(errs, errors.New("name: required"))
	}
	for j, did := range r.DIDs {
		did = strings.TrimSpace(did)
		if did == "" {
			errs = append(errs, fmt.Errorf("dids[%d]: empty", j))
			continue
		}
		cr.raw[did] = true
		if p.cc == 0 {
			continue // no region to read numbers in; already reported
		}
		n, err := ParseNumber(did, p.region)
		switch {
		case err == nil:
			cr.numbers[n] = true
		case p.rawDID(did):
		default:
			errs = append(errs, fmt.Errorf("dids[%d]: %w", j, err))
		}
	}
	if strings.TrimSpace(r.Message) == "" {
		errs = append(errs, errors.New("message: required"))
	} else if t, err := parseTemplate(r.Message); err != nil {
		errs = append(errs, fmt.Errorf("message: %w", err))
	} else {
		cr.tmpl = t
		if t.uses(businessField) && strings.TrimSpace(p.business) == "" {
			errs = append(errs, errors.New("message: {business} needs business to be set"))
		}
	}
	switch from := strings.TrimSpace(r.From); {
	case from == "":
		cr.from = p.from
	case strings.EqualFold(from, FromDID):
		cr.fromDID = true
	case p.cc != 0:
		n, err := ParseNumber(from, p.region)
		if err != nil {
			errs = append(errs, fmt.Errorf("from: %w (or %q for the number dialed)", err, FromDID))
		}
		cr.from = n
	}
	return cr, errs
}

// rawDID reports whether a config DID that is not a phone number is meant
// to match the PBX's DID as written: it has a letter ("s", "main-line") or
// is as short as an extension. Anything else that fails to parse is a
// mistyped number.
func (p *Policy) rawDID(did string) bool {
	if digitsOnly(did) && len(did) <= max(p.maxExt, DefaultMaxExtensionLen) {
		return true
	}
	return strings.IndexFunc(did, unicode.IsLetter) >= 0
}

// History is what Decide needs of the journal: when a number was last
// texted. textback.Store satisfies it.
type History interface {
	LastTexted(ctx context.Context, to textback.Number) (time.Time, bool, error)
}

// Decision is what the rules made of a call.
type Decision struct {
	Send   bool
	Reason Reason
	Detail string          // the reason in words, for people: "rang 1 time (6s), fewer than min_rings 2"
	Rule   string          // the rule that matched, if the check got that far
	Caller textback.Number // the caller in E.164, if the check got that far
	// Message is the text to queue when Send is true, and nil otherwise.
	Message *textback.Message
}

// Verdict is the decision as the journal records it.
func (d Decision) Verdict(c textback.Call) textback.Verdict {
	return textback.Verdict{
		Call:   c,
		Caller: d.Caller,
		Send:   d.Send,
		Reason: string(d.Reason),
		Detail: d.Detail,
		Rule:   d.Rule,
	}
}

// Decide says whether to text the caller of c back, checking in the order
// the package comment gives. now is the time of the decision; h is asked
// for the caller's last text, unless cooldown is off (a nil h has no
// texts). The error is the History's, and comes with a zero Decision.
func (p *Policy) Decide(ctx context.Context, c textback.Call, now time.Time, h History) (Decision, error) {
	refuse := func(d Decision, why Reason, format string, args ...any) (Decision, error) {
		d.Reason, d.Detail = why, fmt.Sprintf(format, args...)
		return d, nil
	}
	var d Decision
	switch {
	case c.Direction != textback.Inbound:
		return refuse(d, NotInbound, "direction %s, not inbound", orUnknown(string(c.Direction)))
	case c.Outcome == textback.Answered:
		return refuse(d, Answered, "answered after ringing %s", roundDuration(c.Rang))
	case !c.Outcome.Valid():
		return refuse(d, UnknownOutcome, "outcome %q is none of %v", c.Outcome, textback.Outcomes)
	case c.Withheld:
		return refuse(d, Withheld, "caller asked for their number to be withheld")
	}

	caller, num, why := parseCaller(c.CallerNum, p.region, p.maxExt)
	switch why {
	case Withheld:
		return refuse(d, why, "caller ID %q is no number", clip(c.CallerNum))
	case Internal:
		return refuse(d, why, "caller %q is an extension (at most %d digits)", clip(c.CallerNum), p.maxExt)
	case ShortCode:
		return refuse(d, why, "caller %q is a short code", clip(c.CallerNum))
	case InvalidNumber:
		// It may be a real number the rules misread: personal data.
		return refuse(d, why, "caller %q is not a valid phone number for region %s", maskDigits(clip(c.CallerNum)), p.region)
	}
	d.Caller = caller

	did := strings.TrimSpace(c.DID)
	didNum, didParsed := p.didNumber(did)
	r := p.match(did, didNum)
	if r == nil {
		return refuse(d, NoRule, "no rule covers DID %q", clip(orUnknown(did)))
	}
	d.Rule = r.name

	rings := p.rings(c.Rang)
	if c.Outcome == textback.Abandoned && p.ringsHeard(c.Rang) < int64(p.minRings) {
		return refuse(d, TooFewRings, "rang %s, fewer than min_rings %d", rings, p.minRings)
	}

	if p.cooldown > 0 && h != nil {
		last, ok, err := h.LastTexted(ctx, caller)
		if err != nil {
			return Decision{}, fmt.Errorf("rules: last text to %s: %w", caller.Masked(), err)
		}
		if ago := now.Sub(last); ok && ago < p.cooldown {
			return refuse(d, Cooldown, "texted %s ago (%s), within cooldown %s",
				roundDuration(ago), last.UTC().Format(time.RFC3339), roundDuration(p.cooldown))
		}
	}

	v := values{
		business: p.business,
		did:      plain(did),
		caller:   p.format(num),
		outcome:  outcomeWords[c.Outcome],
		rule:     r.name,
	}
	if didParsed != nil {
		v.did = p.format(didParsed)
	}
	from := r.from
	detail := fmt.Sprintf("%s, rang %s", c.Outcome, rings)
	if r.fromDID {
		from = didNum
		if from == "" {
			from = p.from
			detail += fmt.Sprintf("; DID %q is no number to text from, so from the default", clip(orUnknown(did)))
		}
	}
	d.Send, d.Reason, d.Detail = true, Send, detail
	d.Message = &textback.Message{
		CallID: c.ID,
		Rule:   r.name,
		To:     caller,
		From:   from,
		Body:   r.tmpl.execute(&v),
	}
	return d, nil
}

// match returns the first rule that covers the DID, as reported and as a
// number (empty if it is none), or nil.
func (p *Policy) match(did string, n textback.Number) *rule {
	for i := range p.rules {
		r := &p.rules[i]
		if r.any || r.raw[did] || (n != "" && r.numbers[n]) {
			return r
		}
	}
	return nil
}

// format writes a number as people of the region write it: nationally if it
// is in the region's country, internationally if not.
func (p *Policy) format(n *phonenumbers.PhoneNumber) string {
	if int(n.GetCountryCode()) == p.cc {
		return phonenumbers.Format(n, phonenumbers.NATIONAL)
	}
	return phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
}

// ringsHeard counts the ring cycles a caller heard in d, the last one
// perhaps cut short: the first ring sounds at once. People count rings that
// way ("it rang twice and they hung up"), where ring time / ring_cycle would
// call a caller who heard one whole ring and hung up in the pause after it
// 0.8 rings. A call cut off exactly at a cycle's end heard that many rings.
func (p *Policy) ringsHeard(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + p.ringCycle - 1) / p.ringCycle)
}

// rings says how many rings were heard in d, and how long that was:
// "1 time (5s)", "3 times (12s)".
func (p *Policy) rings(d time.Duration) string {
	n := p.ringsHeard(d)
	unit := "times"
	if n == 1 {
		unit = "time"
	}
	return fmt.Sprintf("%d %s (%s)", n, unit, roundDuration(d))
}

// roundDuration writes d to a tenth of a second, without zero units:
// "24h", "2h30m", "11.5s".
func roundDuration(d time.Duration) string {
	s := d.Round(100 * time.Millisecond).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// clip makes a raw value from the PBX fit for a Detail: plain, and short.
func clip(s string) string {
	const limit = 40 // runes
	s = plain(s)
	if n := 0; len(s) > limit {
		for i := range s {
			if n++; n > limit {
				return s[:i] + "…"
			}
		}
	}
	return s
}

// maskDigits stars the digits of s but its first two and last four, like
// textback.Number.Masked, for a raw number that may not be E.164 (or ASCII).
func maskDigits(s string) string {
	total := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			total++
		}
	}
	b := []byte(s)
	for i, n := 0, 0; i < len(b); i++ {
		if b[i] >= '0' && b[i] <= '9' {
			if n >= 2 && n < total-4 {
				b[i] = '*'
			}
			n++
		}
	}
	return string(b)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// didNumber reads the DID as a number of the region, if it is one.
func (p *Policy) didNumber(did string) (textback.Number, *phonenumbers.PhoneNumber) {
	user, _, _ := unwrap(did)
	n, num, _ := parse(user, p.region)
	return n, num
}
