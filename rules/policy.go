package rules

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

	// MaxPerHour caps the texts of all rules together in any hour; 0 is no
	// cap.
	MaxPerHour int
	// AllowedCountries are the ISO 3166 regions of callers that are texted,
	// against SMS pumping. Empty means the country of From, or of Region
	// when From is empty; "*" means every country.
	AllowedCountries []string
	// Allow lists callers exempt from the premium-rate and country checks;
	// Deny lists callers never texted (it beats Allow). Entries are numbers
	// in any form, or E.164 prefixes with a trailing "*" ("+1900*").
	Allow, Deny []string
	// AllowFile and DenyFile add lists kept in files, one entry a line, "#"
	// for comments. Decide reads a file again when it changed, looking at
	// most once every ListCheckInterval (by the decision's time); Reload
	// reads them at once.
	AllowFile, DenyFile string
	// OptOutSuffix is appended to every text, after a space: "Reply STOP to
	// opt out." It counts in the segment check.
	OptOutSuffix string
}

// Rule says which calls get which text.
type Rule struct {
	// Name identifies the rule in the journal and in {rule}. Required and
	// unique.
	Name string
	// DIDs are the numbers dialed that the rule covers; none means every
	// one. Numbers match in any format ("2125550100" matches a DID of
	// "+12125550100"); anything that is not a number ("s", an extension
	// like "100") matches the DID as the PBX reports it. A trailing "*"
	// makes a prefix: "+1212555*" matches every DID whose E.164 form starts
	// so, and a prefix without "+" ("55*") the DID as the PBX reports it.
	DIDs []string
	// Message is the text, with placeholders (see template).
	Message string
	// Messages override Message for some outcomes, in business hours.
	Messages map[textback.Outcome]string
	// AfterHoursMessage is the text outside Hours and on Holidays, whatever
	// the outcome; empty uses Messages and Message then too.
	AfterHoursMessage string
	// From overrides Config.From: a number, or FromDID to text from the
	// number dialed (or from Config.From when the DID is not a number).
	From string
	// Hours are the business hours, in Timezone; none means always open
	// (but on Holidays).
	Hours []Hours
	// Timezone is the zone of Hours and Holidays, and of QuietHours for
	// callers whose number does not tell theirs. Required with any of them.
	Timezone Zone
	// Holidays are days closed all day.
	Holidays []Holiday
	// QuietHours is when callers are not texted, on their own clock (from
	// their number's area code where it tells a single zone, else
	// Timezone); the zero Span is none.
	QuietHours Span
	// QuietAction is what happens in quiet hours: QuietDefer (the default)
	// queues the text for their end, QuietSkip sends none, QuietSend sends.
	QuietAction QuietAction
	// MaxPerHour caps the rule's texts in any hour; 0 is no cap.
	MaxPerHour int
	// Delay holds the text this long after the call, for a grace period in
	// which it is cancelled if the caller gets through on a redial or is
	// called back (Message.Grace); 0 sends at once.
	Delay time.Duration
}

// Policy decides which missed callers get a text. Its settings are
// immutable, and it is safe for concurrent use; only the allow and deny
// files it watches change.
type Policy struct {
	region     string
	cc         int // the region's country calling code
	maxExt     int
	minRings   int
	ringCycle  time.Duration
	cooldown   time.Duration // negative: none
	from       textback.Number
	business   string
	rules      []rule
	maxPerHour int
	countries  map[string]bool // nil: any
	allow      numberList
	deny       numberList
	allowFile  *listFile // nil: none
	denyFile   *listFile
	suffix     string
	warnings   []string
	zones      sync.Map // caller time zone name → *time.Location
	// dids holds didNumber's answers (DID as reported → didParsed): a
	// business has a few DIDs and every call parses one, and the
	// library's parse is most of a decision's work. At most maxDIDs are
	// kept; past them a DID is parsed each time.
	dids     sync.Map
	didCount atomic.Int64
}

// maxDIDs bounds Policy.dids, against a PBX that reports anything as a DID.
const maxDIDs = 4096

// didParsed is a DID in E.164 and as the library parsed it (nil, with "",
// when it is not a number). Shared: never changed.
type didParsed struct {
	n   textback.Number
	num *phonenumbers.PhoneNumber
}

// rule is a Rule made ready to match and fill.
type rule struct {
	name        string
	any         bool            // no DIDs: every call
	raw         map[string]bool // DIDs as written, for non-numbers
	numbers     map[textback.Number]bool
	prefixes    []string // E.164 prefixes ("+1212555")
	rawPrefixes []string // prefixes of the DID as reported
	tmpl        *template
	byOutcome   map[textback.Outcome]*template
	afterHours  *template
	from        textback.Number
	fromDID     bool
	sched       *schedule // nil: always open
	zone        *time.Location
	quiet       Span
	quietAction QuietAction
	maxPerHour  int
	delay       time.Duration
}

// New checks cfg and makes a Policy of it. The error lists every fault,
// each named by its config key: "rules[1] (after-hours): message: unknown
// placeholder {nmae} …".
func New(cfg Config) (*Policy, error) {
	p := &Policy{
		region:     strings.ToUpper(strings.TrimSpace(cfg.Region)),
		maxExt:     cfg.MaxExtensionLen,
		minRings:   cfg.MinRings,
		ringCycle:  cfg.RingCycle,
		cooldown:   cfg.Cooldown,
		business:   cfg.Business,
		maxPerHour: cfg.MaxPerHour,
		suffix:     strings.TrimSpace(cfg.OptOutSuffix),
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
	if p.maxPerHour < 0 {
		bad("max_per_hour", fmt.Errorf("%d is negative", p.maxPerHour))
	}
	if p.cc != 0 {
		errs = append(errs, p.compileFilters(cfg)...)
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
	for i, r := range cfg.Rules {
		for _, w := range p.lint(r, &p.rules[i]) {
			p.warnings = append(p.warnings, fmt.Sprintf("rules[%d] (%s): %s", i, r.Name, w))
		}
	}
	return p, nil
}

// compileFilters checks the caller filters: countries, allow and deny.
func (p *Policy) compileFilters(cfg Config) []error {
	var errs []error
	bad := func(key string, err error) { errs = append(errs, fmt.Errorf("%s: %w", key, err)) }
	switch countries := cfg.AllowedCountries; {
	case slices.Contains(countries, "*"):
		if len(countries) > 1 {
			bad("allowed_countries", errors.New(`"*" allows every country: list nothing else`))
		}
	case len(countries) == 0:
		region := p.region
		if p.from != "" {
			if num, err := phonenumbers.Parse(string(p.from), ""); err == nil {
				region = phonenumbers.GetRegionCodeForNumber(num)
			}
		}
		p.countries = map[string]bool{region: true}
	default:
		p.countries = make(map[string]bool)
		for i, c := range countries {
			c = strings.ToUpper(strings.TrimSpace(c))
			if !knownRegion(c) {
				bad(fmt.Sprintf("allowed_countries[%d]", i), fmt.Errorf("unknown region %q (want an ISO 3166 code such as \"US\", or \"*\")", countries[i]))
			}
			p.countries[c] = true
		}
	}
	for i, e := range cfg.Allow {
		if err := p.allow.add(e, p.region); err != nil {
			bad(fmt.Sprintf("allow[%d]", i), err)
		}
	}
	for i, e := range cfg.Deny {
		if err := p.deny.add(e, p.region); err != nil {
			bad(fmt.Sprintf("deny[%d]", i), err)
		}
	}
	var err error
	if cfg.AllowFile != "" {
		if p.allowFile, err = openListFile(cfg.AllowFile, p.region); err != nil {
			bad("allow_file", err)
		}
	}
	if cfg.DenyFile != "" {
		if p.denyFile, err = openListFile(cfg.DenyFile, p.region); err != nil {
			bad("deny_file", err)
		}
	}
	return errs
}

// MaxDelay returns the longest Rule.Delay: how long the daemon must
// remember who connected with us.
func (p *Policy) MaxDelay() time.Duration {
	var d time.Duration
	for _, r := range p.rules {
		d = max(d, r.delay)
	}
	return d
}

// Number returns a raw number from the PBX (a caller ID, a number dialed)
// in E.164, read as Decide reads callers: false for what is no number to
// text (withheld, an extension, a short code, invalid).
func (p *Policy) Number(raw string) (textback.Number, bool) {
	n, _, why := parseCaller(raw, p.region, p.maxExt)
	return n, why == OK && n != ""
}

// Warnings are what New found legal but likely wrong: texts longer than one
// SMS, links and capitals that carriers filter, overlapping hours. Each
// names its config key, like New's errors.
func (p *Policy) Warnings() []string { return slices.Clone(p.warnings) }

// Reload reads the allow and deny files again at once. A file that cannot
// be read, or has a bad line, leaves its previous list in force; the error
// says which. Decide reloads changed files by itself.
func (p *Policy) Reload() error {
	var errs []error
	for _, f := range []*listFile{p.allowFile, p.denyFile} {
		if f != nil {
			errs = append(errs, f.forceReload())
		}
	}
	return errors.Join(errs...)
}

// ListErrors returns the errors of the last look at the allow and deny
// files, nil when both were read well.
func (p *Policy) ListErrors() error {
	var errs []error
	for _, f := range []*listFile{p.allowFile, p.denyFile} {
		if f != nil {
			errs = append(errs, f.lastErr())
		}
	}
	return errors.Join(errs...)
}

// sampleValues are placeholder values of the longest likely length, for the
// segment check.
func (p *Policy) sampleValues(r *rule) values {
	return values{
		business: p.business,
		did:      "(212) 555-0100",
		caller:   "+44 20 7946 0958",
		outcome:  "sent to voicemail",
		rule:     r.name,
		opens:    "Wednesday 12:00",
	}
}

// lint checks each of a rule's texts as it would go out.
func (p *Policy) lint(r Rule, cr *rule) []string {
	var warns []string
	v := p.sampleValues(cr)
	check := func(key string, t *template) {
		if t == nil {
			return
		}
		for _, w := range lintMessage(p.withSuffix(t.execute(&v))) {
			warns = append(warns, key+": "+w)
		}
	}
	check("message", cr.tmpl)
	for _, o := range textback.Outcomes {
		check("messages."+string(o), cr.byOutcome[o])
	}
	check("after_hours_message", cr.afterHours)
	if cr.sched != nil {
		_, hw := newSchedule(r.Hours, r.Holidays, cr.zone)
		warns = append(warns, hw...)
	}
	return warns
}

// withSuffix appends the opt-out suffix to a text.
func (p *Policy) withSuffix(body string) string {
	if p.suffix == "" {
		return body
	}
	return body + " " + p.suffix
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
		if pre, ok := strings.CutSuffix(did, "*"); ok {
			switch {
			case pre == "":
				errs = append(errs, fmt.Errorf("dids[%d]: %q matches everything: leave dids empty instead", j, did))
			case strings.HasPrefix(pre, "+") && digitsOnly(pre[1:]):
				cr.prefixes = append(cr.prefixes, pre)
			case strings.HasPrefix(pre, "+"):
				errs = append(errs, fmt.Errorf("dids[%d]: prefix %q: want + and digits before the *, e.g. \"+1212555*\"", j, did))
			default:
				cr.rawPrefixes = append(cr.rawPrefixes, pre)
			}
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
	needZone := len(r.Hours) > 0 || len(r.Holidays) > 0 || !r.QuietHours.IsZero()
	cr.zone = r.Timezone.Location()
	switch {
	case needZone && cr.zone == nil:
		errs = append(errs, errors.New(`timezone: required with hours, holidays or quiet_hours (e.g. "America/New_York")`))
	case len(r.Hours) > 0 || len(r.Holidays) > 0:
		cr.sched, _ = newSchedule(r.Hours, r.Holidays, cr.zone)
	}
	cr.quiet, cr.quietAction = r.QuietHours, r.QuietAction
	switch {
	case cr.quietAction != "" && cr.quiet.IsZero():
		errs = append(errs, errors.New("quiet_action: needs quiet_hours"))
	case cr.quietAction == "":
		cr.quietAction = QuietDefer
	case cr.quietAction != QuietDefer && cr.quietAction != QuietSkip && cr.quietAction != QuietSend:
		errs = append(errs, fmt.Errorf("quiet_action: %q is none of send, defer, skip", cr.quietAction))
	}
	if cr.maxPerHour = r.MaxPerHour; cr.maxPerHour < 0 {
		errs = append(errs, fmt.Errorf("max_per_hour: %d is negative", r.MaxPerHour))
	}
	if cr.delay = r.Delay; cr.delay < 0 {
		errs = append(errs, fmt.Errorf("delay: %s is negative", r.Delay))
	}
	tmpl := func(key, text string) *template {
		t, err := parseTemplate(text)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			return nil
		}
		if t.uses(businessField) && strings.TrimSpace(p.business) == "" {
			errs = append(errs, fmt.Errorf("%s: {business} needs business to be set", key))
		}
		if t.uses(opensField) && cr.sched == nil {
			errs = append(errs, fmt.Errorf("%s: {opens} needs hours (or holidays) to tell when the business opens", key))
		}
		return t
	}
	if strings.TrimSpace(r.Message) == "" {
		errs = append(errs, errors.New("message: required"))
	} else {
		cr.tmpl = tmpl("message", r.Message)
	}
	cr.byOutcome = make(map[textback.Outcome]*template)
	for _, o := range textback.Outcomes {
		text, ok := r.Messages[o]
		switch {
		case !ok:
		case o == textback.Answered:
			errs = append(errs, errors.New("messages.answered: answered callers are never texted"))
		case strings.TrimSpace(text) == "":
			errs = append(errs, fmt.Errorf("messages.%s: empty (leave it out to use message)", o))
		default:
			cr.byOutcome[o] = tmpl("messages."+string(o), text)
		}
	}
	for o := range r.Messages {
		if !o.Valid() {
			errs = append(errs, fmt.Errorf("messages: unknown outcome %q", o))
		}
	}
	if r.AfterHoursMessage != "" {
		if cr.sched == nil {
			errs = append(errs, errors.New("after_hours_message: needs hours (or holidays) to tell when the business is closed"))
		}
		if strings.TrimSpace(r.AfterHoursMessage) == "" {
			errs = append(errs, errors.New("after_hours_message: empty"))
		} else {
			cr.afterHours = tmpl("after_hours_message", r.AfterHoursMessage)
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
// texted, whether it opted out, and how many texts went lately.
// textback.Store satisfies it.
type History interface {
	LastTexted(ctx context.Context, to textback.Number) (time.Time, bool, error)
	OptedOut(ctx context.Context, n textback.Number) (bool, error)
	CountTexts(ctx context.Context, rule string, since time.Time) (int, error)
}

// Decision is what the rules made of a call.
type Decision struct {
	Send   bool
	Reason Reason
	Detail string          // the reason in words, for people: "rang 1 time (6s), fewer than min_rings 2"
	Rule   string          // the rule that matched, if the check got that far
	Caller textback.Number // the caller in E.164, if the check got that far
	// AfterHours is set when the rule's business was closed: the text is
	// its after-hours message, if it has one.
	AfterHours bool
	// NotBefore is when the text may go, when it must wait for the end of
	// the caller's quiet hours or of the rule's delay; zero means at once.
	// Message.NotBefore is the same.
	NotBefore time.Time
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
// whether the caller opted out, for their last text and for the texts of
// the last hour (a nil h has no opt-outs and no texts). The error is the
// History's, and comes with a zero Decision.
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

	if h != nil {
		out, err := h.OptedOut(ctx, caller)
		if err != nil {
			return Decision{}, fmt.Errorf("rules: opt-out of %s: %w", caller.Masked(), err)
		}
		if out {
			return refuse(d, OptedOut, "caller is on the opt-out list")
		}
	}
	if e, list := p.listed(caller, now, false); e != "" {
		return refuse(d, Denied, "caller matches %q of the %s", e, list)
	}
	allowed, allowList := p.listed(caller, now, true)
	if allowed == "" {
		switch t := phonenumbers.GetNumberType(num); t {
		case phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.UAN:
			return refuse(d, PremiumRate, "caller is a %s number", numberTypeWords[t])
		}
		if region := phonenumbers.GetRegionCodeForNumber(num); p.countries != nil && !p.countries[region] {
			return refuse(d, CountryNotAllowed, "caller's country %s is not in allowed_countries %v", orUnknown(region), p.countryList())
		}
	}

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

	detail := fmt.Sprintf("%s, rang %s", c.Outcome, rings)
	if allowed != "" {
		detail += fmt.Sprintf("; caller matches %q of the %s", allowed, allowList)
	}
	var notBefore time.Time
	if !r.quiet.IsZero() {
		loc, whose := p.callerZone(num, r)
		if lt := now.In(loc); r.quiet.contains(lt.Hour()*60 + lt.Minute()) {
			where := fmt.Sprintf("quiet hours %s (%s %s, %s)", r.quiet, lt.Format("15:04"), loc, whose)
			switch r.quietAction {
			case QuietSkip:
				return refuse(d, QuietHours, "%s, quiet_action skip", where)
			case QuietSend:
				detail += "; " + where + ", quiet_action send"
			default:
				notBefore = quietEnd(r.quiet, now, loc)
				detail += fmt.Sprintf("; %s: deferred to %s", where, notBefore.Format("2006-01-02 15:04 MST"))
			}
		}
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
	if h != nil {
		for _, cap := range []struct {
			rule, key string
			max       int
		}{{r.name, "rules max_per_hour", r.maxPerHour}, {"", "limits max_per_hour", p.maxPerHour}} {
			if cap.max == 0 {
				continue
			}
			n, err := h.CountTexts(ctx, cap.rule, now.Add(-time.Hour))
			if err != nil {
				return Decision{}, fmt.Errorf("rules: count texts: %w", err)
			}
			if n >= cap.max {
				return refuse(d, RateLimited, "%d texts in the last hour, %s is %d", n, cap.key, cap.max)
			}
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
	t := r.tmpl
	if o := r.byOutcome[c.Outcome]; o != nil {
		t = o
	}
	if r.sched != nil {
		if at, ok := r.sched.nextOpen(now); ok {
			v.opens = opensWords(at, now.In(r.zone))
		}
		if open, why := r.sched.open(now); !open {
			d.AfterHours = true
			detail += fmt.Sprintf("; closed (%s, %s %s)", why, now.In(r.zone).Format("Mon 15:04"), r.zone)
			if r.afterHours != nil {
				t = r.afterHours
				detail += ": after-hours message"
			}
		}
	}
	from := r.from
	if r.fromDID {
		from = didNum
		if from == "" {
			from = p.from
			detail += fmt.Sprintf("; DID %q is no number to text from, so from the default", clip(orUnknown(did)))
		}
	}
	// The delay counts from the decision, made as the call ends: the
	// PBX's clock, which Call.Ended is on, need not agree with ours.
	var grace time.Time
	if r.delay > 0 {
		grace = now
		if held := now.Add(r.delay); held.After(notBefore) {
			notBefore = held
		}
		detail += fmt.Sprintf("; held %s for a redial or a call back", roundDuration(r.delay))
	}
	d.Send, d.Reason, d.Detail, d.NotBefore = true, Send, detail, notBefore
	d.Message = &textback.Message{
		CallID:    c.ID,
		Rule:      r.name,
		To:        caller,
		From:      from,
		Body:      p.withSuffix(t.execute(&v)),
		NotBefore: notBefore,
		Grace:     grace,
	}
	return d, nil
}

var numberTypeWords = map[phonenumbers.PhoneNumberType]string{
	phonenumbers.PREMIUM_RATE: "premium-rate",
	phonenumbers.SHARED_COST:  "shared-cost",
	phonenumbers.UAN:          "universal access (UAN)",
}

// listed returns the entry of the allow list (allow) or deny list that
// covers n, and which list it is in words, or "".
func (p *Policy) listed(n textback.Number, now time.Time, allow bool) (entry, list string) {
	l, f, key := &p.deny, p.denyFile, "deny"
	if allow {
		l, f, key = &p.allow, p.allowFile, "allow"
	}
	if e := l.match(n); e != "" {
		return e, key + " list"
	}
	if f != nil {
		fl := f.get(now)
		if e := fl.match(n); e != "" {
			return e, key + "_file " + f.path
		}
	}
	return "", ""
}

func (p *Policy) countryList() []string {
	return slices.Sorted(maps.Keys(p.countries))
}

// callerZone is the caller's time zone: their number's, when its prefix
// tells a single zone, else the rule's. whose says which, for the Detail.
func (p *Policy) callerZone(num *phonenumbers.PhoneNumber, r *rule) (*time.Location, string) {
	zones, err := phonenumbers.GetTimezonesForNumber(num)
	if err == nil && len(zones) == 1 && zones[0] != phonenumbers.UNKNOWN_TIMEZONE {
		if v, ok := p.zones.Load(zones[0]); ok {
			return v.(*time.Location), "the caller's zone"
		}
		if loc, err := time.LoadLocation(zones[0]); err == nil {
			p.zones.Store(zones[0], loc)
			return loc, "the caller's zone"
		}
	}
	return r.zone, "the rule's zone: the number does not tell the caller's"
}

// match returns the first rule that covers the DID, as reported and as a
// number (empty if it is none), or nil.
func (p *Policy) match(did string, n textback.Number) *rule {
	for i := range p.rules {
		r := &p.rules[i]
		if r.any || r.raw[did] || (n != "" && r.numbers[n]) {
			return r
		}
		for _, pre := range r.prefixes {
			if n != "" && strings.HasPrefix(string(n), pre) {
				return r
			}
		}
		for _, pre := range r.rawPrefixes {
			if strings.HasPrefix(did, pre) {
				return r
			}
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
	if v, ok := p.dids.Load(did); ok {
		d := v.(didParsed)
		return d.n, d.num
	}
	user, _, _ := unwrap(did)
	n, num, _ := parse(user, p.region)
	if p.didCount.Add(1) <= maxDIDs {
		p.dids.Store(did, didParsed{n, num})
	}
	return n, num
}
