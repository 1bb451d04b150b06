// Package textback holds the domain of a missed-call text-back daemon: the
// calls a PBX reports, the texts sent back to missed callers, and the small
// interfaces that PBX sources, SMS senders and the store implement.
//
// The package imports nothing of ours. Adapters (ami, sms, sqlite, …) import
// it; cmd/textback wires them together.
package textback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// CallID identifies one call across all of its channels: Asterisk's Linkedid,
// the FreeSWITCH A-leg's Unique-ID. It is opaque.
type CallID string

// Direction says where a call came from, as far as the PBX source can tell.
type Direction string

// Directions of a call.
const (
	Inbound  Direction = "inbound"  // from a trunk into one of the inbound contexts
	Outbound Direction = "outbound" // from a phone out through a trunk
	Internal Direction = "internal" // phone to phone, or anything not from a trunk
)

// Outcome is how an inbound call ended for the caller.
type Outcome string

// Outcomes. Every outcome but Answered is a missed call.
const (
	Answered    Outcome = "answered"    // a person (phone, agent, follow-me leg) answered and was bridged to the caller
	NoAnswer    Outcome = "no_answer"   // phones rang out
	Busy        Outcome = "busy"        // the phones answered busy
	Abandoned   Outcome = "abandoned"   // the caller hung up while it rang or queued
	Voicemail   Outcome = "voicemail"   // the call went to voicemail
	Unavailable Outcome = "unavailable" // the phones could not be reached (CHANUNAVAIL, CONGESTION)
	Unattended  Outcome = "unattended"  // no phone ever rang: closed hours, an IVR
)

// Outcomes lists every outcome, in a stable order.
var Outcomes = []Outcome{Answered, NoAnswer, Busy, Abandoned, Voicemail, Unavailable, Unattended}

// Missed reports whether no person answered the call.
func (o Outcome) Missed() bool { return o != Answered && o != "" }

// Valid reports whether o is one of Outcomes.
func (o Outcome) Valid() bool {
	for _, v := range Outcomes {
		if o == v {
			return true
		}
	}
	return false
}

// UnmarshalText accepts the names of Outcomes.
func (o *Outcome) UnmarshalText(b []byte) error {
	v := Outcome(b)
	if !v.Valid() {
		return fmt.Errorf("unknown outcome %q (want one of %v)", b, Outcomes)
	}
	*o = v
	return nil
}

// Call is one finished call as a PBX source saw it: every channel of it has
// hung up. Numbers are as the PBX reported them; normalising them is the
// rules' job.
type Call struct {
	ID        CallID
	Source    string // "ami", "ari", "esl"
	Direction Direction
	Outcome   Outcome // meaningful for Inbound calls

	CallerNum  string // raw caller ID number ("+13125550101", "3125550101", "anonymous", "100", "")
	CallerName string // raw caller ID name; attacker-controlled
	// Withheld is set when the caller asked for their number to be hidden
	// (presentation restricted, Privacy: id), even if the PBX knows it.
	Withheld bool
	DID      string // the number the caller dialed, raw
	// Dialed is the external number an Outbound call dialed, raw, as the
	// trunk leg was sent to it; empty for other calls.
	Dialed  string
	Context string // the dialplan context the call entered, for the journal

	Started time.Time     // first channel created (PBX clock where it tells it)
	Ended   time.Time     // last channel hung up (PBX clock where it tells it)
	Rang    time.Duration // how long phones rang before the call was answered or given up
	// Decided is the local time the source knew the call had ended: the
	// start of the decision-to-send latency.
	Decided time.Time
}

// EventKind says what happened to a call. The zero value is CallEnded.
type EventKind uint8

// Kinds of Event.
const (
	// CallEnded: every channel of the call hung up; Call is complete.
	CallEnded EventKind = iota
	// CallAnswered: a person answered, sent once per call at that moment
	// (inbound: a person was bridged to the caller, what makes the Outcome
	// Answered; outbound: the far end answered). Call holds what is known
	// so far: ID, Source, Direction, CallerNum, DID, Dialed, Started;
	// Outcome is Answered, Ended is zero, and Decided is the local time the
	// source saw the answer. Its CallEnded follows.
	CallAnswered
)

func (k EventKind) String() string {
	switch k {
	case CallEnded:
		return "ended"
	case CallAnswered:
		return "answered"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is what a PBX source sends up: a call that ended, or one that was
// just answered.
type Event struct {
	Kind EventKind
	Call Call
}

// Source turns a PBX connection into Events. Run blocks until ctx is done or
// the link fails for good; it reconnects on its own in between. It never
// closes out.
type Source interface {
	Run(ctx context.Context, out chan<- Event) error
}

// Number is a phone number in E.164 form, "+13125550101".
type Number string

// LogValue masks a number for the logs, keeping the country code and the
// last four digits: "+1******0101". Phone numbers are personal data.
func (n Number) LogValue() slog.Value { return slog.StringValue(n.Masked()) }

// Masked returns the number with its middle digits starred.
func (n Number) Masked() string {
	s := string(n)
	if len(s) <= 6 {
		return s
	}
	keep := 2 // "+" and the first digit of the country code
	mid := len(s) - keep - 4
	b := []byte(s)
	for i := keep; i < keep+mid; i++ {
		b[i] = '*'
	}
	return string(b)
}

// Message is one text to send back to a missed caller.
type Message struct {
	ID     int64 // the outbox's id; zero until stored
	CallID CallID
	Rule   string
	To     Number
	From   Number // empty: the sender's default
	Body   string
	// NotBefore is when the text may go at the earliest (the end of the
	// caller's quiet hours, or of a grace delay); zero means at once.
	// max_delay counts from it.
	NotBefore time.Time
	// Grace, when set, is when the missed call was decided: the text was
	// held for a grace delay, and is cancelled if the caller connected with
	// us (got through on a redial, or was called back) at or after it.
	Grace time.Time
}

// Receipt is what a sender learned from sending a Message.
type Receipt struct {
	Sender     string // "twilio", "log", …
	ProviderID string // the provider's message id, e.g. Twilio's SM… sid
}

// Sender sends one text. It returns an error wrapping ErrUndeliverable when
// retrying cannot help (bad number, bad credentials), one wrapping
// ErrUnconfirmed when the text may have gone out, a *RetryError when the
// provider said when to try again, and any other error for a transient
// failure that is worth retrying.
type Sender interface {
	Send(ctx context.Context, m Message) (Receipt, error)
}

// ErrUndeliverable marks a permanent send failure: the text must not be retried.
var ErrUndeliverable = errors.New("undeliverable")

// ErrUnconfirmed marks a send whose outcome is unknown: the text left (the
// request was written, the PDU handed to the modem) but no answer came. It
// may have gone out, so it is never retried: a caller texted twice is
// worse than one not texted. The outbox records it as Unknown.
var ErrUnconfirmed = errors.New("sent but not confirmed: it may have gone out")

// RetryError is a transient failure with the provider's own advice on when
// to retry (HTTP 429 Retry-After, say).
type RetryError struct {
	After time.Duration
	Err   error
}

func (e *RetryError) Error() string { return fmt.Sprintf("%v (retry after %s)", e.Err, e.After) }
func (e *RetryError) Unwrap() error { return e.Err }

// Signs are what a PBX source saw of an inbound call, whatever the PBX.
// Every source judges a call by the same precedence: Outcome.
type Signs struct {
	Answered    bool // a person was bridged to the caller
	Voicemail   bool // the voicemail application ran on the call
	Abandoned   bool // the caller hung up while a phone rang or while queued
	NoAnswer    bool // a phone rang out
	Busy        bool // a phone answered busy
	Unavailable bool // a phone could not be reached (CHANUNAVAIL, CONGESTION, no queue member)
	Dialed      bool // some phone was dialed at all
}

// Outcome judges the signs: a person answering wins; then voicemail (the
// caller was sent there, whatever rang before); then a caller who gave up;
// then a phone ringing out over one answering busy (a ring group with one
// busy phone and one that rang out is no_answer); then unreachable phones;
// a dialed phone with no word on how it ended rang out; nothing dialed at
// all is unattended (closed hours, an IVR).
func (s Signs) Outcome() Outcome {
	switch {
	case s.Answered:
		return Answered
	case s.Voicemail:
		return Voicemail
	case s.Abandoned:
		return Abandoned
	case s.NoAnswer:
		return NoAnswer
	case s.Busy:
		return Busy
	case s.Unavailable:
		return Unavailable
	case s.Dialed:
		return NoAnswer
	}
	return Unattended
}
