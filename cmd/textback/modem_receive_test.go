package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/modem"
	"github.com/textback/textback/modem/modemtest"
	"github.com/textback/textback/replies"
	"github.com/textback/textback/sqlite"
)

func newEmulator(t *testing.T, opts modemtest.Options) *modemtest.Modem {
	t.Helper()
	em, err := modemtest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	return em
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestModemInfoCommand: `textback modem info` asks each [[modem]] through
// its serial port, and says which one does not answer.
func TestModemInfoCommand(t *testing.T) {
	em := newEmulator(t, modemtest.Options{Operator: "Vodafone UK", RSSI: 25})
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "textback.toml")
	cfg := fmt.Sprintf(`%s
[sms]
sender = "modem"
[[modem]]
name = "stick"
device = %q
[[modem]]
name = "gone"
device = %q
[[rules]]
name = "main"
message = "Sorry we missed your call"
[store]
path = %q
`, amiPBX("127.0.0.1:5038"), em.Path(), filepath.Join(dir, "no-such-tty"), filepath.Join(dir, "textback.db"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := modemCmd(func() (Config, error) { return LoadConfig(cfgPath) }, &out)
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true // as newRoot does
		err := cmd.Execute()
		return out.String(), err
	}

	out, err := run("info", "--json", "--timeout", "5s")
	var ee exitError
	if !errors.As(err, &ee) || ee != 1 {
		t.Errorf("exit %v, want exit status 1 (one modem is gone)", err)
	}
	var got []modemInfo
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if len(got) != 2 {
		t.Fatalf("%d modems, want 2:\n%s", len(got), out)
	}
	want := modemInfo{Name: "stick", Device: em.Path(), Manufacturer: "SIMCOM INCORPORATED", Model: "SIMCOM_SIM7600E-H",
		Firmware: "LE20B04SIM7600M22", IMEI: "867584030123456", SIM: "READY", SignalDBm: -63, Registration: "home",
		Operator: "Vodafone UK", SMSC: "+447785016005"}
	if got[0] != want {
		t.Errorf("stick:\n got %+v\nwant %+v", got[0], want)
	}
	if got[1].Name != "gone" || !strings.Contains(got[1].Error, "no such device") || got[1].IMEI != "" {
		t.Errorf("gone: %+v, want an error saying the device is not there", got[1])
	}

	out, _ = run("info")
	for _, w := range []string{"modem         stick", "model         SIMCOM_SIM7600E-H", "signal        -63 dBm", "operator      Vodafone UK", "modem         gone", "error "} {
		if !strings.Contains(out, w) {
			t.Errorf("text output lacks %q:\n%s", w, out)
		}
	}
}

// TestModemRepliesEndToEnd wires a modem pool to the real replies.Handler
// and sqlite store, as the daemon does: a STOP texted to the modem puts the
// sender on the opt-out list and is deleted from the SIM, START takes them
// off, and a status report on a sent text is recorded on it.
func TestModemRepliesEndToEnd(t *testing.T) {
	ctx := context.Background()
	em := newEmulator(t, modemtest.Options{Number: "+447700900123"})
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "textback.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m, err := modem.New(modem.Config{Name: "stick", Device: em.Path(), CommandTimeout: 2 * time.Second, ReceiveInterval: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := modem.NewPool([]*modem.Modem{m}, nil)
	pool.SetSink(replies.New(replies.Config{}, db, pool, nil))
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pool.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(15 * time.Second):
			t.Error("pool.Run did not return")
		}
	})
	waitUntil(t, "the modem ready", func() bool { return m.Health().Ready() })

	const caller = textback.Number("+13125550101")
	optedOut := func() bool {
		out, err := db.OptedOut(ctx, caller)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if optedOut() {
		t.Fatal("opted out before any STOP")
	}
	if _, err := em.Receive(modemtest.Incoming{From: string(caller), Text: "Stop."}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the STOP to opt the caller out", optedOut)
	waitUntil(t, "the STOP deleted from the SIM", func() bool { return len(em.Stored()) == 0 })
	list, err := db.OptOuts(ctx)
	if err != nil || len(list) != 1 || list[0].Source != "modem:STOP" {
		t.Errorf("opt-out list %+v (%v), want one entry from modem:STOP", list, err)
	}

	if _, err := em.Receive(modemtest.Incoming{From: string(caller), Text: "START"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the START to opt the caller in", func() bool { return !optedOut() })
	waitUntil(t, "the START deleted from the SIM", func() bool { return len(em.Stored()) == 0 })

	// A text sent through the pool and journaled gets its delivery report.
	now := time.Now()
	msg := textback.Message{CallID: "call-1", Rule: "main", To: caller, Body: "Sorry we missed your call"}
	id, err := db.Record(ctx, textback.Verdict{Call: textback.Call{ID: "call-1", Source: "ami", Direction: textback.Inbound,
		Outcome: textback.NoAnswer, CallerNum: string(caller), Ended: now}, Caller: caller, Send: true, Reason: "send"}, &msg, now)
	if err != nil {
		t.Fatal(err)
	}
	msg.ID = id
	if err := db.MarkSending(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	rc, err := pool.Send(sctx, msg)
	scancel()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MarkSent(ctx, id, rc, time.Now()); err != nil {
		t.Fatal(err)
	}
	mrStr, _, _ := strings.Cut(rc.ProviderID, "@")
	mr, err := strconv.Atoi(mrStr)
	if err != nil {
		t.Fatalf("receipt %q: %v", rc.ProviderID, err)
	}
	if err := em.StatusReport(mr, 0x00); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the delivery recorded", func() bool {
		h, err := db.History(ctx, now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return len(h) == 1 && h[0].Text != nil && h[0].Text.Delivery == textback.Delivered
	})
}
