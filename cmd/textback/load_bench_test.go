package main

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/ami"
)

// BenchmarkDecisionToSendLoad measures, under load, the time from the
// moment the tracker reports a call ended to the moment an instant sender
// has accepted its text, through the daemon's own event loop and outbox
// (daemon.serve, outbox.Run) and the journal on disk (SQLite, synced where
// a power cut must not undo a write).
//
// The load: 10,000 calls are left ringing in the tracker first; then the
// recorded AMI calls (ami/testdata), repeated with fresh ids, begin at the
// sub-benchmark's rate for -load.for seconds (at most maxLoadCalls), each lasting ringFor with its
// events spread over it, and flow through ami.Reader and ami.Tracker into
// the daemon as ami.Source would pass them on.
//
//	go test ./cmd/textback -run '^$' -bench DecisionToSendLoad -benchtime 1x
//
// loadFor is how many seconds calls begin for, at the rate: 6 gives 100
// texts at 50 calls/s, so that p99 is the slowest of them; a longer run
// measures it better.
var loadFor = flag.Int("load.for", 6, "BenchmarkDecisionToSendLoad: seconds calls begin for")

func BenchmarkDecisionToSendLoad(b *testing.B) {
	for _, rate := range []int{50, 200, 1000} {
		b.Run(fmt.Sprintf("calls=%d/s", rate), func(b *testing.B) {
			for range b.N {
				loadRun(b, rate)
			}
		})
	}
}

const (
	// ringingCalls are left ringing in the tracker during the load.
	ringingCalls = 10_000
	// maxLoadCalls bounds the calls (and the memory of their stream).
	maxLoadCalls = 6000
	// ringFor is how long each call of the load lasts.
	ringFor = 4 * time.Second
	// paceEvery is how many events the load feeds between two looks at its
	// schedule: a PBX sends events as its calls go, not in bursts.
	paceEvery = 16
)

func loadRun(b *testing.B, rate int) {
	d, ob := benchDaemon(b)
	var (
		mu      sync.Mutex
		decided = map[int64]time.Time{}
		lat     []time.Duration
		queued  int
		calls   int
	)
	d.decided = func(v textback.Verdict, id int64) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if id != 0 {
			decided[id] = v.Call.Decided
			queued++
		}
	}
	ob.sent = func(t textback.Text, _ textback.Receipt, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		lat = append(lat, at.Sub(decided[t.ID]))
	}

	src := newLoadSource(b, rate)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	runtime.GC() // the garbage of building the load, before the clock starts
	go func() { done <- d.serve(ctx, src) }()
	<-src.fed
	elapsed := time.Since(src.start)
	for deadline := time.After(time.Minute); ; {
		mu.Lock()
		finished := len(lat) == queued
		mu.Unlock()
		if finished {
			break
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			b.Fatalf("outbox: %d of %d texts sent", len(lat), queued)
		}
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if len(lat) == 0 {
		b.Fatal("no texts")
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(src.events)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(rate), "calls/s")
	b.ReportMetric(float64(calls), "calls")
	b.ReportMetric(float64(len(lat)), "texts")
	b.ReportMetric(0, "ns/op")
}

// loadSource is the PBX of the load: ami.Reader and ami.Tracker over a
// paced stream, passing on what the tracker reports as ami.Source does.
type loadSource struct {
	tr     *ami.Tracker
	data   []byte
	times  []time.Duration // of each frame of data, from the start
	events int
	start  time.Time
	fed    chan struct{} // closed once all of data is fed
}

func newLoadSource(b *testing.B, rate int) *loadSource {
	calls := recordedAMICalls(b)
	s := &loadSource{
		tr:  ami.NewTracker(ami.TrackerConfig{InboundContexts: []string{"from-trunk"}, DIDVariable: "__TB_DID", MaxCalls: 4 * ringingCalls}),
		fed: make(chan struct{}),
	}
	// The calls left ringing: the first half of each one's events.
	var pre bytes.Buffer
	for i := range ringingCalls {
		c := calls[i%len(calls)]
		for _, f := range c[:len(c)/2] {
			pre.Write(prefixAMIIDs(nil, f, fmt.Sprintf("m%d-", i)))
		}
	}
	r := ami.NewReader(&pre)
	for {
		f, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		s.tr.Handle(f, time.Now())
	}
	if s.tr.Len() != ringingCalls {
		b.Fatalf("%d calls ringing, want %d", s.tr.Len(), ringingCalls)
	}
	s.data, s.times = arrivals(calls, min(rate**loadFor, maxLoadCalls), rate)
	return s
}

func (s *loadSource) Run(ctx context.Context, out chan<- textback.Event) error {
	r := ami.NewReader(bytes.NewReader(s.data))
	s.start = time.Now()
	for n := 1; ; n++ {
		f, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		for _, ev := range s.tr.Handle(f, time.Now()) {
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
		}
		s.events = n
		if n%paceEvery == 0 {
			if d := time.Until(s.start.Add(s.times[n-1])); d > 0 {
				time.Sleep(d)
			}
		}
	}
	close(s.fed)
	<-ctx.Done()
	return nil
}

// arrivals builds the load: n of the recorded calls with fresh ids, the
// k-th beginning at k/rate seconds, its events spread evenly over ringFor,
// merged in time order as a PBX sends them; times holds each frame's
// moment. Calls begin and end one by one, not in lockstep.
func arrivals(calls [][][]byte, n, rate int) (data []byte, times []time.Duration) {
	type timed struct {
		at time.Duration
		f  []byte
	}
	var all []timed
	for k := range n {
		c := calls[k%len(calls)]
		begin := time.Duration(k) * time.Second / time.Duration(rate)
		for j, f := range c {
			all = append(all, timed{begin + time.Duration(j)*ringFor/time.Duration(len(c)), prefixAMIIDs(nil, f, fmt.Sprintf("s%d-", k))})
		}
	}
	slices.SortStableFunc(all, func(a, b timed) int { return cmp.Compare(a.at, b.at) })
	for _, t := range all {
		data = append(data, t.f...)
		times = append(times, t.at)
	}
	return data, times
}

// recordedAMICalls returns the frames of each recorded AMI call
// (ami/testdata/*.ami.txt), without the banner, the responses and
// FullyBooted.
func recordedAMICalls(tb testing.TB) [][][]byte {
	tb.Helper()
	files, err := filepath.Glob("../../ami/testdata/*.ami.txt")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no AMI transcripts: %v", err)
	}
	slices.Sort(files)
	var calls [][][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		_, b, _ = bytes.Cut(b, []byte("\r\n")) // banner
		var frames [][]byte
		for _, fr := range bytes.SplitAfter(b, []byte("\r\n\r\n")) {
			if len(bytes.TrimSpace(fr)) == 0 || bytes.HasPrefix(fr, []byte("Response:")) || bytes.HasPrefix(fr, []byte("Event: FullyBooted")) {
				continue
			}
			frames = append(frames, fr)
		}
		calls = append(calls, frames)
	}
	return calls
}

// prefixAMIIDs prefixes the value of every *Uniqueid and *Linkedid field.
func prefixAMIIDs(dst, frame []byte, prefix string) []byte {
	for len(frame) > 0 {
		line, rest, _ := bytes.Cut(frame, []byte("\r\n"))
		frame = rest
		k, v, ok := bytes.Cut(line, []byte(": "))
		lk := strings.ToLower(string(k))
		if ok && len(v) > 0 && (strings.HasSuffix(lk, "uniqueid") || strings.HasSuffix(lk, "linkedid")) {
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, prefix...)
			dst = append(dst, v...)
		} else {
			dst = append(dst, line...)
		}
		dst = append(dst, "\r\n"...)
	}
	return dst
}
