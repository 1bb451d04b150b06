package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/textback/textback"
)

// RecordInbound journals a text someone sent us. A repeat (the same
// provider and provider id) changes nothing and returns false.
func (d *DB) RecordInbound(ctx context.Context, m textback.InboundText) (bool, error) {
	if m.Provider == "" || m.ProviderID == "" {
		return false, errors.New("sqlite: record inbound: provider and provider id required")
	}
	res, err := d.db.ExecContext(ctx, `INSERT INTO inbound (provider, provider_id, from_number, to_number, body, received)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, provider_id) DO NOTHING`,
		m.Provider, m.ProviderID, m.From, m.To, m.Body, m.Received.UnixNano())
	if err != nil {
		return false, fmt.Errorf("sqlite: record inbound: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: record inbound: %w", err)
	}
	return n == 1, nil
}

// RecordDelivery records a delivery report on the text the sender and
// provider id name. Reports may come in any order and more than once; the
// latest one received wins, and a repeat changes nothing.
func (d *DB) RecordDelivery(ctx context.Context, r textback.Delivery) error {
	res, err := d.db.ExecContext(ctx, `UPDATE texts SET delivery = ?, delivery_detail = ?, delivery_at = ?
WHERE sender = ? AND provider_id = ? AND provider_id != ''`,
		r.Status, r.Detail, r.At.UnixNano(), r.Provider, r.ProviderID)
	if err != nil {
		return fmt.Errorf("sqlite: record delivery: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: record delivery: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: record delivery for %s %s: %w", r.Provider, r.ProviderID, textback.ErrUnknownText)
	}
	return nil
}
