package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/rules"
	"github.com/textback/textback/sms"
	"github.com/textback/textback/sqlite"
)

// BenchmarkDecisionToSend measures the daemon's own part of a text's way
// out: from the moment the tracker knows a call has ended to the moment the
// sender has accepted the text — the decision, the journal and outbox
// writes (synced SQLite on disk), and the outbox's turn. The sender answers
// at once, so a carrier's own latency comes on top.
//
//	go test ./cmd/textback -run '^$' -bench DecisionToSend
func BenchmarkDecisionToSend(b *testing.B) {
	d, ob := benchDaemon(b)
	sent := make(chan time.Time, 1)
	ob.sent = func(_ textback.Text, _ textback.Receipt, at time.Time) { sent <- at }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- ob.Run(ctx) }()

	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		decided := time.Now()
		c := textback.Call{
			ID: textback.CallID(fmt.Sprintf("bench-%d", i)), Source: "ami", Direction: textback.Inbound,
			Outcome: textback.NoAnswer, CallerNum: "+13125550101", DID: "+12125550100",
			Rang: 12 * time.Second, Decided: decided,
		}
		if err := d.handle(ctx, textback.Event{Call: c}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-sent).Sub(decided))
	}
	b.StopTimer()
	cancel()
	<-done
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// benchDaemon is the event loop and outbox the benchmarks time: a journal
// on disk (closed when b ends), one rule texting every missed call, and a
// sender that accepts at once.
func benchDaemon(b *testing.B) (*daemon, *outbox) {
	b.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	pol, err := rules.New(rules.Config{
		Region: "US", Cooldown: -1, MinRings: 2, From: "+12125550100", Business: "Peak HVAC",
		Rules: []rules.Rule{{Name: "main", Message: "Hi, this is {business}. Sorry we missed your call."}},
	})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ob := newOutbox(db, sms.NewLog(log), 15*time.Minute, log)
	return &daemon{policy: pol, store: db, outbox: ob, log: log, now: time.Now}, ob
}
