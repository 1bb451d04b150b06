package smstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// body is a request body read as the fields of a form or a JSON object,
// and the problems found so far.
type body struct {
	fields   map[string]any
	problems []string
}

func (b *body) problemf(format string, args ...any) {
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

// contentType checks the request's media type.
func (b *body) contentType(r *http.Request, want string) bool {
	got, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || got != want {
		b.problemf("Content-Type %q, want %s", r.Header.Get("Content-Type"), want)
		return false
	}
	return true
}

// readForm reads an application/x-www-form-urlencoded body. Every field
// must appear once.
func readForm(r *http.Request, raw []byte) *body {
	b := &body{fields: map[string]any{}}
	if !b.contentType(r, "application/x-www-form-urlencoded") {
		return b
	}
	if r.URL.RawQuery != "" {
		b.problemf("query %q: the fields go in the body", r.URL.RawQuery)
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		b.problemf("body is not form encoded: %v", err)
		return b
	}
	for k, vs := range form {
		if len(vs) != 1 {
			b.problemf("field %s given %d times", k, len(vs))
		}
		b.fields[k] = vs[0]
	}
	return b
}

// readJSON reads an application/json body: one object, nothing after it.
func readJSON(r *http.Request, raw []byte) *body {
	b := &body{fields: map[string]any{}}
	if !b.contentType(r, "application/json") {
		return b
	}
	if r.URL.RawQuery != "" {
		b.problemf("query %q: the fields go in the body", r.URL.RawQuery)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&b.fields); err != nil {
		b.problemf("body is not a JSON object: %v", err)
	} else if dec.More() {
		b.problemf("more after the JSON object")
	}
	return b
}

// keys checks the field names: every required one present, none beyond
// the required and the optional.
func (b *body) keys(required, optional []string) {
	for _, k := range required {
		if _, ok := b.fields[k]; !ok {
			b.problemf("required field %s missing", k)
		}
	}
	var unknown []string
	for k := range b.fields {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		b.problemf("field %s is not in the documentation", k)
	}
}

// str returns a string field ("" if absent), noting one of another type.
func (b *body) str(k string) string {
	v, ok := b.fields[k]
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		b.problemf("field %s is %T, want a string", k, v)
	}
	return s
}

// nonEmpty returns a string field, noting it if empty.
func (b *body) nonEmpty(k string) string {
	s := b.str(k)
	if _, ok := b.fields[k]; ok && s == "" {
		b.problemf("field %s is empty", k)
	}
	return s
}

// e164 returns a field that must be an E.164 number with its "+".
func (b *body) e164(k string) string {
	s := b.str(k)
	if _, ok := b.fields[k]; ok && !isE164(s) {
		b.problemf("field %s = %q is not an E.164 number (+ and up to 15 digits)", k, s)
	}
	return s
}

// isE164 reports whether s is "+", a digit 1-9 and up to 14 more digits.
func isE164(s string) bool {
	d, ok := strings.CutPrefix(s, "+")
	return ok && isDigits(d) && len(d) >= 2 && len(d) <= 15 && d[0] != '0'
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// sender checks a from field: an E.164 number, a short code (digits) or an
// alphanumeric sender ID of up to 11 characters.
func (b *body) sender(k string) string {
	s := b.str(k)
	if _, ok := b.fields[k]; !ok {
		return s
	}
	switch {
	case isE164(s), isDigits(s) && len(s) <= 15:
	case s != "" && len(s) <= 11 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ") == "":
	default:
		b.problemf("field %s = %q is not a number, short code or alphanumeric sender", k, s)
	}
	return s
}

// plus puts back the "+" that Vonage numbers go without.
func plus(s string) string {
	if isDigits(s) && len(s) > 6 {
		return "+" + s
	}
	return s
}
