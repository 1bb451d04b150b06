package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/ami"
	"github.com/textback/textback/ari"
	"github.com/textback/textback/esl"
	"github.com/textback/textback/metrics"
	"github.com/textback/textback/rules"
	"github.com/textback/textback/sqlite"
)

// daemon turns finished calls into verdicts and queued texts. handle runs
// on one goroutine (the event loop); the outbox sends on another.
type daemon struct {
	// policy decides the calls. Only the event loop reads it after serve
	// starts; a reload hands it a new one through policies.
	policy *rules.Policy
	// policies carries the policy of a reloaded configuration into the
	// event loop; nil: the policy never changes.
	policies chan *rules.Policy
	// running names the goroutines of serve that have not returned, for
	// the log of a shutdown that ran out of time; nil: not tracked.
	running *tracker
	store   textback.Store
	outbox  *outbox
	log     *slog.Logger
	now     func() time.Time
	// decided, if set, is called after each call is journaled (the demo uses it).
	decided func(v textback.Verdict, msgID int64)
	// metrics counts the verdicts; nil counts nothing.
	metrics *metrics.Metrics
	// beat is the event loop's heartbeat for the watchdog; nil: none.
	beat *heartbeat
	// started, if set, is called once the source, the senders and the
	// outbox have been started (run tells systemd READY=1).
	started func()
}

// handle decides one call that ended, journals the verdict and queues its
// text in one transaction, and wakes the outbox. A call answered, or one
// that ended answered, is noted as a connection with its other party.
func (d *daemon) handle(ctx context.Context, ev textback.Event) error {
	c := ev.Call
	now := d.now()
	party := d.party(c)
	if ev.Kind == textback.CallAnswered {
		d.connected(party, c.Direction, now)
		return nil
	}
	dec, err := d.policy.Decide(ctx, c, now, d.store)
	if err != nil {
		return fmt.Errorf("decide call %s: %w", c.ID, err)
	}
	v := textback.Verdict{
		Call: c, Caller: dec.Caller, Send: dec.Send,
		Reason: string(dec.Reason), Detail: dec.Detail, Rule: dec.Rule,
		Party: party,
	}
	if c.Outcome == textback.Answered {
		// The CallAnswered event may have been missed (a reconnect).
		d.connected(party, c.Direction, now)
	}
	id, err := d.store.Record(ctx, v, dec.Message, now)
	if errors.Is(err, textback.ErrDuplicateCall) {
		d.log.Debug("call already decided", "call_id", c.ID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record call %s: %w", c.ID, err)
	}
	d.metrics.Call(v, time.Now()) // latency on the real clock, like Call.Decided
	if id != 0 {
		d.outbox.queued(id, c.Decided)
	}
	if c.Direction == textback.Inbound {
		attrs := []any{"call_id", c.ID, "outcome", c.Outcome, "caller", dec.Caller, "did", c.DID,
			"rang", c.Rang.Round(100 * time.Millisecond), "verdict", verdictWord(dec.Send), "reason", dec.Reason}
		if dec.Rule != "" {
			attrs = append(attrs, "rule", dec.Rule)
		}
		if dec.Detail != "" {
			attrs = append(attrs, "detail", dec.Detail)
		}
		if !dec.NotBefore.IsZero() {
			attrs = append(attrs, "not_before", dec.NotBefore)
		}
		msg := "call answered"
		if c.Outcome.Missed() {
			msg = "call missed"
		}
		d.log.Info(msg, attrs...)
	} else {
		d.log.Debug("call ignored", "call_id", c.ID, "direction", c.Direction, "reason", dec.Reason)
	}
	if d.decided != nil {
		d.decided(v, id)
	}
	if id != 0 {
		d.outbox.Wake()
	}
	return nil
}

// party returns the other end of c in E.164: the caller of an inbound
// call, the number an outbound call dialed; "" for anything else.
func (d *daemon) party(c textback.Call) textback.Number {
	raw := c.CallerNum
	switch c.Direction {
	case textback.Inbound:
	case textback.Outbound:
		raw = c.Dialed
	default:
		return ""
	}
	n, ok := d.policy.Number(raw)
	if !ok {
		return ""
	}
	return n
}

// connected notes that a person here spoke with n, when some rule holds
// texts for a grace delay.
func (d *daemon) connected(n textback.Number, dir textback.Direction, at time.Time) {
	if n == "" || d.outbox == nil {
		return
	}
	d.outbox.conns.add(n, textback.Connection{At: at, Direction: dir}, d.policy.MaxDelay())
}

func verdictWord(send bool) string {
	if send {
		return "text"
	}
	return "no text"
}

// runner is a sender with a life of its own (a modem that its Run opens,
// supervises and reopens): the daemon runs it beside the outbox.
type runner interface {
	Run(ctx context.Context) error
}

// serve runs a source, the event loop, the outbox and the senders that run
// (modems) until ctx is done. Everything it starts has returned when it
// returns.
func (d *daemon) serve(ctx context.Context, src textback.Source, runners ...runner) error {
	events := make(chan textback.Event, 256)
	var wg sync.WaitGroup
	var srcErr error
	wg.Go(func() { defer d.running.add("pbx")(); srcErr = src.Run(ctx, events) })
	go func() { wg.Wait(); close(events) }()

	var obErr error
	sndErrs := make([]error, len(runners))
	var obWG sync.WaitGroup
	for i, r := range runners {
		obWG.Go(func() { defer d.running.add(fmt.Sprintf("sender runner %d", i))(); sndErrs[i] = r.Run(ctx) })
	}
	obWG.Go(func() { defer d.running.add("outbox")(); obErr = d.outbox.Run(ctx) })
	defer d.running.add("event loop")()
	// The calls the source had passed on before it stopped are still
	// decided and journaled when ctx is done: a missed call the daemon saw
	// end is not dropped because a stop came in the same moment.
	hctx := context.WithoutCancel(ctx)
	if d.started != nil {
		d.started()
	}

	// The ticker wakes the loop while no calls come, so that it beats.
	tick, stopTick := d.beat.ticker()
	defer stopTick()
	for {
		d.beat.beat()
		var ev textback.Event
		select {
		case e, ok := <-events:
			if !ok {
				obWG.Wait()
				return errors.Join(append(sndErrs, srcErr, obErr)...)
			}
			ev = e
		case p := <-d.policies:
			// Between two calls: each call is decided whole by one policy.
			d.policy = p
			continue
		case <-tick:
			continue
		}
		if err := d.handle(hctx, ev); err != nil {
			// The store refused the verdict (disk full, locked). Keep the
			// daemon up; the error says which call was not journaled.
			d.log.Error("call not recorded", "call_id", ev.Call.ID, "err", err)
		}
	}
}

// swapPolicy hands p to the event loop, and reports false when the daemon
// stopped first.
func (d *daemon) swapPolicy(ctx context.Context, p *rules.Policy) bool {
	select {
	case d.policies <- p:
		return true
	case <-ctx.Done():
		return false
	}
}

// tracker is the set of the daemon's goroutines still running. A nil
// *tracker tracks nothing. It is safe for concurrent use.
type tracker struct {
	mu    sync.Mutex
	names map[string]int
}

func newTracker() *tracker { return &tracker{names: map[string]int{}} }

// add notes that name started and returns what notes that it returned.
func (t *tracker) add(name string) func() {
	if t == nil {
		return func() {}
	}
	t.mu.Lock()
	t.names[name]++
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		if t.names[name]--; t.names[name] <= 0 {
			delete(t.names, name)
		}
		t.mu.Unlock()
	}
}

// list is the names of what is still running, sorted.
func (t *tracker) list() []string {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Sorted(maps.Keys(t.names))
}

// pbx is what the daemon needs of a PBX source.
type pbx interface {
	textback.Source
	Check(ctx context.Context) error
}

// components are what a configuration builds.
type components struct {
	policy *rules.Policy
	sender senders
	source pbx
}

// build makes the policy, the sender and the PBX source a configuration
// describes. Nothing is connected yet.
func build(cfg *Config, log *slog.Logger) (components, error) {
	var c components
	var errs []error
	pol, err := buildPolicy(cfg)
	if err != nil {
		errs = append(errs, err)
	}
	c.policy = pol
	snd, err := buildSenders(cfg, log)
	if err != nil {
		errs = append(errs, err)
	}
	c.sender = snd
	src, err := buildSource(cfg, log)
	if err != nil {
		errs = append(errs, err)
	}
	c.source = src
	if cfg.HTTP.Listen != "" && snd.Sender != nil {
		if _, err := cfg.webhookConfig(); err != nil {
			errs = append(errs, err)
		}
		if _, err := cfg.repliesConfig(snd.Sender); err != nil {
			errs = append(errs, err)
		}
	}
	return c, errors.Join(errs...)
}

var ruleIndex = regexp.MustCompile(`^rules\[(\d+)\]`)

// policyKeys map the key a rules error or warning starts with to the
// configuration key it comes from.
var policyKeys = map[string]string{
	"region": "detect.default_region", "max_extension_length": "detect.max_extension_length",
	"min_rings": "detect.min_rings", "ring_cycle": "detect.ring_cycle", "from": "sms.from",
	"max_per_hour": "limits.max_per_hour", "allowed_countries": "limits.allowed_countries",
	"allow": "filters.allow", "deny": "filters.deny", "allow_file": "filters.allow_file", "deny_file": "filters.deny_file",
}

// policyLine puts the file and line in front of one line of a rules error
// or warning: the [[rules]] entry it names, or the key it starts with.
func policyLine(cfg *Config, msg string) string {
	line := 0
	if m := ruleIndex.FindStringSubmatch(msg); m != nil {
		i, _ := strconv.Atoi(m[1])
		line = nthTableLine(cfg.src, "rules", i)
	} else {
		key, _, _ := strings.Cut(msg, ":")
		key, _, _ = strings.Cut(key, "[")
		if k, ok := policyKeys[key]; ok {
			if line = lineOf(cfg.src, k); line != 0 {
				msg = strings.TrimPrefix(msg, key)
				msg = strings.SplitN(k, ".", 2)[0] + "." + key + msg
			}
		}
	}
	return fmt.Sprintf("%s:%d: %s", cfg.path, line, msg)
}

// buildPolicy makes the rules of a configuration. Its errors name the line
// of each problem.
func buildPolicy(cfg *Config) (*rules.Policy, error) {
	rc := rules.Config{
		Region:           cfg.Detect.DefaultRegion,
		MaxExtensionLen:  cfg.Detect.MaxExtensionLen,
		MinRings:         cfg.Detect.MinRings,
		RingCycle:        time.Duration(cfg.Detect.RingCycle),
		Cooldown:         time.Duration(cfg.Limits.Cooldown),
		Business:         cfg.Business,
		MaxPerHour:       cfg.Limits.MaxPerHour,
		AllowedCountries: cfg.Limits.AllowedCountries,
		Allow:            cfg.Filters.Allow,
		Deny:             cfg.Filters.Deny,
		AllowFile:        cfg.relPath(cfg.Filters.AllowFile),
		DenyFile:         cfg.relPath(cfg.Filters.DenyFile),
		OptOutSuffix:     cfg.OptOut.Suffix,
	}
	if cfg.SMS.From != "" {
		from, err := rules.ParseNumber(cfg.SMS.From, cfg.Detect.DefaultRegion)
		if err != nil {
			return nil, cfg.errorf("sms.from", "%v", err)
		}
		rc.From = from
	}
	for _, r := range cfg.Rules {
		rc.Rules = append(rc.Rules, rules.Rule{
			Name: r.Name, DIDs: r.DIDs, Message: r.Message, From: r.From,
			Messages: r.Messages.byOutcome(), AfterHoursMessage: r.AfterHoursMessage,
			Hours: r.Hours, Timezone: r.Timezone, Holidays: r.Holidays,
			QuietHours: r.QuietHours, QuietAction: r.QuietAction, MaxPerHour: r.MaxPerHour,
			Delay: time.Duration(r.Delay),
		})
	}
	p, err := rules.New(rc)
	if err != nil {
		var lines []string
		for _, msg := range strings.Split(err.Error(), "\n") {
			lines = append(lines, policyLine(cfg, msg))
		}
		return nil, errors.New(strings.Join(lines, "\n"))
	}
	return p, nil
}

// policyWarnings are the policy's warnings with their lines.
func policyWarnings(cfg *Config, p *rules.Policy) []string {
	var out []string
	for _, w := range p.Warnings() {
		out = append(out, policyLine(cfg, w))
	}
	return out
}

func buildSource(cfg *Config, log *slog.Logger) (pbx, error) {
	secret, err := cfg.secret(cfg.PBX.Secret, cfg.PBX.SecretFile, "pbx.secret_file")
	if err != nil {
		return nil, err
	}
	p := cfg.PBX
	switch p.Type {
	case "ari":
		return ari.New(ari.Config{
			URL: p.Address, Username: p.Username, Secret: secret, Application: p.Application,
			InboundContexts: p.InboundContexts, DIDVariable: p.DIDVariable,
		}, log), nil
	case "esl":
		return esl.New(esl.Config{
			Address: p.Address, Password: secret,
			InboundContexts: p.InboundContexts, DIDVariable: p.DIDVariable,
		}, log), nil
	default:
		return ami.New(ami.Config{
			Address: p.Address, Username: p.Username, Secret: secret, AuthMD5: p.Auth == "md5",
			InboundContexts: p.InboundContexts, DIDVariable: p.DIDVariable,
		}, log), nil
	}
}

// openStore opens the journal and outbox the configuration names.
func openStore(ctx context.Context, cfg *Config) (*sqlite.DB, error) {
	db, err := sqlite.Open(ctx, cfg.Store.Path)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", cfg.Store.Path, err)
	}
	return db, nil
}
