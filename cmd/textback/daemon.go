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
	"sync/atomic"
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
	// waitLimit bounds the calls held while the store refuses them; 0 is
	// defaultWaitLimit.
	waitLimit int
	// held counts the calls waiting for the store, for /readyz.
	held atomic.Int64
}

// handle decides one call that ended, journals the verdict and queues its
// text in one transaction, and wakes the outbox. A call answered, or one
// that ended answered, is noted as a connection with its other party.
func (d *daemon) handle(ctx context.Context, ev textback.Event) error {
	return d.handleAt(ctx, ev, d.now(), true)
}

// handleAt is handle as of now: a call held while the store refused it is
// decided as of when it came, so that its hours, cooldown and max_delay
// are what they would have been. A fresh call's text due at once goes
// straight to a free worker of the outbox, journaled as sending.
func (d *daemon) handleAt(ctx context.Context, ev textback.Event, now time.Time, fresh bool) error {
	c := ev.Call
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
	m := dec.Message
	claimed := fresh && m != nil && !m.NotBefore.After(now) && m.Grace.IsZero() && d.outbox.claim()
	var id int64
	if claimed {
		id, err = d.store.RecordSending(ctx, v, *m, now)
		if err != nil {
			d.outbox.release()
		} else {
			t := textback.Text{Message: *m, State: textback.Sending, Created: now, Attempted: now}
			t.ID = id
			defer d.outbox.hand(t) // after the log line of the call
		}
	} else {
		id, err = d.store.Record(ctx, v, m, now)
	}
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
	if id != 0 && !claimed {
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
	w := &waiting{}
	for {
		d.beat.beat()
		select {
		case ev, ok := <-events:
			if !ok {
				d.abandon(hctx, w)
				obWG.Wait()
				return errors.Join(append(sndErrs, srcErr, obErr)...)
			}
			d.take(hctx, w, ev)
		case p := <-d.policies:
			// Between two calls: each call is decided whole by one policy.
			d.policy = p
		case <-w.retry:
			d.retry(hctx, w)
		case <-tick:
		}
	}
}

// Calls the store refuses for now (the disk is full, another process holds
// the write lock, an I/O error) wait in memory, in the order they came, and
// are tried again until the store takes them.
const (
	// defaultWaitLimit bounds the calls held: past it the oldest is
	// dropped, with an error naming it.
	defaultWaitLimit = 10_000
	// The first call held is tried again after waitRetryMin, then after
	// twice as long each time, up to waitRetryMax.
	waitRetryMin = time.Second
	waitRetryMax = 5 * time.Second
	// waitBatch is how many waiting calls one turn of the loop journals,
	// so that it still takes new events and beats.
	waitBatch = 64
	// abandonFor bounds the last try at a stop.
	abandonFor = 5 * time.Second
)

// heldCall is a call waiting for the store.
type heldCall struct {
	ev textback.Event
	at time.Time // when the loop took it: the time it is decided as of
}

// waiting is the event loop's calls held for the store, oldest first.
type waiting struct {
	calls   []heldCall
	retry   <-chan time.Time // fires when the first is to be tried again; nil while none wait
	fails   int              // failed tries in a row
	since   time.Time        // when the first call of this outage was held
	taken   int              // calls of this outage journaled since
	dropped int              // calls of this outage dropped over the limit
}

// take decides and journals one event from the source. While calls wait
// for the store, a call that ended waits behind them, so that the calls
// are decided in the order they came (a caller's second call is held back
// by the cooldown of the first, a repeated call is a duplicate). An
// answered call touches no store and is noted at once.
func (d *daemon) take(ctx context.Context, w *waiting, ev textback.Event) {
	at := d.now()
	if ev.Kind == textback.CallEnded && len(w.calls) > 0 {
		d.hold(w, heldCall{ev, at})
		d.log.Warn("call waiting for the store, behind earlier calls", "call_id", ev.Call.ID,
			"caller", d.party(ev.Call), "waiting", len(w.calls))
		return
	}
	err := d.handleAt(ctx, ev, at, true)
	if err == nil {
		return
	}
	if !storeUnavailable(err) {
		// The store will never take this call (it breaks a constraint,
		// say): holding it would block every call behind it.
		d.log.Error("call not recorded: the store refused it", "call_id", ev.Call.ID, "caller", d.party(ev.Call), "err", err)
		return
	}
	w.since, w.taken, w.dropped, w.fails = at, 0, 0, 0
	d.hold(w, heldCall{ev, at})
	d.log.Error("store failed: the call is held in memory and will be journaled when the store takes it",
		"call_id", ev.Call.ID, "caller", d.party(ev.Call), "waiting", len(w.calls), "retry_in", waitRetryMin, "err", err)
	w.retry = time.After(waitRetryMin)
}

// hold puts a call at the end of the calls waiting, dropping the oldest
// when there are too many.
func (d *daemon) hold(w *waiting, h heldCall) {
	w.calls = append(w.calls, h)
	limit := d.waitLimit
	if limit <= 0 {
		limit = defaultWaitLimit
	}
	for len(w.calls) > limit {
		old := w.calls[0]
		w.calls[0] = heldCall{}
		w.calls = w.calls[1:]
		w.dropped++
		d.log.Error("call lost: too many calls waiting for the store, the oldest is dropped",
			"call_id", old.ev.Call.ID, "caller", d.party(old.ev.Call), "at", old.at, "limit", limit)
	}
	d.held.Store(int64(len(w.calls)))
}

// retry journals the calls waiting, oldest first, until the store fails
// again or a batch is done.
func (d *daemon) retry(ctx context.Context, w *waiting) {
	w.retry = nil
	for range waitBatch {
		if len(w.calls) == 0 {
			break
		}
		d.beat.beat()
		h := w.calls[0]
		err := d.handleAt(ctx, h.ev, h.at, false)
		if err != nil && storeUnavailable(err) {
			w.fails++
			wait := min(waitRetryMin<<min(w.fails, 8), waitRetryMax)
			d.log.Error("store still failing: calls wait in memory to be journaled", "waiting", len(w.calls),
				"oldest_call_id", h.ev.Call.ID, "since", w.since, "retry_in", wait, "err", err)
			w.retry = time.After(wait)
			return
		}
		if err != nil {
			d.log.Error("call not recorded: the store refused it", "call_id", h.ev.Call.ID, "caller", d.party(h.ev.Call), "err", err)
		} else {
			w.taken++
		}
		w.calls[0] = heldCall{}
		w.calls = w.calls[1:]
		d.held.Store(int64(len(w.calls)))
	}
	if len(w.calls) > 0 {
		// More to do: take what came meanwhile, then go on.
		w.retry = time.After(0)
		return
	}
	w.calls = nil
	d.log.Info("store back: the calls that waited are journaled", "journaled", w.taken, "dropped", w.dropped,
		"outage", d.now().Sub(w.since).Round(time.Millisecond))
	w.fails = 0
}

// abandon tries the calls waiting one last time as the daemon stops (for
// abandonFor at most, well inside shutdownLimit), and logs each the store
// did not take: they are only in memory, and are lost when the process
// exits. The operator can follow them up by their call id in the PBX's
// records.
func (d *daemon) abandon(ctx context.Context, w *waiting) {
	deadline := time.Now().Add(abandonFor)
	for len(w.calls) > 0 && time.Now().Before(deadline) {
		h := w.calls[0]
		err := d.handleAt(ctx, h.ev, h.at, false)
		if err != nil && storeUnavailable(err) {
			break
		}
		if err != nil {
			d.log.Error("call not recorded: the store refused it", "call_id", h.ev.Call.ID, "caller", d.party(h.ev.Call), "err", err)
		}
		w.calls[0] = heldCall{}
		w.calls = w.calls[1:]
	}
	for _, h := range w.calls {
		d.log.Error("call lost: the daemon stopped before the store took it; follow it up by hand",
			"call_id", h.ev.Call.ID, "caller", d.party(h.ev.Call), "at", h.at, "outcome", h.ev.Call.Outcome, "did", h.ev.Call.DID)
	}
	w.calls, w.retry = nil, nil
	d.held.Store(0)
}

// waitingCalls is the number of calls waiting for the store.
func (d *daemon) waitingCalls() int { return int(d.held.Load()) }

// storeUnavailable reports whether err is the store failing for now — busy
// or locked by another process, out of memory, read-only, an I/O error,
// the disk full, the file gone — rather than refusing the call for good.
// It goes by the SQLite result code the error carries (its primary code,
// the low byte of an extended one).
func storeUnavailable(err error) bool {
	var c interface{ Code() int }
	if !errors.As(err, &c) {
		return false
	}
	switch c.Code() & 0xff {
	case 5, // SQLITE_BUSY
		6,  // SQLITE_LOCKED
		7,  // SQLITE_NOMEM
		8,  // SQLITE_READONLY
		10, // SQLITE_IOERR: EFBIG from a file size limit is SQLITE_IOERR_WRITE
		13, // SQLITE_FULL
		14, // SQLITE_CANTOPEN
		15: // SQLITE_PROTOCOL
		return true
	}
	return false
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
