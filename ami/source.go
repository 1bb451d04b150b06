package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/textback/textback"
)

// Config says which Asterisk to watch and how to read its calls.
type Config struct {
	Address          string // host:port of the manager interface, usually 127.0.0.1:5038
	Username, Secret string // a [user] of manager.conf
	AuthMD5          bool   // log in by challenge, not sending the secret
	// InboundContexts and DIDVariable: see TrackerConfig.
	InboundContexts []string
	DIDVariable     string
	// KeepAlive is how often the link is pinged (default 20s); DialTimeout
	// bounds connect and login (default 10s).
	KeepAlive, DialTimeout time.Duration
}

// LogValue logs the config without its secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("address", c.Address),
		slog.String("username", c.Username),
		slog.String("secret", redact(c.Secret)),
		slog.Bool("auth_md5", c.AuthMD5),
		slog.Any("inbound_contexts", c.InboundContexts),
		slog.String("did_variable", c.DIDVariable),
	)
}

// Reconnect backoff: from backoffMin doubling to backoffMax, ±20%, back to
// backoffMin after a connection that lasted backoffReset.
const (
	backoffMin   = 500 * time.Millisecond
	backoffMax   = 30 * time.Second
	backoffReset = time.Minute
)

// Source turns an Asterisk manager connection into textback events. It
// reconnects on its own and keeps one Tracker across connections, so a call
// in progress during a short outage is still reported.
type Source struct {
	cfg Config
	log *slog.Logger
	// connLog is log without the addr, which the Conn adds itself.
	connLog *slog.Logger
	// tracker is fed by Run only; handle is its Handle, which tests swap.
	tracker *Tracker
	handle  func(Frame, time.Time) []textback.Event

	connected atomic.Bool
	running   atomic.Bool
	// resyncWarned is set once the refusal of CoreShowChannels was logged;
	// Run's goroutine only.
	resyncWarned bool

	backoffMin, backoffMax, backoffReset time.Duration
}

var _ textback.Source = (*Source)(nil)

// New returns a Source. A nil log discards.
func New(cfg Config, log *slog.Logger) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := NewTracker(TrackerConfig{InboundContexts: cfg.InboundContexts, DIDVariable: cfg.DIDVariable})
	return &Source{
		cfg:          cfg,
		log:          log.With("pbx", "ami", "addr", cfg.Address),
		connLog:      log.With("pbx", "ami"),
		tracker:      t,
		handle:       t.Handle,
		backoffMin:   backoffMin,
		backoffMax:   backoffMax,
		backoffReset: backoffReset,
	}
}

// Connected reports whether the source is logged in right now. It is safe
// to call from any goroutine (a health check).
func (s *Source) Connected() bool { return s.connected.Load() }

func (s *Source) clientConfig(events string) ClientConfig {
	return ClientConfig{
		Address:     s.cfg.Address,
		Username:    s.cfg.Username,
		Secret:      s.cfg.Secret,
		AuthMD5:     s.cfg.AuthMD5,
		Events:      events,
		DialTimeout: s.cfg.DialTimeout,
		KeepAlive:   s.cfg.KeepAlive,
		Logger:      s.connLog,
	}
}

// Run connects, logs in and sends every call that ends to out, until ctx is
// done; then it returns nil. It reconnects after any failure with a
// jittered exponential backoff, logging a lost link at Warn and a rejected
// login at Error (someone must fix the credentials). Run must not be called
// again while it runs.
func (s *Source) Run(ctx context.Context, out chan<- textback.Event) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("ami: Run is already running")
	}
	defer s.running.Store(false)
	b := backoff{min: s.backoffMin, max: s.backoffMax}
	for {
		up, err := s.session(ctx, out)
		if ctx.Err() != nil {
			return nil
		}
		if up >= s.backoffReset {
			b.reset()
		}
		delay := b.next()
		switch {
		case errors.Is(err, ErrAuth):
			s.log.Error("ami login rejected", "err", s.explain(err), "retry_in", delay.Round(time.Millisecond))
		case up > 0:
			s.log.Warn("ami disconnected", "err", err, "up", up.Round(time.Millisecond), "retry_in", delay.Round(time.Millisecond))
		default:
			s.log.Warn("ami connect failed", "err", s.explain(err), "retry_in", delay.Round(time.Millisecond))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// session runs one connection until it ends or ctx is done. It returns how
// long the connection was up (0 when it never was) and why it ended.
func (s *Source) session(ctx context.Context, out chan<- textback.Event) (time.Duration, error) {
	c, err := Dial(ctx, s.clientConfig(""))
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after Close, which ends the list action
	defer c.Close()
	start := time.Now()
	// Re-sync the calls in progress: ask for the channels up now while the
	// events flow on (a list held back behind a full Events channel would
	// never come), and pick the list out of them by its ActionID.
	listID := c.newID()
	var list []Frame
	listErr := make(chan error, 1)
	wg.Go(func() {
		_, err := c.action(ctx, listID, "CoreShowChannels")
		listErr <- err
	})
	up := func() time.Duration { return max(time.Since(start), time.Nanosecond) }
	s.connected.Store(true)
	defer s.connected.Store(false)
	s.log.Info("ami connected", "banner", c.Banner(), "user", s.cfg.Username, "calls_in_progress", s.tracker.Len())
	for {
		var f Frame
		select {
		case <-ctx.Done():
			// Log off so Asterisk sees a clean goodbye, not a reset; the
			// daemon is stopping, so give it a second at most.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			c.Logoff(lctx)
			cancel()
			return up(), ctx.Err()
		case err := <-listErr:
			listErr = nil
			if err != nil {
				listID, list = "", nil
				s.resyncFailed(err)
			}
			continue
		case fr, ok := <-c.Events():
			if !ok {
				return up(), c.Err()
			}
			f = fr
		}
		var evs []textback.Event
		if listID != "" && f.Get("ActionID") == listID {
			switch f.Event() {
			case "CoreShowChannel":
				if len(list) < maxListed {
					list = append(list, f)
				}
			case "CoreShowChannelsComplete":
				before := s.tracker.Len()
				evs = s.tracker.Resync(list, start, time.Now())
				s.log.Info("ami calls in progress re-synced", "channels", len(list), "calls_before", before, "calls", s.tracker.Len(), "events", len(evs))
				listID, list = "", nil
			}
		} else {
			evs = s.handle(f, time.Now())
		}
		for _, ev := range evs {
			if ev.Call.Source == "" {
				ev.Call.Source = "ami"
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				s.log.Warn("call not passed on: stopping", "call_id", ev.Call.ID, "event", ev.Kind)
			}
		}
	}
}

// maxListed bounds the CoreShowChannel events kept for one re-sync.
const maxListed = 100000

// resyncFailed logs why CoreShowChannels failed: a refusal once per
// Source, at Warn, naming the fix; anything else (the link went down
// meanwhile, no answer in time) at Debug, as the next connection tries again.
func (s *Source) resyncFailed(err error) {
	var re *ResponseError
	if !errors.As(err, &re) {
		s.log.Debug("ami re-sync of calls in progress failed", "err", err)
		return
	}
	if s.resyncWarned {
		return
	}
	s.resyncWarned = true
	s.log.Warn("ami CoreShowChannels refused: calls whose hangup is lost in an outage are dropped unreported after 6h; give the manager user write = reporting in manager.conf",
		"user", s.cfg.Username, "err", err)
}

// Check connects, logs in with events off, pings once and logs off: what
// `textback check` runs. Its errors say what to fix.
func (s *Source) Check(ctx context.Context) error {
	c, err := Dial(ctx, s.clientConfig("off"))
	if err != nil {
		return s.explain(err)
	}
	defer c.Close()
	if err := c.Ping(ctx); err != nil {
		return fmt.Errorf("ami: logged in to %s as %s, but Ping failed: %w", s.cfg.Address, s.cfg.Username, err)
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.Logoff(lctx)
}

// explain rewords a Dial error as advice for the operator. The result still
// wraps err.
func (s *Source) explain(err error) error {
	addr, user := s.cfg.Address, s.cfg.Username
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrAuth):
		return &hintError{fmt.Sprintf("ami: authentication failed for user %s: check the username and secret (and permit/deny) in manager.conf", user), err}
	case errors.Is(err, ErrNotAMI):
		return &hintError{fmt.Sprintf("%v (is %s the manager port, usually 5038?)", err, addr), err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &hintError{fmt.Sprintf("ami: connection refused to %s: is Asterisk running and manager.conf enabled?", addr), err}
	case errors.As(err, &dnsErr):
		return &hintError{fmt.Sprintf("ami: cannot resolve %s: %v", addr, dnsErr), err}
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return &hintError{fmt.Sprintf("ami: no answer from %s: check the address, the bindaddr in manager.conf and any firewall: %v", addr, err), err}
	}
	return err
}

// hintError replaces an error's text with advice and still unwraps to it.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Unwrap() error { return e.err }

// backoff is a jittered exponential delay. Only Run uses it.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) reset() { b.cur = 0 }

// next returns the next delay: min, then doubling up to max, each ±20%.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return time.Duration(float64(b.cur) * (0.8 + 0.4*rand.Float64()))
}
