package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/metrics"
	"github.com/textback/textback/sms"
)

// sendWorkers is how many texts the outbox sends at once. A carrier takes
// a few hundred milliseconds to answer a request; one at a time, the fifth
// caller of a burst would wait a second or more. The senders are safe for
// concurrent use, and a rate limit (sms.Limited) or a modem paces them.
const sendWorkers = 4

// outbox sends the queued texts of the store through one sender, up to
// sendWorkers at once, oldest first, and records what became of each. Its
// Run loop alone hands texts out, and never one that is in hand already, so
// a text is never sent twice at once.
type outbox struct {
	store    textback.Store
	sender   textback.Sender
	log      *slog.Logger
	maxDelay time.Duration
	// sendTimeout bounds one attempt; a slow carrier is retried, not waited on forever.
	sendTimeout time.Duration
	now         func() time.Time
	wake        chan struct{}
	// sent, if set, is called after each text is accepted (the demo and the
	// benchmark time the path with it).
	sent func(t textback.Text, r textback.Receipt, at time.Time)
	// metrics counts the texts and their send latency; nil counts nothing.
	metrics *metrics.Metrics
	// beat is the loop's heartbeat for the watchdog; nil: none.
	beat *heartbeat
	// conns are the recent connections the event loop saw: with the
	// journal, they cancel a text held for a grace delay.
	conns *connections

	// workers is how many texts are sent at once; newOutbox sets sendWorkers.
	workers int

	mu sync.Mutex
	// inflight holds the ids of the texts handed to a worker and not yet
	// done with: Due may list them again until they are marked sending.
	inflight map[int64]bool
	// slots holds a token per busy worker; wg counts them, and the
	// lookups, for Run to wait for. Set by Run.
	slots chan struct{}
	wg    sync.WaitGroup
	// running is set while Run takes claims, with its ctx.
	running bool
	ctx     context.Context
	// storeErr is the first store error a worker met since the loop last
	// looked.
	storeErr error
	// decided holds, for the texts queued since the daemon started, when
	// their call was decided: the start of the send latency. Entries go
	// when a text reaches a final state; a text queued before a restart
	// counts from its creation instead.
	decided map[int64]time.Time
}

func newOutbox(store textback.Store, sender textback.Sender, maxDelay time.Duration, log *slog.Logger) *outbox {
	return &outbox{
		store: store, sender: sender, log: log, maxDelay: maxDelay,
		sendTimeout: 15 * time.Second, // inside the 20s shutdown limit
		now:         time.Now,
		wake:        make(chan struct{}, 1),
		decided:     make(map[int64]time.Time),
		conns:       newConnections(),
		workers:     sendWorkers,
		inflight:    make(map[int64]bool),
	}
}

// queued notes when the call of a newly queued text was decided.
func (o *outbox) queued(id int64, decided time.Time) {
	if o == nil || decided.IsZero() || o.decided == nil {
		return
	}
	o.mu.Lock()
	o.decided[id] = decided
	o.mu.Unlock()
}

// forget drops a text that reached a final state, returning when its call
// was decided, if known.
func (o *outbox) forget(id int64) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.decided[id]
	delete(o.decided, id)
	return t, ok
}

// Wake tells the loop that a text was queued. It never blocks.
func (o *outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run sends due texts until ctx is done. Texts left Sending by a daemon that
// died are marked Unknown first: the request may have reached the carrier,
// and a second text to a caller is worse than a lost one. They are logged
// at error level so an operator can look them up in the carrier's console,
// and where the sender can, the outbox looks them up itself (resolve).
func (o *outbox) Run(ctx context.Context) error {
	stuck, err := o.store.Interrupted(ctx)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	for _, t := range stuck {
		o.log.Error("sms state unknown: the daemon stopped while sending; not resent", "id", t.ID, "call_id", t.CallID, "to", t.To)
		if err := o.store.MarkDone(ctx, t.ID, textback.Unknown, "daemon stopped while the text was being sent; not resent to avoid a duplicate", o.now()); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		o.metrics.Text(string(textback.Unknown))
	}
	// A send under way finishes, and is written down, before Run returns.
	o.mu.Lock()
	o.slots = make(chan struct{}, max(o.workers, 1))
	o.ctx, o.running = ctx, true
	o.mu.Unlock()
	defer o.wg.Wait()
	defer func() {
		o.mu.Lock()
		o.running = false // no more claims; those made are handed or released
		o.mu.Unlock()
	}()
	o.wg.Go(func() { o.resolve(ctx) })
	// The ticker wakes the loop while nothing is due, so that it beats.
	tick, stopTick := o.beat.ticker()
	defer stopTick()
	for {
		o.beat.beat()
		err := o.drain(ctx)
		o.mu.Lock()
		err = cmp.Or(err, o.storeErr)
		o.storeErr = nil
		busy := len(o.inflight) > 0
		o.mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The store failed (disk full, locked): say so and try again
			// soon; the texts stay queued.
			o.log.Error("outbox: store error", "err", err)
			if !sleep(ctx, 5*time.Second) {
				return nil
			}
			continue
		}
		wait := time.Minute
		if next, ok, err := o.store.NextAttempt(ctx); err == nil && ok {
			wait = max(next.Sub(o.now()), 0)
		}
		if wait == 0 && busy {
			// What is due is in hand; a worker wakes the loop when done.
			wait = time.Minute
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-o.wake:
		case <-timer.C:
		case <-tick:
		}
		timer.Stop()
	}
}

// drain hands every text that is due now and not in hand already to a
// worker, waiting for a free slot. It returns once none is left to hand out.
func (o *outbox) drain(ctx context.Context) error {
	for ctx.Err() == nil {
		due, err := o.store.Due(ctx, o.now(), 4*cap(o.slots))
		if err != nil {
			return err
		}
		o.mu.Lock()
		due = slices.DeleteFunc(due, func(t textback.Text) bool { return o.inflight[t.ID] })
		o.mu.Unlock()
		if len(due) == 0 {
			return nil
		}
		for _, t := range due {
			o.beat.beat()
			select {
			case o.slots <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			o.mu.Lock()
			failed := o.storeErr != nil
			if !failed {
				o.inflight[t.ID] = true
			}
			o.mu.Unlock()
			if failed {
				// Run waits before the next round: the text is still queued.
				<-o.slots
				return nil
			}
			o.wg.Go(func() { o.finish(t.ID, o.attempt(ctx, t), true) })
		}
	}
	return nil
}

// finish frees the slot of a worker done with text id, keeping its store
// error for Run, and wakes the loop if it has something to look at: the
// error, or (ours) a text it handed out, which it may be waiting for. A
// text the event loop handed over is none of the loop's business unless
// it fails; one put back in the queue wakes it by itself (deliver).
func (o *outbox) finish(id int64, err error, ours bool) {
	o.mu.Lock()
	delete(o.inflight, id)
	if err != nil && o.storeErr == nil {
		o.storeErr = err
	}
	o.mu.Unlock()
	<-o.slots
	if ours || err != nil {
		o.Wake()
	}
}

// claim reserves a worker for a text the event loop is about to journal
// already sending (Store.RecordSending) and hand over; false when Run is
// not running or every worker is busy, and the text is to be queued as
// usual. A claim is followed by hand or release.
//
// A text handed over leaves one commit after its call was decided, with no
// turn of the outbox loop and no wait for the disk in between. Only a free worker is
// claimed: a text marked sending must be sent at once, for a text left
// sending by a daemon that died is never sent again.
func (o *outbox) claim() bool {
	if o == nil {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.running {
		return false
	}
	select {
	case o.slots <- struct{}{}:
		o.wg.Add(1)
		return true
	default:
		return false
	}
}

// release gives back a claim whose text was not journaled.
func (o *outbox) release() {
	<-o.slots
	o.wg.Done()
}

// hand sends a claimed text, journaled sending by Store.RecordSending, at
// once: that commit need not be on disk before the request leaves (a power
// cut could take the text out of the journal, never put it back in the
// queue), so the caller's text does not wait for the disk. The journal is
// synced after the send, the worker already free for the next text, so
// that the record of it survives a power cut a moment later too.
func (o *outbox) hand(t textback.Text) {
	o.mu.Lock()
	ctx := o.ctx
	o.mu.Unlock()
	go func() {
		defer o.wg.Done()
		err := o.deliver(ctx, t, cmpTime(t.NotBefore, t.Created))
		o.finish(t.ID, err, false)
		if err := o.store.Sync(context.WithoutCancel(ctx)); err != nil {
			o.log.Error("outbox: the journal cannot be synced: a power cut now would lose the record of a text", "id", t.ID, "call_id", t.CallID, "err", err)
		}
	}()
	// The new worker would wait for the event loop to block, which may be
	// after several more calls: let it take the text out first.
	runtime.Gosched()
}

// attempt makes one try at one text. Only store errors are returned.
func (o *outbox) attempt(ctx context.Context, t textback.Text) error {
	log := o.log.With("id", t.ID, "call_id", t.CallID, "to", t.To)
	now := o.now()
	if !t.Grace.IsZero() {
		c, ok, err := o.connected(ctx, t.To, t.Grace)
		if err != nil {
			return err
		}
		if ok {
			reason := fmt.Sprintf("caller got through at %s on a redial", c.At.Local().Format("15:04:05"))
			if c.Direction == textback.Outbound {
				reason = fmt.Sprintf("called back at %s", c.At.Local().Format("15:04:05"))
			}
			log.Info("sms cancelled", "reason", reason)
			o.done(t.ID, textback.Cancelled)
			return o.store.MarkDone(ctx, t.ID, textback.Cancelled, reason, now)
		}
	}
	// A text deferred to the end of the caller's quiet hours was meant to
	// go then: its max_delay counts from then, not from the call.
	start := t.Created
	if t.NotBefore.After(start) {
		start = t.NotBefore
	}
	if age := now.Sub(start); age > o.maxDelay {
		reason := fmt.Sprintf("not sent within max_delay %s (last error: %s)", o.maxDelay, t.LastError)
		if t.Attempts == 0 {
			// Queued late: the journal could not be written for a while.
			reason = fmt.Sprintf("not sent within max_delay %s: queued %s after the call, never tried",
				o.maxDelay, age.Round(time.Second))
		}
		log.Warn("sms expired", "reason", reason)
		o.done(t.ID, textback.Expired)
		return o.store.MarkDone(ctx, t.ID, textback.Expired, reason, now)
	}
	if err := o.store.MarkSending(ctx, t.ID, now); err != nil {
		return err
	}
	if err := o.syncSending(ctx, t); err != nil {
		return err
	}
	return o.deliver(ctx, t, start)
}

// syncSending makes the journal's word that t is sending durable before
// its request leaves (Store.Sync: the workers share one disk sync, and the
// event loop's writes never wait for it). If the journal cannot be synced
// the text goes back to the queue, unsent, and the error is returned.
func (o *outbox) syncSending(ctx context.Context, t textback.Text) error {
	ctx = context.WithoutCancel(ctx) // short, and the text must not be left sending
	err := o.store.Sync(ctx)
	if err == nil {
		return nil
	}
	o.log.Error("outbox: the journal cannot be synced; the text waits, unsent", "id", t.ID, "call_id", t.CallID, "err", err)
	reason := "not sent: the journal could not be synced: " + err.Error()
	if rerr := o.store.MarkRetry(ctx, t.ID, reason, o.now().Add(5*time.Second)); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// deliver sends a text marked sending and records what became of it;
// start is when its max_delay began. Only store errors are returned.
func (o *outbox) deliver(ctx context.Context, t textback.Text, start time.Time) error {
	log := o.log.With("id", t.ID, "call_id", t.CallID, "to", t.To)
	// A send that has started finishes even when the daemon is told to stop:
	// a text cut off half way is the one whose fate we cannot know.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.sendTimeout)
	r, err := o.sender.Send(sctx, t.Message)
	cancel()
	done := o.now()
	ctx = context.WithoutCancel(ctx) // and what became of it is written down
	switch {
	case err == nil:
		// The carrier has the text: a store that fails now (locked, full)
		// is tried again for a while, or the text would be left sending,
		// reported unknown at the next start.
		if err := o.persist(ctx, func() error { return o.store.MarkSent(ctx, t.ID, r, done) }); err != nil {
			return err
		}
		log.Info("sms sent", "sender", r.Sender, "provider_id", r.ProviderID, "attempt", t.Attempts+1,
			"latency", done.Sub(start).Round(time.Microsecond))
		if o.metrics != nil {
			// From the decision, or from the end of the caller's quiet
			// hours for a deferred text, on the real clock like Call.Decided.
			from := t.Created
			if d, ok := o.forget(t.ID); ok {
				from = d
			}
			if t.NotBefore.After(from) {
				from = t.NotBefore
			}
			o.metrics.Sent(r.Sender, time.Since(from))
		}
		o.forget(t.ID)
		if o.sent != nil {
			o.sent(t, r, done)
		}
		return nil
	case errors.Is(err, textback.ErrUnconfirmed):
		log.Error("sms state unknown: it may have gone out; not resent", "err", err)
		o.done(t.ID, textback.Unknown)
		return o.persist(ctx, func() error { return o.store.MarkDone(ctx, t.ID, textback.Unknown, err.Error(), done) })
	case errors.Is(err, textback.ErrUndeliverable):
		log.Error("sms failed", "err", err)
		o.done(t.ID, textback.Failed)
		if errors.Is(err, sms.ErrOptedOut) {
			// The carrier says the caller unsubscribed from our number:
			// our own list keeps them from every sender from now on.
			if err := o.store.SetOptOut(ctx, t.To, true, "carrier: recipient unsubscribed", done); err != nil {
				return err
			}
			log.Info("number opted out", "reason", "carrier: recipient unsubscribed")
		}
		return o.persist(ctx, func() error { return o.store.MarkDone(ctx, t.ID, textback.Failed, err.Error(), done) })
	default:
		wait := backoff(t.Attempts + 1)
		if re := (*textback.RetryError)(nil); errors.As(err, &re) && re.After > wait {
			wait = re.After
		}
		log.Warn("sms send failed, will retry", "err", err, "retry_in", wait.Round(time.Millisecond))
		o.metrics.Text("retry")
		if err := o.persist(ctx, func() error { return o.store.MarkRetry(ctx, t.ID, err.Error(), done.Add(wait)) }); err != nil {
			return err
		}
		o.Wake() // queued again, due at a time the loop does not know yet
		return nil
	}
}

// persistTries is how many times persist tries a write, waiting 1s, 2s, 4s
// … between them.
var persistTries = 5

// persist runs write, the record of what a send did, until it succeeds or
// persistTries have failed.
func (o *outbox) persist(ctx context.Context, write func() error) error {
	var err error
	for i := range persistTries {
		if err = write(); err == nil {
			return nil
		}
		if i < persistTries-1 {
			o.log.Warn("outbox: store error recording a send; trying again", "err", err)
			sleep(ctx, time.Second<<i)
		}
	}
	return err
}

// connected reports whether n spoke with a person here at or after since:
// what the event loop saw lately, else what the journal holds (it covers a
// restart during the delay).
func (o *outbox) connected(ctx context.Context, n textback.Number, since time.Time) (textback.Connection, bool, error) {
	if c, ok := o.conns.since(n, since); ok {
		return c, true, nil
	}
	c, ok, err := o.store.ConnectedSince(ctx, n, since)
	if err != nil {
		return textback.Connection{}, false, fmt.Errorf("outbox: %w", err)
	}
	return c, ok, nil
}

// done counts a text that reached a final state other than sent.
func (o *outbox) done(id int64, s textback.State) {
	o.forget(id)
	o.metrics.Text(string(s))
}

// backoff is the wait before attempt n+1: 1s, 2s, 4s … capped at 2 minutes,
// with ±20% jitter so a queue of texts does not hit a recovering carrier at once.
func backoff(n int) time.Duration {
	d := time.Second << min(n-1, 7)
	d = min(d, 2*time.Minute)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// sleep waits d or until ctx is done, and reports whether it waited it all.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
