package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/textback/textback"
)

// RecordInbound journals a text someone sent us. A repeat (the same
// provider and provider id) changes nothing and returns false.
func (d *DB) RecordInbound(ctx context.Context, m textback.InboundText) (bool, error) {
	if m.Provider == "" || m.ProviderID == "" {
		return false, errors.New("sqlite: record inbound: provider and provider id required")
	}
	var n int64
	err := d.durable(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO inbound (provider, provider_id, from_number, to_number, body, received)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, provider_id) DO NOTHING`,
			m.Provider, m.ProviderID, m.From, m.To, m.Body, m.Received.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: record inbound: %w", err)
	}
	return n == 1, nil
}

// holdFor is how long a delivery report for a text we do not know yet is
// kept for it.
const holdFor = time.Hour

// RecordDelivery records a delivery report on the text the sender and
// provider id name. Reports may come in any order and more than once; the
// latest one received wins, and a repeat changes nothing.
//
// A report for a text we do not know is held for holdFor and
// ErrUnknownText returned: the carrier may have called back before the
// sender's answer, with the provider id, was written down (MarkSent applies
// it then), or the report is another application's (it is dropped in time).
func (d *DB) RecordDelivery(ctx context.Context, r textback.Delivery) error {
	if r.Provider == "" || r.ProviderID == "" {
		return fmt.Errorf("sqlite: record delivery: provider and provider id required: %w", textback.ErrUnknownText)
	}
	var n int64
	err := d.durable(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE texts SET delivery = ?, delivery_detail = ?, delivery_at = ?
WHERE sender = ? AND provider_id = ?`,
			r.Status, r.Detail, r.At.UnixNano(), r.Provider, r.ProviderID)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		now := time.Now()
		if _, err := tx.ExecContext(ctx, `DELETE FROM held_deliveries WHERE received < ?`, now.Add(-holdFor).UnixNano()); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO held_deliveries (provider, provider_id, status, detail, at, received)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (provider, provider_id) DO UPDATE SET status = excluded.status, detail = excluded.detail,
	at = excluded.at, received = excluded.received`,
			r.Provider, r.ProviderID, r.Status, r.Detail, r.At.UnixNano(), now.UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: record delivery: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: record delivery for %s %s: held for the text: %w", r.Provider, r.ProviderID, textback.ErrUnknownText)
	}
	return nil
}

// applyHeld gives text id, just marked sent by provider with providerID,
// the delivery report held for it, if one came first.
func applyHeld(ctx context.Context, tx *sql.Tx, id int64, provider, providerID string) error {
	if provider == "" || providerID == "" {
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE texts SET (delivery, delivery_detail, delivery_at) =
	(SELECT status, detail, at FROM held_deliveries WHERE provider = ? AND provider_id = ?)
WHERE id = ? AND EXISTS (SELECT 1 FROM held_deliveries WHERE provider = ? AND provider_id = ?)`,
		provider, providerID, id, provider, providerID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM held_deliveries WHERE provider = ? AND provider_id = ?`, provider, providerID)
	return err
}
