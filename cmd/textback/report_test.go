package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/textback/textback"
	"github.com/textback/textback/sqlite"
)

// reportFixture fills a store with known calls, texts, replies and opt-outs
// and returns the config that points at it.
//
// DID +12125550100 (main): 4 missed calls and 1 answered.
//   - A, no_answer: texted; A replies "Can you come Tuesday?" → replied.
//   - B, busy: texted; B replies STOP (a keyword, not a reply) → opted out.
//   - C, abandoned: text failed → not texted.
//   - D, no_answer: texted; D replied BEFORE the text → not replied.
//
// DID +13125550199 (branch): 2 missed calls.
//   - A again, voicemail, a day later: texted; no second reply → not replied
//     (A's one reply counts for the first text only).
//   - E, voicemail: withheld, no text.
//
// And one missed call long before --since, texted and replied: left out.
func reportFixture(t *testing.T) (cfgPath string, now time.Time) {
	t.Helper()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "textback.db")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now = time.Now().Truncate(time.Second)
	t0 := now.Add(-5 * 24 * time.Hour)
	const (
		main   = "+12125550100"
		branch = "+13125550199"
		a      = textback.Number("+13125550101")
		b      = textback.Number("+13125550102")
		c      = textback.Number("+13125550103")
		d      = textback.Number("+13125550104")
	)
	n := 0
	call := func(at time.Time, did string, o textback.Outcome, caller textback.Number, state textback.State) {
		t.Helper()
		n++
		id := textback.CallID(fmt.Sprintf("call-%d", n))
		v := textback.Verdict{
			Call:   textback.Call{ID: id, Source: "ami", Direction: textback.Inbound, Outcome: o, CallerNum: string(caller), DID: did},
			Caller: caller, Send: state != "", Reason: "send",
		}
		var m *textback.Message
		if state != "" {
			m = &textback.Message{CallID: id, To: caller, Body: "Sorry we missed your call"}
		} else {
			v.Reason = "withheld"
		}
		tid, err := db.Record(ctx, v, m, at)
		if err != nil {
			t.Fatal(err)
		}
		if m == nil {
			return
		}
		if err := db.MarkSending(ctx, tid, at); err != nil {
			t.Fatal(err)
		}
		switch state {
		case textback.Sent:
			err = db.MarkSent(ctx, tid, textback.Receipt{Sender: "twilio", ProviderID: string(id)}, at.Add(time.Second))
		default:
			err = db.MarkDone(ctx, tid, state, "landline", at.Add(time.Second))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	reply := func(at time.Time, from textback.Number, body string) {
		t.Helper()
		n++
		if _, err := db.RecordInbound(ctx, textback.InboundText{Provider: "twilio", ProviderID: fmt.Sprintf("SM%d", n),
			From: from, To: main, Body: body, Received: at}); err != nil {
			t.Fatal(err)
		}
	}
	old := now.Add(-60 * 24 * time.Hour)
	call(old, main, textback.NoAnswer, "+13125550111", textback.Sent)
	reply(old.Add(time.Minute), "+13125550111", "yes please call")

	reply(t0.Add(-time.Hour), d, "hello?") // before D's text
	call(t0, main, textback.NoAnswer, a, textback.Sent)
	reply(t0.Add(2*time.Minute), a, "Can you come Tuesday?")
	call(t0.Add(time.Hour), main, textback.Busy, b, textback.Sent)
	reply(t0.Add(time.Hour+time.Minute), b, "STOP")
	if err := db.SetOptOut(ctx, b, true, "sms:STOP", t0.Add(time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}
	call(t0.Add(2*time.Hour), main, textback.Abandoned, c, textback.Failed)
	call(t0.Add(3*time.Hour), main, textback.NoAnswer, d, textback.Sent)
	call(t0.Add(4*time.Hour), main, textback.Answered, "", "")
	call(t0.Add(24*time.Hour), branch, textback.Voicemail, a, textback.Sent)
	call(t0.Add(25*time.Hour), branch, textback.Voicemail, "", "")

	cfgPath = filepath.Join(dir, "textback.toml")
	cfg := fmt.Sprintf(`
[pbx]
address = "127.0.0.1:5038"
username = "textback"
secret = "x"

[[rules]]
message = "Sorry we missed your call"

[store]
path = %q

[report]
average_job_value = 350
conversion_rate = 0.3
`, dbPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, now
}

func TestReportJSON(t *testing.T) {
	cfg, _ := reportFixture(t)
	out, errOut, code := runCLI(t, "report", "-c", cfg, "--since", "30d", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got report
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	want := report{
		Total: reportLine{Missed: 6, Texted: 4, Replied: 1, OptedOut: 1, ReplyRate: 0.25},
		ByDID: []reportLine{
			{Key: "+12125550100", Missed: 4, Texted: 3, Replied: 1, OptedOut: 1, ReplyRate: 1.0 / 3},
			{Key: "+13125550199", Missed: 2, Texted: 1, ReplyRate: 0},
		},
		ByOutcome: []reportLine{
			{Key: "no_answer", Missed: 2, Texted: 2, Replied: 1, ReplyRate: 0.5},
			{Key: "voicemail", Missed: 2, Texted: 1},
			{Key: "abandoned", Missed: 1},
			{Key: "busy", Missed: 1, Texted: 1, OptedOut: 1},
		},
		AverageJobValue: 350, ConversionRate: 0.3, RecoveredRevenue: 105,
	}
	got.Since, got.Until = time.Time{}, time.Time{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

func TestReportTable(t *testing.T) {
	cfg, _ := reportFixture(t)
	out, errOut, code := runCLI(t, "report", "-c", cfg, "--since", "30d")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"          all       6       4        1          1         25%",
		"+12125550100       4       3        1          1         33%",
		"    abandoned       1       0        0          0           -",
		"4 callers texted, 1 replied; at a 30% conversion of replies and $350 a job, about $105 recovered.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// Since 2 days ago: only the branch's calls.
	out, _, _ = runCLI(t, "report", "-c", cfg, "--since", "100h")
	if !strings.Contains(out, "1 caller texted, 0 replied; at a 30% conversion of replies and $350 a job, about $0 recovered.") {
		t.Errorf("report --since 100h:\n%s", out)
	}
}

func TestMoney(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 105: "105", 1234.5: "1,235", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := money(in); got != want {
			t.Errorf("money(%v) = %q, want %q", in, got, want)
		}
	}
}
