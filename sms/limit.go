package sms

import (
	"context"
	"fmt"

	"golang.org/x/time/rate"

	"github.com/textback/textback"
)

// Limiter is a sender that sends at most perSecond texts a second, with
// bursts of burst, through another. Send waits its turn, and gives up only
// when ctx is done; it never drops a text. It passes Check and Ready through.
// It is safe for concurrent use.
type Limiter struct {
	s textback.Sender
	l *rate.Limiter
}

// Limited returns sender limited to perSecond texts a second (burst at once,
// at least 1). perSecond <= 0 means no limit.
func Limited(sender textback.Sender, perSecond float64, burst int) *Limiter {
	lim := rate.Limit(perSecond)
	if perSecond <= 0 {
		lim = rate.Inf
	}
	return &Limiter{s: sender, l: rate.NewLimiter(lim, max(burst, 1))}
}

// Send waits for the limiter, then sends m.
func (l *Limiter) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	if err := l.l.Wait(ctx); err != nil {
		return textback.Receipt{}, fmt.Errorf("sms: rate limit: send for call %s: %w", m.CallID, err)
	}
	return l.s.Send(ctx, m)
}

// Check runs the wrapped sender's Check, if it has one.
func (l *Limiter) Check(ctx context.Context) error { return check(ctx, l.s) }

// Ready is the wrapped sender's Ready, if it has one, else true.
func (l *Limiter) Ready() bool { return ready(l.s) }

func check(ctx context.Context, s textback.Sender) error {
	if c, ok := s.(interface{ Check(context.Context) error }); ok {
		return c.Check(ctx)
	}
	return nil
}

func ready(s textback.Sender) bool {
	if r, ok := s.(interface{ Ready() bool }); ok {
		return r.Ready()
	}
	return true
}
