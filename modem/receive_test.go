package modem

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/modem/modemtest"
)

// fakeSink records what it is handed; fail makes the next calls of Inbound
// fail.
type fakeSink struct {
	mu        sync.Mutex
	texts     []textback.InboundText
	refused   []textback.InboundText
	delivered []textback.Delivery
	fail      int
	// offered, if set, is called with each text offered, before the answer.
	offered func()
}

func (f *fakeSink) Inbound(_ context.Context, m textback.InboundText) error {
	if f.offered != nil {
		f.offered()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		f.refused = append(f.refused, m)
		return errors.New("store locked")
	}
	f.texts = append(f.texts, m)
	return nil
}

func (f *fakeSink) Delivery(_ context.Context, d textback.Delivery) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delivered = append(f.delivered, d)
	return nil
}

func (f *fakeSink) got() ([]textback.InboundText, []textback.InboundText, []textback.Delivery) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]textback.InboundText(nil), f.texts...), append([]textback.InboundText(nil), f.refused...),
		append([]textback.Delivery(nil), f.delivered...)
}

func (f *fakeSink) waitTexts(t *testing.T, n int) []textback.InboundText {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d texts in the sink", n), func() bool { got, _, _ := f.got(); return len(got) >= n })
	got, _, _ := f.got()
	return got
}

func waitEmpty(t *testing.T, em *modemtest.Modem) {
	t.Helper()
	waitFor(t, "an empty message storage", func() bool { return len(em.Stored()) == 0 })
}

func receive(t *testing.T, em *modemtest.Modem, in modemtest.Incoming) []int {
	t.Helper()
	idx, err := em.Receive(in)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

const caller = "+13125550101"

func TestReceive(t *testing.T) {
	long := strings.Repeat("Please call me back about the boiler, it is leaking again. ", 6)[:330]
	for name, tt := range map[string]struct {
		in   modemtest.Incoming
		want string
	}{
		"short":             {modemtest.Incoming{From: caller, Text: "STOP"}, "STOP"},
		"ucs2":              {modemtest.Incoming{From: caller, Text: "Merci 🙂 à demain"}, "Merci 🙂 à demain"},
		"long, in order":    {modemtest.Incoming{From: caller, Text: long}, long},
		"long, reversed":    {modemtest.Incoming{From: caller, Text: long, Parts: []int{3, 2, 1}}, long},
		"long, unannounced": {modemtest.Incoming{From: caller, Text: long, Parts: []int{2, 1, 3}, Silent: true}, long},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			em, m := started(t, modemtest.Options{Number: "+447700900123"}, Config{ReceiveInterval: 300 * time.Millisecond})
			sink := &fakeSink{}
			m.SetSink(sink)
			receive(t, em, tt.in)
			got := sink.waitTexts(t, 1)
			waitEmpty(t, em)
			time.Sleep(100 * time.Millisecond) // room for a wrong second text
			got, _, _ = sink.got()
			if len(got) != 1 {
				t.Fatalf("sink got %d texts, want 1: %+v", len(got), got)
			}
			g := got[0]
			if g.Provider != "modem" || g.ProviderID == "" || g.From != caller || g.To != "+447700900123" || g.Body != tt.want {
				t.Errorf("sink got %+v;\nwant provider modem, an id, from %s to +447700900123, body %q", g, caller, tt.want)
			}
			if strings.Contains(g.ProviderID, "3125550101") {
				t.Errorf("ProviderID %q holds the caller's number", g.ProviderID)
			}
			if time.Since(g.Received) > time.Minute {
				t.Errorf("Received = %v, want the SCTS (now)", g.Received)
			}
		})
	}
}

// TestReceiveWhileAway: texts stored while textback was down are read at
// start-up, and one whose +CMTI was lost by the periodic sweep.
func TestReceiveWhileAway(t *testing.T) {
	em := emulator(t, modemtest.Options{})
	receive(t, em, modemtest.Incoming{From: caller, Text: "first", Silent: true})
	receive(t, em, modemtest.Incoming{From: "+13125550102", Text: "second", Silent: true})
	m := newModem(t, em, Config{ReceiveInterval: 300 * time.Millisecond})
	sink := &fakeSink{}
	m.SetSink(sink)
	run(t, m)
	got := sink.waitTexts(t, 2)
	if got[0].Body != "first" || got[1].Body != "second" {
		t.Errorf("got %q, %q; want first, second", got[0].Body, got[1].Body)
	}
	waitEmpty(t, em)
	receive(t, em, modemtest.Incoming{From: caller, Text: "lost indication", Silent: true})
	if got := sink.waitTexts(t, 3); got[2].Body != "lost indication" {
		t.Errorf("got %q, want the text whose indication was lost", got[2].Body)
	}
	waitEmpty(t, em)
}

// TestReceiveMissingPart: a long text one of whose parts never comes goes
// to the sink after PartsWait, the gap marked, and not before.
func TestReceiveMissingPart(t *testing.T) {
	em, m := started(t, modemtest.Options{}, Config{PartsWait: 700 * time.Millisecond})
	sink := &fakeSink{}
	m.SetSink(sink)
	long := strings.Repeat("a", 153) + strings.Repeat("b", 153) + "c"
	start := time.Now()
	receive(t, em, modemtest.Incoming{From: caller, Text: long, Parts: []int{1, 3}})
	got := sink.waitTexts(t, 1)
	if waited := time.Since(start); waited < 600*time.Millisecond {
		t.Errorf("incomplete text handed over after %v, want it to wait PartsWait (700ms)", waited)
	}
	if want := strings.Repeat("a", 153) + "[…]c"; got[0].Body != want {
		t.Errorf("body = %q, want %q", got[0].Body, want)
	}
	waitEmpty(t, em)
}

// TestReceiveSinkRefuses: a text the sink does not take stays on the SIM and
// is offered again, under the same id, until it is taken; only then is it
// deleted.
func TestReceiveSinkRefuses(t *testing.T) {
	em, m := started(t, modemtest.Options{}, Config{ReceiveInterval: 200 * time.Millisecond})
	// What the SIM holds each time the text is offered: after each
	// refusal, the text is kept, so it is still there at the next offer.
	var stored []int
	sink := &fakeSink{fail: 2}
	sink.offered = func() { stored = append(stored, len(em.Stored())) }
	m.SetSink(sink)
	receive(t, em, modemtest.Incoming{From: caller, Text: "call me"})
	got := sink.waitTexts(t, 1)
	if !slices.Equal(stored, []int{1, 1, 1}) {
		t.Errorf("the SIM held %v texts at each offer, want [1 1 1]: the text kept after each refusal", stored)
	}
	_, refused, _ := sink.got()
	for _, r := range refused {
		if r.ProviderID != got[0].ProviderID {
			t.Errorf("offered again as %q, first as %q: want one id", got[0].ProviderID, r.ProviderID)
		}
	}
	waitEmpty(t, em)
}

// TestReceiveRepeatAfterFailedDelete: when the delete after the sink took a
// text gets no answer (the session is reopened), the text is read again and
// handed over under the same id, which the store takes for a repeat.
func TestReceiveRepeatAfterFailedDelete(t *testing.T) {
	em, m := started(t, modemtest.Options{}, Config{})
	sink := &fakeSink{}
	m.SetSink(sink)
	em.Hang("+CMGD", 1)
	receive(t, em, modemtest.Incoming{From: caller, Text: "STOP"})
	got := sink.waitTexts(t, 2)
	if got[0].ProviderID != got[1].ProviderID || got[0].Body != got[1].Body {
		t.Errorf("read again as %+v, first as %+v: want the same id", got[1], got[0])
	}
	waitEmpty(t, em)
}

// TestReceiveNoSink: without a sink texts stay on the SIM; SetSink hands
// them over.
func TestReceiveNoSink(t *testing.T) {
	em, m := started(t, modemtest.Options{}, Config{ReceiveInterval: 100 * time.Millisecond})
	receive(t, em, modemtest.Incoming{From: caller, Text: "hello?"})
	time.Sleep(400 * time.Millisecond) // several sweeps
	if len(em.Stored()) != 1 {
		t.Fatalf("storage holds %v without a sink, want the text kept", em.Stored())
	}
	sink := &fakeSink{}
	m.SetSink(sink)
	if got := sink.waitTexts(t, 1); got[0].Body != "hello?" {
		t.Errorf("body = %q", got[0].Body)
	}
	waitEmpty(t, em)
}

// TestReceiveSetup: the start-up asks for stored, indicated texts and for
// status reports, falling back to the storage the modem has.
func TestReceiveSetup(t *testing.T) {
	em, _ := started(t, modemtest.Options{Storages: []string{"ME"}}, Config{})
	cmds := strings.Join(em.Commands(), "\n")
	for _, want := range []string{`+CPMS="ME","ME","ME"`, "+CNMI=2,1,0,1,0", "+CMGL=4"} {
		if !strings.Contains(cmds, want) {
			t.Errorf("commands lack %s:\n%s", want, cmds)
		}
	}
	em2, _ := started(t, modemtest.Options{}, Config{NoDeliveryReports: true})
	if cmds := strings.Join(em2.Commands(), "\n"); !strings.Contains(cmds, "+CNMI=2,1,0,0,0") {
		t.Errorf("with NoDeliveryReports, commands lack +CNMI=2,1,0,0,0:\n%s", cmds)
	}
}

func mrs(t *testing.T, rc textback.Receipt) []int {
	t.Helper()
	refs, _, ok := strings.Cut(rc.ProviderID, "@")
	if !ok {
		t.Fatalf("ProviderID %q: want refs@modem/time", rc.ProviderID)
	}
	var out []int
	for _, s := range strings.Split(refs, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("ProviderID %q: %v", rc.ProviderID, err)
		}
		out = append(out, n)
	}
	return out
}

func TestDeliveryReports(t *testing.T) {
	em, m := started(t, modemtest.Options{}, Config{})
	sink := &fakeSink{}
	m.SetSink(sink)
	waitDelivery := func(n int) []textback.Delivery {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d delivery reports", n), func() bool { _, _, d := sink.got(); return len(d) >= n })
		_, _, d := sink.got()
		return d
	}
	report := func(mr int, st byte) {
		t.Helper()
		if err := em.StatusReport(mr, st); err != nil {
			t.Fatal(err)
		}
	}

	short := send(t, m, msg(1, "Sorry we missed your call"))
	if sent := em.Sent(); !sent[0].Parts[0].SRR {
		t.Errorf("the SUBMIT did not ask for a status report (TP-SRR)")
	}
	report(mrs(t, short)[0], 0x00)
	d := waitDelivery(1)[0]
	if d.Provider != "modem" || d.ProviderID != short.ProviderID || d.Status != textback.Delivered || !strings.Contains(d.Detail, "0x00") {
		t.Errorf("delivery %+v, want modem %s delivered", d, short.ProviderID)
	}

	long := send(t, m, msg(2, strings.Repeat("x", 200)))
	parts := mrs(t, long)
	if len(parts) != 2 {
		t.Fatalf("long text in %d parts, want 2", len(parts))
	}
	report(parts[0], 0x00)
	report(parts[1], 0x20) // congestion: the SC still tries
	time.Sleep(200 * time.Millisecond)
	if _, _, d := sink.got(); len(d) != 1 {
		t.Fatalf("after one part delivered and one pending, %d reports, want still 1: %+v", len(d), d)
	}
	report(parts[1], 0x00)
	if d := waitDelivery(2)[1]; d.ProviderID != long.ProviderID || d.Status != textback.Delivered {
		t.Errorf("delivery %+v, want %s delivered once both parts are", d, long.ProviderID)
	}

	failed := send(t, m, msg(3, "to a landline"))
	report(mrs(t, failed)[0], 0x41)
	if d := waitDelivery(3)[2]; d.ProviderID != failed.ProviderID || d.Status != textback.Undelivered {
		t.Errorf("delivery %+v, want %s undelivered", d, failed.ProviderID)
	}

	// A report on a text this process did not send is dropped.
	report(mrs(t, short)[0], 0x00)
	time.Sleep(200 * time.Millisecond)
	if _, _, d := sink.got(); len(d) != 3 {
		t.Errorf("a repeated report made %d deliveries, want 3", len(d))
	}
}

func TestNoDeliveryReports(t *testing.T) {
	em, m := started(t, modemtest.Options{}, Config{NoDeliveryReports: true})
	rc := send(t, m, msg(1, "hello"))
	if em.Sent()[0].Parts[0].SRR {
		t.Error("TP-SRR set with NoDeliveryReports")
	}
	if err := em.StatusReport(mrs(t, rc)[0], 0); err == nil {
		t.Error("the emulator sent a status report nobody asked for")
	}
}

// TestProviderIDsDiffer: message references recur every 256 parts, so the
// receipt names the modem and the time too.
func TestProviderIDsDiffer(t *testing.T) {
	_, m := started(t, modemtest.Options{}, Config{Name: "stick"})
	a := send(t, m, msg(1, "one"))
	time.Sleep(2 * time.Millisecond)
	b := send(t, m, msg(2, "two"))
	if a.ProviderID == b.ProviderID || !strings.Contains(a.ProviderID, "@stick/") {
		t.Errorf("ProviderIDs %q and %q: want distinct, naming the modem", a.ProviderID, b.ProviderID)
	}
}

func TestParseListing(t *testing.T) {
	for name, tt := range map[string]struct {
		info   []string
		prefix string
		want   []int // indices of decodable texts
		bad    int
	}{
		"empty":       {nil, "+CMGL:", nil, 0},
		"header only": {[]string{"+CMGL: 1,0,,25"}, "+CMGL:", nil, 0},
		"urc between": {[]string{"RING", "+CMGL: 4,1,,5", "0004", "+CMGL: x", "00"}, "+CMGL:", nil, 1},
		"garbage pdu": {[]string{"+CMGR: 0,,3", "ZZ"}, "+CMGR:", nil, 1},
	} {
		t.Run(name, func(t *testing.T) {
			got := parseListing(tt.info, tt.prefix)
			bad := 0
			var idx []int
			for _, st := range got {
				if st.err != nil {
					bad++
				} else {
					idx = append(idx, st.idx)
				}
			}
			if fmt.Sprint(idx) != fmt.Sprint(tt.want) || bad != tt.bad {
				t.Errorf("parseListing = %v with %d undecodable, want %v with %d", idx, bad, tt.want, tt.bad)
			}
		})
	}
}
