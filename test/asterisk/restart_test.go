package asterisk_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRestart restarts Asterisk under a running textback, over each PBX
// type: the source must notice (AMI: EOF, as the Shutdown event is of the
// system class textback's user does not read; ARI: the websocket closes)
// and reconnect on its own, and a missed call before the restart and one
// after it must each be texted exactly once.
func TestRestart(t *testing.T) {
	if !*enabled {
		t.Skip("the Asterisk integration suite runs with -asterisk (see test/asterisk/README.md)")
	}
	for _, pbx := range pbxTypes() {
		t.Run(pbx, func(t *testing.T) { runRestart(t, pbx) })
	}
}

func runRestart(t *testing.T, pbx string) {
	busy := func(name, number string) situation {
		return situation{name: name, from: outside(number), to: didWorkshop, scenario: "call-rejected",
			raw: number, direction: "inbound", outcome: "busy", reason: "send", text: otherBody("(212) 555-0107"), textTo: number}
	}
	calls := []situation{busy("before_restart", "+13125550161"), busy("after_restart", "+13125550162")}
	sippErrs := make([]error, len(calls))
	cfg, tw := prepare(t, pbx, "debug")
	startAsterisk(t)
	startUAS(t, "busy", 5073, 0) // 102 workshop
	d := startDaemon(t, cfg)
	defer func() {
		if t.Failed() {
			d.dumpLog(t)
		}
	}()

	// call places calls[i] and waits, at most 20 s, for its text.
	call := func(i int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if sippErrs[i] = placeCall(ctx, t, calls[i], 23000+10*i); sippErrs[i] != nil {
			t.Fatalf("%s: %v", calls[i].name, sippErrs[i])
		}
		if !tw.waitSent(ctx, 1) {
			t.Fatalf("%s: no text within 20 s of the call", calls[i].name)
		}
	}
	call(0)

	// Restart Asterisk as an operator would: stop, then start.
	n := len(d.linkEvents())
	stopAt := time.Now()
	script(t, "stop")
	stopped := time.Now()
	down, downEv, err := d.waitLink(n, " disconnected", 10*time.Second)
	if err != nil {
		t.Fatalf("after Asterisk stopped: %v", err)
	}
	script(t, "start")
	upAt := time.Now()
	// Backoff: 0.5 s, then doubling up to 30 s, each ±20%; the wait after
	// a restart of a few seconds is a few seconds.
	_, upEv, err := d.waitLink(down+1, " connected", 35*time.Second)
	if err != nil {
		t.Fatalf("after Asterisk started again: %v", err)
	}
	evs := d.linkEvents()
	retry := evs[down+1] // the first attempt after the disconnect: failed or connected
	failed := 0
	for _, e := range evs[down+1:] {
		if e.msg == upEv.msg && e.at.Equal(upEv.at) {
			break
		}
		failed++
	}
	t.Logf("%s: ./stop took %s, ./start %s; textback saw the link drop %s after the stop began, first retried %s later, "+
		"failed %d times and reconnected %s after the stop began (%s after ./start returned)",
		pbx, stopped.Sub(stopAt).Round(time.Millisecond), upAt.Sub(stopped).Round(time.Millisecond),
		downEv.at.Sub(stopAt).Round(time.Millisecond), retry.at.Sub(downEv.at).Round(time.Millisecond),
		failed, upEv.at.Sub(stopAt).Round(time.Millisecond), upEv.at.Sub(upAt).Round(time.Millisecond))
	if d := downEv.at.Sub(stopped); d > 2*time.Second {
		t.Errorf("textback noticed the stop %s after Asterisk had stopped, want at once", d.Round(time.Millisecond))
	}
	if d := retry.at.Sub(downEv.at); d > 2*time.Second {
		t.Errorf("the first reconnect attempt came %s after the disconnect, want the 0.5 s backoff", d.Round(time.Millisecond))
	}

	call(1)
	// Give a repeated text time to show up.
	time.Sleep(time.Second)
	d.stop(t)
	verify(t, calls, sippErrs, history(t, cfg), tw, true)
}

// script runs ./name (start, stop) and fails the test if it fails.
func script(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, filepath.Join(here(t), name)).CombinedOutput(); err != nil {
		t.Fatalf("./%s: %v\n%s", name, err, out)
	}
}
