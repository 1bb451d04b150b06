package textback

import (
	"context"
	"errors"
	"time"
)

// State is where a text is in the outbox.
type State string

// States of a text. Queued and Sending are live; the rest are final.
const (
	Queued  State = "queued"  // written, waiting for its turn (or its next retry)
	Sending State = "sending" // handed to a sender; the answer has not come back yet
	Sent    State = "sent"    // the sender accepted it
	Failed  State = "failed"  // a permanent error; never retried
	Expired State = "expired" // still undelivered after max_delay
	// Unknown is a text that was Sending when the daemon died: the request
	// may or may not have reached the provider. It is never resent silently.
	Unknown State = "unknown"
	// Cancelled is a text held for a grace delay that was not sent: the
	// caller got through or was called back in the meantime.
	Cancelled State = "cancelled"
)

// Verdict is one line of the journal: a finished call, what the rules made
// of it and why.
type Verdict struct {
	Call   Call
	Caller Number // the caller in E.164; empty when there was none to text
	Send   bool   // a text was queued for the caller
	Reason string // machine-readable reason ("send", "answered", "cooldown", …)
	Detail string // the reason in words, for people
	Rule   string // the rule that matched, if any
	// Party is the other end of the call in E.164, when it is a number: the
	// caller of an Inbound call, the number an Outbound call dialed. It is
	// what Store.ConnectedSince matches.
	Party Number
}

// Connection is a call in which a person spoke with a number: an Inbound
// call from it that was answered, or an Outbound call to it that was.
type Connection struct {
	At        time.Time // when it was known: the answer, or the journaling of the call
	Direction Direction // Inbound: they got through; Outbound: we called them
}

// Text is a Message with its life in the outbox.
type Text struct {
	Message
	State       State
	Attempts    int
	Created     time.Time
	NextAttempt time.Time
	Attempted   time.Time // when it was last handed to a sender
	Done        time.Time // when it reached a final state
	Receipt     Receipt
	LastError   string
	Delivery    DeliveryStatus // the provider's last delivery report, if any
}

// Entry is one call of the history, with the text it led to, if any.
type Entry struct {
	Verdict
	Recorded time.Time
	Text     *Text
}

// ErrDuplicateCall is returned by Store.Record for a call it already holds:
// a PBX source may report a call twice around a reconnect, and a caller is
// never texted twice for one call.
var ErrDuplicateCall = errors.New("call already recorded")

// Store is the durable journal and outbox. Implementations are safe for
// concurrent use.
type Store interface {
	// Record journals a verdict and, when m is not nil, queues its text in
	// the same transaction, returning the text's id. A call recorded before
	// gives ErrDuplicateCall and changes nothing.
	Record(ctx context.Context, v Verdict, m *Message, now time.Time) (int64, error)
	// RecordSending is Record for a text handed to a sender at once: it is
	// queued already Sending (its first attempt at now). Unlike
	// MarkSending's, its commit need not be synced before the request
	// leaves: the text was in no earlier state a power cut could bring it
	// back to, so the cut can only take it away (with its call), never
	// have it sent again. The sender calls Sync after the send.
	RecordSending(ctx context.Context, v Verdict, m Message, now time.Time) (int64, error)
	// Sync makes every write made before it durable (a power cut keeps
	// it). Callers at the same moment may share one disk sync.
	//
	// A write not yet synced may be undone by a power cut, but only with
	// every write made after it: the store keeps a prefix of its writes,
	// so that a text is never found in an older state than one it is
	// known to have passed.
	Sync(ctx context.Context) error
	// LastTexted returns when the latest text to the number was queued,
	// counting every text that went out or may have (queued, sending, sent,
	// unknown); failed and expired texts never left, and do not count.
	LastTexted(ctx context.Context, to Number) (time.Time, bool, error)
	// Due returns up to limit queued texts whose next attempt is due at now,
	// oldest first.
	Due(ctx context.Context, now time.Time, limit int) ([]Text, error)
	// NextAttempt returns the earliest next attempt among queued texts.
	NextAttempt(ctx context.Context) (time.Time, bool, error)
	// MarkSending records that a text is being handed to a sender; Sync
	// makes it durable, before the request leaves.
	MarkSending(ctx context.Context, id int64, now time.Time) error
	// MarkSent records that a sender accepted the text, or, for an Unknown
	// text, that the carrier was found to hold it.
	MarkSent(ctx context.Context, id int64, r Receipt, now time.Time) error
	// MarkRetry puts a text back in the queue for another attempt at next:
	// a Sending one that failed for now, or an Unknown one the carrier was
	// found not to hold.
	MarkRetry(ctx context.Context, id int64, reason string, next time.Time) error
	// MarkDone gives a text a final state (Failed, Expired, Unknown,
	// Cancelled) with the reason.
	MarkDone(ctx context.Context, id int64, s State, reason string, now time.Time) error
	// Interrupted returns the texts left Sending by a daemon that died.
	Interrupted(ctx context.Context) ([]Text, error)
	// Unresolved returns the Unknown texts queued at or after since.
	Unresolved(ctx context.Context, since time.Time) ([]Text, error)
	// History returns the calls recorded since the given time, newest first.
	History(ctx context.Context, since time.Time) ([]Entry, error)
	// ConnectedSince returns the earliest answered call with the number
	// (Verdict.Party) journaled at or after since.
	ConnectedSince(ctx context.Context, n Number, since time.Time) (Connection, bool, error)

	// SetOptOut puts a number on the opt-out list (out) or takes it off,
	// saying where the request came from ("sms:STOP", "cli", "twilio:21610").
	SetOptOut(ctx context.Context, n Number, out bool, source string, now time.Time) error
	// OptedOut reports whether a number is on the opt-out list.
	OptedOut(ctx context.Context, n Number) (bool, error)
	// OptOuts lists the opt-out list, oldest first.
	OptOuts(ctx context.Context) ([]OptOut, error)
	// RecordInbound journals a text someone sent us (a reply, a STOP). A
	// message recorded before (the same Provider and ProviderID: providers
	// deliver webhooks at least once) changes nothing and returns false.
	RecordInbound(ctx context.Context, m InboundText) (bool, error)
	// RecordDelivery records a delivery report for a text we sent, found by
	// the sender and its provider id. A report for no text we know is
	// ErrUnknownText, and is held a while: MarkSent applies it to a text
	// whose report came before the sender's answer. A repeated report
	// changes nothing.
	RecordDelivery(ctx context.Context, d Delivery) error
	// CountTexts counts the texts queued since the given time that went out
	// or may have (the states LastTexted counts), for one rule or, with
	// rule "", for all: the hourly caps.
	CountTexts(ctx context.Context, rule string, since time.Time) (int, error)
	Close() error
}

// ErrUnknownText is returned by Store.RecordDelivery for a report about a
// text the store does not hold.
var ErrUnknownText = errors.New("no such text")

// InboundText is a text someone sent to one of our numbers: a reply to a text
// back, a STOP. It comes from a carrier's webhook or a modem.
type InboundText struct {
	Provider   string // the sender that received it: "twilio", "modem"
	ProviderID string // the provider's id for it; with Provider, what makes a repeat a repeat
	From       Number // who sent it
	To         Number // our number it was sent to
	Body       string // attacker-controlled
	Received   time.Time
}

// Delivery is a provider's report on a text we sent.
type Delivery struct {
	Provider   string // the Receipt's Sender
	ProviderID string // the Receipt's ProviderID
	Status     DeliveryStatus
	Detail     string // the provider's own status and error code, for people
	At         time.Time
}

// DeliveryStatus is what became of a sent text on the phone network.
type DeliveryStatus string

// Delivery statuses.
const (
	Delivered   DeliveryStatus = "delivered"
	Undelivered DeliveryStatus = "undelivered" // the network gave up: off, unreachable, a landline
)

// OptOut is one number on the opt-out list.
type OptOut struct {
	Number Number
	Source string
	At     time.Time
}
