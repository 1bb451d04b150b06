package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/sms"
)

const (
	// lookupEvery is how often the outbox asks the carrier about texts of
	// unknown outcome that are ready to be asked about.
	lookupEvery = time.Minute
	// lookupFor is how long after it was queued a text of unknown outcome
	// is still asked about; after that it stays unknown.
	lookupFor = 24 * time.Hour
	// lookupTimeout bounds one lookup, several pages included.
	lookupTimeout = 30 * time.Second
)

// resolve asks the carrier, where the sender can (sms.CanFind), what became
// of the texts whose send had no answer, until ctx is done:
//
//   - the carrier holds the text: it went out; it is marked sent with the
//     carrier's id, so that delivery reports find it;
//   - the carrier's list, read to the end once sms.FindWindow has passed
//     since the send, holds no such text: it never got there, and sending it
//     now is not a second text; it is queued again, or expired when
//     max_delay has passed;
//   - anything else (no answer, a sender that cannot look up, too soon):
//     it stays unknown, and is asked about again later, for lookupFor.
//
// Without a sender that can look up, it returns at once.
func (o *outbox) resolve(ctx context.Context) {
	f, ok := o.sender.(sms.Finder)
	if !ok || !sms.CanFind(o.sender) {
		return
	}
	// next holds, for a text whose lookup failed, when to ask again.
	next := map[int64]time.Time{}
	tries := map[int64]int{}
	t := time.NewTicker(lookupEvery)
	defer t.Stop()
	for {
		now := o.now()
		ts, err := o.store.Unresolved(ctx, now.Add(-lookupFor))
		if err != nil && ctx.Err() == nil {
			o.log.Error("sms lookup: store error", "err", err)
		}
		for _, t := range ts {
			if ctx.Err() != nil {
				return
			}
			since := cmpTime(t.Attempted, t.Created)
			if now.Before(since.Add(sms.FindWindow)) || now.Before(next[t.ID]) {
				continue
			}
			err := o.lookup(ctx, f, t, since)
			if err == nil {
				delete(next, t.ID)
				delete(tries, t.ID)
				continue
			}
			tries[t.ID]++
			wait := min(lookupEvery<<min(tries[t.ID]-1, 5), 30*time.Minute)
			if errors.Is(err, sms.ErrCannotFind) {
				wait = lookupFor // no sender of the list can tell; don't ask again
			}
			next[t.ID] = now.Add(wait)
			o.log.Warn("sms lookup failed; the text stays unknown", "id", t.ID, "call_id", t.CallID, "to", t.To,
				"err", err, "next_lookup_in", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lookup asks the carrier about one text of unknown outcome, sent at or
// after since, and records what it learned. An error means nothing was
// learned.
func (o *outbox) lookup(ctx context.Context, f sms.Finder, t textback.Text, since time.Time) error {
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	l, err := f.Find(lctx, t.Message, since)
	cancel()
	if err != nil {
		return err
	}
	log := o.log.With("id", t.ID, "call_id", t.CallID, "to", t.To)
	now := o.now()
	if l.Found {
		if err := o.store.MarkSent(ctx, t.ID, l.Receipt, now); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		log.Info("sms found at the carrier: it went out", "sender", l.Receipt.Sender, "provider_id", l.Receipt.ProviderID,
			"status", l.Status, "body_checked", l.BodyChecked)
		o.metrics.Text("found")
		return nil
	}
	start := cmpTime(t.NotBefore, t.Created)
	if age := now.Sub(start); age > o.maxDelay {
		reason := fmt.Sprintf("the carrier has no such text (looked up afterwards), and max_delay %s has passed", o.maxDelay)
		if err := o.store.MarkDone(ctx, t.ID, textback.Expired, reason, now); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		log.Warn("sms expired", "reason", reason)
		o.metrics.Text(string(textback.Expired))
		return nil
	}
	reason := "the carrier has no such text (looked up afterwards): it never got there; sending it again"
	if err := o.store.MarkRetry(ctx, t.ID, reason, now); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	log.Warn("sms not found at the carrier: queued again", "last_error", t.LastError)
	o.metrics.Text("requeued")
	o.Wake()
	return nil
}

// cmpTime returns a, or b when a is zero or earlier.
func cmpTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
