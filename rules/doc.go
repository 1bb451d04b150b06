// Package rules turns a finished call into a Decision: whether to text the
// caller back, from which number, with which words, when, and why.
//
// It is pure in what matters: it reads no clock (the time of the decision
// is an argument) and its only I/O is the History lookups (opt-out,
// cooldown, hourly caps) and, for the allow_file and deny_file lists, a look
// at each file at most once every ListCheckInterval of decision time.
//
// Decide checks a call in this order and stops at the first check that
// refuses it, so a Decision names the first reason not to text:
//
//  1. NotInbound: the call did not come in from a trunk.
//  2. Answered: a person answered (UnknownOutcome: the source did not say).
//  3. Withheld: the caller asked for their number to be hidden.
//  4. The caller's number (ParseCaller): Withheld, Internal, ShortCode or
//     InvalidNumber.
//  5. OptedOut: the caller is on the opt-out list. It beats everything
//     below, the allow list included.
//  6. Denied: the caller is on the deny list or in the deny file.
//  7. PremiumRate: the caller is a premium-rate, shared-cost or UAN number,
//     and CountryNotAllowed: the caller's country is not allowed (by
//     default only the From number's). Callers on the allow list skip both.
//  8. NoRule: no rule's dids match the number dialed.
//  9. TooFewRings: the caller hung up (Abandoned) before min_rings rings.
//     Calls that rang out, were busy, went to voicemail, could not reach a
//     phone or reached none are always texted, however briefly they rang.
//  10. QuietHours: it is the rule's quiet hours on the caller's clock and
//     its quiet_action is skip. With defer (the default) the text is sent
//     with Decision.NotBefore at their end; with send it goes at once.
//  11. Cooldown: the caller was texted less than cooldown ago.
//  12. RateLimited: the rule's max_per_hour, or the global one, is reached.
//  13. Send, with the rule's text: its after-hours message outside its
//     hours or on a holiday, else its message for the outcome, else its
//     message; and the opt-out suffix.
//
// The cheap, certain checks come first and the ones that need the History
// come late, so a call that is refused anyway costs few lookups. Every
// Decision has a Detail in words that says what was found: "no_answer, rang
// 5 times (30s); closed (holiday 2026-12-25, Fri 10:00 America/New_York):
// after-hours message".
package rules
