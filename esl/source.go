package esl

import (
	"bufio"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
	"github.com/textback/textback"
)

// DefaultPort is mod_event_socket's port, used when Address has none.
const DefaultPort = "8021"

// Config says which FreeSWITCH to watch and how to read its calls.
type Config struct {
	Address  string // host[:port] of mod_event_socket; default 127.0.0.1:8021
	Password string // event_socket.conf.xml's password
	// InboundContexts and DIDVariable: see TrackerConfig.
	InboundContexts []string
	DIDVariable     string
	// DialTimeout bounds connect, greeting and auth (default 10s).
	// KeepAlive is how often the link is checked with "api status"
	// (default 20s). ReorderWindow is how long an event is held to put it
	// back in Event-Sequence order (default 50ms).
	DialTimeout, KeepAlive, ReorderWindow time.Duration
}

// LogValue logs the config without its password.
func (c Config) LogValue() slog.Value {
	pw := ""
	if c.Password != "" {
		pw = "***"
	}
	return slog.GroupValue(
		slog.String("address", c.Address),
		slog.String("password", pw),
		slog.Any("inbound_contexts", c.InboundContexts),
		slog.String("did_variable", c.DIDVariable),
	)
}

// Errors of a connection attempt; the error Check returns wraps one of them
// (or a net error).
var (
	ErrAuth     = errors.New("esl: password rejected")
	ErrRejected = errors.New("esl: connection rejected")
	ErrNotESL   = errors.New("esl: not a FreeSWITCH event socket")
)

// Reconnect backoff, as in ami: from backoffMin doubling to backoffMax, ±20%,
// back to backoffMin after a connection that lasted backoffReset.
const (
	backoffMin   = 500 * time.Millisecond
	backoffMax   = 30 * time.Second
	backoffReset = time.Minute
)

// Source turns a FreeSWITCH event socket into textback events. It
// reconnects on its own and keeps one Tracker across connections.
type Source struct {
	cfg     Config
	addr    string
	log     *slog.Logger
	tracker *Tracker // fed by Run only

	connected atomic.Bool
	running   atomic.Bool
	// resyncWarned is set once a failed "show channels" was logged at
	// Warn; Run's goroutine only.
	resyncWarned bool

	backoffMin, backoffMax, backoffReset time.Duration
}

var _ textback.Source = (*Source)(nil)

// New returns a Source. A nil log discards.
func New(cfg Config, log *slog.Logger) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 20 * time.Second
	}
	if cfg.ReorderWindow <= 0 {
		cfg.ReorderWindow = 50 * time.Millisecond
	}
	addr := withPort(cfg.Address)
	return &Source{
		cfg:          cfg,
		addr:         addr,
		log:          log.With("pbx", "esl", "addr", addr),
		tracker:      NewTracker(TrackerConfig{InboundContexts: cfg.InboundContexts, DIDVariable: cfg.DIDVariable}),
		backoffMin:   backoffMin,
		backoffMax:   backoffMax,
		backoffReset: backoffReset,
	}
}

// withPort adds DefaultPort to an address without one.
func withPort(a string) string {
	if a == "" {
		return net.JoinHostPort("127.0.0.1", DefaultPort)
	}
	if _, _, err := net.SplitHostPort(a); err == nil {
		return a
	}
	return net.JoinHostPort(strings.Trim(a, "[]"), DefaultPort)
}

// Connected reports whether the source is authenticated and subscribed
// right now. It is safe to call from any goroutine.
func (s *Source) Connected() bool { return s.connected.Load() }

// Run connects, authenticates, subscribes and sends every call that ends to
// out, until ctx is done; then it returns nil. It reconnects after any
// failure with a jittered exponential backoff, logging a lost link at Warn
// and a rejected password or ACL at Error. Run must not be called again
// while it runs.
func (s *Source) Run(ctx context.Context, out chan<- textback.Event) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("esl: Run is already running")
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
		case errors.Is(err, ErrAuth), errors.Is(err, ErrRejected):
			s.log.Error("esl connect rejected", "err", s.explain(err), "retry_in", delay.Round(time.Millisecond))
		case up > 0:
			s.log.Warn("esl disconnected", "err", err, "up", up.Round(time.Millisecond), "retry_in", delay.Round(time.Millisecond))
		default:
			s.log.Warn("esl connect failed", "err", s.explain(err), "retry_in", delay.Round(time.Millisecond))
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

// errDisconnected is why a session ends when eslgo reports the link gone.
var errDisconnected = errors.New("esl: disconnected by FreeSWITCH or the network")

// session runs one connection until it ends or ctx is done. It returns how
// long the connection was up (0 when it never was) and why it ended.
func (s *Source) session(ctx context.Context, out chan<- textback.Event) (time.Duration, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops any listener goroutine still sending
	// eslgo's lifetime outlasts ctx by the "exit" below, which lets
	// FreeSWITCH see a clean goodbye (bounded by ExitTimeout).
	lctx, lcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer lcancel()
	gone := make(chan struct{})
	var once sync.Once
	conn, err := s.dial(ctx, lctx, func() { once.Do(func() { close(gone) }) })
	if err != nil {
		return 0, err
	}
	defer conn.ExitAndClose()

	// Re-sync the calls in progress: list the channels up now, before
	// subscribing. Not after: eslgo v1.5.1's SendCommand holds the lock its
	// event loop and its close need while it waits for the reply
	// (connection.go), so a link that drops with the list pending would
	// hold the last events back for the whole timeout. The cost is a window
	// of one round trip: a channel that hangs up between the list and the
	// subscription stays followed until StaleAfter, and one that begins in
	// it is picked up from its later events.
	listed := s.listChannels(sctx, conn)

	// eslgo calls each listener in a goroutine of its own per event, so
	// this callback only copies the headers into our channel; order is
	// restored below.
	events := make(chan *eslgo.Event, 1024)
	conn.RegisterEventListener(eslgo.EventListenAll, func(ev *eslgo.Event) {
		select {
		case events <- ev:
		case <-sctx.Done():
		}
	})
	// Filters first, so that no unfiltered event comes in between. Plain,
	// not json or xml: eslgo v1.5.1 parses plain events only (event.go's
	// readJSONEvent and readXMLEvent return empty headers).
	for _, f := range Filters {
		if err := s.command(sctx, conn, command.Filter{EventHeader: f[0], FilterValue: f[1]}); err != nil {
			return 0, fmt.Errorf("esl: filter %s %s: %w", f[0], f[1], err)
		}
	}
	sub := command.Event{Format: "plain", Listen: Subscribed}
	if err := s.command(sctx, conn, sub); err != nil {
		return 0, fmt.Errorf("esl: subscribe: %w", err)
	}
	start := time.Now()
	up := func() time.Duration { return max(time.Since(start), time.Nanosecond) }
	s.connected.Store(true)
	defer s.connected.Store(false)
	s.log.Info("esl connected", "calls_in_progress", s.tracker.Len())
	if listed.err != nil {
		s.resyncFailed(listed.err)
	} else {
		before := s.tracker.Len()
		evs := s.tracker.Resync(listed.chans, start, start)
		s.log.Info("esl calls in progress re-synced", "channels", len(listed.chans), "calls_before", before, "calls", s.tracker.Len(), "events", len(evs))
		for _, ev := range evs {
			select {
			case out <- ev:
			case <-ctx.Done():
				s.log.Warn("call not passed on: stopping", "call_id", ev.Call.ID, "event", ev.Kind)
				return up(), ctx.Err()
			}
		}
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	dead := make(chan error, 1)
	wg.Go(func() { dead <- s.keepAlive(sctx, conn) })

	var q reorder
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	release := func(now time.Time, all bool) bool {
		for q.Len() > 0 && (all || now.Sub(q.items[0].at) >= s.cfg.ReorderWindow || q.Len() > maxHeld) {
			it := heap.Pop(&q).(held)
			for _, ev := range s.tracker.Handle(it.ev.Headers, now) {
				select {
				case out <- ev:
				case <-ctx.Done():
					s.log.Warn("call not passed on: stopping", "call_id", ev.Call.ID, "event", ev.Kind)
					return false
				}
			}
		}
		if q.Len() > 0 {
			timer.Reset(s.cfg.ReorderWindow - now.Sub(q.items[0].at))
		}
		return true
	}
	for {
		select {
		case <-ctx.Done():
			release(time.Now(), true)
			return up(), ctx.Err()
		case <-gone:
			// eslgo may still be handing over the last events, each in a
			// goroutine of its own: give them one reorder window.
			grace := time.NewTimer(s.cfg.ReorderWindow)
		collect:
			for {
				select {
				case ev := <-events:
					heap.Push(&q, held{ev: ev, seq: atoi64(ev.Headers.Get("Event-Sequence")), at: time.Now()})
				case <-grace.C:
					break collect
				case <-ctx.Done():
					grace.Stop()
					break collect
				}
			}
			release(time.Now(), true)
			return up(), errDisconnected
		case err := <-dead:
			release(time.Now(), true)
			return up(), err

		case ev := <-events:
			s.log.Debug("esl event", "event", ev.GetName(), "seq", ev.Headers.Get("Event-Sequence"))
			heap.Push(&q, held{ev: ev, seq: atoi64(ev.Headers.Get("Event-Sequence")), at: time.Now()})
			if !release(time.Now(), false) {
				return up(), ctx.Err()
			}
		case <-timer.C:
			if !release(time.Now(), false) {
				return up(), ctx.Err()
			}
		}
	}
}

type listResult struct {
	chans []Channel
	err   error
}

// listChannels asks FreeSWITCH for the channels up now.
func (s *Source) listChannels(ctx context.Context, conn *eslgo.Conn) listResult {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	r, err := conn.SendCommand(cctx, command.API{Command: "show", Arguments: "channels as json"})
	if err != nil {
		return listResult{err: fmt.Errorf("esl: show channels: %w", err)}
	}
	chans, err := ParseChannels(r.Body)
	return listResult{chans, err}
}

// resyncFailed logs why the channel list failed: a refusal or a reply
// that is no list once per Source at Warn; a link gone meanwhile at Debug,
// as the next connection tries again.
func (s *Source) resyncFailed(err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		s.log.Debug("esl re-sync of calls in progress failed", "err", err)
		return
	}
	if s.resyncWarned {
		return
	}
	s.resyncWarned = true
	s.log.Warn("esl show channels failed: calls whose hangup is lost in an outage are dropped unreported after 6h; allow the api command \"show\" for this event socket user",
		"err", err)
}

// exitTimeout bounds the wait for FreeSWITCH's reply to "exit". eslgo also
// waits this long after a rejected password before Dial returns, so it must
// stay well below DialTimeout.
const exitTimeout = 250 * time.Millisecond

// maxHeld bounds the reorder queue: past it, events go on at once.
const maxHeld = 4096

// keepAlive sends "api status" every KeepAlive until ctx is done. eslgo's
// receive loop stops without telling anyone on any read error but EOF
// (connection.go), so a reply is the only proof the link is alive.
func (s *Source) keepAlive(ctx context.Context, conn *eslgo.Conn) error {
	t := time.NewTicker(s.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, min(s.cfg.DialTimeout, s.cfg.KeepAlive))
		_, err := conn.SendCommand(pctx, command.API{Command: "status"})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("esl: keepalive: no answer to api status: %w", err)
		}
	}
}

func (s *Source) command(ctx context.Context, conn *eslgo.Conn, cmd command.Command) error {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	r, err := conn.SendCommand(cctx, cmd)
	if err != nil {
		return err
	}
	if !r.IsOk() {
		return fmt.Errorf("FreeSWITCH replied %q", r.GetReply())
	}
	return nil
}

// dial connects and authenticates, bounded by DialTimeout.
//
// It first reads the greeting on a connection of its own: FreeSWITCH
// answers a client its apply-inbound-acl denies with text/rude-rejection
// and a close (mod_event_socket.c), and eslgo v1.5.1's Dial then waits
// forever for auth/request (inbound.go), leaking its goroutine; the probe
// names that case and keeps eslgo out of it. eslgo's Dial still runs in a
// goroutine under the timeout, for anything the probe did not catch.
//
// ctx bounds the attempt; life is the connection's lifetime.
func (s *Source) dial(ctx, life context.Context, onDisconnect func()) (*eslgo.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	if err := s.probe(dctx); err != nil {
		return nil, err
	}
	opts := eslgo.InboundOptions{
		Options: eslgo.Options{
			Context:     life,
			Logger:      eslLogger{s.log},
			ExitTimeout: exitTimeout,
		},
		Network:      "tcp",
		Password:     s.cfg.Password,
		OnDisconnect: onDisconnect,
		AuthTimeout:  s.cfg.DialTimeout,
	}
	type result struct {
		c   *eslgo.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := opts.Dial(s.addr)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, classify(r.err)
		}
		return r.c, nil
	case <-dctx.Done():
		go func() { // close a connection that comes too late
			if r := <-done; r.c != nil {
				r.c.Close()
			}
		}()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: no auth reply within %s: rejected or not FreeSWITCH: check apply-inbound-acl", ErrRejected, s.cfg.DialTimeout)
	}
}

// classify maps an eslgo Dial error onto ours. eslgo's doAuth returns an
// unwrappable fmt.Errorf for "-ERR invalid" (inbound.go), so an error that
// is neither a network error nor a timeout is the rejected password.
func classify(err error) error {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.As(err, &op), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("esl: connect: %w", err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: no reply to auth: %w", ErrNotESL, err)
	case errors.Is(err, context.Canceled):
		return err
	}
	return fmt.Errorf("%w (%v)", ErrAuth, err)
}

// probe connects, reads the first message and hangs up.
func (s *Source) probe(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("esl: connect: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	h, err := textproto.NewReader(bufio.NewReader(c)).ReadMIMEHeader()
	switch ct := h.Get("Content-Type"); {
	case ct == "auth/request":
		return nil
	case ct == "text/rude-rejection":
		return fmt.Errorf("%w by FreeSWITCH's apply-inbound-acl (text/rude-rejection)", ErrRejected)
	case ct != "":
		return fmt.Errorf("%w: it greeted with Content-Type %q", ErrNotESL, ct)
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		return ctx.Err()
	case isTimeout(err):
		return fmt.Errorf("%w: no greeting within %s: rejected or not FreeSWITCH: check apply-inbound-acl", ErrRejected, s.cfg.DialTimeout)
	default:
		return fmt.Errorf("%w: closed without a greeting (%v): rejected or not FreeSWITCH: check apply-inbound-acl", ErrRejected, err)
	}
}

// Check connects, authenticates, asks "api status" and says goodbye: what
// `textback check` runs. Its errors say what to fix.
func (s *Source) Check(ctx context.Context) error {
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	conn, err := s.dial(ctx, life, nil)
	if err != nil {
		return s.explain(err)
	}
	defer conn.ExitAndClose()
	cctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	r, err := conn.SendCommand(cctx, command.API{Command: "status"})
	if err != nil {
		return fmt.Errorf("esl: authenticated to %s, but api status failed: %w", s.addr, err)
	}
	if strings.HasPrefix(r.GetReply(), "-ERR") {
		return fmt.Errorf("esl: authenticated to %s, but api status said %q", s.addr, strings.TrimSpace(r.GetReply()))
	}
	return nil
}

// explain rewords a dial error as advice for the operator; it still wraps
// err.
func (s *Source) explain(err error) error {
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrAuth):
		return &hintError{fmt.Sprintf("esl: %s rejected the password (-ERR invalid): set secret to the password in event_socket.conf.xml", s.addr), err}
	case errors.Is(err, ErrRejected):
		return &hintError{fmt.Sprintf("%v (add textback's address to the list apply-inbound-acl names in event_socket.conf.xml, then reload mod_event_socket)", err), err}
	case errors.Is(err, ErrNotESL):
		return &hintError{fmt.Sprintf("%v (is %s the event socket, usually port 8021?)", err, s.addr), err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &hintError{fmt.Sprintf("esl: connection refused to %s: is FreeSWITCH running with mod_event_socket listening there (listen-ip, listen-port in event_socket.conf.xml)?", s.addr), err}
	case errors.As(err, &dnsErr):
		return &hintError{fmt.Sprintf("esl: cannot resolve %s: %v", s.addr, dnsErr), err}
	case isTimeout(err):
		return &hintError{fmt.Sprintf("esl: no answer from %s: check the address, listen-ip and any firewall: %v", s.addr, err), err}
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// hintError replaces an error's text with advice and still unwraps to it.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Unwrap() error { return e.err }

// eslLogger hands eslgo's printf messages (which end in "\n") to slog at
// Debug: the source itself reports what matters, once.
type eslLogger struct{ log *slog.Logger }

func (l eslLogger) Debug(f string, a ...any) { l.print(f, a) }
func (l eslLogger) Info(f string, a ...any)  { l.print(f, a) }
func (l eslLogger) Warn(f string, a ...any)  { l.print(f, a) }
func (l eslLogger) Error(f string, a ...any) { l.print(f, a) }
func (l eslLogger) print(f string, a []any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("eslgo: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}

// held is an event waiting in the reorder queue.
type held struct {
	ev  *eslgo.Event
	seq int64
	at  time.Time
}

// reorder is a min-heap of held events by Event-Sequence. Only session
// uses it.
type reorder struct{ items []held }

func (q *reorder) Len() int           { return len(q.items) }
func (q *reorder) Less(i, j int) bool { return q.items[i].seq < q.items[j].seq }
func (q *reorder) Swap(i, j int)      { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *reorder) Push(x any)         { q.items = append(q.items, x.(held)) }
func (q *reorder) Pop() any {
	n := len(q.items) - 1
	it := q.items[n]
	q.items[n] = held{}
	q.items = q.items[:n]
	return it
}

// backoff is a jittered exponential delay. Only Run uses it.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) reset() { b.cur = 0 }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return time.Duration(float64(b.cur) * (0.8 + 0.4*rand.Float64()))
}
