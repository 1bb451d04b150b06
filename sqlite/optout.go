package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/textback/textback"
)

// SetOptOut puts a number on the opt-out list or takes it off. Putting a
// number on that is already there keeps its first time and source:
// providers repeat webhooks, and the first STOP is the one that counts.
func (d *DB) SetOptOut(ctx context.Context, n textback.Number, out bool, source string, now time.Time) error {
	err := d.durable(ctx, func(tx *sql.Tx) error {
		var err error
		if out {
			_, err = tx.ExecContext(ctx, `INSERT INTO optouts (number, source, created) VALUES (?, ?, ?)
ON CONFLICT (number) DO NOTHING`, n, source, now.UnixNano())
		} else {
			_, err = tx.ExecContext(ctx, `DELETE FROM optouts WHERE number = ?`, n)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: opt-out: %w", err)
	}
	return nil
}

// OptedOut reports whether a number is on the opt-out list.
func (d *DB) OptedOut(ctx context.Context, n textback.Number) (bool, error) {
	var one int
	err := d.readRow(ctx, `SELECT 1 FROM optouts WHERE number = ?`, []any{n}, &one)
	switch {
	case err == sql.ErrNoRows:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: opted out: %w", err)
	}
	return true, nil
}

// OptOuts lists the opt-out list, oldest first.
func (d *DB) OptOuts(ctx context.Context) ([]textback.OptOut, error) {
	rows, err := d.rd.QueryContext(ctx, `SELECT number, source, created FROM optouts ORDER BY created, number`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: opt-outs: %w", err)
	}
	defer rows.Close()
	var os []textback.OptOut
	for rows.Next() {
		var o textback.OptOut
		var at int64
		if err := rows.Scan(&o.Number, &o.Source, &at); err != nil {
			return nil, fmt.Errorf("sqlite: opt-outs: %w", err)
		}
		o.At = time.Unix(0, at)
		os = append(os, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: opt-outs: %w", err)
	}
	return os, nil
}

// CountTexts counts the texts queued since the given time that went out or
// may have (queued, sending, sent, unknown), for one rule or, with rule "",
// for all.
func (d *DB) CountTexts(ctx context.Context, rule string, since time.Time) (int, error) {
	q := `SELECT COUNT(*) FROM texts WHERE created >= ? AND state IN (?, ?, ?, ?)`
	args := []any{since.UnixNano(), textback.Queued, textback.Sending, textback.Sent, textback.Unknown}
	if rule != "" {
		q += ` AND rule = ?`
		args = append(args, rule)
	}
	var n int
	if err := d.readRow(ctx, q, args, &n); err != nil {
		return 0, fmt.Errorf("sqlite: count texts: %w", err)
	}
	return n, nil
}
