package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/textback/textback"
)

// sources lists, for each state a text can move to, the states it can move
// from. Final states lead nowhere.
//
//	queued  → sending               MarkSending
//	sending → sent                  MarkSent
//	sending → queued                MarkRetry
//	queued, sending → failed        MarkDone: a permanent error, before or after handing over
//	queued, sending → expired       MarkDone: still undelivered after max_delay
//	sending → unknown               MarkDone: the daemon died mid-send, or no answer came
//	queued → cancelled              MarkDone: held for a grace delay, and the caller got through
//
// An unknown text is final unless the carrier is asked about it afterwards:
//
//	unknown → sent                  MarkSent: the carrier has it
//	unknown → queued                MarkRetry: the carrier has no such text
//	unknown → expired               MarkDone: … and max_delay has passed
var sources = map[textback.State][]textback.State{
	textback.Sending:   {textback.Queued},
	textback.Sent:      {textback.Sending, textback.Unknown},
	textback.Queued:    {textback.Sending, textback.Unknown},
	textback.Failed:    {textback.Queued, textback.Sending},
	textback.Expired:   {textback.Queued, textback.Sending, textback.Unknown},
	textback.Unknown:   {textback.Sending},
	textback.Cancelled: {textback.Queued},
}

// textColumns are the columns textScan reads, from texts aliased t. They are
// coalesced for History's LEFT JOIN, where a call without a text gives NULLs.
const textColumns = `COALESCE(t.id, 0), COALESCE(t.call_id, ''), COALESCE(t.rule, ''),
	COALESCE(t.to_number, ''), COALESCE(t.from_number, ''), COALESCE(t.body, ''),
	COALESCE(t.state, ''), COALESCE(t.attempts, 0), t.created, t.next_attempt, t.done,
	COALESCE(t.sender, ''), COALESCE(t.provider_id, ''), COALESCE(t.last_error, ''), t.not_before,
	COALESCE(t.delivery, ''), t.grace, t.attempted`

// textScan reads the textColumns of a row.
type textScan struct {
	t                              textback.Text
	created, next, done, notBefore sql.NullInt64
	grace, attempted               sql.NullInt64
}

func (s *textScan) dest() []any {
	t := &s.t
	return []any{&t.ID, &t.CallID, &t.Rule, &t.To, &t.From, &t.Body,
		&t.State, &t.Attempts, &s.created, &s.next, &s.done,
		&t.Receipt.Sender, &t.Receipt.ProviderID, &t.LastError, &s.notBefore, &t.Delivery, &s.grace, &s.attempted}
}

func (s *textScan) text() textback.Text {
	t := s.t
	t.Created, t.NextAttempt, t.Done = scanTime(s.created), scanTime(s.next), scanTime(s.done)
	t.NotBefore = scanTime(s.notBefore)
	t.Grace = scanTime(s.grace)
	t.Attempted = scanTime(s.attempted)
	return t
}

// texts runs a query for textColumns.
func (d *DB) texts(ctx context.Context, query string, args ...any) ([]textback.Text, error) {
	rows, err := d.readRows(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ts []textback.Text
	for rows.Next() {
		var s textScan
		if err := rows.Scan(s.dest()...); err != nil {
			return nil, err
		}
		ts = append(ts, s.text())
	}
	return ts, rows.Err()
}

// Due returns up to limit queued texts whose next attempt is at or before
// now, oldest (first queued) first.
func (d *DB) Due(ctx context.Context, now time.Time, limit int) ([]textback.Text, error) {
	if limit < 1 {
		return nil, fmt.Errorf("sqlite: due: limit %d, want at least 1", limit)
	}
	ts, err := d.texts(ctx, `SELECT `+textColumns+` FROM texts t
WHERE t.state = ? AND t.next_attempt <= ?
ORDER BY t.created, t.id
LIMIT ?`, textback.Queued, now.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: due: %w", err)
	}
	return ts, nil
}

// NextAttempt returns the earliest next attempt among queued texts; false
// when none is queued.
func (d *DB) NextAttempt(ctx context.Context) (time.Time, bool, error) {
	var n sql.NullInt64
	err := d.readRow(ctx, `SELECT MIN(next_attempt) FROM texts WHERE state = ?`, []any{textback.Queued}, &n)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next attempt: %w", err)
	}
	return scanTime(n), n.Valid, nil
}

// Interrupted returns the texts left sending by a daemon that died, oldest
// first.
func (d *DB) Interrupted(ctx context.Context) ([]textback.Text, error) {
	ts, err := d.texts(ctx, `SELECT `+textColumns+` FROM texts t WHERE t.state = ? ORDER BY t.id`, textback.Sending)
	if err != nil {
		return nil, fmt.Errorf("sqlite: interrupted: %w", err)
	}
	return ts, nil
}

// Unresolved returns the unknown texts queued at or after since, oldest
// first: the ones worth asking the carrier about.
func (d *DB) Unresolved(ctx context.Context, since time.Time) ([]textback.Text, error) {
	ts, err := d.texts(ctx, `SELECT `+textColumns+` FROM texts t WHERE t.state = ? AND t.created >= ? ORDER BY t.id`,
		textback.Unknown, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlite: unresolved: %w", err)
	}
	return ts, nil
}

// MarkSending moves a queued text to sending and counts the attempt.
//
// A text must be on disk as sending before its request leaves, or a power
// cut could bring it back queued and send it twice; the commit is not
// synced here but by Sync, which the sender calls before the request
// leaves, so that several workers share one fsync and no other write waits
// for it.
func (d *DB) MarkSending(ctx context.Context, id int64, now time.Time) error {
	return d.move(ctx, d.lazy, nil, "mark sending", id, textback.Sending,
		"attempts = attempts + 1, attempted = ?", timeArg(now))
}

// MarkSent moves a sending text to sent, with the sender's receipt.
//
// Its commit is not synced (see lazy): undone by a power cut, the text is
// sending again, reported unknown at start-up and never resent.
//
// A delivery report that came before it (see RecordDelivery) is applied.
func (d *DB) MarkSent(ctx context.Context, id int64, r textback.Receipt, now time.Time) error {
	held := func(tx *sql.Tx) error { return applyHeld(ctx, tx, id, r.Sender, r.ProviderID) }
	return d.move(ctx, d.lazy, held, "mark sent", id, textback.Sent,
		"sender = ?, provider_id = ?, done = ?", r.Sender, r.ProviderID, timeArg(now))
}

// MarkRetry moves a sending text back to queued, due at next, keeping the
// reason as its last error.
func (d *DB) MarkRetry(ctx context.Context, id int64, reason string, next time.Time) error {
	if next.IsZero() {
		return fmt.Errorf("sqlite: mark retry: text %d: zero time", id)
	}
	return d.move(ctx, d.durable, nil, "mark retry", id, textback.Queued,
		"last_error = ?, next_attempt = ?", reason, next.UnixNano())
}

// MarkDone gives a text the final state s (Failed, Expired, Unknown or
// Cancelled), with the reason as its last error. A text can fail or expire
// while queued or sending; only a sending one can be unknown, and only a
// queued one cancelled.
func (d *DB) MarkDone(ctx context.Context, id int64, s textback.State, reason string, now time.Time) error {
	switch s {
	case textback.Failed, textback.Expired, textback.Unknown, textback.Cancelled:
	default:
		return fmt.Errorf("sqlite: mark done: text %d: %q is not failed, expired, unknown or cancelled", id, s)
	}
	// Undone by a power cut, a failed, expired or unknown text comes back
	// sending (then unknown) or queued (then failed or expired again, for
	// the same reason). A cancelled one would come back queued and be
	// sent, so that one is synced.
	write := d.lazy
	if s == textback.Cancelled {
		write = d.durable
	}
	return d.move(ctx, write, nil, "mark done", id, s, "last_error = ?, done = ?", reason, timeArg(now))
}

// move puts text id in state to, running set (SQL assignments with args) in
// the same statement, if its current state is one of sources[to].
// write is lazy or durable.
type write func(context.Context, func(*sql.Tx) error) error

// move puts text id in state to, running set (SQL assignments with args) in
// the same statement, if its current state is one of sources[to], then
// then (if not nil) in the same transaction, and commits with w.
func (d *DB) move(ctx context.Context, w write, then func(*sql.Tx) error, op string, id int64, to textback.State, set string, args ...any) error {
	from := sources[to]
	args = append([]any{to}, args...)
	args = append(args, id)
	for _, s := range from {
		args = append(args, s)
	}
	q := `UPDATE texts SET state = ?, ` + set + ` WHERE id = ? AND state IN (?` + strings.Repeat(", ?", len(from)-1) + `)`
	var cur textback.State
	sts, err := d.prepared(ctx, q)
	if err != nil {
		return fmt.Errorf("sqlite: %s: text %d: %w", op, id, err)
	}
	err = w(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, sts[0]).ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 && then != nil {
			return then(tx)
		}
		if n == 1 {
			return nil
		}
		// Say why, from inside the transaction: nothing has moved it since.
		err = tx.QueryRowContext(ctx, `SELECT state FROM texts WHERE id = ?`, id).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		return ErrState
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrState):
		return fmt.Errorf("sqlite: %s: text %d is %s, not %s: %w", op, id, cur, joinStates(from), ErrState)
	default:
		return fmt.Errorf("sqlite: %s: text %d: %w", op, id, err)
	}
}

func joinStates(ss []textback.State) string {
	var b strings.Builder
	for i, s := range ss {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString(string(s))
	}
	return b.String()
}

// Stats counts the calls in the journal and the texts in each state.
type Stats struct {
	Calls int64
	Texts map[textback.State]int64 // every state, zero included
}

// Stats returns the counts of calls and of texts by state.
func (d *DB) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Texts: map[textback.State]int64{
		textback.Queued: 0, textback.Sending: 0, textback.Sent: 0,
		textback.Failed: 0, textback.Expired: 0, textback.Unknown: 0, textback.Cancelled: 0,
	}}
	if err := d.rd.QueryRowContext(ctx, `SELECT COUNT(*) FROM calls`).Scan(&st.Calls); err != nil {
		return Stats{}, fmt.Errorf("sqlite: stats: %w", err)
	}
	rows, err := d.rd.QueryContext(ctx, `SELECT state, COUNT(*) FROM texts GROUP BY state`)
	if err != nil {
		return Stats{}, fmt.Errorf("sqlite: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			s textback.State
			n int64
		)
		if err := rows.Scan(&s, &n); err != nil {
			return Stats{}, fmt.Errorf("sqlite: stats: %w", err)
		}
		st.Texts[s] = n
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("sqlite: stats: %w", err)
	}
	return st, nil
}
