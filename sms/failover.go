package sms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/textback/textback"
)

// NamedSender is one entry of a failover list (sms.senders = ["modem",
// "twilio"]). Ready, if set, says whether the sender is up (a modem pool's
// health); if nil, the sender's own Ready() bool is used when it has one.
type NamedSender struct {
	Name   string
	Sender textback.Sender
	Ready  func() bool
}

// defaultCooldown is how long a sender that failed transiently is passed
// over before Failover tries it first again.
const defaultCooldown = time.Minute

// FailoverSender sends each text through the first healthy sender of an
// ordered list and falls over to the next one on a transient failure, or
// past a sender that is down (its Ready says so, or it failed transiently
// within the last minute).
//
// It never sends one text twice: it does not fall over when a sender's
// error wraps textback.ErrUnconfirmed (the text may be out: the request was
// written and no answer came; see http.go), nor on a permanent error
// (ErrUndeliverable: a bad number is bad everywhere), nor when ctx is done.
// Those come back as they are. When every sender failed transiently, Send
// returns them all, joined. The Receipt's Sender is the name of the sender
// that took the text. It is safe for concurrent use.
type FailoverSender struct {
	senders  []NamedSender
	cooldown time.Duration
	now      func() time.Time

	mu   sync.Mutex
	down []time.Time // per sender: passed over until then
}

// Failover returns a sender trying senders in order.
func Failover(senders ...NamedSender) *FailoverSender {
	return &FailoverSender{senders: senders, cooldown: defaultCooldown, now: time.Now, down: make([]time.Time, len(senders))}
}

func (f *FailoverSender) healthy(i int, now time.Time) bool {
	ns := f.senders[i]
	if ns.Ready != nil && !ns.Ready() || ns.Ready == nil && !ready(ns.Sender) {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return !now.Before(f.down[i])
}

// Send sends m through the first healthy sender that takes it.
func (f *FailoverSender) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	now := f.now()
	var errs []error
	tried := make([]bool, len(f.senders))
	// First the healthy senders in order; if none took it, the rest (down
	// or cooling off), in order: better a sender that may fail than none.
	for pass := range 2 {
		for i, ns := range f.senders {
			if tried[i] || pass == 0 && !f.healthy(i, now) {
				continue
			}
			tried[i] = true
			rc, err := ns.Sender.Send(ctx, m)
			if err == nil {
				rc.Sender = ns.Name
				f.mu.Lock()
				f.down[i] = time.Time{}
				f.mu.Unlock()
				return rc, nil
			}
			err = fmt.Errorf("sender %s: %w", ns.Name, err)
			if errors.Is(err, textback.ErrUnconfirmed) || errors.Is(err, textback.ErrUndeliverable) || ctx.Err() != nil {
				if rc != (textback.Receipt{}) {
					rc.Sender = ns.Name
				}
				return rc, errors.Join(append(errs, err)...)
			}
			errs = append(errs, err)
			f.mu.Lock()
			f.down[i] = f.now().Add(f.cooldown)
			f.mu.Unlock()
		}
	}
	if len(errs) == 0 {
		return textback.Receipt{}, fmt.Errorf("sms failover: send for call %s: no senders", m.CallID)
	}
	return textback.Receipt{}, fmt.Errorf("sms failover: send for call %s: every sender failed: %w", m.CallID, errors.Join(errs...))
}

// Check runs every sender's Check, naming the ones that fail.
func (f *FailoverSender) Check(ctx context.Context) error {
	var errs []error
	for _, ns := range f.senders {
		if err := check(ctx, ns.Sender); err != nil {
			errs = append(errs, fmt.Errorf("sender %s: %w", ns.Name, err))
		}
	}
	return errors.Join(errs...)
}
