// Package esltest provides a loopback FreeSWITCH Event Socket server that
// speaks the real protocol (auth/request, command/reply, api/response,
// text/event-plain with Content-Length framing, text/disconnect-notice,
// text/rude-rejection) and plays recorded event streams, for tests and
// demonstrations. Like FreeSWITCH, it sends a connection only the events it
// subscribed to ("event", "nixevent", "noevents", "filter": see
// Subscription).
package esltest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
)

// Message is one framed message of an Event Socket stream.
type Message struct {
	Type string // the envelope's Content-Type: "text/event-plain", "command/reply", ...
	Raw  []byte // the whole message as sent: envelope and body
	Body []byte // the body, Raw's tail
}

// Split cuts a recorded stream into its messages. It fails on a truncated
// message or a bad Content-Length.
func Split(b []byte) ([]Message, error) {
	var msgs []Message
	for len(b) > 0 {
		end := bytes.Index(b, []byte("\n\n"))
		if end < 0 {
			return msgs, fmt.Errorf("esltest: message %d: envelope not terminated", len(msgs)+1)
		}
		m := Message{}
		n := 0
		for line := range strings.SplitSeq(string(b[:end]), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return msgs, fmt.Errorf("esltest: message %d: bad envelope line %q", len(msgs)+1, line)
			}
			v = strings.TrimSpace(v)
			switch strings.ToLower(k) {
			case "content-type":
				m.Type = v
			case "content-length":
				var err error
				if n, err = strconv.Atoi(v); err != nil || n < 0 {
					return msgs, fmt.Errorf("esltest: message %d: bad Content-Length %q", len(msgs)+1, v)
				}
			}
		}
		total := end + 2 + n
		if total > len(b) {
			return msgs, fmt.Errorf("esltest: message %d: truncated body (%d of %d bytes)", len(msgs)+1, len(b)-end-2, n)
		}
		m.Raw, m.Body = b[:total], b[end+2:total]
		msgs = append(msgs, m)
		b = b[total:]
	}
	return msgs, nil
}

// Events returns the text/event-plain messages of msgs.
func Events(msgs []Message) []Message {
	var ev []Message
	for _, m := range msgs {
		if m.Type == "text/event-plain" {
			ev = append(ev, m)
		}
	}
	return ev
}

// EventPlain frames a plain event body ("Name: value\n" lines ending with
// a blank line) as FreeSWITCH sends it.
func EventPlain(body []byte) Message {
	raw := fmt.Appendf(nil, "Content-Length: %d\nContent-Type: text/event-plain\n\n", len(body))
	raw = append(raw, body...)
	return Message{Type: "text/event-plain", Raw: raw, Body: raw[len(raw)-len(body):]}
}

// Server is a loopback Event Socket server. Set its fields before the first
// client connects.
type Server struct {
	Password string
	// Reject answers every connection with text/rude-rejection, as
	// FreeSWITCH does when apply-inbound-acl denies the client.
	Reject bool
	// Silent accepts connections and never says anything.
	Silent bool
	// Streams[i] is played to the i-th subscription ("event plain ..."),
	// each event only if the connection's Subscription wants it at the
	// time; messages other than text/event-plain go out as they are.
	// Later subscriptions get no events.
	Streams [][]Message
	// Unfiltered sends every message of Streams, subscribed or not, as a
	// broken peer might.
	Unfiltered bool
	// DropAfter, when positive, closes the first subscription's connection
	// after that many messages of its stream, halfway through the next one
	// it sends.
	DropAfter int
	// Notice ends each stream with text/disconnect-notice and a close.
	Notice bool
	// ShowChannels answers "api show channels as json": the i-th such
	// command gets ShowChannels[i], a JSON body as FreeSWITCH sends it
	// ({"row_count":0}, or row_count and rows). Past its end, the command
	// gets FreeSWITCH's answer to an unknown one, "-ERR ... Command not
	// found!".
	ShowChannels []string

	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	n      int
	subs   int
	shows  int
	cmds   []string
	closed bool
}

// Start listens on 127.0.0.1 on a free port and serves until Close.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.ln = ln
	s.conns = make(map[net.Conn]bool)
	s.wg.Go(s.accept)
	return nil
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Commands returns the commands clients sent, in order.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// Connections returns how many connections were accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Subscriptions returns how many "event" commands were accepted.
func (s *Server) Subscriptions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs
}

// Close stops the server, closes every connection and waits for its
// goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.n++
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			s.serve(c)
		})
	}
}

// Texts FreeSWITCH sends (mod_event_socket.c).
const (
	rudeRejection = "Access Denied, go away.\n"
	goodbye       = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
)

type conn struct {
	net.Conn
	mu  sync.Mutex
	smu sync.Mutex   // guards sub
	sub Subscription // what the client subscribed to
}

// wants reports whether m goes out to c now.
func (c *conn) wants(m Message) bool {
	if m.Type != "text/event-plain" {
		return true
	}
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.sub.Wants(m.Body)
}

func (c *conn) send(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.Write(p)
	return err
}

func (c *conn) reply(text string) error {
	return c.send([]byte("Content-Type: command/reply\nReply-Text: " + text + "\n\n"))
}

func (c *conn) body(typ, body string) error {
	return c.send(fmt.Appendf(nil, "Content-Type: %s\nContent-Length: %d\n\n%s", typ, len(body), body))
}

func (s *Server) serve(nc net.Conn) {
	c := &conn{Conn: nc}
	switch {
	case s.Reject:
		c.body("text/rude-rejection", rudeRejection)
		return
	case s.Silent:
		io.Copy(io.Discard, c)
		return
	}
	if c.send([]byte("Content-Type: auth/request\n\n")) != nil {
		return
	}
	r := textproto.NewReader(bufio.NewReader(c))
	authed := false
	var play sync.WaitGroup
	defer play.Wait()
	for {
		cmd, err := readCommand(r)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.cmds = append(s.cmds, redactAuth(cmd))
		s.mu.Unlock()
		verb, arg, _ := strings.Cut(cmd, " ")
		switch {
		case verb == "auth":
			if arg != s.Password {
				c.reply("-ERR invalid")
				c.body("text/disconnect-notice", goodbye)
				return
			}
			authed = true
			c.reply("+OK accepted")
		case !authed:
			c.reply("-ERR command not found")
		case verb == "exit":
			c.reply("+OK bye")
			c.body("text/disconnect-notice", goodbye)
			return
		case verb == "event" || verb == "nixevent" || verb == "noevents" || verb == "filter":
			c.smu.Lock()
			reply, _ := c.sub.Command(cmd)
			c.smu.Unlock()
			if verb != "event" || !strings.HasPrefix(reply, "+OK") {
				c.reply(reply)
				continue
			}
			s.mu.Lock()
			i := s.subs
			s.subs++
			s.mu.Unlock()
			c.reply(reply)
			if i < len(s.Streams) {
				stream := s.Streams[i]
				drop := 0
				if i == 0 {
					drop = s.DropAfter
				}
				play.Go(func() { s.play(c, stream, drop) })
			}
		case verb == "api" && strings.HasPrefix(arg, "show channels"):
			s.mu.Lock()
			i := s.shows
			s.shows++
			s.mu.Unlock()
			if i < len(s.ShowChannels) {
				c.body("api/response", s.ShowChannels[i])
			} else {
				c.body("api/response", "-ERR show Command not found!\n")
			}
		case verb == "api":
			c.body("api/response", "UP 0 years, 0 days, 0 hours, 1 minute, 2 seconds\nFreeSWITCH (Version 1.11.1-release~64bit) is ready\n")
		default:
			c.reply("-ERR command not found")
		}
	}
}

// playBatch bounds the bytes play writes at once.
const playBatch = 64 << 10

// play sends stream to c: the messages c wants, written in batches of up
// to playBatch bytes.
func (s *Server) play(c *conn, stream []Message, drop int) {
	var buf []byte
	flush := func() bool {
		err := c.send(buf)
		buf = buf[:0]
		return err == nil
	}
	for j, m := range stream {
		if !s.Unfiltered && !c.wants(m) {
			continue
		}
		if drop > 0 && j >= drop {
			buf = append(buf, m.Raw[:len(m.Raw)/2]...)
			flush()
			c.Close()
			return
		}
		if len(buf) > 0 && len(buf)+len(m.Raw) > playBatch && !flush() {
			return
		}
		buf = append(buf, m.Raw...)
	}
	if len(buf) > 0 && !flush() {
		return
	}
	if s.Notice {
		c.body("text/disconnect-notice", goodbye)
		c.Close()
	}
}

// readCommand reads one command: lines up to a blank line (eslgo ends
// commands with "\r\n\r\n"). Only the first line matters here.
func readCommand(r *textproto.Reader) (string, error) {
	first := ""
	for {
		line, err := r.ReadLine()
		if err != nil {
			return "", err
		}
		if line == "" {
			if first == "" {
				continue
			}
			return first, nil
		}
		if first == "" {
			first = line
		}
	}
}

func redactAuth(cmd string) string {
	if strings.HasPrefix(cmd, "auth ") {
		return "auth ***"
	}
	return cmd
}
