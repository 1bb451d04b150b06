// Package rules turns a finished call into a Decision: whether to text the
// caller back, from which number, with which words, and why.
//
// It is pure. It imports only the root package of ours, it reads no clock
// (the time of the decision is an argument) and it does no I/O but the one
// History lookup that cooldown needs.
//
// Decide checks a call in this order and stops at the first check that
// refuses it, so a Decision names the first reason not to text:
//
//  1. NotInbound: the call did not come in from a trunk.
//  2. Answered: a person answered (UnknownOutcome: the source did not say).
//  3. Withheld: the caller asked for their number to be hidden.
//  4. The caller's number (ParseCaller): Withheld, Internal, ShortCode or
//     InvalidNumber.
//  5. NoRule: no rule's dids match the number dialed.
//  6. TooFewRings: the caller hung up (Abandoned) before min_rings rings.
//     Calls that rang out, were busy, went to voicemail, could not reach a
//     phone or reached none are always texted, however briefly they rang.
//  7. Cooldown: the caller was texted less than cooldown ago.
//  8. Send.
//
// The cheap, certain checks come first and the one that needs the History
// comes last, so a call that is refused anyway costs no lookup.
package rules
