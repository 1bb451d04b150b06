package aritest

import (
	"encoding/json"
	"net/http"
	"strings"
)

// state is what Asterisk would list now: the channels and bridges the sent
// (or elapsed) events left, as their latest snapshots. Guarded by Server.mu.
type state struct {
	chans   map[string]json.RawMessage
	bridges map[string]json.RawMessage
	order   []string // channel ids, oldest first (some destroyed)
	border  []string // bridge ids, likewise
}

// Elapse makes the events of an ARI capture happen with no client to hear
// them, as the calls of an outage do: they change what GET /ari/channels and
// /ari/bridges list, and are sent to nobody.
func (s *Server) Elapse(jsonl []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range strings.Split(string(jsonl), "\n") {
		s.observeLocked([]byte(l))
	}
}

func (s *Server) observe(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observeLocked(line)
}

func (s *Server) observeLocked(line []byte) {
	var ev struct {
		Type    string          `json:"type"`
		Channel json.RawMessage `json:"channel"`
		Bridge  json.RawMessage `json:"bridge"`
	}
	if json.Unmarshal(line, &ev) != nil {
		return
	}
	if s.st.chans == nil {
		s.st.chans, s.st.bridges = map[string]json.RawMessage{}, map[string]json.RawMessage{}
	}
	var id struct {
		ID string `json:"id"`
	}
	if len(ev.Channel) > 0 && json.Unmarshal(ev.Channel, &id) == nil && id.ID != "" {
		_, known := s.st.chans[id.ID]
		switch {
		case ev.Type == "ChannelDestroyed":
			delete(s.st.chans, id.ID)
		case ev.Type == "ChannelCreated" && !known:
			s.st.order = append(s.st.order, id.ID)
			s.st.chans[id.ID] = ev.Channel
		case known:
			s.st.chans[id.ID] = ev.Channel
		}
	}
	id.ID = ""
	if len(ev.Bridge) > 0 && json.Unmarshal(ev.Bridge, &id) == nil && id.ID != "" {
		_, known := s.st.bridges[id.ID]
		switch {
		case ev.Type == "BridgeDestroyed":
			delete(s.st.bridges, id.ID)
		case !known:
			s.st.border = append(s.st.border, id.ID)
			fallthrough
		default:
			s.st.bridges[id.ID] = ev.Bridge
		}
	}
}

// list answers GET /ari/channels and /ari/bridges: a JSON array of the
// snapshots in m, oldest first; it drops gone ids from order.
func (s *Server) list(w http.ResponseWriter, m func(*state) (map[string]json.RawMessage, *[]string)) {
	s.mu.Lock()
	items, order := m(&s.st)
	out := []json.RawMessage{}
	kept := (*order)[:0]
	for _, id := range *order {
		if v, ok := items[id]; ok {
			out = append(out, v)
			kept = append(kept, id)
		}
	}
	*order = kept
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) channels(w http.ResponseWriter, r *http.Request) {
	s.list(w, func(st *state) (map[string]json.RawMessage, *[]string) { return st.chans, &st.order })
}

func (s *Server) bridgeList(w http.ResponseWriter, r *http.Request) {
	s.list(w, func(st *state) (map[string]json.RawMessage, *[]string) { return st.bridges, &st.border })
	s.listings.Add(1) // after the answer is written: what is played next postdates it
}
