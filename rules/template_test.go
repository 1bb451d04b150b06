package rules

import (
	"strings"
	"testing"
)

func TestTemplate(t *testing.T) {
	v := &values{business: "Acme", did: "(212) 555-0100", caller: "(312) 555-0101", outcome: "missed", rule: "sales"}
	for _, tt := range []struct {
		in, want, err string
	}{
		{in: "", want: ""},
		{in: "plain text", want: "plain text"},
		{in: "{business}", want: "Acme"},
		{in: "{business}{rule}", want: "Acmesales"},
		{in: "Hi from {business} ({did}). We {outcome} {caller}. [{rule}]", want: "Hi from Acme ((212) 555-0100). We missed (312) 555-0101. [sales]"},
		{in: "{{", want: "{"},
		{in: "}}", want: "}"},
		{in: "{{business}}", want: "{business}"},
		{in: "{{{business}}}", want: "{Acme}"},
		{in: "é {business} ü", want: "é Acme ü"},
		{in: "{nmae}", err: "unknown placeholder {nmae} (want one of {business}, {did}, {caller}, {outcome}, {rule}, {opens})"},
		{in: "{}", err: "unknown placeholder {} (want one of {business}, {did}, {caller}, {outcome}, {rule}, {opens})"},
		{in: "{ business }", err: "unknown placeholder { business } (want one of {business}, {did}, {caller}, {outcome}, {rule}, {opens})"},
		{in: "{Business}", err: "unknown placeholder {Business} (want one of {business}, {did}, {caller}, {outcome}, {rule}, {opens})"},
		{in: "hi {", err: "unclosed { at byte 3 (write {{ for a literal brace)"},
		{in: "{bus{iness}", err: "unclosed { at byte 0 (write {{ for a literal brace)"},
		{in: "a } b", err: "single } at byte 2 (write }} for a literal brace)"},
		{in: "{business}}", err: "single } at byte 10 (write }} for a literal brace)"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			tmpl, err := parseTemplate(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("parseTemplate(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseTemplate(%q) error = %v", tt.in, err)
			}
			if got := tmpl.execute(v); got != tt.want {
				t.Errorf("execute(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTemplateValuesStayPlain(t *testing.T) {
	tmpl, err := parseTemplate("{business}|{did}|{caller}|{outcome}|{rule}")
	if err != nil {
		t.Fatal(err)
	}
	v := &values{business: "{did}", did: "{business}", caller: "{{", outcome: "}", rule: "{rule}"}
	if got, want := tmpl.execute(v), "{did}|{business}|{{|}|{rule}"; got != want {
		t.Errorf("execute() = %q, want %q", got, want)
	}
}

func TestTemplateUses(t *testing.T) {
	tmpl, err := parseTemplate("{{business}} {did}")
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.uses(businessField) || !tmpl.uses(didField) {
		t.Errorf("uses(business), uses(did) = %v, %v; want false, true", tmpl.uses(businessField), tmpl.uses(didField))
	}
}

func BenchmarkTemplate(b *testing.B) {
	tmpl, err := parseTemplate("Hi, this is {business}. Sorry we missed your call to {did}. Reply here and we'll get back to you.")
	if err != nil {
		b.Fatal(err)
	}
	v := &values{business: "Acme Plumbing", did: "(212) 555-0100"}
	for b.Loop() {
		tmpl.execute(v)
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"", "{business}", "{{x}}", "a}b", "{", "{did}{caller}{outcome}{rule}", "{{{rule}}}"} {
		f.Add(s)
	}
	escape := strings.NewReplacer("{", "{{", "}", "}}")
	v := &values{business: "{b}", did: "}d{", caller: "c", outcome: "{{", rule: "}}"}
	f.Fuzz(func(t *testing.T, s string) {
		if tmpl, err := parseTemplate(s); err == nil {
			tmpl.execute(v)
		}
		// Any text, its braces doubled, is a template that writes it back.
		tmpl, err := parseTemplate(escape.Replace(s))
		if err != nil {
			t.Fatalf("parseTemplate(%q) error = %v; want none", escape.Replace(s), err)
		}
		if got := tmpl.execute(v); got != s {
			t.Fatalf("execute(%q) = %q, want %q", escape.Replace(s), got, s)
		}
	})
}
