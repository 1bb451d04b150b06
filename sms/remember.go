package sms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/textback/textback"
)

// Rememberer is a sender that remembers, in memory, the numbers another
// sender found unable to take texts (errors wrapping ErrBadNumber: invalid,
// landline, barred) and refuses them for a while with ErrRememberedFailure,
// without asking the provider again. Wrap the whole chain (Remember around
// Failover), so that no sender is asked. It passes Check and Ready through.
// It is safe for concurrent use.
type Rememberer struct {
	s   textback.Sender
	ttl time.Duration
	now func() time.Time

	mu  sync.Mutex
	bad map[textback.Number]time.Time // number → when its failure is forgotten
}

// Remember returns sender remembering bad numbers for ttl.
func Remember(sender textback.Sender, ttl time.Duration) *Rememberer {
	return &Rememberer{s: sender, ttl: ttl, now: time.Now, bad: map[textback.Number]time.Time{}}
}

// Send refuses m if its number failed recently, else sends it and remembers
// a bad number.
func (r *Rememberer) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	now := r.now()
	r.mu.Lock()
	until, ok := r.bad[m.To]
	if ok && !now.Before(until) {
		delete(r.bad, m.To)
		ok = false
	}
	r.mu.Unlock()
	if ok {
		return textback.Receipt{}, fmt.Errorf("sms: send for call %s: %w: %s is refused until %s",
			m.CallID, ErrRememberedFailure, m.To.Masked(), until.Format(time.RFC3339))
	}
	rc, err := r.s.Send(ctx, m)
	if errors.Is(err, ErrBadNumber) && r.ttl > 0 {
		r.mu.Lock()
		r.bad[m.To] = r.now().Add(r.ttl)
		for n, u := range r.bad { // forget the expired, so the map stays small
			if !now.Before(u) {
				delete(r.bad, n)
			}
		}
		r.mu.Unlock()
	}
	return rc, err
}

// Check runs the wrapped sender's Check, if it has one.
func (r *Rememberer) Check(ctx context.Context) error { return check(ctx, r.s) }

// Ready is the wrapped sender's Ready, if it has one, else true.
func (r *Rememberer) Ready() bool { return ready(r.s) }
