// Package aritest provides a loopback Asterisk REST Interface (ARI) server
// that replays captured ARI event streams to a client: for the tests of
// package ari, and for a demo without a PBX.
//
// It speaks just enough of ARI: basic auth or the api_key query parameter
// (401 otherwise, as Asterisk answers), GET /ari/asterisk/info, the
// /ari/events websocket (app required, subscribeAll accepted), GET
// /ari/applications and /ari/applications/{name}, GET
// /ari/channels/{id}/variable, and GET /ari/channels and /ari/bridges (what
// the events sent so far, or elapsed, left up). It does not import package ari.
package aritest

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"
)

// Version is what /ari/asterisk/info reports.
const Version = "22.10.1"

// ServerConfig sets up a Server. Its zero value accepts the user "" with an
// empty password and says every channel's presentation is allowed.
type ServerConfig struct {
	Username, Password string
	// Variable answers GET /ari/channels/{id}/variable?variable=NAME. It
	// returns false for a channel that does not exist (404). Nil answers
	// "allowed_not_screened" for CALLERID(pres) of any channel and 404
	// for anything else.
	Variable func(channel, name string) (string, bool)
	// VariableDelay delays each variable answer, as a busy Asterisk would.
	VariableDelay time.Duration
}

// Stats counts what a Server has done.
type Stats struct {
	Connections int // websockets opened
	Sent        int // event lines sent
	Lookups     int // variable requests answered or delayed
	Rejected    int // requests refused for their credentials
	Listings    int // GET /ari/bridges answered: the last step of a client's re-sync
}

// Server is a loopback ARI server. Its methods are safe for concurrent use.
//
// Played lines wait in one queue; the open websocket sends them in order.
// A line being sent when a connection drops is lost, as a real client loses
// the events sent while it was away; the rest wait for the next connection.
type Server struct {
	cfg  ServerConfig
	ln   net.Listener
	http *http.Server

	mu     sync.Mutex
	lines  [][]byte
	more   chan struct{} // closed and replaced when lines are added or conns dropped
	conns  map[*websocket.Conn]string
	closed bool
	st     state

	connections, sent, lookups, rejected, listings atomic.Int64
}

// NewServer starts a server on 127.0.0.1 on a free port.
func NewServer(cfg ServerConfig) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, ln: ln, more: make(chan struct{}), conns: make(map[*websocket.Conn]string)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ari/asterisk/info", s.auth(s.info))
	mux.HandleFunc("GET /ari/events", s.auth(s.events))
	mux.HandleFunc("GET /ari/applications", s.auth(s.applications))
	mux.HandleFunc("GET /ari/applications/{name}", s.auth(s.applications))
	mux.HandleFunc("GET /ari/channels/{id}/variable", s.auth(s.variable))
	mux.HandleFunc("GET /ari/channels", s.auth(s.channels))
	mux.HandleFunc("GET /ari/bridges", s.auth(s.bridgeList))
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.http.Serve(ln)
	return s, nil
}

// URL returns the server's base URL, "http://127.0.0.1:port".
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Play queues the lines of an ARI capture (one JSON event per line, such
// as ari/testdata/*.ari.jsonl). Empty lines are skipped; lines are sent as
// they are, garbage included.
func (s *Server) Play(jsonl []byte) {
	var lines [][]byte
	for _, l := range strings.Split(string(jsonl), "\n") {
		if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
			lines = append(lines, []byte(l))
		}
	}
	s.mu.Lock()
	s.lines = append(s.lines, lines...)
	s.wakeLocked()
	s.mu.Unlock()
}

// Pending returns the number of lines not sent yet.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

// Drop closes every open websocket at once, as a restarted Asterisk would.
// The server keeps accepting new ones.
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ws := range s.conns {
		ws.Close()
	}
	s.wakeLocked()
}

// Connected returns the applications of the open websockets.
func (s *Server) Connected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var apps []string
	for _, a := range s.conns {
		apps = append(apps, a)
	}
	return apps
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections: int(s.connections.Load()),
		Sent:        int(s.sent.Load()),
		Lookups:     int(s.lookups.Load()),
		Rejected:    int(s.rejected.Load()),
		Listings:    int(s.listings.Load()),
	}
}

// Close stops the server and closes every connection.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Drop()
	return s.http.Close()
}

func (s *Server) wakeLocked() {
	close(s.more)
	s.more = make(chan struct{})
}

// auth checks basic auth or api_key=user:password, as res_ari does.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok {
			if k := r.URL.Query().Get("api_key"); k != "" {
				user, pass, ok = strings.Cut(k, ":")
			}
		}
		if !ok || user != s.cfg.Username || pass != s.cfg.Password {
			s.rejected.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="Asterisk REST Interface"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Authentication required"})
			return
		}
		h(w, r)
	}
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"build":  map[string]string{"os": "Linux", "kernel": "6.12", "machine": "x86_64", "user": "root", "date": "2026-01-01 00:00:00 UTC"},
		"system": map[string]string{"version": Version, "entity_id": "02:fc:00:00:00:01"},
		"config": map[string]any{"name": "", "default_language": "en", "setid": map[string]string{"user": "asterisk", "group": "asterisk"}},
		"status": map[string]string{"startup_time": "2026-11-28T06:00:00.000+0000", "last_reload_time": "2026-11-28T06:00:00.000+0000"},
	})
}

func (s *Server) applications(w http.ResponseWriter, r *http.Request) {
	type app struct {
		Name        string   `json:"name"`
		ChannelIDs  []string `json:"channel_ids"`
		BridgeIDs   []string `json:"bridge_ids"`
		EndpointIDs []string `json:"endpoint_ids"`
		DeviceNames []string `json:"device_names"`
	}
	var apps []app
	for _, a := range s.Connected() {
		apps = append(apps, app{Name: a, ChannelIDs: []string{}, BridgeIDs: []string{}, EndpointIDs: []string{}, DeviceNames: []string{}})
	}
	if name := r.PathValue("name"); name != "" {
		for _, a := range apps {
			if a.Name == name {
				writeJSON(w, http.StatusOK, a)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Application not found"})
		return
	}
	if apps == nil {
		apps = []app{}
	}
	writeJSON(w, http.StatusOK, apps)
}

func (s *Server) variable(w http.ResponseWriter, r *http.Request) {
	s.lookups.Add(1)
	if d := s.cfg.VariableDelay; d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	id, name := r.PathValue("id"), r.URL.Query().Get("variable")
	if name == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Variable name is required"})
		return
	}
	var v string
	var ok bool
	if s.cfg.Variable != nil {
		v, ok = s.cfg.Variable(id, name)
	} else if name == "CALLERID(pres)" {
		v, ok = "allowed_not_screened", true
	}
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Channel not found"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"value": v})
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	app := r.URL.Query().Get("app")
	if app == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Missing parameter app"})
		return
	}
	ws := websocket.Server{
		Handshake: func(*websocket.Config, *http.Request) error { return nil }, // any Origin
		Handler:   func(ws *websocket.Conn) { s.play(ws, app) },
	}
	ws.ServeHTTP(w, r)
}

// play sends queued lines on ws until it closes.
func (s *Server) play(ws *websocket.Conn, app string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.Close()
		return
	}
	s.conns[ws] = app
	s.mu.Unlock()
	s.connections.Add(1)
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, ws) // returns when the client or Drop closes it
		close(gone)
	}()
	defer func() {
		s.mu.Lock()
		delete(s.conns, ws)
		s.mu.Unlock()
		ws.Close()
		<-gone
	}()
	for {
		select {
		case <-gone:
			return
		default:
		}
		s.mu.Lock()
		var line []byte
		if len(s.lines) > 0 {
			line = s.lines[0]
			s.lines = s.lines[1:]
		}
		more := s.more
		s.mu.Unlock()
		if line == nil {
			select {
			case <-more:
				continue
			case <-gone:
				return
			}
		}
		// The event happens before it is sent, as in Asterisk: a listing
		// asked for once it arrived reflects it, and a send that fails
		// leaves it happened but lost.
		s.observe(line)
		if err := websocket.Message.Send(ws, string(line)); err != nil {
			return
		}
		s.sent.Add(1)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil && !errors.Is(err, net.ErrClosed) {
		return
	}
}
