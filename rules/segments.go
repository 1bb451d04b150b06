package rules

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
)

// The GSM 03.38 default alphabet (3GPP TS 23.038 §6.2.1) and its extension
// table, whose characters take an escape septet and so count twice.
const (
	gsmBasic     = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

var gsmBasicSet, gsmExtSet = runeSet(gsmBasic), runeSet(gsmExtension)

func runeSet(s string) map[rune]bool {
	m := make(map[rune]bool)
	for _, r := range s {
		m[r] = true
	}
	return m
}

// Encoding is how a text travels: GSM 7-bit, or UCS-2 when any character
// is outside the GSM alphabet.
type Encoding string

// Encodings.
const (
	GSM7 Encoding = "GSM 7-bit"
	UCS2 Encoding = "UCS-2"
)

// Segments says how a text is sent: its encoding, its length in that
// encoding's units (septets, or UTF-16 code units) and the number of SMS it
// takes. One SMS holds 160 septets or 70 UCS-2 units; a longer text goes in
// parts of 153 or 67, the rest of each part being the header that joins
// them again.
func Segments(text string) (enc Encoding, units, parts int) {
	enc, units = GSM7, 0
	for _, r := range text {
		switch {
		case gsmBasicSet[r]:
			units++
		case gsmExtSet[r]:
			units += 2
		default:
			enc = UCS2
		}
	}
	single, multi := 160, 153
	if enc == UCS2 {
		units = len(utf16.Encode([]rune(text)))
		single, multi = 70, 67
	}
	switch {
	case units == 0:
		parts = 0
	case units <= single:
		parts = 1
	default:
		parts = (units + multi - 1) / multi
	}
	return enc, units, parts
}

// lintMessage returns the warnings for one text as it would go out:
// more than one SMS, links and capitals, which carriers' filters hold
// against a text.
func lintMessage(sample string) []string {
	var warns []string
	enc, units, parts := Segments(sample)
	if parts > 1 {
		limit := "160 GSM 7-bit characters"
		if enc == UCS2 {
			limit = "70 UCS-2 characters (it has characters outside the GSM alphabet: emoji, curly quotes, some accents)"
		}
		warns = append(warns, fmt.Sprintf("%d %s units with the placeholders filled: %d SMS parts, where one holds %s", units, enc, parts, limit))
	}
	lower := strings.ToLower(sample)
	if strings.Contains(lower, "http://") || strings.Contains(lower, "https://") || strings.Contains(lower, "www.") {
		warns = append(warns, "has a link: carriers filter texts with links, shortened ones most")
	}
	if shouty(sample) {
		warns = append(warns, "is written in capitals: carriers filter texts that shout")
	}
	return warns
}

// shouty reports whether a text is all capitals (with at least 8 letters),
// or has a run of three words in capitals ("CALL US NOW").
func shouty(s string) bool {
	upper, lower := 0, 0
	run := 0
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) }) {
		u, l := 0, 0
		for _, r := range w {
			if unicode.IsUpper(r) {
				u++
			} else if unicode.IsLower(r) {
				l++
			}
		}
		upper, lower = upper+u, lower+l
		if l == 0 && u >= 2 {
			if run++; run >= 3 {
				return true
			}
		} else {
			run = 0
		}
	}
	return lower == 0 && upper >= 8
}
