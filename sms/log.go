package sms

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/textback/textback"
)

var _ textback.Sender = (*Log)(nil)

// Log is a sender that writes each text to the log instead of sending it, for
// trials and the demo. It is safe for concurrent use.
type Log struct {
	log *slog.Logger
	n   atomic.Uint64 // texts "sent", for the receipts' ids
}

// NewLog returns a Log sender writing to log (nil: nowhere).
func NewLog(log *slog.Logger) *Log {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Log{log: log.With("sender", "log")}
}

// Send logs m at Info as "sms sent", the recipient masked, and returns a
// receipt numbered "log-1", "log-2", ….
func (l *Log) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return textback.Receipt{}, fmt.Errorf("sms log: send for call %s: %w", m.CallID, err)
	}
	if m.To == "" {
		return textback.Receipt{}, fmt.Errorf("sms log: send for call %s: %w: no recipient", m.CallID, textback.ErrUndeliverable)
	}
	id := "log-" + strconv.FormatUint(l.n.Add(1), 10)
	l.log.InfoContext(ctx, "sms written to the log, not sent", "to", m.To, "from", m.From, "body", m.Body, "call_id", m.CallID, "provider_id", id)
	return textback.Receipt{Sender: "log", ProviderID: id}, nil
}
