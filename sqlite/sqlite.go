// Package sqlite turns a SQLite file into textback's journal and outbox: every
// call with the verdict the rules gave it, and every text with its life from
// queued to a final state.
//
// Times are stored as Unix nanoseconds (INTEGER, UTC), the zero time as NULL,
// and durations as nanoseconds. In the sqlite3 shell a time reads as
// datetime(recorded / 1e9, 'unixepoch').
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/textback/textback"
	modernc "modernc.org/sqlite"
)

var _ textback.Store = (*DB)(nil)

// Errors of the outbox's state machine.
var (
	// ErrNotFound is returned for a text id the outbox does not hold.
	ErrNotFound = errors.New("no such text")
	// ErrState is returned for a transition the text's current state does
	// not allow, such as marking a sent text as sending.
	ErrState = errors.New("impossible state transition")
)

// busyTimeout is how long a statement waits for another process's write lock
// (the sqlite3 shell, a backup) before it fails with "database is locked".
// Tests shorten it.
var busyTimeout = 5 * time.Second

// DB is the journal and outbox in one SQLite file. It is safe for concurrent
// use.
//
// It writes through a single connection: database/sql hands it to one
// caller at a time, so our own goroutines queue in Go (honouring their ctx)
// instead of meeting SQLITE_BUSY. It reads through a small pool of
// read-only connections: under WAL a reader sees every commit made before
// it began and neither waits for the writer nor holds it up, so the
// decision of one call (opt-out, cooldown, caps) is not queued behind the
// fsync of another call's text. Other processes (textback history, the
// sqlite3 shell) read while we write too.
type DB struct {
	db *sql.DB // the writer
	rd *sql.DB // the readers; the writer itself for an in-memory database
	// stop ends checkpoints, which closes stopped; nil for ":memory:".
	stop, stopped chan struct{}
	closing       sync.Once
	// wal syncs the WAL for Sync; nil for ":memory:".
	wal *walSync
	// reads and writes keep the statements run often prepared, on the
	// readers and on the writer; one cache for ":memory:".
	reads, writes *stmts
}

// readers is the size of the read pool: the event loop, the outbox, the
// HTTP handlers and a sender or two read at once.
const readers = 4

// Open opens the database at path, creating the file (0600) and its
// directory (0700) if missing, and brings its schema up to date. The path
// ":memory:" opens a private in-memory database.
func Open(ctx context.Context, path string) (*DB, error) {
	memory := path == ":memory:"
	dsn := "file::memory:"
	var wal *walSync
	if !memory {
		if path == "" {
			return nil, errors.New("sqlite: open: empty path")
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		if err := create(abs); err != nil {
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		// A URI, so that a '?' or '#' in the path is escaped rather than
		// taken for the start of the parameters.
		dsn = (&url.URL{Scheme: "file", Path: abs}).String()
		wal = newWALSync(abs)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	// SQLite leaves foreign keys off unless asked, per connection.
	q.Add("_pragma", "foreign_keys(ON)")
	// WAL: readers in other processes don't block our writes, and a commit
	// appends to the log instead of rewriting pages.
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL writes a commit to the WAL file without syncing it: the
	// commit survives the daemon being killed, not a power cut. A write
	// that must survive one is synced after its commit, outside the write
	// lock (durable, walSync), the syncs of writers at the same moment
	// shared.
	q.Add("_pragma", "synchronous(NORMAL)")
	// The WAL is copied into the database file (a checkpoint, with its own
	// fsyncs) by a goroutine of its own (checkpoints), not by whichever
	// commit happens to cross 1,000 pages, which would keep that text
	// waiting for it.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	// Write transactions take the write lock at BEGIN, so a transaction
	// that reads first never has to upgrade its lock, which fails with
	// SQLITE_BUSY at once instead of waiting out busy_timeout.
	q.Set("_txlock", "immediate")

	// A connector rather than sql.Open("sqlite", …) and a blank import:
	// the driver is ours to choose, not a side effect.
	c, err := modernc.NewConnector(dsn + "?" + q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	// Keep the one connection for good: an in-memory database lives and
	// dies with it.
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	d := &DB{db: db, rd: db, wal: wal, writes: newStmts(db)}
	d.reads = d.writes
	// Two processes opening a new file at once (the daemon starting, and
	// `textback history`) meet over the switch to WAL, which SQLite
	// refuses with SQLITE_BUSY at once rather than waiting busy_timeout:
	// try again for as long.
	for deadline := time.Now().Add(busyTimeout); ; {
		err := d.setup(ctx, memory)
		if err == nil {
			break
		}
		if !busy(err) || time.Now().After(deadline) || ctx.Err() != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if memory {
		return d, nil
	}
	// The readers open after setup, on a file whose schema is current.
	// query_only makes a write through them an error, not a second writer.
	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	rq.Add("_pragma", "query_only(1)")
	rc, err := modernc.NewConnector(dsn + "?" + rq.Encode())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	d.rd = sql.OpenDB(rc)
	d.rd.SetMaxOpenConns(readers)
	d.rd.SetMaxIdleConns(readers)
	d.reads = newStmts(d.rd)
	d.stop = make(chan struct{})
	d.stopped = make(chan struct{})
	go d.checkpoints(checkpointEvery)
	return d, nil
}

// checkpointEvery is how often checkpoints copies the WAL into the file.
var checkpointEvery = time.Second

// checkpoints copies the WAL into the database file every tick
// until Close, through a reader: a PASSIVE checkpoint takes no write lock,
// so commits go on while it runs, and copies what no reader still needs.
// SQLite restarts the WAL from its beginning at the first commit after a
// complete one, so the file stays small. An error (disk full) is met again
// at the next commit, where it is reported; the next tick tries again.
func (d *DB) checkpoints(every time.Duration) {
	defer close(d.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		d.rd.Exec("PRAGMA wal_checkpoint(PASSIVE)")
	}
}

// busy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED
// (another connection holds a lock), extended codes included.
func busy(err error) bool {
	var e interface{ Code() int }
	if !errors.As(err, &e) {
		return false
	}
	c := e.Code() & 0xff
	return c == 5 || c == 6
}

// create makes the database file and its directory if they are missing, so
// that they are private (SQLite would make the file 0644): the journal holds
// callers' numbers. SQLite gives the -wal and -shm files the mode of the
// database file.
func create(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

func (d *DB) setup(ctx context.Context, memory bool) error {
	var mode string
	if err := d.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	// SQLite falls back to another journal mode where WAL cannot work (some
	// network filesystems) without failing the pragma.
	if !memory && mode != "wal" {
		return fmt.Errorf("journal mode is %q, not wal: is the file on a network filesystem?", mode)
	}
	return migrate(ctx, d.db)
}

// Close closes the database. SQLite checkpoints the WAL into the file as its
// last connection closes.
func (d *DB) Close() error {
	var rerr error
	if d.stop != nil {
		d.closing.Do(func() { close(d.stop) })
		<-d.stopped
	}
	if d.rd != d.db {
		rerr = errors.Join(d.reads.close(), d.rd.Close())
	}
	werr := errors.Join(d.writes.close(), d.db.Close())
	if d.wal != nil {
		werr = errors.Join(werr, d.wal.close())
	}
	if err := errors.Join(rerr, werr); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// lazy runs fn in a write transaction whose commit is not synced: it
// reaches the WAL file, so it survives the daemon being killed, but a power
// cut (or a kernel crash) in the next moments can undo it, with every
// commit after it (recovery keeps the WAL's frames up to the first whose
// running checksum fails). The next Sync, or durable write, syncs it along
// with its own, for the WAL is one file written in order. It is for writes
// whose loss in a power cut does no harm — a text marked sent comes back as
// sending and is reported unknown, never resent — and which sit on the
// path of a text, where an fsync costs more than the rest of the work.
func (d *DB) lazy(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if d.wal != nil {
		d.wal.committed() // for Sync
	}
	return nil
}

// durable runs fn in a write transaction that is on disk when durable
// returns: committed as lazy does, then synced with walSync, outside the
// write lock, so that the next write does not wait for this one's disk.
// An error of the sync is returned though the commit stands: it is not
// known to be durable.
func (d *DB) durable(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := d.lazy(ctx, fn); err != nil {
		return err
	}
	if d.wal == nil {
		return nil // in memory
	}
	return d.wal.sync(context.WithoutCancel(ctx)) // short, and the commit is made
}

// timeArg is the column value of t: Unix nanoseconds, NULL for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// scanTime is the inverse of timeArg, in UTC.
func scanTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}
