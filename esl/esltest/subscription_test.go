package esltest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// ev builds a plain event body: name, then "Key: value" pairs (values
// URL-encoded by the caller, as FreeSWITCH sends them).
func ev(name string, kv ...string) []byte {
	b := "Event-Name: " + name + "\n"
	for i := 0; i+1 < len(kv); i += 2 {
		b += kv[i] + ": " + kv[i+1] + "\n"
	}
	return []byte(b + "\n")
}

var (
	create    = ev("CHANNEL_CREATE", "Unique-ID", "abc", "Caller-Caller-ID-Name", "Pat%20Caller")
	state     = ev("CHANNEL_STATE", "Unique-ID", "abc")
	answer    = ev("CHANNEL_ANSWER", "Unique-ID", "abc")
	execBr    = ev("CHANNEL_EXECUTE", "Unique-ID", "abc", "Application", "bridge")
	execSet   = ev("CHANNEL_EXECUTE", "Unique-ID", "abc", "Application", "set")
	execVM    = ev("CHANNEL_EXECUTE", "Unique-ID", "def", "Application", "VoiceMail")
	vmMaint   = ev("CUSTOM", "Event-Subclass", "vm%3A%3Amaintenance", "VM-Action", "leave-message")
	sofiaReg  = ev("CUSTOM", "Event-Subclass", "sofia%3A%3Aregister")
	noSubcls  = ev("CUSTOM")
	heartbeat = ev("HEARTBEAT")
)

type step struct {
	cmd   string // sent first, when not ""
	reply string // its reply's prefix
	want  map[string]bool
}

func TestSubscription(t *testing.T) {
	bodies := map[string][]byte{
		"create": create, "state": state, "answer": answer, "execBr": execBr, "execSet": execSet,
		"execVM": execVM, "vmMaint": vmMaint, "sofiaReg": sofiaReg, "noSubcls": noSubcls, "heartbeat": heartbeat,
	}
	set := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			if bodies[n] == nil {
				t.Fatalf("no body %q", n)
			}
			m[n] = true
		}
		return m
	}
	for name, steps := range map[string][]step{
		"nothing before event": {{"", "", set()}},
		"names and a subclass": {{"event plain CHANNEL_CREATE CHANNEL_EXECUTE CUSTOM vm::maintenance", "+OK event listener enabled plain",
			set("create", "execBr", "execSet", "execVM", "vmMaint", "noSubcls")}},
		// Every word after CUSTOM is a subclass, event names too.
		"after CUSTOM only subclasses": {{"event plain CUSTOM vm::maintenance CHANNEL_ANSWER", "+OK", set("vmMaint", "noSubcls")}},
		"CUSTOM without subclass":      {{"event plain CUSTOM", "+OK", set("noSubcls")}},
		"subclass is case-sensitive":   {{"event plain CUSTOM VM::Maintenance", "+OK", set("noSubcls")}},
		"names case-insensitive, SWITCH_EVENT_ prefix": {{"event plain channel_create SWITCH_EVENT_CHANNEL_ANSWER", "+OK",
			set("create", "answer")}},
		"no format word": {{"event HEARTBEAT", "+OK event listener enabled plain", set("heartbeat")}},
		"no keywords":    {{"event plain NOT_AN_EVENT", "-ERR no keywords supplied", set()}},
		"json refused":   {{"event json ALL", "-ERR", set()}},
		"ALL has every subclass": {{"event plain ALL", "+OK", set("create", "state", "answer", "execBr", "execSet", "execVM",
			"vmMaint", "sofiaReg", "noSubcls", "heartbeat")}},
		"events add up": {
			{"event plain CHANNEL_CREATE", "+OK", set("create")},
			{"event plain CHANNEL_ANSWER CUSTOM sofia::register", "+OK", set("create", "answer", "sofiaReg", "noSubcls")},
		},
		"nixevent one of ALL": {
			{"event plain ALL", "+OK", nil},
			{"nixevent CHANNEL_STATE", "+OK events nixed", set("create", "answer", "execBr", "execSet", "execVM", "noSubcls", "heartbeat")},
		},
		"nixevent ALL":      {{"event plain ALL", "+OK", nil}, {"nixevent ALL", "+OK events nixed", set()}},
		"nixevent subclass": {{"event plain CUSTOM vm::maintenance sofia::register", "+OK", nil}, {"nixevent CUSTOM vm::maintenance", "+OK", set("sofiaReg", "noSubcls")}},
		"noevents": {
			{"event plain ALL", "+OK", nil},
			{"noevents", "+OK no longer listening for events", set()},
			{"noevents", "-ERR not listening for events", set()},
			{"event plain CHANNEL_ANSWER", "+OK", set("answer")},
		},
		// Filters OR: one Event-Name, and the applications that matter.
		"filters OR": {
			{"filter Event-Name CHANNEL_CREATE", "+OK filter added. [Event-Name]=[CHANNEL_CREATE]", nil},
			{"filter Application bridge", "+OK", nil},
			{"filter Application voicemail", "+OK", nil},
			{"event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_EXECUTE", "+OK", set("create", "execBr", "execVM")},
			{"filter delete Application bridge", "+OK filter deleted. [Application][bridge]", set("create", "execVM")},
			{"filter delete Application", "+OK", set("create")},
			{"filter delete all", "+OK filter deleted. [all][]", set("create", "answer", "execBr", "execSet", "execVM")},
		},
		// Filters only narrow what the names let through.
		"filter does not subscribe": {
			{"filter Event-Name CHANNEL_STATE", "+OK", nil},
			{"event plain CHANNEL_CREATE", "+OK", set()},
		},
		// A "-" filter excludes, whatever the others say; a header the
		// event lacks is no match. Values are compared decoded.
		"exclusion": {
			{"event plain ALL", "+OK", nil},
			{"filter Unique-ID abc", "+OK", nil},
			{"filter Unique-ID def", "+OK", nil},
			{"filter Caller-Caller-ID-Name -Pat Caller", "+OK", set("state", "answer", "execBr", "execSet", "execVM")},
		},
		"regex": {
			{"event plain ALL", "+OK", nil},
			{"filter Event-Name /^channel_(create|answer)$/i", "+OK", set("create", "answer")},
		},
		"bad filter": {{"filter Event-Name", "-ERR invalid syntax", set()}},
		"subscription survives noevents filters": {
			{"filter Event-Name CHANNEL_ANSWER", "+OK", nil},
			{"event plain ALL", "+OK", nil},
			{"noevents", "+OK", nil},
			{"event plain CHANNEL_CREATE CHANNEL_ANSWER", "+OK", set("answer")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var s Subscription
			for i, st := range steps {
				if st.cmd != "" {
					reply, ok := s.Command(st.cmd)
					if !ok || !strings.HasPrefix(reply, st.reply) {
						t.Fatalf("step %d: %q replied %q, %v; want %q", i, st.cmd, reply, ok, st.reply)
					}
				}
				if st.want == nil {
					continue
				}
				for n, b := range bodies {
					if got := s.Wants(b); got != st.want[n] {
						t.Errorf("step %d (%s): Wants(%s) = %v, want %v", i, st.cmd, n, got, st.want[n])
					}
				}
			}
		})
	}
	if _, ok := new(Subscription).Command("api status"); ok {
		t.Error(`Command("api status") claimed`)
	}
}

// TestServerSends plays a recorded call to a raw client that subscribed
// to a few events: it gets those and only those, in order, whole.
func TestServerSends(t *testing.T) {
	b, err := os.ReadFile("../testdata/ring_no_answer_voicemail.esl.txt")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := Split(b)
	if err != nil {
		t.Fatal(err)
	}
	all := Events(msgs)
	var want []string // Event-Name (and subclass) of the events that must come
	for _, m := range all {
		n, sub := header(m.Body, "Event-Name"), header(m.Body, "Event-Subclass")
		switch {
		case n == "CHANNEL_HANGUP_COMPLETE", n == "CUSTOM" && sub == "vm::maintenance",
			n == "CHANNEL_EXECUTE" && header(m.Body, "Application") == "voicemail":
			want = append(want, n+" "+sub)
		}
	}
	if len(want) < 4 || len(want) >= len(all) {
		t.Fatalf("test data: %d of %d events wanted", len(want), len(all))
	}

	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("one stream=%v", batch), func(t *testing.T) {
			srv := &Server{Password: "ClueCon", Streams: [][]Message{all}, Notice: true}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			c, err := net.Dial("tcp", srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			cmds := []string{"auth ClueCon",
				"filter Event-Name CHANNEL_HANGUP_COMPLETE", "filter Event-Name CUSTOM", "filter Application voicemail",
				"event plain CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE CUSTOM vm::maintenance"}
			if batch {
				// All at once: the server still takes them in order.
				io.WriteString(c, strings.Join(cmds, "\n\n")+"\n\n")
			} else {
				for _, cmd := range cmds {
					io.WriteString(c, cmd+"\n\n")
				}
			}
			data, err := io.ReadAll(bufio.NewReader(c)) // the server closes after the notice
			if err != nil {
				t.Fatal(err)
			}
			got, err := Split(data)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			replies := 0
			for _, m := range got {
				switch m.Type {
				case "text/event-plain":
					names = append(names, header(m.Body, "Event-Name")+" "+header(m.Body, "Event-Subclass"))
				case "command/reply":
					replies++
				}
			}
			if replies != len(cmds) {
				t.Errorf("%d replies, want %d", replies, len(cmds))
			}
			if strings.Join(names, ",") != strings.Join(want, ",") {
				t.Errorf("events =\n%q\nwant\n%q", names, want)
			}
			if last := got[len(got)-1]; last.Type != "text/disconnect-notice" {
				t.Errorf("last message %q, want the disconnect notice", last.Type)
			}
		})
	}
}

// TestServerUnfiltered: Unfiltered sends what nobody subscribed to.
func TestServerUnfiltered(t *testing.T) {
	stream := []Message{EventPlain(state), EventPlain([]byte("no colon here\n\n")), EventPlain(create)}
	for _, unfiltered := range []bool{false, true} {
		srv := &Server{Password: "pw", Streams: [][]Message{stream}, Notice: true, Unfiltered: unfiltered}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "auth pw\n\nevent plain CHANNEL_CREATE\n\n")
		data, err := io.ReadAll(c)
		c.Close()
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Split(data)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if unfiltered {
			want = 3
		}
		if n := len(Events(got)); n != want {
			t.Errorf("Unfiltered=%v: %d events, want %d", unfiltered, n, want)
		}
	}
}
