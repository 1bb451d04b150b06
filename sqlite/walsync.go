package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// walSync makes the commits made so far durable by syncing the WAL file
// itself, outside SQLite's write lock, one fsync for every caller waiting
// at the time (a group commit), none for a caller whose commits an fsync
// under way already covers.
//
// A commit with synchronous=NORMAL (every commit of ours) has written its
// frames to the WAL file before it returns, unsynced; fsync flushes a
// file's written data whoever wrote it, so after a sync the WAL on disk
// holds every commit made before it was asked for, and a power cut keeps
// them, as if each had been committed with FULL. Done by SQLite inside a
// commit (FULL), the fsync would hold the write lock, and every other
// write (the next call's verdict) would wait for the disk too.
type walSync struct {
	path string
	// commits counts the lazy commits made; each fsync covers those
	// counted before it began.
	commits atomic.Uint64

	mu   sync.Mutex
	cond *sync.Cond
	f    *os.File // opened at the first sync
	// synced is the count of commits the fsyncs that succeeded cover;
	// tried and err are those of the last fsync to end. running is set
	// while one is under way.
	synced, tried uint64
	err           error
	running       bool
	waiting       int // callers waiting for the fsync under way to end
	// syncFile is (*os.File).Sync; tests stand in for the disk.
	syncFile func(*os.File) error
}

func newWALSync(dbPath string) *walSync {
	w := &walSync{path: dbPath + "-wal", syncFile: (*os.File).Sync}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// committed counts a lazy commit that has returned.
func (w *walSync) committed() { w.commits.Add(1) }

// sync returns once the commits made before it was called are on disk:
// covered by an fsync begun after they were made, the one under way if it
// is such, or a new one. An fsync that covered them and failed returns its
// error.
func (w *walSync) sync(ctx context.Context) error {
	target := w.commits.Load()
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		switch {
		case w.synced >= target:
			return nil
		case w.tried >= target && w.err != nil:
			return w.err
		case ctx.Err() != nil:
			return ctx.Err()
		case w.running:
			w.waiting++
			w.cond.Wait()
			w.waiting--
			continue
		}
		// Every commit counted now has written its frames: this fsync
		// covers them.
		covers := w.commits.Load()
		w.running = true
		w.mu.Unlock()
		err := w.fsync()
		w.mu.Lock()
		w.running = false
		w.tried, w.err = covers, err
		if err == nil {
			w.synced = max(w.synced, covers)
		}
		w.cond.Broadcast()
	}
}

// fsync syncs the WAL file. Called by one goroutine at a time.
func (w *walSync) fsync() error {
	if w.f != nil {
		// SQLite removes the WAL when the last connection to the file
		// closes (ours stay open, but one may be replaced): a WAL made
		// anew is another file.
		cur, err1 := os.Stat(w.path)
		mine, err2 := w.f.Stat()
		if err1 != nil || err2 != nil || !os.SameFile(cur, mine) {
			w.f.Close()
			w.f = nil
		}
	}
	if w.f == nil {
		f, err := os.Open(w.path)
		if err != nil {
			return fmt.Errorf("sync the WAL: %w", err)
		}
		// A WAL made since the daemon started is a new name in the
		// directory: sync that too, once, or a power cut could lose the
		// file and all in it.
		if d, err := os.Open(filepath.Dir(w.path)); err == nil {
			err = d.Sync()
			d.Close()
			if err != nil {
				f.Close()
				return fmt.Errorf("sync the WAL's directory: %w", err)
			}
		}
		w.f = f
	}
	if err := w.syncFile(w.f); err != nil {
		return fmt.Errorf("sync the WAL: %w", err)
	}
	return nil
}

func (w *walSync) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.running {
		w.cond.Wait()
	}
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Sync makes every commit made before it durable: a queued text marked
// sending without waiting for the disk (MarkSending) is synced before its
// request leaves, one recorded sending at once (RecordSending) after it.
// Callers at the same moment share one fsync. For ":memory:" it does
// nothing.
func (d *DB) Sync(ctx context.Context) error {
	if d.wal == nil {
		return nil
	}
	if err := d.wal.sync(ctx); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}
