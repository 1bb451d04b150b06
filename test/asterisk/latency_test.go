package asterisk_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	latencyCalls = flag.Int("asterisk.calls", 40, "TestLatency: the missed calls placed per PBX type")
	latencyWave  = flag.Int("asterisk.wave", 10, "TestLatency: the calls placed at once, a wave a second")
)

// TestLatency measures, over each PBX type, how long a missed caller waits
// for the text: from Asterisk's own timestamp of the call's last Hangup
// event (read on the test's own AMI connection, for the ARI runs too) to
// the moment the Twilio fake receives the request. The calls are busy
// calls to the workshop, placed in waves, each from its own caller.
func TestLatency(t *testing.T) {
	if !*enabled {
		t.Skip("the Asterisk integration suite runs with -asterisk (see test/asterisk/README.md)")
	}
	if *latencyCalls < 1 || *latencyWave < 1 {
		t.Fatal("-asterisk.calls and -asterisk.wave must be positive")
	}
	var rows []string
	for _, pbx := range pbxTypes() {
		t.Run(pbx, func(t *testing.T) {
			if lat := runLatency(t, pbx); len(lat) > 0 {
				rows = append(rows, latencyRow(pbx, lat))
			}
		})
	}
	if len(rows) > 0 {
		t.Logf("from Asterisk's Hangup to Twilio's request, %d calls per type, %d at once (%s):\n%s\n%s",
			*latencyCalls, *latencyWave, time.Now().Format("2006-01-02"),
			"| pbx | calls | min | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|", strings.Join(rows, "\n"))
	}
}

func runLatency(t *testing.T, pbx string) []time.Duration {
	// Info, as in production: debug logs every AMI frame.
	cfg, tw := prepare(t, pbx, "info")
	startAsterisk(t)
	startUAS(t, "busy", 5073, 0) // 102 workshop
	hw := watchHangups(t)
	d := startDaemon(t, cfg)

	calls := make([]situation, *latencyCalls)
	for i := range calls {
		n := fmt.Sprintf("+1312555%04d", 2000+i)
		calls[i] = situation{name: fmt.Sprintf("call_%03d", i), from: outside(n), to: didWorkshop, scenario: "call-rejected",
			raw: n, direction: "inbound", outcome: "busy", reason: "send", text: otherBody("(212) 555-0107"), textTo: n}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second+time.Duration(len(calls) / *latencyWave)*time.Second)
	defer cancel()
	sippErrs := make([]error, len(calls))
	var wg sync.WaitGroup
	start := time.Now()
	for i, s := range calls {
		if i > 0 && i%*latencyWave == 0 {
			time.Sleep(time.Until(start.Add(time.Duration(i / *latencyWave) * time.Second)))
		}
		wg.Go(func() { sippErrs[i] = placeCall(ctx, t, s, 22000+10*(i%500)) })
	}
	wg.Wait()
	if !tw.waitSent(ctx, len(calls)) {
		t.Errorf("not every call was texted: %v", ctx.Err())
	}
	// Give a repeated text time to show up.
	time.Sleep(time.Second)
	d.stop(t)
	hs := history(t, cfg)
	verify(t, calls, sippErrs, hs, tw, false)
	if t.Failed() {
		d.dumpLog(t)
		return nil
	}

	ends := hw.lastHangups()
	arrived := tw.arrivals()
	recorded := map[string]time.Time{}
	for _, h := range hs {
		recorded[h.CallerRaw] = h.Recorded
	}
	type sample struct {
		name            string
		total, decision time.Duration // to the text; to the journal's record of the verdict
	}
	var samples []sample
	for _, s := range calls {
		end, ok := ends[s.raw]
		if !ok {
			t.Errorf("%s: no Hangup event seen for the caller %s", s.name, s.raw)
			continue
		}
		samples = append(samples, sample{s.name, arrived[s.textTo][0].Sub(end), recorded[s.raw].Sub(end)})
	}
	if len(samples) == 0 {
		return nil
	}
	slices.SortFunc(samples, func(a, b sample) int { return int(b.total - a.total) })
	var lat []time.Duration
	for _, s := range samples {
		lat = append(lat, s.total)
	}
	t.Log(latencyRow(pbx, lat))
	for _, s := range samples[:min(3, len(samples))] {
		t.Logf("slow: %s: %s to the text, %s of it to the journaled verdict", s.name,
			s.total.Round(time.Millisecond), s.decision.Round(time.Millisecond))
	}
	return lat
}

// latencyRow is a Markdown table row: min, p50, p90, p99 and max of lat
// (nearest rank).
func latencyRow(pbx string, lat []time.Duration) string {
	lat = slices.Clone(lat)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		i := int(float64(len(lat))*p+0.999999) - 1
		return lat[min(max(i, 0), len(lat)-1)]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("| %s | %d | %s | %s | %s | %s | %s |", pbx, len(lat),
		ms(lat[0]), ms(pct(0.50)), ms(pct(0.90)), ms(pct(0.99)), ms(lat[len(lat)-1]))
}

// hangupWatch is the test's own AMI connection: a plain TCP reader that
// keeps, per call (Linkedid), the Timestamp of its last Hangup event and
// the caller number of its first channel.
type hangupWatch struct {
	mu     sync.Mutex
	last   map[string]time.Time // by Linkedid
	caller map[string]string    // Linkedid: CallerIDNum of the channel whose Uniqueid it is
}

// watchHangups logs in to the lab's AMI as textback's user (manager.conf
// lets it log in more than once) and reads call events until the test ends.
func watchHangups(t *testing.T) *hangupWatch {
	t.Helper()
	nc, err := net.DialTimeout("tcp", "127.0.0.1:5038", 5*time.Second)
	if err != nil {
		t.Fatalf("the test's AMI connection: %v", err)
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(nc)
	if banner, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(banner, "Asterisk Call Manager/") {
		t.Fatalf("the test's AMI connection: greeting %q: %v", banner, err)
	}
	if _, err := fmt.Fprint(nc, "Action: Login\r\nUsername: textback\r\nSecret: change-me\r\nEvents: call\r\n\r\n"); err != nil {
		t.Fatalf("the test's AMI connection: login: %v", err)
	}
	if f, err := readFrame(r); err != nil || f["Response"] != "Success" {
		t.Fatalf("the test's AMI connection: login: %v %v", f, err)
	}
	nc.SetDeadline(time.Time{})
	hw := &hangupWatch{last: map[string]time.Time{}, caller: map[string]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			f, err := readFrame(r)
			if err != nil {
				return
			}
			if f["Event"] != "Hangup" {
				continue
			}
			ts, err := parseTimestamp(f["Timestamp"])
			if err != nil {
				t.Errorf("the test's AMI connection: Hangup: %v (is timestampevents = yes in manager.conf?)", err)
				continue
			}
			hw.mu.Lock()
			if id := f["Linkedid"]; ts.After(hw.last[id]) {
				hw.last[id] = ts
			}
			if f["Uniqueid"] == f["Linkedid"] {
				hw.caller[f["Linkedid"]] = f["CallerIDNum"]
			}
			hw.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		nc.Close()
		<-done
	})
	return hw
}

// lastHangups returns the time of each call's last Hangup, by caller number.
func (hw *hangupWatch) lastHangups() map[string]time.Time {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	m := map[string]time.Time{}
	for id, num := range hw.caller {
		m[num] = hw.last[id]
	}
	return m
}

// readFrame reads one AMI frame: "Key: Value" lines up to a blank line.
func readFrame(r *bufio.Reader) (map[string]string, error) {
	f := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(f) == 0 {
				continue
			}
			return f, nil
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			f[k] = strings.TrimSpace(v)
		}
	}
}

// parseTimestamp parses an AMI Timestamp, "1732780000.123456" (seconds
// since the epoch, microseconds).
func parseTimestamp(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q", s)
	}
	frac = (frac + "000000000")[:9]
	nanos, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q", s)
	}
	return time.Unix(secs, nanos), nil
}
