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
// It holds a single connection: database/sql hands it to one caller at a
// time, so our own goroutines queue in Go (honouring their ctx) instead of
// meeting SQLITE_BUSY, and a transaction never waits on a reader of ours.
// The daemon handles a few calls a minute, so a pool of readers would buy
// nothing; WAL still lets other processes (textback history, the sqlite3
// shell) read while we write.
type DB struct {
	db *sql.DB
}

// Open opens the database at path, creating the file (0600) and its
// directory (0700) if missing, and brings its schema up to date. The path
// ":memory:" opens a private in-memory database.
func Open(ctx context.Context, path string) (*DB, error) {
	memory := path == ":memory:"
	dsn := "file::memory:"
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
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	// SQLite leaves foreign keys off unless asked, per connection.
	q.Add("_pragma", "foreign_keys(ON)")
	// WAL: readers in other processes don't block our writes, and a commit
	// appends to the log instead of rewriting pages.
	q.Add("_pragma", "journal_mode(WAL)")
	// FULL syncs the WAL at every commit. With NORMAL, a power cut can undo
	// the last commits: a text marked sent would come back as sending (and
	// be reported unknown) or as queued (and be sent twice), and a recorded
	// call could vanish, so a re-reported call would be texted again.
	q.Add("_pragma", "synchronous(FULL)")
	// Write transactions take the write lock at BEGIN, so a transaction
	// that reads first never has to upgrade its lock, which fails with
	// SQLITE_BUSY at once instead of waiting out busy_timeout.
	q.Set("_txlock", "immediate")
	dsn += "?" + q.Encode()

	// A connector rather than sql.Open("sqlite", …) and a blank import:
	// the driver is ours to choose, not a side effect.
	c, err := modernc.NewConnector(dsn)
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

	d := &DB{db: db}
	if err := d.setup(ctx, memory); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	return d, nil
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
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
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
