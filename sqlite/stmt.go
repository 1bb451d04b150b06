package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmts keeps the statements of one pool prepared, by their text. SQLite
// takes about as long to parse a statement as to run one of ours, and the
// event loop runs the same few for every call: the opt-out, cooldown and
// cap reads, the inserts of a call and its text. database/sql prepares a
// statement again on each connection of the pool that runs it, once.
type stmts struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmts(db *sql.DB) *stmts { return &stmts{db: db, m: map[string]*sql.Stmt{}} }

// get returns q prepared. It may take a connection of the pool to prepare
// it on, so for the writer it is called before a transaction begins, not
// inside one: the writer has a single connection.
func (s *stmts) get(ctx context.Context, q string) (*sql.Stmt, error) {
	s.mu.Lock()
	st, ok := s.m[q]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if had, ok := s.m[q]; ok { // prepared meanwhile by another caller
		st.Close()
		return had, nil
	}
	s.m[q] = st
	return st, nil
}

// close closes the statements, before their pool closes.
func (s *stmts) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for q, st := range s.m {
		errs = append(errs, st.Close())
		delete(s.m, q)
	}
	return errors.Join(errs...)
}

// readRow runs the read q with a statement prepared on the read pool and
// scans its one row into dest; sql.ErrNoRows when there is none.
func (d *DB) readRow(ctx context.Context, q string, args []any, dest ...any) error {
	st, err := d.reads.get(ctx, q)
	if err != nil {
		return err
	}
	return st.QueryRowContext(ctx, args...).Scan(dest...)
}

// readRows runs the read q with a statement prepared on the read pool.
func (d *DB) readRows(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := d.reads.get(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// prepared returns the writes qs prepared on the writer, for a transaction
// about to begin to run through tx.StmtContext.
func (d *DB) prepared(ctx context.Context, qs ...string) ([]*sql.Stmt, error) {
	sts := make([]*sql.Stmt, len(qs))
	for i, q := range qs {
		st, err := d.writes.get(ctx, q)
		if err != nil {
			return nil, err
		}
		sts[i] = st
	}
	return sts, nil
}
