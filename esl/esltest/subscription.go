package esltest

import (
	"bytes"
	"net/url"
	"regexp"
	"strings"
)

// Subscription is what one Event Socket connection asked to receive, kept
// and applied as FreeSWITCH's mod_event_socket keeps it for a listener
// (mod_event_socket.c: parse_command's "event", "nixevent", "noevents" and
// "filter", and event_handler):
//
//   - "event [plain] NAME ..." turns names on; ALL turns on every event,
//     CUSTOM subclasses included. Every word after CUSTOM is a subclass
//     (vm::maintenance), even one that looks like an event name; a CUSTOM
//     event goes out only when its Event-Subclass was named (or under ALL).
//     Words that are neither are ignored; none at all is "-ERR no keywords
//     supplied". Names are case-insensitive and may carry SWITCH_EVENT_;
//     subclasses are case-sensitive.
//   - "nixevent NAME ..." turns names off (ALL: all of them; one name under
//     ALL: every other one stays on); words after CUSTOM remove subclasses.
//   - "noevents" turns everything off, subclasses included.
//   - "filter HEADER VALUE" adds a filter, "filter delete HEADER [VALUE]"
//     or "filter delete all" removes. Filters apply to the events the names
//     let through: with any filter set, an event goes out only when some
//     filter matches it (OR), and none that starts with "-" does. A value
//     is compared case-insensitively with the event's first header of that
//     name (URL-decoded, as FreeSWITCH holds it), or as a regular
//     expression when it starts with "/" ("/re/" or "/re/i").
//
// The zero Subscription receives nothing. It is not safe for concurrent
// use.
type Subscription struct {
	on      bool            // LFLAG_EVENTS
	all     bool            // event_list[SWITCH_EVENT_ALL]
	names   map[string]bool // event_list, by canonical name
	classes map[string]bool // event_hash: CUSTOM subclasses
	filters []filter
}

type filter struct {
	header, value string
	neg           bool
	cmp           string         // value without its +/- prefix
	re            *regexp.Regexp // when value starts with "/"
}

// eventNames are FreeSWITCH's event names (switch_event.c EVENT_NAMES).
var eventNames = func() map[string]bool {
	m := map[string]bool{}
	for n := range strings.FieldsSeq(`CUSTOM CLONE CHANNEL_CREATE CHANNEL_DESTROY CHANNEL_STATE
		CHANNEL_CALLSTATE CHANNEL_ANSWER CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE
		CHANNEL_EXECUTE_COMPLETE CHANNEL_HOLD CHANNEL_UNHOLD CHANNEL_BRIDGE CHANNEL_UNBRIDGE
		CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_UNPARK
		CHANNEL_APPLICATION CHANNEL_ORIGINATE CHANNEL_UUID API LOG INBOUND_CHAN OUTBOUND_CHAN
		STARTUP SHUTDOWN PUBLISH UNPUBLISH TALK NOTALK SESSION_CRASH MODULE_LOAD MODULE_UNLOAD
		DTMF MESSAGE PRESENCE_IN NOTIFY_IN PRESENCE_OUT PRESENCE_PROBE MESSAGE_WAITING
		MESSAGE_QUERY ROSTER CODEC BACKGROUND_JOB DETECTED_SPEECH DETECTED_TONE PRIVATE_COMMAND
		HEARTBEAT TRAP ADD_SCHEDULE DEL_SCHEDULE EXE_SCHEDULE RE_SCHEDULE RELOADXML NOTIFY
		PHONE_FEATURE PHONE_FEATURE_SUBSCRIBE SEND_MESSAGE RECV_MESSAGE REQUEST_PARAMS
		CHANNEL_DATA GENERAL COMMAND SESSION_HEARTBEAT CLIENT_DISCONNECTED SERVER_DISCONNECTED
		SEND_INFO RECV_INFO RECV_RTCP_MESSAGE SEND_RTCP_MESSAGE CALL_SECURE NAT RECORD_START
		RECORD_STOP PLAYBACK_START PLAYBACK_STOP CALL_UPDATE FAILURE SOCKET_DATA
		MEDIA_BUG_START MEDIA_BUG_STOP CONFERENCE_DATA_QUERY CONFERENCE_DATA CALL_SETUP_REQ
		CALL_SETUP_RESULT CALL_DETAIL DEVICE_STATE TEXT SHUTDOWN_REQUESTED ALL`) {
		m[n] = true
	}
	return m
}()

// eventName returns the canonical name of w, or "" if w names no event
// (switch_name_event: case-insensitive, with or without SWITCH_EVENT_).
func eventName(w string) string {
	u := strings.ToUpper(w)
	if eventNames[u] {
		return u
	}
	if len(u) > 13 && eventNames[u[13:]] {
		return u[13:]
	}
	return ""
}

// Command applies cmd (the command's first line) if it is one of the
// subscription commands, and returns FreeSWITCH's reply to it. ok is false
// for any other command. Formats other than plain are refused: the server
// plays plain events only.
func (s *Subscription) Command(cmd string) (reply string, ok bool) {
	verb, arg, _ := strings.Cut(strings.TrimRight(cmd, "\r\n"), " ")
	switch strings.ToLower(verb) {
	case "event":
		return s.event(arg), true
	case "nixevent":
		return s.nixevent(arg), true
	case "noevents":
		if !s.on {
			return "-ERR not listening for events", true
		}
		*s = Subscription{filters: s.filters}
		return "+OK no longer listening for events", true
	case "filter":
		return s.filter(arg), true
	}
	return "", false
}

func (s *Subscription) event(arg string) string {
	words := strings.Split(arg, " ")
	if len(words) > 0 {
		switch strings.ToLower(words[0]) {
		case "plain":
			words = words[1:]
		case "xml", "json":
			return "-ERR invalid format" // not FreeSWITCH: this server plays plain only
		}
	}
	if s.names == nil {
		s.names, s.classes = map[string]bool{}, map[string]bool{}
	}
	keys, custom := 0, false
	for _, w := range words {
		if custom {
			s.classes[w] = true
			continue
		}
		n := eventName(w)
		if n == "" {
			continue
		}
		keys++
		if n == "ALL" {
			s.all = true
		}
		s.names[n] = true
		custom = custom || n == "CUSTOM"
	}
	if keys == 0 {
		return "-ERR no keywords supplied"
	}
	s.on = true
	return "+OK event listener enabled plain"
}

func (s *Subscription) nixevent(arg string) string {
	if s.names == nil {
		s.names, s.classes = map[string]bool{}, map[string]bool{}
	}
	keys, custom := 0, false
	for _, w := range strings.Split(arg, " ") {
		if custom {
			delete(s.classes, w)
			continue
		}
		n := eventName(w)
		if n == "" {
			continue
		}
		keys++
		switch {
		case n == "CUSTOM":
			custom = true
		case n == "ALL":
			s.all = false
			clear(s.names)
		default:
			if s.all {
				s.all = false
				for name := range eventNames {
					s.names[name] = name != "ALL"
				}
			}
			delete(s.names, n)
		}
	}
	if keys == 0 {
		return "-ERR no keywords supplied"
	}
	s.on = true
	return "+OK events nixed"
}

func (s *Subscription) filter(arg string) string {
	arg = strings.TrimLeft(arg, " ")
	name, val, ok := strings.Cut(arg, " ")
	if !ok {
		return "-ERR invalid syntax"
	}
	if strings.EqualFold(name, "delete") {
		name, val, _ = strings.Cut(val, " ")
		if strings.EqualFold(name, "all") {
			s.filters = nil
		} else {
			kept := s.filters[:0]
			for _, f := range s.filters {
				if !strings.EqualFold(f.header, name) || val != "" && f.value != val {
					kept = append(kept, f)
				}
			}
			s.filters = kept
		}
		return "+OK filter deleted. [" + name + "][" + val + "]"
	}
	if strings.EqualFold(name, "add") {
		name, val, _ = strings.Cut(val, " ")
	}
	// A leading run of "+", "-" and spaces: the last sign says whether
	// the filter includes (the default) or excludes.
	cmp := strings.TrimLeft(val, "+- ")
	signs := val[:len(val)-len(cmp)]
	f := filter{header: name, value: val, cmp: cmp,
		neg: strings.LastIndexByte(signs, '-') > strings.LastIndexByte(signs, '+')}
	if strings.HasPrefix(val, "/") {
		// switch_regex_perform: "/re/flags", i for caseless, s for dotall.
		body := cmp[min(1, len(cmp)):]
		if end := strings.LastIndexByte(body, '/'); end >= 0 {
			flags := ""
			if strings.Contains(body[end+1:], "i") {
				flags += "i"
			}
			if strings.Contains(body[end+1:], "s") {
				flags += "s"
			}
			if flags != "" {
				flags = "(?" + flags + ")"
			}
			f.re, _ = regexp.Compile(flags + body[:end])
		}
	}
	s.filters = append(s.filters, f)
	return "+OK filter added. [" + name + "]=[" + val + "]"
}

// Wants reports whether FreeSWITCH would send the plain event whose body
// is body to this connection.
func (s *Subscription) Wants(body []byte) bool {
	if !s.on {
		return false
	}
	name := eventName(header(body, "Event-Name"))
	send := s.all
	if !send && s.names[name] {
		send = name != "CUSTOM"
		if !send {
			sub := header(body, "Event-Subclass")
			send = sub == "" || s.classes[sub]
		}
	}
	if !send || len(s.filters) == 0 {
		return send
	}
	send = false
	// The filters name few headers (Event-Name, Application): look each
	// up once.
	type found struct {
		name, v string
		ok      bool
	}
	var seen [4]found
	memo := seen[:0]
	for _, f := range s.filters {
		if send && !f.neg {
			continue // already in: only an exclusion can change that
		}
		i := 0
		for i < len(memo) && memo[i].name != f.header {
			i++
		}
		if i == len(memo) {
			v, ok := lookup(body, f.header)
			memo = append(memo, found{f.header, v, ok})
		}
		v, ok := memo[i].v, memo[i].ok
		if !ok {
			continue
		}
		var match bool
		if f.re != nil {
			match = f.re.MatchString(v)
		} else if strings.HasPrefix(f.value, "/") {
			match = false // a regular expression that does not compile
		} else {
			match = strings.EqualFold(v, f.cmp)
		}
		if match {
			if f.neg {
				return false
			}
			send = true
		}
	}
	return send
}

func header(body []byte, name string) string {
	v, _ := lookup(body, name)
	return v
}

// lookup returns the URL-decoded value of the first header of body named
// name (case-insensitive), as switch_event_get_header finds it.
func lookup(body []byte, name string) (string, bool) {
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if len(line) == 0 {
			break // end of the headers
		}
		if len(line) <= len(name) || line[len(name)] != ':' || !equalFold(line[:len(name)], name) {
			continue
		}
		v := strings.TrimSpace(string(line[len(name)+1:]))
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		return v, true
	}
	return "", false
}

// equalFold is strings.EqualFold for ASCII, on bytes.
func equalFold(b []byte, s string) bool {
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
