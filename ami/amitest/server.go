// Package amitest provides a loopback Asterisk manager (AMI) server that
// logs clients in and replays captured AMI transcripts to them: for the
// tests of package ami and for `textback demo`, which shows the daemon at
// work without a PBX.
//
// It speaks just enough of Asterisk's manager protocol: the greeting, Login
// (plain and Challenge/MD5), Ping, Events, Command, CoreShowChannels (the
// channels its events left up), Logoff, and the errors
// Asterisk gives for a bad login, an action before login and an unknown
// action. It does not import package ami, so that ami's own tests can use it.
package amitest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultBanner is the greeting of Asterisk 12 to 22.
const DefaultBanner = "Asterisk Call Manager/11.0.0"

// maxAction bounds one action a client sends.
const maxAction = 64 << 10

// maxGap bounds the pause between two events, before Speed scales it, so a
// transcript with a bad Timestamp cannot stall a demo.
const maxGap = time.Minute

// ServerConfig sets up a Server. Its zero value accepts the user "" with an
// empty secret and plays events as fast as the client reads them.
type ServerConfig struct {
	// Username and Secret are the only credentials accepted. The username
	// is compared without case, as Asterisk does.
	Username, Secret string
	// Banner is the greeting line; default DefaultBanner.
	Banner string
	// Transcripts are queued at start, as if passed to Play in order.
	Transcripts [][]byte
	// Speed paces the events by their Timestamp fields: 0 sends them as
	// fast as possible, 1 in real time, 10 ten times faster.
	Speed float64
	// Commands maps a CLI command (Action: Command) to its output. An
	// unknown command gets Asterisk's "No such command" error.
	Commands map[string]string
	// LegacyCommand answers Command as Asterisk 13 and older did:
	// "Response: Follows", the raw output, "--END COMMAND--". Otherwise as
	// Asterisk 14 and later: one "Output:" field a line.
	LegacyCommand bool
	// DenyCoreShowChannels answers CoreShowChannels "Permission denied",
	// as Asterisk does for a manager user without write=reporting (or
	// system). Otherwise it lists the channels that the events played (or
	// elapsed) so far created and did not hang up.
	DenyCoreShowChannels bool
	// Logger gets Debug lines of connections and logins. Nil: discard.
	Logger *slog.Logger
}

// Stats counts what a Server has done.
type Stats struct {
	Connections  int // accepted
	Logins       int // successful
	FailedLogins int
	Played       int // transcripts played to the end
}

// Server is a loopback AMI server. Its methods are safe for concurrent use.
//
// Transcripts wait in one queue. Each logged-in connection with events on
// takes the next transcript when it has finished the previous one; a
// connection that ends mid-transcript loses the rest of it, as a real
// client loses the events sent while it was away.
type Server struct {
	cfg ServerConfig
	ln  net.Listener
	log *slog.Logger

	mu      sync.Mutex
	conns   map[*conn]struct{}
	queue   [][]event
	stalled bool
	stats   Stats
	changed chan struct{} // closed and replaced when any field above changes
	closed  bool
	live    map[string]*liveChannel // by Uniqueid
	order   []string                // Uniqueids of live, oldest first (and some hung up)

	quit chan struct{} // closed by Close
	wg   sync.WaitGroup
}

// event is one event frame of a transcript, byte for byte.
type event struct {
	raw []byte
	ts  float64 // its Timestamp, or 0
}

// NewServer starts a server on 127.0.0.1 on a free port.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Banner == "" {
		cfg.Banner = DefaultBanner
	}
	if cfg.Speed < 0 {
		return nil, fmt.Errorf("amitest: negative speed %v", cfg.Speed)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("amitest: listen: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		ln:      ln,
		log:     cfg.Logger.With("amitest", ln.Addr().String()),
		conns:   make(map[*conn]struct{}),
		changed: make(chan struct{}),
		quit:    make(chan struct{}),
	}
	for _, t := range cfg.Transcripts {
		s.queue = append(s.queue, parseTranscript(t))
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Play queues a transcript: a raw captured AMI stream such as
// ami/testdata/*.ami.txt. Its banner line and its responses are skipped;
// its event frames are sent byte for byte.
func (s *Server) Play(transcript []byte) {
	evs := parseTranscript(transcript)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, evs)
	s.notifyLocked()
}

// Drop cuts every open connection at once, as a crashed or restarted
// Asterisk would. The server keeps accepting new ones.
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.nc.Close()
	}
}

// Stall makes the server stop answering (on) or answer again (off). While
// stalled it keeps connections open and reads actions but answers none and
// sends no events: a wedged Asterisk, or a half-open link.
func (s *Server) Stall(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stalled = on
	s.notifyLocked()
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Wait waits until cond holds for the counters, or ctx is done.
func (s *Server) Wait(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		st, ch := s.stats, s.changed
		s.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("amitest: wait (stats %+v): %w", st, ctx.Err())
		}
	}
}

// Close stops the server, cuts its connections and waits for all of its
// goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Debug("accept failed", "err", err)
			}
			return
		}
		c := &conn{s: s, nc: nc, done: make(chan struct{})}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.stats.Connections++
		s.notifyLocked()
		s.mu.Unlock()
		s.wg.Add(1) // this goroutine holds a count, so Close's Wait cannot have returned
		go c.serve()
	}
}

// conn is one client. Its handler goroutine (serve) owns the reads and the
// login state; the player goroutine writes events; wmu keeps their frames
// whole.
type conn struct {
	s    *Server
	nc   net.Conn
	done chan struct{} // closed when serve returns

	wmu sync.Mutex

	authed    bool // serve only
	challenge string
	playing   bool
	startPlay bool // serve only: start the player after this response

	events bool // guarded by s.mu
}

func (c *conn) serve() {
	defer c.s.wg.Done()
	defer func() {
		c.nc.Close()
		close(c.done)
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.notifyLocked()
		c.s.mu.Unlock()
	}()
	log := c.s.log.With("client", c.nc.RemoteAddr().String())
	log.Debug("client connected")
	if c.write([]byte(c.s.cfg.Banner+"\r\n")) != nil {
		return
	}
	br := bufio.NewReader(c.nc)
	for {
		req, err := readAction(br)
		if err != nil {
			log.Debug("client gone", "err", err)
			return
		}
		c.s.mu.Lock()
		stalled := c.s.stalled
		c.s.mu.Unlock()
		if stalled {
			continue
		}
		resp, hangup := c.handle(req)
		if resp == nil {
			err = c.writeList(req)
		} else {
			err = c.write(resp)
		}
		if err != nil || hangup {
			return
		}
		if c.startPlay {
			c.startPlay = false
			c.s.wg.Add(1) // serve holds a count
			go c.play()
		}
	}
}

func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(b)
	return err
}

// writeEvent writes an event frame and counts its channel changes.
func (c *conn) writeEvent(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.nc.Write(b); err != nil {
		return err
	}
	c.s.observe(b)
	return nil
}

// writeList writes the answer to CoreShowChannels.
func (c *conn) writeList(req request) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(c.coreShowChannels(req))
	return err
}

// request is one action's fields, keys lowercased (the first of each).
type request map[string]string

// readAction reads one action: "Key: Value" lines up to a blank line.
func readAction(br *bufio.Reader) (request, error) {
	req := request{}
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		n += len(line)
		if n > maxAction {
			return nil, errors.New("action too large")
		}
		if err == bufio.ErrBufferFull {
			return nil, errors.New("line too long")
		}
		if err != nil {
			return nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return req, nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		key := strings.ToLower(string(bytes.TrimSpace(k)))
		if _, dup := req[key]; !dup {
			req[key] = string(bytes.TrimSpace(v))
		}
	}
}

// response builds a frame the way Asterisk's astman_send_response does:
// Response, then ActionID when the action had one, then the rest.
func response(req request, status string, kv ...string) []byte {
	var b bytes.Buffer
	b.WriteString("Response: " + status + "\r\n")
	if id := req["actionid"]; id != "" {
		b.WriteString("ActionID: " + id + "\r\n")
	}
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(kv[i] + ": " + kv[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// handle answers one action; hangup says to close the connection after.
func (c *conn) handle(req request) (resp []byte, hangup bool) {
	cfg := &c.s.cfg
	action := strings.ToLower(req["action"])
	switch {
	case action == "":
		return response(req, "Error", "Message", "Missing action in request"), false
	case action == "login":
		ok := strings.EqualFold(req["username"], cfg.Username)
		if strings.EqualFold(req["authtype"], "md5") {
			sum := md5.Sum([]byte(c.challenge + cfg.Secret))
			ok = ok && c.challenge != "" && strings.EqualFold(req["key"], hex.EncodeToString(sum[:]))
		} else {
			ok = ok && req["secret"] == cfg.Secret
		}
		c.s.mu.Lock()
		defer c.s.mu.Unlock()
		defer c.s.notifyLocked()
		if !ok {
			// Asterisk answers so and hangs up, whatever was wrong.
			c.s.stats.FailedLogins++
			return response(req, "Error", "Message", "Authentication failed"), true
		}
		c.authed = true
		c.s.stats.Logins++
		c.events = !strings.EqualFold(req["events"], "off")
		if !c.playing {
			c.playing = true
			c.startPlay = true // once the response is out: Asterisk sends no event before it
		}
		return response(req, "Success", "Message", "Authentication accepted"), false
	case action == "challenge":
		if !strings.EqualFold(req["authtype"], "md5") {
			return response(req, "Error", "Message", "Must specify AuthType"), false
		}
		if c.challenge == "" {
			n, err := rand.Int(rand.Reader, big.NewInt(1e9))
			if err != nil {
				return response(req, "Error", "Message", "Internal error"), true
			}
			c.challenge = n.String()
		}
		return response(req, "Success", "Challenge", c.challenge), false
	case action == "logoff":
		return response(req, "Goodbye", "Message", "Thanks for all the fish."), true
	case !c.authed:
		return response(req, "Error", "Message", "Permission denied"), false
	case action == "ping":
		now := time.Now()
		return response(req, "Success", "Ping", "Pong", "Timestamp", fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)), false
	case action == "events":
		on := !strings.EqualFold(req["eventmask"], "off")
		c.s.mu.Lock()
		c.events = on
		c.s.notifyLocked()
		c.s.mu.Unlock()
		if on {
			return response(req, "Success", "Events", "On"), false
		}
		return response(req, "Success", "Events", "Off"), false
	case action == "command":
		return c.command(req), false
	case action == "coreshowchannels":
		if cfg.DenyCoreShowChannels {
			return response(req, "Error", "Message", "Permission denied"), false
		}
		return nil, false // serve writes the list under wmu
	}
	return response(req, "Error", "Message", "Invalid/unknown command"), false
}

// command answers Action: Command from cfg.Commands.
func (c *conn) command(req request) []byte {
	cmd := req["command"]
	out, ok := c.s.cfg.Commands[cmd]
	if !ok {
		out = fmt.Sprintf("No such command '%s' (type 'core show help %s' for other possible commands)\n", cmd, cmd)
	}
	if c.s.cfg.LegacyCommand {
		// Asterisk 13: CLI output has LF line ends; the marker follows
		// the output directly, on its last line if that had no LF.
		var b bytes.Buffer
		b.WriteString("Response: Follows\r\nPrivilege: Command\r\n")
		if id := req["actionid"]; id != "" {
			b.WriteString("ActionID: " + id + "\r\n")
		}
		b.WriteString(out)
		b.WriteString("--END COMMAND--\r\n\r\n")
		return b.Bytes()
	}
	status := "Success"
	if !ok {
		status = "Error"
	}
	kv := []string{"Message", "Command output follows"}
	for line := range strings.Lines(out) {
		kv = append(kv, "Output", strings.TrimRight(line, "\r\n"))
	}
	return response(req, status, kv...)
}

// play writes the queued transcripts' events while the connection lasts.
func (c *conn) play() {
	defer c.s.wg.Done()
	for {
		evs, ok := c.next()
		if !ok {
			return
		}
		if !c.playOne(evs) {
			return
		}
		c.s.mu.Lock()
		c.s.stats.Played++
		c.s.notifyLocked()
		c.s.mu.Unlock()
	}
}

// next takes the next transcript once there is one, events are on and the
// server is not stalled; ok is false once the connection has ended.
func (c *conn) next() (evs []event, ok bool) {
	for {
		c.s.mu.Lock()
		if len(c.s.queue) > 0 && c.events && !c.s.stalled {
			evs = c.s.queue[0]
			c.s.queue = c.s.queue[1:]
			c.s.mu.Unlock()
			return evs, true
		}
		ch := c.s.changed
		c.s.mu.Unlock()
		select {
		case <-ch:
		case <-c.done:
			return nil, false
		}
	}
}

// waitUnstalled waits while the server is stalled or events are off.
func (c *conn) waitUnstalled() bool {
	for {
		c.s.mu.Lock()
		ok := c.events && !c.s.stalled
		ch := c.s.changed
		c.s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-c.done:
			return false
		}
	}
}

func (c *conn) playOne(evs []event) bool {
	var prev float64
	for _, ev := range evs {
		if c.s.cfg.Speed > 0 && ev.ts > 0 {
			if prev > 0 && ev.ts > prev {
				gap := min(ev.ts-prev, maxGap.Seconds()) / c.s.cfg.Speed
				t := time.NewTimer(time.Duration(gap * float64(time.Second)))
				select {
				case <-t.C:
				case <-c.done:
					t.Stop()
					return false
				}
			}
			prev = ev.ts
		}
		if !c.waitUnstalled() {
			return false
		}
		if c.writeEvent(ev.raw) != nil {
			return false
		}
	}
	return true
}

// parseTranscript splits a captured AMI stream into its event frames, each
// with its blank line. It skips the banner line and responses (a "Response:
// Follows" up to its "--END COMMAND--"). A last frame without its blank
// line gets one.
func parseTranscript(b []byte) []event {
	if bytes.HasPrefix(b, []byte("Asterisk Call Manager/")) {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		} else {
			b = nil
		}
	}
	var evs []event
	add := func(frame []byte) {
		first, _, _ := bytes.Cut(frame, []byte("\n"))
		if hasPrefixFold(first, "Response:") {
			return
		}
		raw := bytes.Clone(frame)
		if !bytes.HasSuffix(raw, []byte("\n\n")) && !bytes.HasSuffix(raw, []byte("\r\n\r\n")) {
			raw = append(raw, "\r\n"...)
		}
		evs = append(evs, event{raw: raw, ts: timestamp(frame)})
	}
	start := 0
	follows, ended := false, false
	for pos := 0; pos < len(b); {
		end := len(b)
		if i := bytes.IndexByte(b[pos:], '\n'); i >= 0 {
			end = pos + i + 1
		}
		line := bytes.TrimRight(b[pos:end], "\r\n")
		switch {
		case len(line) == 0 && pos == start:
			start = end // stray blank line
		case len(line) == 0 && (!follows || ended):
			add(b[start:end])
			start, follows, ended = end, false, false
		case pos == start && hasPrefixFold(line, "Response:") && strings.EqualFold(strings.TrimSpace(string(line[len("Response:"):])), "Follows"):
			follows = true
		case follows && bytes.HasSuffix(bytes.TrimRight(line, " \t"), []byte("--END COMMAND--")):
			ended = true
		}
		pos = end
	}
	if start < len(b) && len(bytes.TrimSpace(b[start:])) > 0 {
		add(b[start:])
	}
	return evs
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

// timestamp returns a frame's Timestamp field (epoch seconds, Asterisk's
// timestampevents=yes), or 0.
func timestamp(frame []byte) float64 {
	for line := range bytes.Lines(frame) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimSpace(k)), "Timestamp") {
			ts, err := strconv.ParseFloat(string(bytes.TrimSpace(v)), 64)
			if err != nil || ts <= 0 {
				return 0
			}
			return ts
		}
	}
	return 0
}

var _ io.Closer = (*Server)(nil)
