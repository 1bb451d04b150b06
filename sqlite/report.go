package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/textback/textback"
)

// MissedCall is one missed inbound call of the journal with what became of
// its text, for `textback report`.
type MissedCall struct {
	CallID   textback.CallID
	DID      string
	Outcome  textback.Outcome
	Caller   textback.Number // "" when there was none to text
	Recorded time.Time
	// TextState is the state of the call's text, "" without one.
	TextState textback.State
	// TextAt is when the text was accepted by a sender (its Done time), or
	// queued when it was not accepted.
	TextAt time.Time
	// OptedOut is when the caller went on the opt-out list; zero if they
	// are not on it.
	OptedOut time.Time
}

// MissedCalls returns the missed inbound calls recorded at or after since,
// oldest first, with their texts and the callers' opt-outs.
func (d *DB) MissedCalls(ctx context.Context, since time.Time) ([]MissedCall, error) {
	rows, err := d.rd.QueryContext(ctx, `
SELECT c.call_id, c.did, c.outcome, c.caller, c.recorded,
	COALESCE(t.state, ''), COALESCE(t.done, t.created), o.created
FROM calls c
LEFT JOIN texts t ON t.call_id = c.call_id
LEFT JOIN optouts o ON o.number = c.caller AND c.caller != ''
WHERE c.recorded >= ? AND c.direction = ? AND c.outcome NOT IN (?, '')
ORDER BY c.recorded, c.id`, since.UnixNano(), textback.Inbound, textback.Answered)
	if err != nil {
		return nil, fmt.Errorf("sqlite: missed calls: %w", err)
	}
	defer rows.Close()
	var out []MissedCall
	for rows.Next() {
		var (
			m                MissedCall
			recorded         int64
			textAt, optedOut sql.NullInt64
		)
		if err := rows.Scan(&m.CallID, &m.DID, &m.Outcome, &m.Caller, &recorded, &m.TextState, &textAt, &optedOut); err != nil {
			return nil, fmt.Errorf("sqlite: missed calls: %w", err)
		}
		m.Recorded, m.TextAt, m.OptedOut = time.Unix(0, recorded), scanTime(textAt), scanTime(optedOut)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: missed calls: %w", err)
	}
	return out, nil
}

// InboundSince returns the texts people sent us received at or after
// since, oldest first.
func (d *DB) InboundSince(ctx context.Context, since time.Time) ([]textback.InboundText, error) {
	rows, err := d.rd.QueryContext(ctx, `
SELECT provider, provider_id, from_number, to_number, body, received
FROM inbound WHERE received >= ? ORDER BY received, id`, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("sqlite: inbound: %w", err)
	}
	defer rows.Close()
	var out []textback.InboundText
	for rows.Next() {
		var (
			m        textback.InboundText
			received int64
		)
		if err := rows.Scan(&m.Provider, &m.ProviderID, &m.From, &m.To, &m.Body, &received); err != nil {
			return nil, fmt.Errorf("sqlite: inbound: %w", err)
		}
		m.Received = time.Unix(0, received)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: inbound: %w", err)
	}
	return out, nil
}

// Gauges are the store's counts that /metrics reports at each scrape.
type Gauges struct {
	Queued  int // texts waiting in the outbox (queued or being sent)
	OptOuts int // numbers on the opt-out list
}

// Gauges counts the outbox and the opt-out list. Both counts come from
// indexes, so a scrape costs little.
func (d *DB) Gauges(ctx context.Context) (Gauges, error) {
	var g Gauges
	err := d.rd.QueryRowContext(ctx, `
SELECT (SELECT COUNT(*) FROM texts WHERE state IN (?, ?)), (SELECT COUNT(*) FROM optouts)`,
		textback.Queued, textback.Sending).Scan(&g.Queued, &g.OptOuts)
	if err != nil {
		return Gauges{}, fmt.Errorf("sqlite: gauges: %w", err)
	}
	return g, nil
}

// Ping reports whether the database answers a query.
func (d *DB) Ping(ctx context.Context) error {
	var one int
	if err := d.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}
