package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/rules"
	"github.com/textback/textback/sms"
	"github.com/textback/textback/sqlite"
)

// scriptedSender answers each Send with the next error of its script (nil:
// accepted), and records what it was given.
type scriptedSender struct {
	mu     sync.Mutex
	script []error
	got    []textback.Message
	at     []time.Time
	delay  time.Duration
}

func (s *scriptedSender) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, m)
	s.at = append(s.at, time.Now())
	var err error
	if len(s.script) > 0 {
		err, s.script = s.script[0], s.script[1:]
	}
	if err != nil {
		return textback.Receipt{}, err
	}
	return textback.Receipt{Sender: "scripted", ProviderID: fmt.Sprintf("P%d", len(s.got))}, nil
}

func (s *scriptedSender) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// testDB opens a journal on disk for the test, closed when it ends.
func testDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// queueText journals a missed call and queues its text, as the daemon does.
func queueText(t *testing.T, db *sqlite.DB, id string, now time.Time) int64 {
	t.Helper()
	v := textback.Verdict{Call: textback.Call{ID: textback.CallID(id), Direction: textback.Inbound, Outcome: textback.NoAnswer},
		Caller: "+13125550101", Send: true, Reason: "send"}
	mid, err := db.Record(context.Background(), v, &textback.Message{To: "+13125550101", Body: "hi " + id}, now)
	if err != nil {
		t.Fatal(err)
	}
	return mid
}

func textState(t *testing.T, db *sqlite.DB, callID string) textback.Text {
	t.Helper()
	es, err := db.History(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if string(e.Call.ID) == callID && e.Text != nil {
			return *e.Text
		}
	}
	t.Fatalf("no text for %s", callID)
	return textback.Text{}
}

func TestOutbox(t *testing.T) {
	transient := errors.New("twilio: 503 service unavailable")
	for name, tt := range map[string]struct {
		script    []error
		interrupt bool // the text was left Sending by a dead daemon
		wantState textback.State
		wantCalls int
		minWait   time.Duration // the last attempt came at least this long after the first
		optedOut  bool          // the number ends on the opt-out list
	}{
		"sent at once":                        {wantState: textback.Sent, wantCalls: 1},
		"transient then sent":                 {script: []error{transient, transient}, wantState: textback.Sent, wantCalls: 3, minWait: 2 * time.Second},
		"unsubscribed recipient is opted out": {script: []error{fmt.Errorf("twilio: 21610: %w", sms.ErrOptedOut)}, wantState: textback.Failed, wantCalls: 1, optedOut: true},
		"permanent failure is not retried":    {script: []error{fmt.Errorf("twilio: landline: %w", textback.ErrUndeliverable)}, wantState: textback.Failed, wantCalls: 1},
		"retry-after is honoured": {script: []error{&textback.RetryError{After: 40 * time.Second, Err: transient}},
			wantState: textback.Sent, wantCalls: 2, minWait: 40 * time.Second},
		"given up after max_delay":       {script: repeat(transient, 1000), wantState: textback.Expired, wantCalls: 10},
		"interrupted send is not resent": {interrupt: true, wantState: textback.Unknown, wantCalls: 0},
		"unconfirmed send is not resent": {script: []error{fmt.Errorf("modem: %w", textback.ErrUnconfirmed)}, wantState: textback.Unknown, wantCalls: 1},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := testDB(t)
				id := queueText(t, db, "c1", time.Now())
				if tt.interrupt {
					if err := db.MarkSending(context.Background(), id, time.Now()); err != nil {
						t.Fatal(err)
					}
				}
				snd := &scriptedSender{script: tt.script}
				ob := newOutbox(db, snd, 15*time.Minute, slog.New(slog.DiscardHandler))
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error)
				go func() { done <- ob.Run(ctx) }()
				time.Sleep(20 * time.Minute) // fake time: every retry there will be has happened
				synctest.Wait()
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
				got := textState(t, db, "c1")
				if got.State != tt.wantState {
					t.Errorf("state %s (%s), want %s", got.State, got.LastError, tt.wantState)
				}
				if tt.wantState == textback.Expired {
					if snd.calls() < 5 || snd.calls() > 15 {
						t.Errorf("%d attempts in 15 minutes, want about 10 (backoff up to 2 minutes)", snd.calls())
					}
				} else if snd.calls() != tt.wantCalls {
					t.Errorf("%d sends, want %d", snd.calls(), tt.wantCalls)
				}
				if tt.minWait > 0 {
					if w := snd.at[len(snd.at)-1].Sub(snd.at[0]); w < tt.minWait {
						t.Errorf("last attempt %s after the first, want at least %s", w, tt.minWait)
					}
				}
				if out, err := db.OptedOut(context.Background(), "+13125550101"); err != nil || out != tt.optedOut {
					t.Errorf("opted out = %v, %v; want %v", out, err, tt.optedOut)
				}
				if tt.wantState == textback.Sent && got.Receipt.Sender != "scripted" {
					t.Errorf("receipt not recorded: %+v", got.Receipt)
				}
			})
		})
	}
}

func repeat(err error, n int) []error {
	s := make([]error, n)
	for i := range s {
		s[i] = err
	}
	return s
}

// TestOutboxFinishesSendOnShutdown: a send in flight when the daemon is told
// to stop is finished and recorded, not cut off.
func TestOutboxFinishesSendOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := testDB(t)
		queueText(t, db, "c1", time.Now())
		snd := &scriptedSender{delay: 3 * time.Second}
		ob := newOutbox(db, snd, 15*time.Minute, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- ob.Run(ctx) }()
		time.Sleep(time.Second) // the send is in flight
		cancel()
		<-done
		if got := textState(t, db, "c1"); got.State != textback.Sent {
			t.Errorf("state %s after shutdown mid-send, want sent", got.State)
		}
	})
}

// TestOutboxDeferred: a text deferred to the end of quiet hours waits until
// then, and max_delay counts from then, not from the call: a text deferred
// by nine hours is still sent, and one that cannot go within max_delay of
// its time expires.
func TestOutboxDeferred(t *testing.T) {
	transient := errors.New("twilio: 503 service unavailable")
	for name, tt := range map[string]struct {
		script    []error
		wantState textback.State
	}{
		"sent at the end of quiet hours":              {wantState: textback.Sent},
		"expires max_delay after the end, not before": {script: repeat(transient, 1000), wantState: textback.Expired},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := testDB(t)
				start := time.Now()
				notBefore := start.Add(9 * time.Hour)
				v := textback.Verdict{Call: textback.Call{ID: "c1", Direction: textback.Inbound, Outcome: textback.NoAnswer},
					Caller: "+13125550101", Send: true, Reason: "send"}
				if _, err := db.Record(context.Background(), v, &textback.Message{To: "+13125550101", Body: "hi", NotBefore: notBefore}, start); err != nil {
					t.Fatal(err)
				}
				snd := &scriptedSender{script: tt.script}
				ob := newOutbox(db, snd, 15*time.Minute, slog.New(slog.DiscardHandler))
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error)
				go func() { done <- ob.Run(ctx) }()
				time.Sleep(9*time.Hour - time.Second)
				synctest.Wait()
				if n := snd.calls(); n != 0 {
					t.Errorf("%d sends before the end of quiet hours, want 0", n)
				}
				time.Sleep(10 * time.Minute) // within max_delay of notBefore
				synctest.Wait()
				if got := textState(t, db, "c1"); got.State == textback.Expired {
					t.Errorf("expired %s after the call, within max_delay of its time", time.Since(start))
				}
				time.Sleep(20 * time.Minute)
				synctest.Wait()
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
				got := textState(t, db, "c1")
				if got.State != tt.wantState {
					t.Errorf("state %s (%s), want %s", got.State, got.LastError, tt.wantState)
				}
				if len(snd.at) > 0 && snd.at[0].Before(notBefore) {
					t.Errorf("first send at %s, before its time %s", snd.at[0], notBefore)
				}
			})
		})
	}
}

// TestOutboxGrace: a text held for a grace delay goes out when it ends,
// unless the caller connected with us after the missed call: then it is
// cancelled, whether the event loop saw it or only the journal holds it.
func TestOutboxGrace(t *testing.T) {
	const caller textback.Number = "+13125550101"
	const delay = 2 * time.Minute
	for name, tt := range map[string]struct {
		after      time.Duration // after the missed call, when what happens happens
		conn       *textback.Connection
		journal    *textback.Verdict
		to         textback.Number // who connected; empty: the caller
		wantState  textback.State
		wantReason string
	}{
		"nothing in the delay: sent": {wantState: textback.Sent},
		"redial got through": {after: 30 * time.Second, conn: &textback.Connection{Direction: textback.Inbound},
			wantState: textback.Cancelled, wantReason: "on a redial"},
		"called back": {after: 90 * time.Second, conn: &textback.Connection{Direction: textback.Outbound},
			wantState: textback.Cancelled, wantReason: "called back at"},
		"someone else got through": {after: 30 * time.Second, conn: &textback.Connection{Direction: textback.Inbound},
			to: "+13125550102", wantState: textback.Sent},
		"connected before the missed call": {after: -time.Minute, conn: &textback.Connection{Direction: textback.Inbound},
			wantState: textback.Sent},
		"journal only: redial answered before a restart": {after: 30 * time.Second,
			journal:   &textback.Verdict{Call: textback.Call{ID: "redial", Direction: textback.Inbound, Outcome: textback.Answered}, Reason: "answered"},
			wantState: textback.Cancelled, wantReason: "on a redial"},
		"journal only: the redial was missed too": {after: 30 * time.Second,
			journal:   &textback.Verdict{Call: textback.Call{ID: "redial", Direction: textback.Inbound, Outcome: textback.NoAnswer}, Reason: "cooldown"},
			wantState: textback.Sent},
		"journal only: called back": {after: 30 * time.Second,
			journal:   &textback.Verdict{Call: textback.Call{ID: "callback", Direction: textback.Outbound, Outcome: textback.Answered, Dialed: "3125550101"}, Reason: "not_inbound"},
			wantState: textback.Cancelled, wantReason: "called back at"},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := testDB(t)
				start := time.Now()
				v := textback.Verdict{Call: textback.Call{ID: "missed", Direction: textback.Inbound, Outcome: textback.NoAnswer},
					Caller: caller, Send: true, Reason: "send", Party: caller}
				m := &textback.Message{To: caller, Body: "hi", NotBefore: start.Add(delay), Grace: start}
				if _, err := db.Record(context.Background(), v, m, start); err != nil {
					t.Fatal(err)
				}
				snd := &scriptedSender{}
				ob := newOutbox(db, snd, 15*time.Minute, slog.New(slog.DiscardHandler))
				to := cmp.Or(tt.to, caller)
				if tt.conn != nil && tt.after < 0 {
					ob.conns.add(to, textback.Connection{At: start.Add(tt.after), Direction: tt.conn.Direction}, delay)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error)
				go func() { done <- ob.Run(ctx) }()
				if tt.after > 0 {
					time.Sleep(tt.after)
					if tt.conn != nil {
						ob.conns.add(to, textback.Connection{At: time.Now(), Direction: tt.conn.Direction}, delay)
					}
					if j := tt.journal; j != nil {
						j.Party = to
						if _, err := db.Record(context.Background(), *j, nil, time.Now()); err != nil {
							t.Fatal(err)
						}
					}
				}
				time.Sleep(10 * time.Minute)
				synctest.Wait()
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("Run() = %v", err)
				}
				got := textState(t, db, "missed")
				if got.State != tt.wantState || !strings.Contains(got.LastError, tt.wantReason) {
					t.Errorf("text is %s (%q), want %s (%q)", got.State, got.LastError, tt.wantState, tt.wantReason)
				}
				wantCalls := 0
				if tt.wantState == textback.Sent {
					wantCalls = 1
					if at := snd.at[0]; at.Sub(start) < delay {
						t.Errorf("sent %v after the call, before the delay %v", at.Sub(start), delay)
					}
				}
				if snd.calls() != wantCalls {
					t.Errorf("sender called %d times, want %d", snd.calls(), wantCalls)
				}
			})
		})
	}
}

// TestConnectionsBounded: entries older than the longest delay go, and a
// zero delay keeps none.
func TestConnectionsBounded(t *testing.T) {
	cs := newConnections()
	t0 := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	for i := range 100 {
		cs.add(textback.Number(fmt.Sprintf("+1312555%04d", i)), textback.Connection{At: t0.Add(time.Duration(i) * time.Second)}, time.Minute)
	}
	cs.add("+13125559999", textback.Connection{At: t0.Add(10 * time.Minute)}, time.Minute)
	if n := cs.len(); n != 1 {
		t.Errorf("%d numbers remembered after 10 minutes with a 1m delay, want 1", n)
	}
	if _, ok := cs.since("+13125559999", t0); !ok {
		t.Error("the latest connection is forgotten")
	}
	if _, ok := cs.since("+13125559999", t0.Add(11*time.Minute)); ok {
		t.Error("a connection before since counts")
	}
	cs.add("+13125559998", textback.Connection{At: t0.Add(11 * time.Minute)}, 0)
	if n := cs.len(); n != 0 {
		t.Errorf("%d numbers remembered with no delay, want 0", n)
	}
}

// countingSender takes delay over each text and counts how many it holds
// at once.
type countingSender struct {
	delay time.Duration

	mu        sync.Mutex
	now, most int
	bodies    map[string]int
}

func (s *countingSender) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	s.mu.Lock()
	s.now++
	s.most = max(s.most, s.now)
	s.bodies[m.Body]++
	s.mu.Unlock()
	time.Sleep(s.delay)
	s.mu.Lock()
	s.now--
	s.mu.Unlock()
	return textback.Receipt{Sender: "counting", ProviderID: m.Body}, nil
}

// TestOutboxSendsInParallel: a burst of texts through a slow carrier goes
// out sendWorkers at a time, each text once.
func TestOutboxSendsInParallel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := testDB(t)
		const n = 10
		for i := range n {
			queueText(t, db, fmt.Sprintf("c%d", i), time.Now())
		}
		snd := &countingSender{delay: time.Second, bodies: map[string]int{}}
		ob := newOutbox(db, snd, 15*time.Minute, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- ob.Run(ctx) }()
		// Three rounds of four: all ten are out after three seconds.
		time.Sleep(3*time.Second + time.Millisecond)
		synctest.Wait()
		st, err := db.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Texts[textback.Sent] != n {
			t.Errorf("%d of %d texts sent after 3 s through a 1 s carrier, want all (%d at once)", st.Texts[textback.Sent], n, sendWorkers)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if snd.most != sendWorkers {
			t.Errorf("%d texts in flight at most, want %d", snd.most, sendWorkers)
		}
		if len(snd.bodies) != n {
			t.Errorf("%d distinct texts sent, want %d", len(snd.bodies), n)
		}
		for b, k := range snd.bodies {
			if k != 1 {
				t.Errorf("%q sent %d times", b, k)
			}
		}
	})
}

// markFailStore fails MarkSending until healed, and counts the tries.
type markFailStore struct {
	*sqlite.DB
	mu     sync.Mutex
	broken bool
	tries  int
}

func (s *markFailStore) MarkSending(ctx context.Context, id int64, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	if s.broken {
		return errors.New("sqlite: mark sending: database or disk is full")
	}
	return s.DB.MarkSending(ctx, id, now)
}

// TestOutboxStoreErrorBacksOff: while the store refuses to mark texts
// sending, the outbox tries every few seconds, not in a busy loop, sends
// nothing, and sends each text once when the store recovers.
func TestOutboxStoreErrorBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := testDB(t)
		for i := range 6 {
			queueText(t, db, fmt.Sprintf("c%d", i), time.Now())
		}
		store := &markFailStore{DB: db, broken: true}
		snd := &countingSender{bodies: map[string]int{}}
		ob := newOutbox(store, snd, 15*time.Minute, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- ob.Run(ctx) }()
		time.Sleep(30 * time.Second)
		synctest.Wait()
		snd.mu.Lock()
		if len(snd.bodies) != 0 {
			t.Errorf("%d texts sent while the store could not mark them sending", len(snd.bodies))
		}
		snd.mu.Unlock()
		store.mu.Lock()
		tries := store.tries
		store.broken = false
		store.mu.Unlock()
		// A round every 5 s, at most a slot's worth of tries in each.
		if tries > 7*sendWorkers {
			t.Errorf("%d tries to mark a text sending in 30 s of a broken store, want a few a round", tries)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if len(snd.bodies) != 6 {
			t.Errorf("%d texts sent after the store recovered, want 6", len(snd.bodies))
		}
		for b, k := range snd.bodies {
			if k != 1 {
				t.Errorf("%q sent %d times", b, k)
			}
		}
	})
}

// sentFailStore fails MarkSent a number of times.
type sentFailStore struct {
	*sqlite.DB
	mu    sync.Mutex
	fails int
}

func (s *sentFailStore) MarkSent(ctx context.Context, id int64, r textback.Receipt, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails > 0 {
		s.fails--
		return errors.New("sqlite: mark sent: database is locked")
	}
	return s.DB.MarkSent(ctx, id, r, now)
}

// TestOutboxPersistsAfterSend: the carrier took the text, and the store
// refuses to record it for a few seconds: the outbox tries again, and the
// text ends sent, not sending (which the next start would call unknown).
func TestOutboxPersistsAfterSend(t *testing.T) {
	for name, tt := range map[string]struct {
		fails int
		want  textback.State
	}{
		"store back within the tries": {fails: persistTries - 1, want: textback.Sent},
		"store down for longer":       {fails: persistTries + 10, want: textback.Sending},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := testDB(t)
				queueText(t, db, "c1", time.Now())
				snd := &scriptedSender{}
				ob := newOutbox(&sentFailStore{DB: db, fails: tt.fails}, snd, 15*time.Minute, slog.New(slog.DiscardHandler))
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error)
				go func() { done <- ob.Run(ctx) }()
				time.Sleep(time.Minute)
				synctest.Wait()
				cancel()
				<-done
				if got := textState(t, db, "c1"); got.State != tt.want || snd.calls() != 1 {
					t.Errorf("state %s after %d sends, want %s after 1", got.State, snd.calls(), tt.want)
				}
			})
		})
	}
}

// countingStore counts the journal writes a text takes.
type countingStore struct {
	*sqlite.DB
	mu                                 sync.Mutex
	record, recordSending, markSending int
}

func (s *countingStore) Record(ctx context.Context, v textback.Verdict, m *textback.Message, now time.Time) (int64, error) {
	s.mu.Lock()
	s.record++
	s.mu.Unlock()
	return s.DB.Record(ctx, v, m, now)
}

func (s *countingStore) RecordSending(ctx context.Context, v textback.Verdict, m textback.Message, now time.Time) (int64, error) {
	s.mu.Lock()
	s.recordSending++
	s.mu.Unlock()
	return s.DB.RecordSending(ctx, v, m, now)
}

func (s *countingStore) MarkSending(ctx context.Context, id int64, now time.Time) error {
	s.mu.Lock()
	s.markSending++
	s.mu.Unlock()
	return s.DB.MarkSending(ctx, id, now)
}

// handOverDaemon is the event loop and outbox of the hand-over tests: one
// rule texting every missed call at once, over store and snd.
func handOverDaemon(t *testing.T, store textback.Store, snd textback.Sender) (*daemon, *outbox) {
	t.Helper()
	pol, err := rules.New(rules.Config{
		Region: "US", Cooldown: -1, MinRings: 1, Business: "Peak HVAC",
		Rules: []rules.Rule{{Name: "main", Message: "Sorry we missed your call."}},
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ob := newOutbox(store, snd, 15*time.Minute, log)
	return &daemon{policy: pol, store: store, outbox: ob, log: log, now: time.Now}, ob
}

// missedEvent is a missed inbound call from caller, ended now.
func missedEvent(id, caller string) textback.Event {
	return textback.Event{Call: textback.Call{ID: textback.CallID(id), Source: "ami",
		Direction: textback.Inbound, Outcome: textback.NoAnswer, CallerNum: caller,
		DID: "+12125550100", Rang: 30 * time.Second, Decided: time.Now()}}
}

// TestHandOver: a missed call's text goes to a free worker straight from
// the event loop, journaled sending in one commit; when every worker is
// busy it is queued and sent by the loop; before the outbox runs nothing
// is claimed. Each text goes once.
func TestHandOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := testDB(t)
		store := &countingStore{DB: db}
		snd := &countingSender{delay: time.Second, bodies: map[string]int{}}
		d, ob := handOverDaemon(t, store, snd)
		missed := func(i int) textback.Event { return missedEvent(fmt.Sprint("c", i), fmt.Sprintf("+1312555%04d", i)) }
		counts := func() [3]int {
			store.mu.Lock()
			defer store.mu.Unlock()
			return [3]int{store.record, store.recordSending, store.markSending}
		}
		// Before Run: no worker to claim; the text is queued.
		if err := d.handle(context.Background(), missed(0)); err != nil {
			t.Fatal(err)
		}
		if got := counts(); got != [3]int{1, 0, 0} {
			t.Errorf("before Run: Record, RecordSending, MarkSending = %v, want [1 0 0]", got)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- ob.Run(ctx) }()
		synctest.Wait() // c0 goes through the loop: Due, MarkSending
		// Three more fill the four workers straight from the event loop;
		// the two after them find none free and are queued.
		for i := 1; i <= 5; i++ {
			if err := d.handle(context.Background(), missed(i)); err != nil {
				t.Fatal(err)
			}
		}
		if got := counts(); got != [3]int{3, 3, 1} {
			t.Errorf("Record, RecordSending, MarkSending = %v, want [3 3 1]", got)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if got := counts(); got != [3]int{3, 3, 3} {
			t.Errorf("at the end Record, RecordSending, MarkSending = %v, want [3 3 3]", got)
		}
		st, err := db.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Texts[textback.Sent] != 6 {
			t.Errorf("%d texts sent, want 6: %v", st.Texts[textback.Sent], st.Texts)
		}
		if len(snd.bodies) != 1 || snd.bodies["Sorry we missed your call."] != 6 || snd.most > sendWorkers {
			t.Errorf("sender got %v, %d at most at once; want 6 texts, at most %d at once", snd.bodies, snd.most, sendWorkers)
		}
	})
}

// slowSyncStore is a journal on a slow disk: each Sync takes a second. It
// writes down, in order, the writes and syncs a text goes through.
type slowSyncStore struct {
	*sqlite.DB
	mu  sync.Mutex
	ops []string
}

func (s *slowSyncStore) op(o string) {
	s.mu.Lock()
	s.ops = append(s.ops, o)
	s.mu.Unlock()
}

func (s *slowSyncStore) RecordSending(ctx context.Context, v textback.Verdict, m textback.Message, now time.Time) (int64, error) {
	s.op("record sending")
	return s.DB.RecordSending(ctx, v, m, now)
}

func (s *slowSyncStore) MarkSending(ctx context.Context, id int64, now time.Time) error {
	s.op("mark sending")
	return s.DB.MarkSending(ctx, id, now)
}

func (s *slowSyncStore) MarkSent(ctx context.Context, id int64, r textback.Receipt, now time.Time) error {
	s.op("mark sent")
	return s.DB.MarkSent(ctx, id, r, now)
}

func (s *slowSyncStore) Sync(ctx context.Context) error {
	s.op("sync")
	time.Sleep(time.Second)
	s.op("synced")
	return s.DB.Sync(ctx)
}

// TestSendingSyncedInTime: a queued text marked sending waits for the
// journal's sync before its request leaves (else a power cut could bring
// it back queued, to be sent twice); a text recorded sending straight from
// the event loop goes out at once, the sync after it, for a power cut can
// only take such a text out of the journal.
func TestSendingSyncedInTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := testDB(t)
		store := &slowSyncStore{DB: db}
		snd := &scriptedSender{}
		d, ob := handOverDaemon(t, store, snd)
		missed := func(id string) textback.Event { return missedEvent(id, "+13125550101") }
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error)

		// Queued before the outbox runs, then sent by its loop.
		if err := d.handle(ctx, missed("queued")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		go func() { done <- ob.Run(ctx) }()
		synctest.Wait()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if snd.calls() != 1 {
			t.Fatalf("%d texts sent, want the queued one", snd.calls())
		}
		if wait := snd.at[0].Sub(start); wait < time.Second {
			t.Errorf("the queued text left %s after the loop took it, before its sync ended", wait)
		}
		want := []string{"mark sending", "sync", "synced", "mark sent"}
		if !slices.Equal(store.ops, want) {
			t.Errorf("queued text: writes and syncs %q, want %q", store.ops, want)
		}

		// Straight from the event loop.
		store.ops = nil
		start = time.Now()
		if err := d.handle(ctx, missed("fresh")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if snd.calls() != 2 {
			t.Fatalf("%d texts sent, want 2", snd.calls())
		}
		if wait := snd.at[1].Sub(start); wait != 0 {
			t.Errorf("the text recorded sending left %s after its call was decided, want at once", wait)
		}
		want = []string{"record sending", "mark sent", "sync", "synced"}
		if !slices.Equal(store.ops, want) {
			t.Errorf("text recorded sending: writes and syncs %q, want %q", store.ops, want)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// dueCountingStore counts the outbox loop's looks at the queue.
type dueCountingStore struct {
	*sqlite.DB
	mu  sync.Mutex
	due int
}

func (s *dueCountingStore) Due(ctx context.Context, now time.Time, limit int) ([]textback.Text, error) {
	s.mu.Lock()
	s.due++
	s.mu.Unlock()
	return s.DB.Due(ctx, now, limit)
}

func (s *dueCountingStore) looks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.due
}

// TestHandedTextLeavesTheLoopAlone: a text the event loop hands over and
// the carrier takes costs the outbox loop no look at the queue (at
// hundreds of calls a second those looks were a core's worth of reads);
// one the carrier refuses for now goes back in the queue and wakes the
// loop, which sends it again when due.
func TestHandedTextLeavesTheLoopAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &dueCountingStore{DB: testDB(t)}
		snd := &scriptedSender{script: []error{nil, nil, nil, &textback.RetryError{Err: errors.New("429"), After: 3 * time.Second}}}
		d, ob := handOverDaemon(t, store, snd)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- ob.Run(ctx) }()
		synctest.Wait()
		before := store.looks()
		for i := range 4 {
			if err := d.handle(ctx, missedEvent(fmt.Sprint("c", i), fmt.Sprintf("+1312555%04d", i))); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if i < 3 {
				if got := store.looks(); got != before {
					t.Errorf("after %d texts handed over and sent, the loop looked at the queue %d times", i+1, got-before)
				}
			}
		}
		if snd.calls() != 4 {
			t.Fatalf("%d sends, want 4", snd.calls())
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if snd.calls() != 5 {
			t.Errorf("%d sends, want the refused text sent again after its Retry-After", snd.calls())
		} else if wait := snd.at[4].Sub(snd.at[3]); wait != 3*time.Second {
			t.Errorf("sent again %s after the refusal, want 3s", wait)
		}
		if got := textState(t, store.DB, "c3"); got.State != textback.Sent || got.Attempts != 2 {
			t.Errorf("refused text: %s after %d attempts, want sent after 2", got.State, got.Attempts)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}
