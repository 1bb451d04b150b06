package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/ami"
	"github.com/textback/textback/rules"
	"github.com/textback/textback/sms"
	"github.com/textback/textback/sqlite"
)

// BenchmarkDecisionToSend measures, under load, the time from the moment
// the tracker reports a call ended to the moment an instant sender has
// accepted its text: the decision (rules.Policy.Decide), the journal
// (sqlite Record, on disk, synchronous=FULL, one fsync a commit), the
// outbox's turn (Due, MarkSending, Send, MarkSent: two more commits).
//
// The load: 10,000 calls are left ringing in the tracker first, then the
// recorded calls, repeated with fresh ids, flow through ami.Reader and
// ami.Tracker paced at the sub-benchmark's call rate (about 90 events a
// call) for up to 10 s. The daemon's loop and outbox are reproduced here
// from cmd/textback (daemon.handle, outbox.attempt), which is package main
// and cannot be imported: the same store calls, in the same order, on the
// same single connection.
func BenchmarkDecisionToSend(b *testing.B) {
	for _, rate := range []int{50, 200, 1000} {
		b.Run(fmt.Sprintf("calls=%d/s", rate), func(b *testing.B) {
			for range b.N {
				decisionToSend(b, rate)
			}
		})
	}
}

func decisionToSend(b *testing.B, rate int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	pol, err := rules.New(rules.Config{
		Region: "US", Cooldown: -1, MinRings: 2, From: "+12125550100", Business: "Peak HVAC",
		Rules: []rules.Rule{{Name: "main", Message: "Hi, this is {business}. Sorry we missed your call."}},
	})
	if err != nil {
		b.Fatal(err)
	}
	sender := sms.NewLog(slog.New(slog.DiscardHandler))

	// The tracker, with 10,000 calls ringing.
	tr := ami.NewTracker(ami.TrackerConfig{InboundContexts: amiLab.InboundContexts, DIDVariable: amiLab.DIDVariable, MaxCalls: 4 * ringing})
	calls := amiCalls(b)
	var pre bytes.Buffer
	for i := range ringing {
		c := calls[i%len(calls)]
		for _, f := range c[:len(c)/2] {
			pre.Write(renameAMI(nil, f, fmt.Sprintf("m%d-", i)))
		}
	}
	events := make(chan textback.Call, 256) // the daemon's events channel
	feed := func(data []byte, pace func(n int) bool) {
		r := ami.NewReader(bytes.NewReader(data))
		n := 0
		for {
			f, err := r.Read()
			if err == io.EOF {
				return
			}
			if err != nil {
				b.Error(err)
				return
			}
			for _, ev := range tr.Handle(f, time.Now()) {
				if ev.Kind == textback.CallEnded {
					events <- ev.Call
				}
			}
			n++
			if n%256 == 0 && !pace(n) {
				return
			}
		}
	}
	s := buildAMI(b, amiReps)

	var (
		mu       sync.Mutex
		decided  = map[textback.CallID]time.Time{}
		lat      []time.Duration
		commits  []time.Duration // Record, the journal commit
		queued   int
		fed      int
		feedDone = make(chan struct{})
		wake     = make(chan struct{}, 1)
	)
	feed(pre.Bytes(), func(int) bool { return true })
	if tr.Len() != ringing {
		b.Fatalf("%d calls ringing, want %d", tr.Len(), ringing)
	}

	// The daemon's loop: decide, journal, wake the outbox.
	var wg sync.WaitGroup
	wg.Go(func() {
		for c := range events {
			now := time.Now()
			dec, err := pol.Decide(ctx, c, now, db)
			if err != nil {
				b.Error(err)
				continue
			}
			v := textback.Verdict{Call: c, Caller: dec.Caller, Send: dec.Send, Reason: string(dec.Reason), Detail: dec.Detail, Rule: dec.Rule}
			if dec.Send {
				mu.Lock()
				decided[c.ID] = c.Decided
				mu.Unlock()
			}
			t0 := time.Now()
			id, err := db.Record(ctx, v, dec.Message, now)
			d := time.Since(t0)
			if err != nil {
				b.Error(err)
				continue
			}
			mu.Lock()
			commits = append(commits, d)
			if id != 0 {
				queued++
			}
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
	// The outbox: due texts, oldest first, one at a time.
	sent := 0
	outboxDone := make(chan struct{})
	go func() {
		defer close(outboxDone)
		for {
			select {
			case <-wake:
			case <-feedDone:
			}
			for {
				due, err := db.Due(ctx, time.Now(), 16)
				if err != nil {
					b.Error(err)
					return
				}
				for _, t := range due {
					if err := db.MarkSending(ctx, t.ID, time.Now()); err != nil {
						b.Error(err)
						return
					}
					r, err := sender.Send(ctx, t.Message)
					if err != nil {
						b.Error(err)
						return
					}
					done := time.Now()
					if err := db.MarkSent(ctx, t.ID, r, done); err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					lat = append(lat, done.Sub(decided[t.CallID]))
					sent++
					mu.Unlock()
				}
				if len(due) == 0 {
					break
				}
			}
			mu.Lock()
			finished := sent == queued
			mu.Unlock()
			select {
			case <-feedDone:
				if finished {
					return
				}
			default:
			}
		}
	}()

	// The load, paced: 256 events at a time, on schedule.
	const maxRun = 10 * time.Second
	evPerCall := float64(s.events) / float64(len(calls)*amiReps)
	perEvent := time.Duration(float64(time.Second) / (float64(rate) * evPerCall))
	start := time.Now()
	feed(s.data, func(n int) bool {
		fed = n
		if d := time.Until(start.Add(time.Duration(n) * perEvent)); d > 0 {
			time.Sleep(d)
		}
		return time.Since(start) < maxRun
	})
	elapsed := time.Since(start)
	close(events)
	wg.Wait()
	close(feedDone)
	select {
	case <-outboxDone:
	case <-time.After(time.Minute):
		b.Fatalf("outbox: %d of %d texts sent", sent, queued)
	}
	if len(lat) == 0 {
		b.Fatal("no texts")
	}
	slices.Sort(lat)
	slices.Sort(commits)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(commits[len(commits)/2]), "record-p50-ms")
	b.ReportMetric(ms(commits[len(commits)*99/100]), "record-p99-ms")
	b.ReportMetric(float64(fed)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(len(commits))/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(len(lat)), "texts")
	b.ReportMetric(0, "ns/op")
}
