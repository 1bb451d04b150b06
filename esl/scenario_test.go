package esl

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/textback/textback"
	"github.com/textback/textback/esl/esltest"
)

// scenarios are the hand-written streams of testdata/tracker (gen.py there
// builds them from the captures' own events), with what each must report.
var scenarios = map[string]want{
	// A ring group of 100 and 101: 101 answers, 100 loses the race.
	"ringgroup_second_answers.esl.txt": {textback.Inbound, textback.Answered, caller, did, false, 6.0},
	// Night mode: voicemail at once, nothing rang.
	"closed_voicemail.esl.txt": {textback.Inbound, textback.Voicemail, caller, did, false, 0},
	// From anonymous, Privacy: id, P-Asserted-Identity with the number.
	"withheld_pai.esl.txt": {textback.Inbound, textback.NoAnswer, caller, did, true, 11.3},
	// mod_callcenter ring-all: agent 101 answers after 7 s of ringing.
	"queue_agent_answered.esl.txt": {textback.Inbound, textback.Answered, caller, did, false, 6.98},
	// mod_callcenter: the caller hangs up while agent 100 rings.
	"queue_abandoned.esl.txt": {textback.Inbound, textback.Abandoned, caller, did, false, 18.98},
	// 100 answers, then blind-transfers to 101, who answers too.
	"transfer_blind.esl.txt": {textback.Inbound, textback.Answered, caller, did, false, 2.98},
	// Follow-me: 100 rings out, the mobile through gateway carrier answers.
	"followme_gateway_answered.esl.txt": {textback.Inbound, textback.Answered, caller, did, false, 10.0 + 4.3},
}

func scenario(t testing.TB, name string) []esltest.Message {
	t.Helper()
	return loadEvents(t, filepath.Join("tracker", name))
}

// TestScenarios plays every written scenario through the loopback server to
// the real eslgo client and Source over TCP.
func TestScenarios(t *testing.T) {
	for name, w := range scenarios {
		t.Run(name, func(t *testing.T) {
			check(t, runStream(t, Config{}, scenario(t, name)), w)
		})
	}
}

func TestScenariosTracker(t *testing.T) {
	for name, w := range scenarios {
		t.Run(name, func(t *testing.T) {
			check(t, feed(t, NewTracker(TrackerConfig{}), scenario(t, name)), w)
		})
	}
}

// TestScenariosOutOfOrder shuffles each scenario within windows of three, as
// eslgo's goroutine-per-event delivery may.
func TestScenariosOutOfOrder(t *testing.T) {
	for name, w := range scenarios {
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("%s/%d", name, seed), func(t *testing.T) {
				evs := append([]esltest.Message(nil), scenario(t, name)...)
				r := rand.New(rand.NewPCG(seed, 2))
				for i := 0; i+3 <= len(evs); i += 3 {
					r.Shuffle(3, func(a, b int) { evs[i+a], evs[i+b] = evs[i+b], evs[i+a] })
				}
				check(t, feed(t, NewTracker(TrackerConfig{}), evs), w)
			})
		}
	}
}

// rewrite returns the scenario with every body passed through f.
func rewrite(t testing.TB, name string, f func([]byte) []byte) []esltest.Message {
	t.Helper()
	var out []esltest.Message
	for _, m := range scenario(t, name) {
		out = append(out, esltest.EventPlain(f(m.Body)))
	}
	return out
}

// dropHeader removes the header lines named name from a plain body.
func dropHeader(name string) func([]byte) []byte {
	return func(b []byte) []byte {
		var out [][]byte
		for _, line := range bytes.SplitAfter(b, []byte("\n")) {
			if !bytes.HasPrefix(line, []byte(name+": ")) {
				out = append(out, line)
			}
		}
		return bytes.Join(out, nil)
	}
}

func TestScenarioVariants(t *testing.T) {
	for name, tt := range map[string]struct {
		file string
		f    func([]byte) []byte
		w    want
	}{
		// Older FreeSWITCH and mod_callcenter's hupall end the losing leg
		// ORIGINATOR_CANCEL, which alone reads as the caller's hangup: the
		// bridge to 101 must still win.
		"ring group loser ORIGINATOR_CANCEL": {"ringgroup_second_answers.esl.txt",
			func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("LOSE_RACE"), []byte("ORIGINATOR_CANCEL")) },
			scenarios["ringgroup_second_answers.esl.txt"]},
		// Without the caller-profile flag (an event filter, a proxy that
		// rewrote it), variable_sip_Privacy alone still marks it withheld.
		"privacy from sip_Privacy only": {"withheld_pai.esl.txt", dropHeader("Caller-Privacy-Hide-Number"),
			scenarios["withheld_pai.esl.txt"]},
		// And the hide flag alone, with no Privacy variable.
		"privacy from hide flag only": {"withheld_pai.esl.txt", dropHeader("variable_sip_Privacy"),
			scenarios["withheld_pai.esl.txt"]},
		// Remote-Party-ID privacy=number hides the number (sofia.c,
		// sofia_handle_sip_i_invite): the variable is read too.
		"privacy from RPID privacy=number": {"withheld_pai.esl.txt", func(b []byte) []byte {
			b = dropHeader("Caller-Privacy-Hide-Number")(dropHeader("variable_sip_Privacy")(b))
			return bytes.Replace(b, []byte("variable_sip_cid_type: pid\n"),
				[]byte("variable_sip_cid_type: rpid\nvariable_sip_Remote-Party-ID: %3Csip%3A%2B13125550123%40127.0.0.1%3E%3Bparty%3Dcalling%3Bprivacy%3Dnumber\n"), 1)
		}, scenarios["withheld_pai.esl.txt"]},
	} {
		t.Run(name, func(t *testing.T) {
			check(t, feed(t, NewTracker(TrackerConfig{}), rewrite(t, tt.file, tt.f)), tt.w)
		})
	}
}

// TestPrivacyNotID: Privacy: none, or RPID privacy=name, hides no number
// (mod_sofia sets no hide-number flag for them).
func TestPrivacyNotID(t *testing.T) {
	for _, v := range []string{"none", "header", "session"} {
		if privacyID(v) {
			t.Errorf("privacyID(%q) = true", v)
		}
	}
	for _, v := range []string{"id", "user;id", "id;critical", "ID"} {
		if !privacyID(v) {
			t.Errorf("privacyID(%q) = false", v)
		}
	}
	for v, want := range map[string]bool{
		"<sip:+1312@h>;party=calling;privacy=name":   false,
		"<sip:+1312@h>;party=calling;privacy=off":    false,
		"<sip:+1312@h>;party=calling;privacy=number": true,
		"<sip:+1312@h>;party=calling;privacy=full":   true,
		"<sip:+1312@h>;privacy=yes;screen=no":        true,
	} {
		if got := rpidPrivate(v); got != want {
			t.Errorf("rpidPrivate(%q) = %v, want %v", v, got, want)
		}
	}
}
