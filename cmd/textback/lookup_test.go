package main

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/sms"
)

// findingSender accepts every text, and answers Find from its script (the
// last answer repeats), recording when it was asked and about what.
type findingSender struct {
	mu     sync.Mutex
	script []findAnswer
	asked  []time.Time
	since  []time.Time
	sent   int
}

type findAnswer struct {
	l   sms.Lookup
	err error
}

func (s *findingSender) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent++
	return textback.Receipt{Sender: "finding", ProviderID: "SM-resent"}, nil
}

func (s *findingSender) Find(ctx context.Context, m textback.Message, since time.Time) (sms.Lookup, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, time.Now())
	s.since = append(s.since, since)
	a := s.script[min(len(s.asked), len(s.script))-1]
	return a.l, a.err
}

func TestOutboxResolvesUnknownTexts(t *testing.T) {
	found := findAnswer{l: sms.Lookup{Found: true, Receipt: textback.Receipt{Sender: "finding", ProviderID: "SM-found"}, Status: "delivered"}}
	absent := findAnswer{}
	down := findAnswer{err: errors.New("twilio: 503 service unavailable")}
	soon := findAnswer{err: sms.ErrTooSoon}
	for name, tt := range map[string]struct {
		script    []findAnswer
		maxDelay  time.Duration
		wantState textback.State
		wantID    string // the provider id of a sent text
		wantSent  int    // texts sent again
		wantAsked int
		wantError string // in the text's last error
	}{
		"found at the carrier":         {script: []findAnswer{found}, wantState: textback.Sent, wantID: "SM-found", wantAsked: 1},
		"absent: sent again":           {script: []findAnswer{absent}, wantState: textback.Sent, wantID: "SM-resent", wantSent: 1, wantAsked: 1},
		"absent after max_delay":       {script: []findAnswer{absent}, maxDelay: 3 * time.Minute, wantState: textback.Expired, wantAsked: 1, wantError: "max_delay 3m0s has passed"},
		"carrier down, then found":     {script: []findAnswer{down, down, found}, wantState: textback.Sent, wantID: "SM-found", wantAsked: 3},
		"too soon, then absent":        {script: []findAnswer{soon, absent}, wantState: textback.Sent, wantID: "SM-resent", wantSent: 1, wantAsked: 2},
		"never answers: stays unknown": {script: []findAnswer{down}, wantState: textback.Unknown, wantError: "no answer"},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := testDB(t)
				// A text whose send had no answer a moment ago.
				id := queueText(t, db, "c1", time.Now())
				attempted := time.Now().Add(time.Second)
				if err := db.MarkSending(context.Background(), id, attempted); err != nil {
					t.Fatal(err)
				}
				if err := db.MarkDone(context.Background(), id, textback.Unknown, "no answer within 15s", attempted.Add(15*time.Second)); err != nil {
					t.Fatal(err)
				}
				snd := &findingSender{script: tt.script}
				maxDelay := cmp.Or(tt.maxDelay, 15*time.Minute)
				ob := newOutbox(db, snd, maxDelay, slog.New(slog.DiscardHandler))
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error)
				go func() { done <- ob.Run(ctx) }()

				// Not asked before the carrier's list can be trusted.
				time.Sleep(sms.FindWindow - time.Second)
				synctest.Wait()
				snd.mu.Lock()
				early := len(snd.asked)
				snd.mu.Unlock()
				if early != 0 {
					t.Errorf("asked %d times within sms.FindWindow of the send", early)
				}
				time.Sleep(2 * time.Hour)
				synctest.Wait()
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
				got := textState(t, db, "c1")
				if got.State != tt.wantState {
					t.Errorf("state %s (%s), want %s", got.State, got.LastError, tt.wantState)
				}
				if tt.wantID != "" && got.Receipt.ProviderID != tt.wantID {
					t.Errorf("provider id %q, want %q", got.Receipt.ProviderID, tt.wantID)
				}
				if snd.sent != tt.wantSent {
					t.Errorf("sent %d times again, want %d", snd.sent, tt.wantSent)
				}
				if tt.wantAsked > 0 && len(snd.asked) != tt.wantAsked {
					t.Errorf("asked %d times, want %d", len(snd.asked), tt.wantAsked)
				}
				if tt.wantAsked == 0 && (len(snd.asked) < 5 || len(snd.asked) > 20) {
					t.Errorf("asked %d times in 2 hours of a carrier that never answers, want a backed-off few", len(snd.asked))
				}
				for _, s := range snd.since {
					if !s.Equal(attempted.UTC()) {
						t.Errorf("asked about texts since %s, want the send's start %s", s, attempted)
					}
				}
				if !strings.Contains(got.LastError, tt.wantError) {
					t.Errorf("last error %q, want it to contain %q", got.LastError, tt.wantError)
				}
			})
		})
	}
}

// TestOutboxNoLookupWithoutFinder: a sender that cannot look texts up
// (a modem, a webhook) leaves an unknown text unknown.
func TestOutboxNoLookupWithoutFinder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := testDB(t)
		id := queueText(t, db, "c1", time.Now())
		if err := db.MarkSending(context.Background(), id, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkDone(context.Background(), id, textback.Unknown, "no answer", time.Now()); err != nil {
			t.Fatal(err)
		}
		snd := &scriptedSender{}
		ob := newOutbox(db, snd, 15*time.Minute, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- ob.Run(ctx) }()
		time.Sleep(time.Hour)
		synctest.Wait()
		cancel()
		<-done
		if got := textState(t, db, "c1"); got.State != textback.Unknown || snd.calls() != 0 {
			t.Errorf("state %s after %d sends, want unknown and none", got.State, snd.calls())
		}
	})
}
