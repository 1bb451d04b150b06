package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var soakCalls = flag.Int("soak.calls", 300, "calls TestSoak replays; 10000 for the full soak")

// TestSoak replays soak.calls missed calls, each with fresh ids and its own
// caller, over AMI to the real binary while the AMI link is cut four times
// at random points (the calls whose events a cut loses never reach the
// journal: "not seen"), the carrier answers 503 or 429 to one request in seven,
// and the daemon is killed with SIGKILL and restarted half way. Then every
// call the journal holds with the verdict send must have gone to the
// carrier once, or be unknown; none lost, none doubled.
//
//	go test -race ./cmd/textback -run TestSoak -soak.calls 10000 -timeout 20m -v
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped with -short")
	}
	n := *soakCalls
	if n < 20 || n > 10000 {
		t.Fatalf("-soak.calls %d: want 20 to 10000 (one caller number each)", n)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d calls", seed, n)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed))
	c := newCarrier(t, 0, func() int {
		mu.Lock()
		defer mu.Unlock()
		switch r := rng.IntN(14); {
		case r == 0:
			return http.StatusTooManyRequests
		case r <= 2:
			return http.StatusServiceUnavailable
		}
		return http.StatusCreated
	})
	// A call rings for 12s: at 1200 times real time, one call in 10ms.
	// Events are not dumped faster than a PBX could have them, so a cut
	// loses about the call it is in, not a socket buffer of calls.
	srv, cfgPath := crashSetup(t, c, 1200)
	editConfig(t, cfgPath, `level = "debug"`, `level = "info"`)
	id := func(i int) string { return fmt.Sprintf("s%05d", i) }
	for i := range n {
		srv.Play(call(t, "ring_no_answer_hangup", id(i), fmt.Sprintf("+1312555%04d", i)))
	}
	d := startDaemon(t, cfgPath)

	// Four cuts of the AMI link at random points of the replay, and the
	// kill half way. The daemon's reconnect backoff doubles from 0.5s with
	// each cut, so there are only a few.
	mu.Lock()
	var drops []int
	for range 4 {
		drops = append(drops, n/20+rng.IntN(n*9/10-n/20))
	}
	mu.Unlock()
	slices.Sort(drops)
	cuts, killed := 0, false
	deadline := time.Now().Add(time.Minute + time.Duration(n)*30*time.Millisecond)
	for played := 0; played < n*9/10; played = srv.Stats().Played {
		for len(drops) > 0 && played >= drops[0] {
			srv.Drop()
			cuts++
			drops = drops[1:]
		}
		if !killed && played >= n/2 {
			d.kill9()
			d = startDaemon(t, cfgPath)
			cuts++
			killed = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d calls replayed in time", played, n)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A last call marks the end of the replay; then the outbox settles.
	const last = "s-last"
	srv.Play(call(t, "ring_no_answer_hangup", last, "+13125560000"))
	var hs []historyJSON
	for {
		hs = history(t, cfgPath)
		seen, open := false, 0
		for _, h := range hs {
			seen = seen || strings.HasPrefix(h.CallID, last+"-")
			if h.Text != nil && (h.Text.State == "queued" || h.Text.State == "sending") {
				open++
			}
		}
		if seen && open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled in time: last call seen %v, %d texts queued or sending", seen, open)
		}
		time.Sleep(time.Second)
	}
	d.stop(15 * time.Second)

	req, acc := c.counts()
	byID := map[string]historyJSON{}
	for _, h := range hs {
		if before, _, ok := strings.Cut(h.CallID, "-"); ok {
			byID[before] = h
		}
	}
	var notSeen, otherVerdict, send, once, unknownTaken, unknownNot, twice, lost int
	journaled := map[string]bool{}
	for i := range n {
		h, ok := byID[id(i)]
		if !ok {
			notSeen++
			continue
		}
		journaled[h.Caller] = true
		if h.Reason != "send" || h.Text == nil {
			otherVerdict++
			t.Logf("call %s: verdict %s", h.CallID, h.Reason)
			continue
		}
		send++
		to := h.Caller
		switch {
		case acc[to] > 1:
			twice++
			t.Errorf("%s: the carrier took %d texts", to, acc[to])
		case h.Text.State == "sent" && acc[to] == 1:
			once++
		case h.Text.State == "unknown" && acc[to] == 1:
			unknownTaken++
		case h.Text.State == "unknown":
			unknownNot++
		default:
			lost++
			t.Errorf("%s: text %s after %d attempts, the carrier took %d of %d requests", to, h.Text.State, h.Text.Attempts, acc[to], req[to])
		}
	}
	stray := 0
	for to := range req {
		if !journaled[to] && to != "+13125560000" { // the last call's
			stray++
			t.Errorf("%s: a request to the carrier for a call the journal lacks", to)
		}
	}
	retries := 0
	for to, r := range req {
		retries += r - acc[to]
	}
	t.Logf(`soak: %d calls, %d AMI cuts + 1 kill -9, %d carrier 503/429 answers
  calls replayed                              %6d
  not seen (lost to a cut link or the kill)   %6d
  journaled, verdict other than send          %6d
  journaled, verdict send                     %6d
    sent once                                 %6d
    unknown, the carrier took it              %6d
    unknown, the carrier did not take it      %6d
    sent twice or more                        %6d
    lost (no text taken, not unknown)         %6d`,
		n, cuts-1, retries, n, notSeen, otherVerdict, send, once, unknownTaken, unknownNot, twice, lost)
	// How many calls a cut loses depends on how far the daemon lags
	// behind the PBX; it is counted, not judged, but most calls get through.
	if notSeen > n/2 {
		t.Errorf("%d of %d calls not seen: the soak tested little", notSeen, n)
	}
	if otherVerdict > cuts {
		t.Errorf("%d calls with another verdict than send after %d cuts", otherVerdict, cuts)
	}
	if stray > 0 || twice > 0 || lost > 0 || once+unknownTaken+unknownNot != send {
		t.Errorf("%d stray, %d doubled, %d lost", stray, twice, lost)
	}
}
