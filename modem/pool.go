package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/textback/textback"
)

var _ textback.Sender = (*Pool)(nil)

// Pool sends through several modems, round robin over the ready ones (a
// port open, registered), failing over to the next on a transient error.
// It is safe for concurrent use.
type Pool struct {
	modems []*Modem
	log    *slog.Logger
	next   atomic.Uint64
}

// NewPool returns a Pool over modems.
func NewPool(modems []*Modem, log *slog.Logger) *Pool {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{modems: modems, log: log.With("sender", "modem_pool")}
}

// Run runs every modem's Run and returns once all have returned, after ctx
// is done.
func (p *Pool) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(p.modems))
	for i, m := range p.modems {
		wg.Go(func() { errs[i] = m.Run(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Health returns the health of every modem, in order.
func (p *Pool) Health() []Health {
	h := make([]Health, len(p.modems))
	for i, m := range p.modems {
		h[i] = m.Health()
	}
	return h
}

// Check checks every modem and joins their errors.
func (p *Pool) Check(ctx context.Context) error {
	var errs []error
	for _, m := range p.modems {
		errs = append(errs, m.Check(ctx))
	}
	return errors.Join(errs...)
}

// Send texts m through the next ready modem. A transient failure moves on
// to the next ready one, unless parts of a long text already went out
// through it (the retry has to go there to resume). With no modem ready it
// lets the next in turn wait for readiness (Modem.Send).
func (p *Pool) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	if len(p.modems) == 0 {
		return textback.Receipt{}, errors.New("modem pool: no modems")
	}
	for _, md := range p.modems {
		if md.hasProgress(m) {
			return md.Send(ctx, m)
		}
	}
	n := len(p.modems)
	start := int(p.next.Add(1)-1) % n
	var errs []error
	tried := false
	for i := range n {
		md := p.modems[(start+i)%n]
		if !md.ready() {
			continue
		}
		tried = true
		rc, err := md.Send(ctx, m)
		if err == nil || errors.Is(err, textback.ErrUndeliverable) || md.hasProgress(m) || ctx.Err() != nil {
			return rc, err
		}
		p.log.Warn("modem failed, trying the next", "modem", md.name, "err", err)
		errs = append(errs, err)
	}
	if !tried {
		return p.modems[start].Send(ctx, m)
	}
	return textback.Receipt{}, fmt.Errorf("modem pool: %w", errors.Join(errs...))
}

// SetSink makes every modem of p hand the texts it receives, and the
// delivery reports on those it sent, to s (see Modem.SetSink).
func (p *Pool) SetSink(s Sink) {
	for _, m := range p.modems {
		m.SetSink(s)
	}
}
