package rules

// Reason is the machine-readable reason for a Decision, and for ParseCaller's
// verdict on a caller number. It is what the journal stores.
type Reason string

// Reasons, in the order Decide checks them (see the package comment).
const (
	// OK is ParseCaller's verdict on a number it can text. Decide never
	// returns it.
	OK Reason = ""

	NotInbound        Reason = "not_inbound"         // the call came from a phone or went out, not in from a trunk
	Answered          Reason = "answered"            // a person answered
	UnknownOutcome    Reason = "unknown_outcome"     // the source gave an inbound call no known Outcome
	Withheld          Reason = "withheld"            // the caller hid their number, or the PBX had none
	Internal          Reason = "internal"            // the caller is an internal extension
	ShortCode         Reason = "short_code"          // the caller is a short code or service number
	InvalidNumber     Reason = "invalid_number"      // the caller number is not a phone number
	OptedOut          Reason = "opted_out"           // the caller is on the opt-out list
	Denied            Reason = "denied"              // the caller is on the deny list
	PremiumRate       Reason = "premium_rate"        // the caller is a premium-rate, shared-cost or UAN number
	CountryNotAllowed Reason = "country_not_allowed" // the caller's country is not in allowed_countries
	NoRule            Reason = "no_rule"             // no rule covers the number dialed
	TooFewRings       Reason = "too_few_rings"       // the caller hung up before min_rings rings
	QuietHours        Reason = "quiet_hours"         // it is quiet hours for the caller and the rule says skip
	Cooldown          Reason = "cooldown"            // the caller was texted less than cooldown ago
	RateLimited       Reason = "rate_limited"        // the rule's or the global max_per_hour was reached
	Send              Reason = "send"                // text the caller back (perhaps later: Decision.NotBefore)
)
