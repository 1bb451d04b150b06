package textback

import (
	"strings"
	"unicode"
)

// Keyword is what a text someone sent us asks for, when it is one of the
// standard carrier keywords rather than a message for a person.
type Keyword int

// Keywords.
const (
	NoKeyword     Keyword = iota // a message for a person
	OptOutKeyword                // STOP and its synonyms: put the sender on the opt-out list
	OptInKeyword                 // START and its synonyms: take the sender off it
	HelpKeyword                  // HELP, INFO: the carrier answers these itself
)

func (k Keyword) String() string {
	switch k {
	case OptOutKeyword:
		return "opt-out"
	case OptInKeyword:
		return "opt-in"
	case HelpKeyword:
		return "help"
	}
	return "none"
}

// keywords are Twilio's default keyword lists: opt-out STOP, UNSUBSCRIBE,
// END, QUIT, STOPALL, REVOKE, OPTOUT and CANCEL
// (https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out), opt-in
// START, YES and UNSTOP, and help HELP and INFO
// (https://help.twilio.com/articles/223134027-Twilio-support-for-opt-out-keywords-SMS-STOP-filtering-).
// The other carriers' defaults are subsets of these (Telnyx's opt-out list
// adds "STOP ALL", https://developers.telnyx.com/docs/messaging/messages/advanced-opt-in-out),
// and "OPT OUT" and "OPT-OUT" (AWS's list) are spellings of OPTOUT.
var keywords = map[string]Keyword{
	"STOP":        OptOutKeyword,
	"STOPALL":     OptOutKeyword,
	"STOP ALL":    OptOutKeyword,
	"UNSUBSCRIBE": OptOutKeyword,
	"CANCEL":      OptOutKeyword,
	"END":         OptOutKeyword,
	"QUIT":        OptOutKeyword,
	"REVOKE":      OptOutKeyword,
	"OPTOUT":      OptOutKeyword,
	"OPT OUT":     OptOutKeyword,
	"OPT-OUT":     OptOutKeyword,

	"START":  OptInKeyword,
	"UNSTOP": OptInKeyword,
	"YES":    OptInKeyword,

	"HELP": HelpKeyword,
	"INFO": HelpKeyword,
}

// ParseKeyword reports which keyword a text is, if any. Like the carriers,
// it takes only a message that is nothing but the keyword: case, surrounding
// white space and trailing punctuation do not matter ("stop.", " Stop! "),
// but "STOP PLEASE" and "please don't stop by tomorrow" are messages for a
// person. SUBSCRIBE is not an opt-in word: no carrier default has it.
func ParseKeyword(body string) Keyword {
	s := strings.TrimFunc(body, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)
	})
	if len(s) > 32 { // longer than any keyword with spaces inside it
		return NoKeyword
	}
	s = strings.Join(strings.Fields(s), " ")
	return keywords[strings.ToUpper(s)]
}
