package ami

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of a connection.
var (
	// ErrAuth is returned by Dial when Asterisk rejects the login: a wrong
	// username or secret, or a permit/deny line in manager.conf.
	ErrAuth = errors.New("ami: login: authentication failed")
	// ErrNotAMI is returned by Dial when the peer does not greet like an
	// Asterisk manager ("Asterisk Call Manager/…").
	ErrNotAMI = errors.New("ami: not an AMI server")
	// ErrKeepAlive ends a connection whose peer did not answer a Ping in
	// time: Asterisk is wedged or the link is half-open.
	ErrKeepAlive = errors.New("ami: keepalive: no answer to Ping")
	// ErrClosed is returned by Action on a connection that has ended; the
	// error also wraps the reason it ended (Err).
	ErrClosed = errors.New("ami: connection closed")
)

// ResponseError is an action's "Response: Error", with Asterisk's Message.
type ResponseError struct {
	Action  string
	Message string
}

func (e *ResponseError) Error() string { return fmt.Sprintf("ami: %s: %s", e.Action, e.Message) }

// Defaults of ClientConfig.
const (
	DefaultDialTimeout   = 10 * time.Second
	DefaultKeepAlive     = 20 * time.Second
	DefaultActionTimeout = 10 * time.Second
	DefaultEventBuffer   = 256
	maxPingTimeout       = 10 * time.Second
	// maxTooLarge is how many ErrFrameTooLarge in a row (each up to
	// MaxFrame bytes skipped) a connection tolerates before it is dropped:
	// a peer sending that much without a frame boundary is not talking AMI.
	maxTooLarge = 4
)

// ClientConfig says where and how to log in. Its zero value, with an
// Address, logs in as "" with an empty secret; every duration has a default.
type ClientConfig struct {
	Address          string // host:port, usually port 5038
	Username, Secret string
	// AuthMD5 logs in with a challenge instead of sending the secret.
	AuthMD5 bool
	// Events is the Login's Events value: "" means "on" (every event the
	// user may read), "off", or a class list like "call,system".
	Events string
	// DialTimeout bounds the connect, the greeting and the login together.
	// Default 10s.
	DialTimeout time.Duration
	// KeepAlive is how often a Ping is sent. Default 20s; negative: never.
	KeepAlive time.Duration
	// PingTimeout is how long a Ping may go unanswered before the
	// connection is declared dead. Default KeepAlive, at most 10s.
	PingTimeout time.Duration
	// ActionTimeout bounds an Action whose ctx has no deadline. Default 10s.
	ActionTimeout time.Duration
	// EventBuffer is the capacity of the Events channel. Default 256.
	EventBuffer int
	// Logger gets Debug lines of the traffic (never a secret) and Warn
	// lines of skipped frames. Nil: discard.
	Logger *slog.Logger
}

// LogValue logs the config without its secret.
func (c ClientConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("address", c.Address),
		slog.String("username", c.Username),
		slog.String("secret", redact(c.Secret)),
		slog.Bool("auth_md5", c.AuthMD5),
	)
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

func (c ClientConfig) withDefaults() ClientConfig {
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = min(max(c.KeepAlive, 0), maxPingTimeout)
		if c.PingTimeout == 0 {
			c.PingTimeout = maxPingTimeout
		}
	}
	if c.ActionTimeout <= 0 {
		c.ActionTimeout = DefaultActionTimeout
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = DefaultEventBuffer
	}
	if c.Events == "" {
		c.Events = "on"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Conn is a logged-in AMI connection. It is safe for concurrent use.
//
// Two goroutines run for its lifetime. The read loop owns the socket's read
// side and r: it hands each response to the Action waiting for its ActionID
// and each event to the Events channel. When that channel is full it waits
// for the consumer (the socket's buffers then fill and Asterisk holds its
// events back): events are never dropped, and a slow consumer is not
// mistaken for a dead peer. The keepalive loop sends a Ping every KeepAlive.
// Both stop when the connection ends: Close, a read or write error, or an
// unanswered Ping.
type Conn struct {
	cfg    ClientConfig
	nc     net.Conn
	r      *Reader // the read loop's, once Dial has returned
	log    *slog.Logger
	banner string
	early  []Frame // events read during the login, delivered first

	// wsem (capacity 1) serializes writes, so each frame is written whole;
	// a channel, not a mutex, so that waiting for it heeds ctx.
	wsem chan struct{}

	mu      sync.Mutex
	pending map[string]chan Frame // by ActionID
	err     error                 // why the connection ended

	nextID  atomic.Uint64
	events  chan Frame
	done    chan struct{}
	endOnce sync.Once
	wg      sync.WaitGroup

	// stalls counts the times the read loop found events full and waited;
	// stalled is set while it waits. The keepalive loop excuses a Ping
	// unanswered because of us.
	stalls  atomic.Uint64
	stalled atomic.Bool
}

// Dial connects to cfg.Address, checks the greeting and logs in. The whole
// handshake is bounded by ctx and cfg.DialTimeout. A rejected login returns
// an error wrapping ErrAuth; a peer that is not Asterisk, ErrNotAMI.
func Dial(ctx context.Context, cfg ClientConfig) (*Conn, error) {
	cfg = cfg.withDefaults()
	if cfg.Address == "" {
		return nil, errors.New("ami: dial: no address")
	}
	hctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(hctx, "tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("ami: connect: %w", err)
	}
	// The greeting and login have no ctx of their own: map hctx onto the
	// socket's deadline, and cancel onto a deadline in the past.
	if dl, ok := hctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(hctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	c := &Conn{
		cfg:     cfg,
		nc:      nc,
		r:       NewReader(nc),
		log:     cfg.Logger.With("addr", cfg.Address),
		pending: make(map[string]chan Frame),
		events:  make(chan Frame, cfg.EventBuffer),
		done:    make(chan struct{}),
		wsem:    make(chan struct{}, 1),
	}
	err = c.handshake()
	if !stop() && err == nil {
		err = context.Cause(hctx) // cancelled just as the login succeeded
	}
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ami: dial %s: %w", cfg.Address, context.Cause(ctx))
		}
		if isTimeout(err) {
			return nil, fmt.Errorf("ami: %s did not complete the login within %s: %w", cfg.Address, cfg.DialTimeout, err)
		}
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	c.log.Debug("ami logged in", "banner", c.banner, "user", cfg.Username)
	c.wg.Add(1)
	go c.readLoop()
	if cfg.KeepAlive > 0 {
		c.wg.Add(1)
		go c.keepAlive()
	}
	return c, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handshake reads the greeting and logs in, synchronously: no goroutine
// runs yet, and the socket's deadline bounds every read and write.
func (c *Conn) handshake() error {
	banner, err := c.r.Banner()
	switch {
	case isTimeout(err):
		return fmt.Errorf("%w at %s: no greeting within %s", ErrNotAMI, c.cfg.Address, c.cfg.DialTimeout)
	case errors.Is(err, ErrFrameTooLarge):
		return fmt.Errorf("%w at %s: its greeting is longer than a line", ErrNotAMI, c.cfg.Address)
	case err != nil:
		return fmt.Errorf("%w at %s: no greeting: %w", ErrNotAMI, c.cfg.Address, err)
	}
	if !strings.HasPrefix(banner, "Asterisk Call Manager/") {
		return fmt.Errorf("%w at %s: it greeted %q", ErrNotAMI, c.cfg.Address, truncate(banner, 64))
	}
	c.banner = banner

	login := []Field{{"Username", c.cfg.Username}}
	if c.cfg.AuthMD5 {
		resp, err := c.roundTrip("Challenge", Field{"AuthType", "MD5"})
		if err != nil {
			return err
		}
		challenge := resp.Get("Challenge")
		if !isSuccess(resp) || challenge == "" {
			return fmt.Errorf("ami: login: challenge refused: %s", orUnknown(resp.Get("Message")))
		}
		sum := md5.Sum([]byte(challenge + c.cfg.Secret))
		login = append(login, Field{"AuthType", "MD5"}, Field{"Key", hex.EncodeToString(sum[:])})
	} else {
		login = append(login, Field{"Secret", c.cfg.Secret})
	}
	login = append(login, Field{"Events", c.cfg.Events})
	resp, err := c.roundTrip("Login", login...)
	if err != nil {
		return err
	}
	if !isSuccess(resp) {
		// Asterisk says "Authentication failed" for a wrong secret, an
		// unknown user and an ACL reject alike, then hangs up.
		if msg := resp.Get("Message"); msg != "" && !strings.EqualFold(msg, "Authentication failed") {
			return fmt.Errorf("%w for user %s: %s", ErrAuth, c.cfg.Username, msg)
		}
		return fmt.Errorf("%w for user %s", ErrAuth, c.cfg.Username)
	}
	return nil
}

// roundTrip sends an action and reads up to its response, during the
// handshake only. Events read meanwhile are kept for the read loop.
func (c *Conn) roundTrip(name string, fields ...Field) (Frame, error) {
	id := c.newID()
	b, err := appendAction(nil, name, id, fields)
	if err != nil {
		return Frame{}, err
	}
	if _, err := c.nc.Write(b); err != nil {
		return Frame{}, fmt.Errorf("ami: %s: %w", strings.ToLower(name), err)
	}
	for {
		f, err := c.r.Read()
		if err != nil {
			return Frame{}, fmt.Errorf("ami: %s: %w", strings.ToLower(name), err)
		}
		if !f.Has("Response") {
			if f.Event() != "" && len(c.early) < c.cfg.EventBuffer {
				c.early = append(c.early, f)
			}
			continue
		}
		// Asterisk echoes the ActionID; accept a response without one.
		if got := f.Get("ActionID"); got == id || got == "" {
			return f, nil
		}
	}
}

func isSuccess(f Frame) bool { return strings.EqualFold(f.Get("Response"), "Success") }

func orUnknown(s string) string {
	if s == "" {
		return "no reason given"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (c *Conn) newID() string { return "textback-" + strconv.FormatUint(c.nextID.Add(1), 10) }

// appendAction encodes an action. Keys and values must not hold a line
// break (a value from a caller could otherwise smuggle in a second action);
// a caller's ActionID is replaced by id.
func appendAction(b []byte, name, id string, fields []Field) ([]byte, error) {
	if strings.ContainsAny(name, "\r\n:") || name == "" {
		return nil, fmt.Errorf("ami: action %q: bad name", name)
	}
	b = append(b, "Action: "+name+"\r\nActionID: "+id+"\r\n"...)
	for _, f := range fields {
		if strings.EqualFold(f.Key, "ActionID") || strings.EqualFold(f.Key, "Action") {
			continue
		}
		if f.Key == "" || strings.ContainsAny(f.Key, "\r\n:") {
			return nil, fmt.Errorf("ami: action %s: bad field name %q", name, f.Key)
		}
		if strings.ContainsAny(f.Value, "\r\n") {
			return nil, fmt.Errorf("ami: action %s: field %s: value holds a line break", name, f.Key)
		}
		b = append(b, f.Key+": "+f.Value+"\r\n"...)
	}
	return append(b, "\r\n"...), nil
}

// Banner returns the greeting the server sent ("Asterisk Call Manager/11.0.0").
func (c *Conn) Banner() string { return c.banner }

// Events returns the channel of event frames. It is closed when the
// connection ends. Events wait in it, and then in the socket, until read.
func (c *Conn) Events() <-chan Frame { return c.events }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is up.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Action sends an action with a fresh ActionID and returns its response.
// Events keep flowing while it waits; the events an action causes (an
// EventList) come on Events, not here. A "Response: Error" is returned with
// a *ResponseError. Without a deadline on ctx, ActionTimeout applies. When
// ctx ends before the response, the connection stays up and the late
// response is dropped.
func (c *Conn) Action(ctx context.Context, name string, fields ...Field) (Frame, error) {
	return c.action(ctx, c.newID(), name, fields...)
}

// action is Action with the ActionID chosen by the caller, who can then
// pick out the events of an EventList by it.
func (c *Conn) action(ctx context.Context, id, name string, fields ...Field) (Frame, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.ActionTimeout)
		defer cancel()
	}
	b, err := appendAction(nil, name, id, fields)
	if err != nil {
		return Frame{}, err
	}
	ch := make(chan Frame, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return Frame{}, fmt.Errorf("ami: %s: %w: %w", name, ErrClosed, err)
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	if err := c.write(ctx, b); err != nil {
		return Frame{}, fmt.Errorf("ami: %s: %w", name, err)
	}
	c.log.Debug("action sent", "action", name, "action_id", id)
	select {
	case f := <-ch:
		if strings.EqualFold(f.Get("Response"), "Error") {
			return f, &ResponseError{Action: name, Message: orUnknown(f.Get("Message"))}
		}
		return f, nil
	case <-c.done:
		return Frame{}, fmt.Errorf("ami: %s: %w: %w", name, ErrClosed, c.Err())
	case <-ctx.Done():
		return Frame{}, fmt.Errorf("ami: %s: no response: %w", name, context.Cause(ctx))
	}
}

// write sends one encoded frame under ctx's deadline. A failed write may
// have sent part of the frame, so it ends the connection.
func (c *Conn) write(ctx context.Context, b []byte) error {
	select {
	case c.wsem <- struct{}{}:
		defer func() { <-c.wsem }()
	case <-c.done:
		return fmt.Errorf("%w: %w", ErrClosed, c.Err())
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case <-c.done:
		return fmt.Errorf("%w: %w", ErrClosed, c.Err())
	default:
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	dl, _ := ctx.Deadline()
	c.nc.SetWriteDeadline(dl)
	n, err := c.nc.Write(b)
	if err == nil {
		return nil
	}
	if n == 0 && isTimeout(err) {
		return fmt.Errorf("write: %w", err) // nothing sent: the stream is intact
	}
	c.end(fmt.Errorf("ami: write: %w", err))
	return fmt.Errorf("%w: %w", ErrClosed, c.Err())
}

// Ping sends a Ping and waits for the answer.
func (c *Conn) Ping(ctx context.Context) error {
	f, err := c.Action(ctx, "Ping")
	if err != nil {
		return err
	}
	// Asterisk 1.6 and later: "Response: Success" and "Ping: Pong";
	// older ones "Response: Pong".
	if r := f.Get("Response"); !strings.EqualFold(r, "Success") && !strings.EqualFold(r, "Pong") {
		return fmt.Errorf("ami: Ping: unexpected response %q", r)
	}
	return nil
}

// Logoff says goodbye and closes the connection.
func (c *Conn) Logoff(ctx context.Context) error {
	_, err := c.Action(ctx, "Logoff")
	if errors.Is(err, ErrClosed) {
		err = nil // Asterisk hung up right after "Response: Goodbye"
	}
	c.Close()
	return err
}

// Close ends the connection and waits for its goroutines. Events closes.
func (c *Conn) Close() error {
	c.end(ErrClosed)
	c.wg.Wait()
	return nil
}

// end records why the connection ended, once, and wakes everything.
func (c *Conn) end(err error) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
		c.nc.Close()
	})
}

func (c *Conn) readLoop() {
	defer c.wg.Done()
	defer close(c.events)
	for _, f := range c.early {
		if !c.deliver(f) {
			return
		}
	}
	c.early = nil
	tooLarge := 0
	for {
		f, err := c.r.Read()
		if errors.Is(err, ErrFrameTooLarge) {
			// Skip it: the frame after it still arrives. Losing one
			// oversized frame beats losing the events of a reconnect.
			tooLarge++
			if tooLarge > maxTooLarge {
				c.end(fmt.Errorf("ami: read: %w: %d MiB without a frame boundary", err, tooLarge*MaxFrame>>20))
				return
			}
			c.log.Warn("ami frame too large, skipped", "max_bytes", MaxFrame)
			continue
		}
		if err != nil {
			c.end(fmt.Errorf("ami: read: %w", err))
			return
		}
		tooLarge = 0
		if f.Has("Response") {
			c.route(f)
			continue
		}
		if f.Event() == "" {
			c.log.Debug("ami frame without Event or Response dropped", "fields", len(f.Fields))
			continue
		}
		if !c.deliver(f) {
			return
		}
	}
}

// route hands a response to the Action waiting for it.
func (c *Conn) route(f Frame) {
	id := f.Get("ActionID")
	c.mu.Lock()
	ch, ok := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if !ok {
		c.log.Debug("ami response without a waiting action dropped", "action_id", id)
		return
	}
	ch <- f // buffered, and only this goroutine sends to it
}

// deliver puts an event on the Events channel, waiting for room if need
// be. It returns false when the connection ended meanwhile.
func (c *Conn) deliver(f Frame) bool {
	select {
	case c.events <- f:
		return true
	default:
	}
	c.stalls.Add(1)
	c.stalled.Store(true)
	defer c.stalled.Store(false)
	select {
	case c.events <- f:
		return true
	case <-c.done:
		return false
	}
}

func (c *Conn) keepAlive() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		stalls := c.stalls.Load()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.PingTimeout)
		err := c.Ping(ctx)
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, ErrClosed):
			return
		case errors.Is(err, context.DeadlineExceeded):
			if c.stalled.Load() || c.stalls.Load() != stalls {
				// The answer may be queued behind events our consumer
				// has not taken yet: not the peer's fault.
				continue
			}
			c.end(fmt.Errorf("%w within %s", ErrKeepAlive, c.cfg.PingTimeout))
			return
		default:
			// Any answer, even an error, proves the peer alive.
			var re *ResponseError
			if !errors.As(err, &re) {
				c.log.Debug("ami ping failed", "err", err)
			}
		}
	}
}
