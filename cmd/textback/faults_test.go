package main

import (
	"bytes"
	"context"
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
	"github.com/textback/textback/sqlite"
)

// sqliteCode is an error carrying a SQLite result code, as the driver's do.
type sqliteCode int

func (e sqliteCode) Error() string { return fmt.Sprintf("sqlite error (%d)", int(e)) }
func (e sqliteCode) Code() int     { return int(e) }

// flakyStore is a real store that fails while told to: Record and
// RecordSending (the journal write) or OptedOut (a read of the decision)
// return err.
type flakyStore struct {
	*sqlite.DB
	mu      sync.Mutex
	err     error // nil: works
	decide  bool  // fail the decision's read rather than the journal write
	records int   // Record calls that failed
}

func (s *flakyStore) set(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *flakyStore) failing(decide bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil || decide != s.decide {
		return nil
	}
	if !decide {
		s.records++
	}
	return s.err
}

func (s *flakyStore) failedRecords() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records
}

func (s *flakyStore) Record(ctx context.Context, v textback.Verdict, m *textback.Message, now time.Time) (int64, error) {
	if err := s.failing(false); err != nil {
		return 0, fmt.Errorf("sqlite: record: call %s: %w", v.Call.ID, err)
	}
	return s.DB.Record(ctx, v, m, now)
}

func (s *flakyStore) RecordSending(ctx context.Context, v textback.Verdict, m textback.Message, now time.Time) (int64, error) {
	if err := s.failing(false); err != nil {
		return 0, fmt.Errorf("sqlite: record: call %s: %w", v.Call.ID, err)
	}
	return s.DB.RecordSending(ctx, v, m, now)
}

func (s *flakyStore) OptedOut(ctx context.Context, n textback.Number) (bool, error) {
	if err := s.failing(true); err != nil {
		return false, fmt.Errorf("sqlite: opted out: %w", err)
	}
	return s.DB.OptedOut(ctx, n)
}

// chanSource passes on the events sent to it, as a PBX source does.
type chanSource chan textback.Event

func (s chanSource) Run(ctx context.Context, out chan<- textback.Event) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-s:
			out <- ev
		}
	}
}

// syncBuffer is a log the test reads while the daemon writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) lines(substr string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.b.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// faultDaemon is a daemon on a flaky store, served in a synctest bubble.
type faultDaemon struct {
	d      *daemon
	store  *flakyStore
	snd    *scriptedSender
	src    chanSource
	log    *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func startFaultDaemon(t *testing.T, limit int) *faultDaemon {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pol, err := rules.New(rules.Config{
		Region: "US", Cooldown: time.Hour, MinRings: 1, Business: "Peak HVAC",
		Rules: []rules.Rule{{Name: "main", Message: "Sorry we missed your call."}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &faultDaemon{store: &flakyStore{DB: db}, snd: &scriptedSender{}, src: make(chanSource), log: &syncBuffer{}, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.d = &daemon{policy: pol, store: f.store, outbox: newOutbox(f.store, f.snd, 15*time.Minute, log),
		log: log, now: time.Now, waitLimit: limit}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() { f.done <- f.d.serve(ctx, f.src) }()
	return f
}

// call sends a missed call from caller through the source.
func (f *faultDaemon) call(id, caller string) {
	f.src <- textback.Event{Call: textback.Call{ID: textback.CallID(id), Source: "ami", Direction: textback.Inbound,
		Outcome: textback.NoAnswer, CallerNum: caller, DID: "+12125550100", Rang: 30 * time.Second, Decided: time.Now()}}
}

func (f *faultDaemon) stop(t *testing.T) {
	t.Helper()
	f.cancel()
	if err := <-f.done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// journal is the call ids of the journal, oldest first, with their reasons.
func (f *faultDaemon) journal(t *testing.T) []string {
	t.Helper()
	es, err := f.store.DB.History(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range slices.Backward(es) {
		out = append(out, string(e.Call.ID)+" "+e.Reason)
	}
	return out
}

func (f *faultDaemon) ready() []string {
	return readiness{waiting: f.d.waitingCalls}.check(context.Background())
}

// TestStoreFailsThenRecovers: while the store refuses the calls (its
// journal write, or a read of the decision), they wait in memory, in
// order, and /readyz says how many; once it takes them again they are all
// journaled and texted, and the caller's second call is held back by the
// cooldown of the first as if nothing had happened.
func TestStoreFailsThenRecovers(t *testing.T) {
	for name, tt := range map[string]struct {
		err    error
		decide bool
	}{
		"journal locked":      {err: sqliteCode(5)},   // SQLITE_BUSY
		"disk full":           {err: sqliteCode(13)},  // SQLITE_FULL
		"file size limit":     {err: sqliteCode(778)}, // SQLITE_IOERR_WRITE
		"decision read fails": {err: sqliteCode(10), decide: true},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := startFaultDaemon(t, 0)
				f.store.mu.Lock()
				f.store.decide = tt.decide
				f.store.mu.Unlock()
				f.call("before", "+13125550100")
				synctest.Wait()
				f.store.set(tt.err)
				f.call("c1", "+13125550101")
				f.call("c2", "+13125550102")
				f.call("c3", "+13125550101") // within the cooldown of c1
				synctest.Wait()
				if why := f.ready(); !slices.Equal(why, []string{"store: 3 calls waiting to be journaled"}) {
					t.Errorf("readiness while the store fails: %q", why)
				}
				if l := f.log.lines(`level=ERROR msg="store failed: the call is held in memory`); len(l) != 1 ||
					!strings.Contains(l[0], "call_id=c1") || !strings.Contains(l[0], "waiting=1") || !strings.Contains(l[0], "sqlite error") {
					t.Errorf("log of the first call held: %q", l)
				}
				if l := f.log.lines(`msg="call waiting for the store, behind earlier calls"`); len(l) != 2 {
					t.Errorf("log of the calls behind it: %q", l)
				}

				time.Sleep(10 * time.Second) // retries after 1s, 2s and 4s; the next at 12s
				if !tt.decide {
					// Only the first call is tried: the others wait behind it.
					if n := f.store.failedRecords(); n != 4 {
						t.Errorf("%d journal writes tried in 10s, want 4 (at 0s, 1s, 3s, 7s)", n)
					}
				}
				if l := f.log.lines(`msg="store still failing: calls wait in memory to be journaled" waiting=3`); len(l) != 3 {
					t.Errorf("%d retry logs, want 3: %q", len(l), l)
				}
				if got := f.journal(t); !slices.Equal(got, []string{"before send"}) {
					t.Errorf("journal while the store fails: %v", got)
				}

				f.store.set(nil)
				f.call("c4", "+13125550104") // comes before the next retry: waits behind
				time.Sleep(5 * time.Second)
				synctest.Wait()
				want := []string{"before send", "c1 send", "c2 send", "c3 cooldown", "c4 send"}
				if got := f.journal(t); !slices.Equal(got, want) {
					t.Errorf("journal after the store recovered: %v, want %v", got, want)
				}
				if why := f.ready(); len(why) != 0 {
					t.Errorf("readiness after the store recovered: %q", why)
				}
				if l := f.log.lines(`msg="store back: the calls that waited are journaled" journaled=4 dropped=0`); len(l) != 1 {
					t.Errorf("no log of the recovery: %q", f.log.lines("store back"))
				}
				// The outbox sends several at once: wait for them, and
				// compare as a set.
				for range 10 {
					if f.snd.calls() >= 4 {
						break
					}
					time.Sleep(time.Second)
					synctest.Wait()
				}
				var to []textback.Number
				f.snd.mu.Lock()
				for _, m := range f.snd.got {
					to = append(to, m.To)
				}
				f.snd.mu.Unlock()
				slices.Sort(to)
				if want := []textback.Number{"+13125550100", "+13125550101", "+13125550102", "+13125550104"}; !slices.Equal(to, want) {
					t.Errorf("texted %v, want %v", to, want)
				}
				f.stop(t)
				if l := f.log.lines("call lost"); len(l) != 0 {
					t.Errorf("calls lost: %q", l)
				}
			})
		})
	}
}

// TestStoreFailsTooLong: past the limit the oldest call waiting is
// dropped, with an error naming it; the store's refusal of one call for
// good does not hold the others; and the calls still waiting when the
// daemon stops are logged at error level, one by one.
func TestStoreFailsTooLong(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := startFaultDaemon(t, 3)
		f.store.set(sqliteCode(13))
		for i := range 5 {
			f.call(fmt.Sprintf("c%d", i), fmt.Sprintf("+1312555010%d", i))
		}
		synctest.Wait()
		if n := f.d.waitingCalls(); n != 3 {
			t.Errorf("%d calls waiting, want the limit, 3", n)
		}
		dropped := f.log.lines(`level=ERROR msg="call lost: too many calls waiting for the store, the oldest is dropped"`)
		if len(dropped) != 2 || !strings.Contains(dropped[0], "call_id=c0 ") || !strings.Contains(dropped[1], "call_id=c1 ") ||
			!strings.Contains(dropped[0], "caller=+1******0100") {
			t.Errorf("log of the calls dropped: %q", dropped)
		}

		// An error that is not the store failing (a constraint, say) is
		// this call's alone: it is not held.
		f.store.set(fmt.Errorf("%w: call has no id", sqliteCode(19)))
		time.Sleep(time.Second)
		synctest.Wait()
		if n := f.d.waitingCalls(); n != 0 {
			t.Errorf("%d calls waiting on an error that is not the store failing, want 0", n)
		}
		if l := f.log.lines(`level=ERROR msg="call not recorded: the store refused it"`); len(l) != 3 {
			t.Errorf("%d calls not recorded, want 3: %q", len(l), l)
		}

		f.store.set(sqliteCode(5))
		f.call("last1", "+13125550111")
		f.call("last2", "+13125550112")
		synctest.Wait()
		f.stop(t)
		lost := f.log.lines(`level=ERROR msg="call lost: the daemon stopped before the store took it; follow it up by hand"`)
		if len(lost) != 2 || !strings.Contains(lost[0], "call_id=last1 ") || !strings.Contains(lost[1], "call_id=last2 ") ||
			!strings.Contains(lost[1], "caller=+1******0112") {
			t.Errorf("log of the calls lost at the stop: %q", lost)
		}
		if n := f.d.waitingCalls(); n != 0 {
			t.Errorf("%d calls waiting after the stop", n)
		}
	})
}
