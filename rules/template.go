package rules

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/textback/textback"
)

// A template is a rule's message, parsed once by New: literal text and
// placeholders.
//
// Placeholders are {business}, {did} (the number dialed, formatted for the
// region), {caller} (likewise), {outcome} (in words: see outcomeWords) and
// {rule}, and {opens}, the next opening time of the rule's business hours
// ("Monday 8:00"); "{{" and "}}" are literal braces. Values are plain text, never
// expanded again, so a DID that reads "{business}" stays that. The caller ID
// name is never offered: anyone can set it to anything.
type template struct {
	parts []part
	size  int // bytes of literal text, to size the output
}

// part is literal text (field 0) or a placeholder.
type part struct {
	lit   string
	field field
}

type field int

const (
	literal field = iota
	businessField
	didField
	callerField
	outcomeField
	ruleField
	opensField
)

var fields = map[string]field{
	"business": businessField,
	"did":      didField,
	"caller":   callerField,
	"outcome":  outcomeField,
	"rule":     ruleField,
	"opens":    opensField,
}

// values fill a template's placeholders.
type values struct {
	business, did, caller, outcome, rule, opens string
}

func (v *values) get(f field) string {
	switch f {
	case businessField:
		return v.business
	case didField:
		return v.did
	case callerField:
		return v.caller
	case outcomeField:
		return v.outcome
	case ruleField:
		return v.rule
	case opensField:
		return v.opens
	}
	return ""
}

// parseTemplate parses a message. Errors give the byte offset of the fault.
func parseTemplate(s string) (*template, error) {
	t := &template{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{lit: lit.String()})
			t.size += lit.Len()
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return nil, fmt.Errorf("single } at byte %d (write }} for a literal brace)", i)
		case c == '{':
			end := strings.IndexAny(s[i+1:], "{}")
			if end < 0 || s[i+1+end] == '{' {
				return nil, fmt.Errorf("unclosed { at byte %d (write {{ for a literal brace)", i)
			}
			name := s[i+1 : i+1+end]
			f, ok := fields[name]
			if !ok {
				return nil, fmt.Errorf("unknown placeholder {%s} (want one of {business}, {did}, {caller}, {outcome}, {rule}, {opens})", name)
			}
			flush()
			t.parts = append(t.parts, part{field: f})
			i += 1 + end
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return t, nil
}

// uses reports whether the template has the placeholder f.
func (t *template) uses(f field) bool {
	for _, p := range t.parts {
		if p.field == f {
			return true
		}
	}
	return false
}

// execute fills the template.
func (t *template) execute(v *values) string {
	var b strings.Builder
	b.Grow(t.size + 48)
	for _, p := range t.parts {
		if p.field == literal {
			b.WriteString(p.lit)
		} else {
			b.WriteString(v.get(p.field))
		}
	}
	return b.String()
}

// outcomeWords are what {outcome} says, from the caller's side.
var outcomeWords = map[textback.Outcome]string{
	textback.Answered:    "answered",
	textback.NoAnswer:    "missed",
	textback.Busy:        "busy",
	textback.Abandoned:   "missed",
	textback.Voicemail:   "sent to voicemail",
	textback.Unavailable: "missed",
	textback.Unattended:  "missed",
}

// plain makes a value from the PBX safe to put in a text: control
// characters (newlines, escapes) go.
func plain(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}
