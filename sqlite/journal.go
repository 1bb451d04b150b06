package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/textback/textback"
)

// Record journals a verdict and, when m is not nil, queues its text (due at
// now, or at m.NotBefore if that is later) in the same transaction, returning the text's id, or 0 without a
// text. A call recorded before gives an error wrapping
// textback.ErrDuplicateCall and changes nothing. m.CallID may be empty, and
// is then the verdict's call; any other call id is an error.
func (d *DB) Record(ctx context.Context, v textback.Verdict, m *textback.Message, now time.Time) (int64, error) {
	switch {
	case v.Call.ID == "":
		return 0, errors.New("sqlite: record: call has no id")
	case now.IsZero():
		return 0, fmt.Errorf("sqlite: record: call %s: zero time", v.Call.ID)
	case m != nil && m.CallID != "" && m.CallID != v.Call.ID:
		return 0, fmt.Errorf("sqlite: record: call %s: text is for call %s", v.Call.ID, m.CallID)
	}
	write := d.lazy
	if syncRecord(m, now) {
		write = d.durable
	}
	var id int64
	err := d.insertCall(ctx, write, v, m, now, false, &id)
	if err != nil {
		return 0, fmt.Errorf("sqlite: record: call %s: %w", v.Call.ID, err)
	}
	return id, nil
}

// RecordSending is Record for a text the outbox hands to a sender at once:
// it is inserted Sending, its first attempt at now, standing for Record and
// MarkSending in one commit. The commit is not synced (see lazy), and the
// request may leave before it is: a power cut undoes the latest commits
// in order, whole (the WAL's frames carry a running checksum, and recovery
// stops at the first that does not match), so it can lose the call and
// its text together, never leave the text queued to be sent again. A text
// held back (m.NotBefore after now, a grace delay) cannot be sent at once.
func (d *DB) RecordSending(ctx context.Context, v textback.Verdict, m textback.Message, now time.Time) (int64, error) {
	switch {
	case v.Call.ID == "":
		return 0, errors.New("sqlite: record: call has no id")
	case now.IsZero():
		return 0, fmt.Errorf("sqlite: record: call %s: zero time", v.Call.ID)
	case m.CallID != "" && m.CallID != v.Call.ID:
		return 0, fmt.Errorf("sqlite: record: call %s: text is for call %s", v.Call.ID, m.CallID)
	case m.NotBefore.After(now) || !m.Grace.IsZero():
		return 0, fmt.Errorf("sqlite: record: call %s: a text held back is not sent at once", v.Call.ID)
	}
	var id int64
	err := d.insertCall(ctx, d.lazy, v, &m, now, true, &id)
	if err != nil {
		return 0, fmt.Errorf("sqlite: record: call %s: %w", v.Call.ID, err)
	}
	return id, nil
}

// syncRecord reports whether Record must sync its commit. A text due now
// is marked sending, with a synced commit, within moments: that commit makes
// this one durable too, so this one need not wait for the disk, and the
// text leaves one fsync sooner. A text held back (quiet hours, a grace
// delay) may wait hours for the next synced commit, so it is synced now. A
// call without a text lost in a power cut is a line of history, not a
// caller left without a text.
func syncRecord(m *textback.Message, now time.Time) bool {
	return m != nil && (m.NotBefore.After(now) || !m.Grace.IsZero())
}

const (
	insertCallSQL = `
INSERT INTO calls (call_id, source, direction, outcome, caller_num, caller_name, withheld,
	did, context, started, ended, rang, decided, caller, send, reason, detail, rule, recorded,
	dialed, party)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (call_id) DO NOTHING`
	insertTextSQL = `
INSERT INTO texts (call_id, rule, to_number, from_number, body, state, created, next_attempt, not_before, grace,
	attempts, attempted)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING id`
)

// insertCall writes Record's rows in one transaction committed with
// w, setting *id to the text's.
func (d *DB) insertCall(ctx context.Context, w write, v textback.Verdict, m *textback.Message, now time.Time, sending bool, id *int64) error {
	sts, err := d.prepared(ctx, insertCallSQL, insertTextSQL)
	if err != nil {
		return err
	}
	return w(ctx, func(tx *sql.Tx) error {
		var err error
		*id, err = insertCallTx(ctx, tx, sts[0], sts[1], v, m, now, sending)
		return err
	})
}

// insertCallTx writes Record's rows in tx with the statements given.
func insertCallTx(ctx context.Context, tx *sql.Tx, insCall, insText *sql.Stmt, v textback.Verdict, m *textback.Message, now time.Time, sending bool) (int64, error) {
	c := v.Call
	res, err := tx.StmtContext(ctx, insCall).ExecContext(ctx,
		c.ID, c.Source, c.Direction, c.Outcome, c.CallerNum, c.CallerName, c.Withheld,
		c.DID, c.Context, timeArg(c.Started), timeArg(c.Ended), int64(c.Rang), timeArg(c.Decided),
		v.Caller, v.Send, v.Reason, v.Detail, v.Rule, now.UnixNano(),
		c.Dialed, v.Party)
	if err != nil {
		return 0, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, err
	} else if n == 0 {
		return 0, textback.ErrDuplicateCall
	}

	var id int64
	if m != nil {
		due, notBefore := now, any(nil)
		if m.NotBefore.After(now) {
			due, notBefore = m.NotBefore, m.NotBefore.UnixNano()
		}
		state, attempts, attempted := textback.Queued, 0, any(nil)
		if sending {
			state, attempts, attempted = textback.Sending, 1, now.UnixNano()
		}
		err := tx.StmtContext(ctx, insText).QueryRowContext(ctx,
			c.ID, m.Rule, m.To, m.From, m.Body, state, now.UnixNano(), due.UnixNano(), notBefore,
			timeArg(m.Grace), attempts, attempted).Scan(&id)
		if err != nil {
			return 0, fmt.Errorf("text: %w", err)
		}
	}
	return id, nil
}

// LastTexted returns when the latest text to the number was queued. It
// counts texts that reached, or may have reached, the caller: queued,
// sending, sent, and unknown (the request may have got through). Failed and
// expired texts never left, so they don't hold back the next one.
func (d *DB) LastTexted(ctx context.Context, to textback.Number) (time.Time, bool, error) {
	var n sql.NullInt64
	err := d.readRow(ctx, `
SELECT MAX(created) FROM texts
WHERE to_number = ? AND state IN (?, ?, ?, ?)`,
		[]any{to, textback.Queued, textback.Sending, textback.Sent, textback.Unknown}, &n)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: last texted: %w", err)
	}
	return scanTime(n), n.Valid, nil
}

// ConnectedSince returns the earliest call journaled at or after since in
// which a person spoke with n: an inbound call from n that was answered, or
// an outbound call to n that was (the far end answered). Its time is when
// it was journaled, as it ended.
func (d *DB) ConnectedSince(ctx context.Context, n textback.Number, since time.Time) (textback.Connection, bool, error) {
	if n == "" {
		return textback.Connection{}, false, nil
	}
	var (
		at  int64
		dir textback.Direction
	)
	err := d.readRow(ctx, `
SELECT recorded, direction FROM calls
WHERE party = ? AND recorded >= ? AND outcome = ? AND direction IN (?, ?)
ORDER BY recorded LIMIT 1`,
		[]any{n, since.UnixNano(), textback.Answered, textback.Inbound, textback.Outbound}, &at, &dir)
	if errors.Is(err, sql.ErrNoRows) {
		return textback.Connection{}, false, nil
	} else if err != nil {
		return textback.Connection{}, false, fmt.Errorf("sqlite: connected since: %w", err)
	}
	return textback.Connection{At: time.Unix(0, at), Direction: dir}, true, nil
}

// History returns the calls recorded at or after since, newest first, each
// with its text if it had one.
func (d *DB) History(ctx context.Context, since time.Time) ([]textback.Entry, error) {
	rows, err := d.rd.QueryContext(ctx, `
SELECT c.call_id, c.source, c.direction, c.outcome, c.caller_num, c.caller_name, c.withheld,
	c.did, c.context, c.started, c.ended, c.rang, c.decided,
	c.caller, c.send, c.reason, c.detail, c.rule, c.recorded, c.dialed, c.party, `+textColumns+`
FROM calls c LEFT JOIN texts t ON t.call_id = c.call_id
WHERE c.recorded >= ?
ORDER BY c.recorded DESC, c.id DESC`, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlite: history: %w", err)
	}
	defer rows.Close()
	var es []textback.Entry
	for rows.Next() {
		var (
			e                                 textback.Entry
			c                                 = &e.Call
			started, ended, decided, recorded sql.NullInt64
			rang                              int64
			ts                                textScan
		)
		dest := append([]any{&c.ID, &c.Source, &c.Direction, &c.Outcome, &c.CallerNum, &c.CallerName, &c.Withheld,
			&c.DID, &c.Context, &started, &ended, &rang, &decided,
			&e.Caller, &e.Send, &e.Reason, &e.Detail, &e.Rule, &recorded, &c.Dialed, &e.Party}, ts.dest()...)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("sqlite: history: %w", err)
		}
		c.Started, c.Ended, c.Decided = scanTime(started), scanTime(ended), scanTime(decided)
		c.Rang = time.Duration(rang)
		e.Recorded = scanTime(recorded)
		if ts.t.ID != 0 { // 0: the call had no text
			t := ts.text()
			e.Text = &t
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: history: %w", err)
	}
	return es, nil
}
