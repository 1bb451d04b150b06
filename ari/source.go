package ari

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	cari "github.com/CyCoreSystems/ari/v6"
	"golang.org/x/net/websocket"

	"github.com/textback/textback"
)

// Config says which Asterisk to watch and how to read its calls.
type Config struct {
	// URL is the base of Asterisk's HTTP server, "http://127.0.0.1:8088"
	// (a trailing /ari is accepted). The websocket URL derives from it:
	// ws://127.0.0.1:8088/ari/events, wss:// for https.
	URL string
	// Username and Secret are a user of ari.conf.
	Username, Secret string
	// Application is the ARI application name to register; default
	// "textback". It need not be in the dialplan: with subscribeAll it
	// receives the events of every channel.
	Application string
	// InboundContexts and DIDVariable: see TrackerConfig.
	InboundContexts []string
	DIDVariable     string
	// PresTimeout bounds the CALLERID(pres) lookup of each inbound caller,
	// and so how long the report of a call that ends first may wait
	// (default 2s). NoPresLookup turns the lookup off.
	PresTimeout  time.Duration
	NoPresLookup bool
	// DialTimeout bounds connecting, the websocket handshake and Check
	// (default 10s).
	DialTimeout time.Duration
}

// LogValue logs the config without its secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", c.URL),
		slog.String("username", c.Username),
		slog.String("secret", redact(c.Secret)),
		slog.String("application", c.Application),
		slog.Any("inbound_contexts", c.InboundContexts),
		slog.String("did_variable", c.DIDVariable),
	)
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// Errors Check and Run wrap, for callers to branch on.
var (
	ErrAuth   = errors.New("ari: authentication failed")
	ErrNotARI = errors.New("ari: not an Asterisk REST Interface")
)

const (
	defaultApplication = "textback"
	defaultDialTimeout = 10 * time.Second
	// Reconnect backoff: from backoffMin doubling to backoffMax, ±20%, back
	// to backoffMin after a connection that lasted backoffReset.
	backoffMin   = 500 * time.Millisecond
	backoffMax   = 30 * time.Second
	backoffReset = time.Minute
	// expireEvery is how often held calls are looked at.
	expireEvery = 100 * time.Millisecond
	// maxBody bounds the HTTP answers read.
	maxBody = 1 << 20
	// maxList bounds a listing of channels or bridges: about 16000
	// channels of 1 KiB.
	maxList = 16 << 20
	// maxConns caps the HTTP connections to Asterisk, all kept alive: a
	// wave of calls reuses them instead of dialing, and a larger one waits
	// for one rather than taking more of Asterisk's HTTP threads (http.conf
	// session_limit, 100 by default, counts the event websocket too).
	maxConns = 16
)

// Source turns an ARI event stream into textback events. It reconnects on
// its own and keeps one Tracker across connections, so a call in progress
// during a short outage is still reported.
//
// It reads the websocket itself (golang.org/x/net/websocket, as the ari
// library's native client does) and decodes with the library's
// cari.DecodeEvent, rather than through native.Client and its bus: stdbus
// drops an event when a subscriber's 100-slot buffer is full, the native
// client subscribes after connecting (events in between are lost), retries
// forever without backoff and takes no ctx on its HTTP calls. Here one
// goroutine reads and decodes into an unbounded queue, so Asterisk's
// websocket write never waits on us (it drops a client that stalls), and
// Run's goroutine feeds the tracker from that queue: nothing is dropped.
type Source struct {
	cfg     Config
	base    string // cfg.URL without a trailing / or /ari
	log     *slog.Logger
	http    *http.Client
	tracker *Tracker

	connected atomic.Bool
	running   atomic.Bool
	// resyncWarned is set once a failed listing was logged at Warn; Run's
	// goroutine only.
	resyncWarned bool

	backoffMin, backoffMax, backoffReset time.Duration
}

var _ textback.Source = (*Source)(nil)

// New returns a Source. A nil log discards.
func New(cfg Config, log *slog.Logger) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Application == "" {
		cfg.Application = defaultApplication
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = defaultDialTimeout
	}
	if cfg.PresTimeout <= 0 {
		cfg.PresTimeout = defaultPresTimeout
	}
	base := strings.TrimRight(cfg.URL, "/")
	base = strings.TrimSuffix(base, "/ari")
	return &Source{
		cfg:  cfg,
		base: base,
		log:  log.With("pbx", "ari", "url", base),
		http: &http.Client{Transport: &http.Transport{
			Proxy:               nil, // Asterisk is local; a proxy would see the credentials
			DialContext:         (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
			MaxIdleConnsPerHost: maxConns,
			MaxConnsPerHost:     maxConns,
			IdleConnTimeout:     time.Minute,
		}},
		tracker: NewTracker(TrackerConfig{
			InboundContexts: cfg.InboundContexts,
			DIDVariable:     cfg.DIDVariable,
			LookupPres:      !cfg.NoPresLookup,
			PresTimeout:     cfg.PresTimeout,
		}),
		backoffMin:   backoffMin,
		backoffMax:   backoffMax,
		backoffReset: backoffReset,
	}
}

// Connected reports whether the event websocket is open right now. It is
// safe to call from any goroutine (a health check).
func (s *Source) Connected() bool { return s.connected.Load() }

// run is the state of one Run: only its goroutine touches it, but for
// results, which the lookups send on.
type run struct {
	ctx     context.Context
	out     chan<- textback.Event
	results chan presResult
	lookups sync.WaitGroup
	tick    *time.Ticker
}

type presResult struct{ id, pres string }

// Run connects and sends every call that ends to out, until ctx is done;
// then it returns nil. It reconnects after any failure with a jittered
// exponential backoff, logging a lost link at Warn and rejected credentials
// at Error. Run must not be called again while it runs.
func (s *Source) Run(ctx context.Context, out chan<- textback.Event) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("ari: Run is already running")
	}
	defer s.running.Store(false)
	r := &run{ctx: ctx, out: out, results: make(chan presResult, 64), tick: time.NewTicker(expireEvery)}
	defer r.tick.Stop()
	defer r.lookups.Wait() // each ends within PresTimeout, or at once when ctx is done
	b := backoff{min: s.backoffMin, max: s.backoffMax}
	for {
		up, err := s.session(r)
		if ctx.Err() != nil {
			return nil
		}
		if up >= s.backoffReset {
			b.reset()
		}
		delay := b.next()
		switch {
		case errors.Is(err, ErrAuth):
			s.log.Error("ari login rejected", "err", err, "retry_in", delay.Round(time.Millisecond))
		case up > 0:
			s.log.Warn("ari disconnected", "err", err, "up", up.Round(time.Millisecond), "retry_in", delay.Round(time.Millisecond))
		default:
			s.log.Warn("ari connect failed", "err", err, "retry_in", delay.Round(time.Millisecond))
		}
		// Calls held for a lookup are still reported while disconnected.
		t := time.NewTimer(delay)
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
				break wait
			case res := <-r.results:
				s.emit(r, s.tracker.Presentation(res.id, res.pres, time.Now()))
			case now := <-r.tick.C:
				s.emit(r, s.tracker.Expire(now))
			}
		}
	}
}

// session runs one connection until it ends or ctx is done. It returns how
// long the connection was up (0 when it never was) and why it ended.
func (s *Source) session(r *run) (time.Duration, error) {
	ctx := r.ctx
	info, err := s.info(ctx)
	if err != nil {
		return 0, err
	}
	ws, err := s.dial(ctx)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	up := func() time.Duration { return max(time.Since(start), time.Nanosecond) }
	q := &queue{ready: make(chan struct{}, 1)}
	readErr := make(chan error, 1)
	go func() { readErr <- s.read(ws, q) }()
	defer func() {
		ws.Close()
		<-readErr // the reader ends once the socket is closed
	}()
	s.connected.Store(true)
	defer s.connected.Store(false)
	s.log.Info("ari connected", "version", info.SystemInfo.Version, "user", s.cfg.Username,
		"application", s.cfg.Application, "calls_in_progress", s.tracker.Len())
	// Re-sync the calls in progress. The websocket is open first, so no
	// event after the listing is missed. The events already queued go
	// first: a listing older than them would bring back a channel they
	// destroyed. The events that come while it loads go after: Resync
	// leaves alone the channels heard of since the websocket opened.
	if err := s.handle(r, q); err != nil {
		return up(), err
	}
	if chans, bridges, err := s.listing(ctx); err != nil {
		s.resyncFailed(err)
	} else {
		before := s.tracker.Len()
		evs := s.tracker.Resync(chans, bridges, start, time.Now())
		s.log.Info("ari calls in progress re-synced", "channels", len(chans), "bridges", len(bridges), "calls_before", before, "calls", s.tracker.Len(), "events", len(evs))
		s.emit(r, evs)
		for _, id := range s.tracker.Lookups() {
			r.lookups.Go(func() { s.lookup(r, id) })
		}
	}
	for {
		select {
		case <-ctx.Done():
			return up(), ctx.Err()
		case <-q.ready:
			if err := s.handle(r, q); err != nil {
				return up(), err
			}
		case err := <-readErr:
			readErr <- err // for the deferred wait
			if err := s.handle(r, q); err != nil {
				return up(), err
			}
			return up(), err
		case res := <-r.results:
			s.emit(r, s.tracker.Presentation(res.id, res.pres, time.Now()))
		case now := <-r.tick.C:
			s.emit(r, s.tracker.Expire(now))
		}
	}
}

// handle feeds the queued events to the tracker and passes the calls on.
func (s *Source) handle(r *run, q *queue) error {
	for _, e := range q.drain() {
		if e, ok := e.(*cari.ApplicationReplaced); ok {
			return fmt.Errorf("ari: another client registered application %q (is a second textback running?)", e.Application)
		}
		s.emit(r, s.tracker.Handle(e, time.Now()))
		for _, id := range s.tracker.Lookups() {
			r.lookups.Go(func() { s.lookup(r, id) })
		}
	}
	return nil
}

// emit sends the tracker's events to out.
func (s *Source) emit(r *run, evs []textback.Event) {
	for _, ev := range evs {
		select {
		case r.out <- ev:
		case <-r.ctx.Done():
			s.log.Warn("call not passed on: stopping", "call_id", ev.Call.ID, "event", ev.Kind)
		}
	}
}

// lookup asks for the presentation of channel id and hands the answer to
// Run's goroutine. Its errors are logged at Debug: the call is then judged
// by its number alone.
func (s *Source) lookup(r *run, id string) {
	ctx, cancel := context.WithTimeout(r.ctx, s.cfg.PresTimeout)
	defer cancel()
	start := time.Now()
	pres, err := s.Variable(ctx, id, "CALLERID(pres)")
	if err != nil {
		s.log.Debug("presentation lookup failed", "channel", id, "err", err, "took", time.Since(start))
	} else {
		s.log.Debug("presentation looked up", "channel", id, "pres", pres, "took", time.Since(start))
	}
	select {
	case r.results <- presResult{id, pres}:
	case <-r.ctx.Done():
	}
}

// listing fetches the channels and bridges Asterisk has now, bounded by
// DialTimeout.
func (s *Source) listing(ctx context.Context) ([]Channel, []Bridge, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	fetch := func(what string) ([]byte, error) {
		body, code, err := s.getN(ctx, s.base+"/ari/"+what, maxList)
		if err != nil {
			return nil, fmt.Errorf("ari: get %s: %w", what, err)
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("ari: get %s: HTTP %d", what, code)
		}
		return body, nil
	}
	b, err := fetch("channels")
	if err != nil {
		return nil, nil, err
	}
	chans, err := ParseChannels(b)
	if err != nil {
		return nil, nil, err
	}
	if b, err = fetch("bridges"); err != nil {
		return nil, nil, err
	}
	bridges, err := ParseBridges(b)
	if err != nil {
		return nil, nil, err
	}
	return chans, bridges, nil
}

// resyncFailed logs a failed listing: at Warn once per Source, then at
// Debug.
func (s *Source) resyncFailed(err error) {
	if s.resyncWarned {
		s.log.Debug("ari re-sync of calls in progress failed", "err", err)
		return
	}
	s.resyncWarned = true
	s.log.Warn("ari listing of channels failed: calls whose hangup is lost in an outage are dropped unreported after 6h", "err", err)
}

// read receives and decodes events into q until the websocket fails.
// Undecodable messages are logged at Debug and skipped.
func (s *Source) read(ws *websocket.Conn, q *queue) error {
	for {
		var data []byte
		if err := websocket.Message.Receive(ws, &data); err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("ari: Asterisk closed the event websocket")
			}
			return fmt.Errorf("ari: read events: %w", err)
		}
		e, err := decode(data)
		if err != nil {
			s.log.Debug("ari event skipped", "err", err, "len", len(data))
			continue
		}
		q.push(e)
	}
}

// decode decodes one ARI event. It never panics: the library decodes with
// encoding/json into its generated types, and a panic there (none is known)
// would otherwise take the daemon down for one bad message.
func decode(data []byte) (e cari.Event, err error) {
	defer func() {
		if p := recover(); p != nil {
			e, err = nil, fmt.Errorf("ari: decode: panic: %v", p)
		}
	}()
	return cari.DecodeEvent(data)
}

// queue is the unbounded queue between the reader and Run's goroutine.
type queue struct {
	mu    sync.Mutex
	evs   []cari.Event
	spare []cari.Event
	ready chan struct{} // cap 1: something was pushed since the last drain
}

func (q *queue) push(e cari.Event) {
	q.mu.Lock()
	q.evs = append(q.evs, e)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// drain returns the queued events; the slice is reused by the next drain.
func (q *queue) drain() []cari.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs := q.evs
	clear(q.spare)
	q.evs = q.spare[:0]
	q.spare = evs
	return evs
}

// Check asks Asterisk for /ari/asterisk/info with the credentials: what
// `textback check` runs. Its errors say what to fix.
func (s *Source) Check(ctx context.Context) error {
	_, err := s.info(ctx)
	return err
}

// info fetches /ari/asterisk/info, explaining its failures.
func (s *Source) info(ctx context.Context) (*cari.AsteriskInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	u := s.base + "/ari/asterisk/info"
	body, code, err := s.get(ctx, u)
	if err != nil {
		return nil, s.explain(err)
	}
	switch {
	case code == http.StatusUnauthorized:
		return nil, fmt.Errorf("%w for user %q at %s: check the username and password in ari.conf", ErrAuth, s.cfg.Username, s.base)
	case code == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s answered 404: check the URL (http://host:8088) and that res_ari is loaded and ari.conf has enabled = yes", ErrNotARI, u)
	case code != http.StatusOK:
		return nil, fmt.Errorf("%w: %s answered HTTP %d", ErrNotARI, u, code)
	}
	var info cari.AsteriskInfo
	if err := json.Unmarshal(body, &info); err != nil || info.SystemInfo.Version == "" {
		return nil, fmt.Errorf("%w: %s did not answer with Asterisk's info", ErrNotARI, u)
	}
	return &info, nil
}

// Variable returns the value of a channel variable or dialplan function
// ("CALLERID(pres)") of channel id.
func (s *Source) Variable(ctx context.Context, id, name string) (string, error) {
	u := s.base + "/ari/channels/" + url.PathEscape(id) + "/variable?" + url.Values{"variable": {name}}.Encode()
	body, code, err := s.get(ctx, u)
	if err != nil {
		return "", fmt.Errorf("ari: get %s of %s: %w", name, id, err)
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("ari: get %s of %s: HTTP %d", name, id, code)
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", fmt.Errorf("ari: get %s of %s: %w", name, id, err)
	}
	return v.Value, nil
}

// get does an authenticated GET and returns the body (bounded) and status.
func (s *Source) get(ctx context.Context, u string) ([]byte, int, error) {
	return s.getN(ctx, u, maxBody)
}

// getN is get with a bound of its own.
func (s *Source) getN(ctx context.Context, u string, limit int64) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.SetBasicAuth(s.cfg.Username, s.cfg.Secret)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, 0, err
	}
	return body, resp.StatusCode, nil
}

// dial opens the event websocket.
func (s *Source) dial(ctx context.Context) (*websocket.Conn, error) {
	ws := "ws" + strings.TrimPrefix(s.base, "http") // http→ws, https→wss
	q := url.Values{"app": {s.cfg.Application}, "subscribeAll": {"true"}}
	cfg, err := websocket.NewConfig(ws+"/ari/events?"+q.Encode(), s.base+"/")
	if err != nil {
		return nil, fmt.Errorf("ari: websocket URL: %w", err)
	}
	cfg.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s.cfg.Username+":"+s.cfg.Secret)))
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	c, err := cfg.DialContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("ari: open event websocket: %w", s.explain(err))
	}
	return c, nil
}

// explain rewords a connection error as advice for the operator. The
// result still wraps err.
func (s *Source) explain(err error) error {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &hintError{fmt.Sprintf("ari: connection refused by %s: is Asterisk running, with http.conf enabled = yes on that address and port?", s.base), err}
	case errors.As(err, &dnsErr):
		return &hintError{fmt.Sprintf("ari: cannot resolve %s: %v", s.base, dnsErr), err}
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return &hintError{fmt.Sprintf("ari: no answer from %s: check the URL, http.conf's bindaddr and any firewall: %v", s.base, err), err}
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
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
