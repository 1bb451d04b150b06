package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback"
)

// TestLazyAndDurable: a lazy write commits without syncing the WAL; a
// durable one commits, then syncs it (outside SQLite, with walSync), and
// reports a sync that failed though its row stands; a write whose fn fails
// commits nothing and syncs nothing. The writer itself never syncs at a
// commit (synchronous NORMAL).
func TestLazyAndDurable(t *testing.T) {
	d, _ := openTest(t)
	var n int
	if err := d.db.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("writer opens with synchronous = %d, want 1 (NORMAL): SQLite would sync inside the write lock", n)
	}
	var (
		mu        sync.Mutex
		syncs     int
		syncErr   error
		rowAtSync bool
	)
	d.wal.syncFile = func(*os.File) error {
		mu.Lock()
		defer mu.Unlock()
		syncs++
		// What was committed before the sync: a fresh read sees it.
		out, err := d.OptedOut(context.Background(), "+13125550199")
		rowAtSync = err == nil && out
		return syncErr
	}
	boom := errors.New("boom")
	diskErr := errors.New("EIO")
	cancelled, cancel := context.WithCancel(t.Context())
	defer cancel()
	for name, tt := range map[string]struct {
		write   write
		ctx     context.Context
		err     error // fn's error
		syncErr error // the disk's
		want    error // the write's
		syncs   int
		row     bool
	}{
		"lazy":                {write: d.lazy, ctx: t.Context(), row: true},
		"lazy, fn fails":      {write: d.lazy, ctx: t.Context(), err: boom, want: boom},
		"lazy, ctx ends":      {write: d.lazy, ctx: cancelled, err: context.Canceled, want: context.Canceled},
		"durable":             {write: d.durable, ctx: t.Context(), syncs: 1, row: true},
		"durable, fn fails":   {write: d.durable, ctx: t.Context(), err: boom, want: boom},
		"durable, sync fails": {write: d.durable, ctx: t.Context(), syncErr: diskErr, want: diskErr, syncs: 1, row: true},
	} {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			syncs, syncErr, rowAtSync = 0, tt.syncErr, false
			mu.Unlock()
			err := tt.write(tt.ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(t.Context(), `INSERT INTO optouts (number, source, created) VALUES ('+13125550199', 'test', 1)`); err != nil {
					t.Fatal(err)
				}
				if tt.err == context.Canceled {
					cancel()
				}
				return tt.err
			})
			if !errors.Is(err, tt.want) {
				t.Errorf("write = %v, want %v", err, tt.want)
			}
			mu.Lock()
			if syncs != tt.syncs {
				t.Errorf("%d syncs of the WAL, want %d", syncs, tt.syncs)
			}
			if tt.syncs > 0 && !rowAtSync {
				t.Error("the WAL was synced before the commit")
			}
			mu.Unlock()
			out, err := d.OptedOut(t.Context(), "+13125550199")
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.row {
				t.Errorf("row written = %v, want %v", out, tt.row)
			}
			if _, err := d.db.ExecContext(t.Context(), `DELETE FROM optouts`); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReadersCannotWrite(t *testing.T) {
	d, _ := openTest(t)
	if d.rd == d.db {
		t.Fatal("a file database reads through its writer")
	}
	_, err := d.rd.ExecContext(t.Context(), `INSERT INTO optouts (number, source, created) VALUES ('+13125550199', 'test', 1)`)
	if err == nil {
		t.Fatal("a write through the readers succeeded")
	}
}

// A reader sees what the writer committed the moment the commit returns,
// synced or not: the outbox finds a text the event loop has just queued.
func TestReadersSeeEveryCommit(t *testing.T) {
	d, _ := openTest(t)
	for i := range 50 {
		id := record(t, d, "c"+string(rune('a'+i%26))+string(rune('a'+i/26)), "+13125550150", t0)
		due, err := d.Due(t.Context(), t0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(due) != i+1 || due[i].ID != id {
			t.Fatalf("after %d texts queued, Due returns %d", i+1, len(due))
		}
	}
}

func TestSyncRecord(t *testing.T) {
	m := func(f func(*textback.Message)) *textback.Message {
		msg := text("c1", "+13125550150")
		f(msg)
		return msg
	}
	for name, tt := range map[string]struct {
		m    *textback.Message
		want bool
	}{
		"no text":          {nil, false},
		"a text due now":   {m(func(*textback.Message) {}), false},
		"deferred":         {m(func(m *textback.Message) { m.NotBefore = t0.Add(time.Hour) }), true},
		"not_before past":  {m(func(m *textback.Message) { m.NotBefore = t0.Add(-time.Hour) }), false},
		"held for a grace": {m(func(m *textback.Message) { m.Grace = t0 }), true},
	} {
		if got := syncRecord(tt.m, t0); got != tt.want {
			t.Errorf("%s: syncRecord = %v, want %v", name, got, tt.want)
		}
	}
}

// TestCheckpointsInBackground: commits never copy the WAL into the file
// themselves (that would keep a text waiting); the checkpoints goroutine
// does.
func TestCheckpointsInBackground(t *testing.T) {
	size := func(path string) int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	for name, every := range map[string]time.Duration{"never": time.Hour, "every 20ms": 20 * time.Millisecond} {
		t.Run(name, func(t *testing.T) {
			defer func(d time.Duration) { checkpointEvery = d }(checkpointEvery)
			checkpointEvery = every
			d, path := openTest(t)
			before := size(path)
			// About 1,500 pages: past SQLite's default autocheckpoint of 1,000.
			body := strings.Repeat("x", 4000)
			err := d.lazy(t.Context(), func(tx *sql.Tx) error {
				for i := range 1500 {
					if _, err := tx.Exec(`INSERT INTO inbound (provider, provider_id, from_number, to_number, body, received)
VALUES ('test', ?, '+13125550150', '+13125550100', ?, 1)`, fmt.Sprint(i), body); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			record(t, d, "c1", "+13125550150", t0) // and a commit after it
			grown := false
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if grown = size(path) > before; grown || every == time.Hour {
					break
				}
			}
			if every == time.Hour && grown {
				t.Errorf("the file grew from %d to %d bytes with no background checkpoint: a commit checkpointed", before, size(path))
			}
			if every != time.Hour && !grown {
				t.Errorf("the file stayed at %d bytes: no background checkpoint", before)
			}
		})
	}
}

// TestOpenWhileLocked: opening a current journal needs no write lock, so
// `textback history` works while another process holds it.
func TestOpenWhileLocked(t *testing.T) {
	_, path := openTest(t)
	lock, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	lock.SetMaxOpenConns(1)
	if _, err := lock.Exec("BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	defer lock.Exec("ROLLBACK")
	start := time.Now()
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open while another process holds the write lock: %v", err)
	}
	defer d.Close()
	if took := time.Since(start); took > busyTimeout/2 {
		t.Errorf("Open took %s: it waited for the lock", took)
	}
	if _, err := d.History(t.Context(), time.Time{}); err != nil {
		t.Errorf("History while locked: %v", err)
	}
}

func TestRecordSending(t *testing.T) {
	d, _ := openTest(t)
	ctx := t.Context()
	m := *text("c1", "+13125550150")
	id, err := d.RecordSending(ctx, missed("c1", "+13125550150", t0), m, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Left sending by a daemon that died: Interrupted finds it, as it
	// finds one marked sending.
	ts, err := d.Interrupted(ctx)
	if err != nil || len(ts) != 1 || ts[0].ID != id {
		t.Fatalf("Interrupted = %+v, %v; want text %d", ts, err, id)
	}
	if got := ts[0]; got.State != textback.Sending || got.Attempts != 1 || !got.Attempted.Equal(t0) || got.Body != m.Body {
		t.Errorf("recorded %+v: want sending, attempt 1 at %s", got, t0)
	}
	if due, err := d.Due(ctx, t0.Add(time.Hour), 10); err != nil || len(due) != 0 {
		t.Errorf("Due = %v, %v: a text handed over is not due", due, err)
	}
	must(t, d.MarkSent(ctx, id, textback.Receipt{Sender: "log"}, t0))
	if _, err := d.RecordSending(ctx, missed("c1", "+13125550150", t0), m, t0); !errors.Is(err, textback.ErrDuplicateCall) {
		t.Errorf("the same call again: %v, want ErrDuplicateCall", err)
	}
	held := *text("c2", "+13125550151")
	held.NotBefore = t0.Add(time.Hour)
	if _, err := d.RecordSending(ctx, missed("c2", "+13125550151", t0), held, t0); err == nil {
		t.Error("a text deferred to later was recorded as sending")
	}
}

// TestOpenAtOnce: processes opening a new journal at the same moment (the
// daemon starting while `textback history` runs) all get it.
func TestOpenAtOnce(t *testing.T) {
	for round := range 10 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("r%d.db", round))
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				d, err := Open(t.Context(), path)
				if err != nil {
					errs <- err
					return
				}
				if _, err := d.History(t.Context(), time.Time{}); err != nil {
					errs <- err
				}
				errs <- d.Close()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}
