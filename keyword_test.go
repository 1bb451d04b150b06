package textback_test

import (
	"strings"
	"testing"

	"github.com/textback/textback"
)

func TestParseKeyword(t *testing.T) {
	for body, want := range map[string]textback.Keyword{
		// Twilio's default opt-out list, and the spellings we add.
		"STOP": textback.OptOutKeyword, "STOPALL": textback.OptOutKeyword, "UNSUBSCRIBE": textback.OptOutKeyword,
		"CANCEL": textback.OptOutKeyword, "END": textback.OptOutKeyword, "QUIT": textback.OptOutKeyword,
		"REVOKE": textback.OptOutKeyword, "OPTOUT": textback.OptOutKeyword, "OPT OUT": textback.OptOutKeyword,
		"opt-out": textback.OptOutKeyword, "Stop All": textback.OptOutKeyword,
		// Case, white space and punctuation around the word.
		"stop": textback.OptOutKeyword, "stop.": textback.OptOutKeyword, "  Stop!! \n": textback.OptOutKeyword,
		"\"STOP\"": textback.OptOutKeyword, "\tquit?": textback.OptOutKeyword, "opt   out": textback.OptOutKeyword,
		"STOP 🛑": textback.OptOutKeyword,
		// Opt-in and help.
		"START": textback.OptInKeyword, "unstop": textback.OptInKeyword, "Yes.": textback.OptInKeyword,
		"HELP": textback.HelpKeyword, "info?": textback.HelpKeyword,
		// Messages for a person.
		"":                                     textback.NoKeyword,
		"please don't stop by tomorrow":        textback.NoKeyword,
		"STOP PLEASE":                          textback.NoKeyword,
		"please cancel":                        textback.NoKeyword,
		"yes please call me back":              textback.NoKeyword,
		"stopp":                                textback.NoKeyword,
		"SUBSCRIBE":                            textback.NoKeyword,
		"helpful":                              textback.NoKeyword,
		"S T O P":                              textback.NoKeyword,
		"STOP" + strings.Repeat(" ", 100):      textback.OptOutKeyword,
		"STOP" + strings.Repeat(" ", 30) + "X": textback.NoKeyword,
	} {
		if got := textback.ParseKeyword(body); got != want {
			t.Errorf("ParseKeyword(%q) = %v, want %v", body, got, want)
		}
	}
}

func FuzzParseKeyword(f *testing.F) {
	for _, s := range []string{"STOP", "stop.", "please don't stop", "opt out", "\x00STOP"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		k := textback.ParseKeyword(body)
		// A keyword is a keyword whatever its case, and a message that
		// has other words besides one is not.
		if k2 := textback.ParseKeyword(strings.ToLower(body)); k != textback.NoKeyword && k2 != k {
			t.Errorf("ParseKeyword(%q) = %v but lower case gives %v", body, k, k2)
		}
		if k3 := textback.ParseKeyword("please " + body); k != textback.NoKeyword && k3 != textback.NoKeyword {
			t.Errorf("ParseKeyword(%q) = %v", "please "+body, k3)
		}
	})
}
