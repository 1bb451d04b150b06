package rules

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/textback/textback"
)

// DefaultMaxExtensionLen is the longest all-digit caller number taken for an
// internal extension when no other length is configured.
const DefaultMaxExtensionLen = 6

// The digits a textable number has after the "+". E.164 allows 15; the
// library calls a few shorter numbers valid, down to 6 digits, and they are
// almost all service numbers that take no text (Dutch 14xxx municipal
// lines, Norwegian 0xxxx, Iranian 96xx), so they count as short codes. The
// cost is the 4-digit lines of Niue, Tokelau and Tristan da Cunha.
const (
	minE164Digits = 8
	maxE164Digits = 15
)

// ParseCaller turns a raw caller ID number, as a PBX reports it, into the
// E.164 number to text back. region is the ISO 3166 code ("US", "GB") that
// numbers without a country code belong to; maxExtLen is the longest
// internal extension (0 means DefaultMaxExtensionLen, a negative length
// means there are no extensions). It returns the number and OK, or "" and
// the reason the caller cannot be texted:
//
//   - Withheld: no number, or a placeholder for one: "", "anonymous",
//     "Restricted", "<unknown>", "asterisk" (Asterisk's default caller ID),
//     "_undef_" (FreeSWITCH's), "0000000000" (Kazoo's; any all-zero number),
//     "P" and "O" (private, out of area: the Bellcore caller ID codes),
//     "sip:anonymous@anonymous.invalid" (RFC 3323), and Twilio's keypad
//     spellings ("+266696687" is ANONYMOUS).
//   - Internal: an extension, that is bare digits (or the user of a sip: URI)
//     no longer than maxExtLen, such as "100" or "2001". By default a caller
//     of up to 6 bare digits is an extension even where it is also a short
//     code ("611"): a PBX reports its own phones that way, while a carrier
//     hands over a short code with its country code or as a tel: URI.
//   - ShortCode: a number in any other form (longer than an extension, with
//     a "+", a tel: URI, punctuation) that is not a valid number and that
//     the library's short-number metadata calls a short code, or one of the
//     lengths short codes have there: "tel:611", "+1 611", or "55555" when
//     maxExtLen is 4. Valid numbers with fewer than 8 digits count too.
//   - InvalidNumber: anything else that is not a valid phone number.
//
// Accepted forms include "+13125550101", "3125550101", "(312) 555-0101",
// "13125550101", "0044 20 7946 0958" (an international prefix, even one not
// the region's own), "tel:+13125550101" and "sip:+13125550101@host;user=phone".
func ParseCaller(raw, region string, maxExtLen int) (textback.Number, Reason) {
	n, _, why := parseCaller(raw, region, maxExtLen)
	return n, why
}

// parseCaller is ParseCaller that also returns the parsed number, for
// formatting.
func parseCaller(raw, region string, maxExtLen int) (textback.Number, *phonenumbers.PhoneNumber, Reason) {
	if maxExtLen == 0 {
		maxExtLen = DefaultMaxExtensionLen
	}
	s := strings.TrimSpace(raw)
	if withheld(s) {
		return "", nil, Withheld
	}
	s, tel, anon := unwrap(s)
	if anon || withheld(s) {
		return "", nil, Withheld
	}
	// A tel: URI is a telephone number by definition (RFC 3966), never an
	// extension.
	if !tel && len(s) <= maxExtLen && digitsOnly(s) {
		return "", nil, Internal
	}
	return parse(s, strings.ToUpper(region))
}

// ParseNumber parses a phone number from configuration or the command line
// ("+12125550100", "(212) 555-0100", "tel:+44…") into E.164. Numbers without
// a country code belong to region.
func ParseNumber(s, region string) (textback.Number, error) {
	region = strings.ToUpper(strings.TrimSpace(region))
	if !knownRegion(region) {
		return "", fmt.Errorf("unknown region %q", region)
	}
	user, _, _ := unwrap(strings.TrimSpace(s))
	n, _, why := parse(user, region)
	if why != OK {
		return "", fmt.Errorf("not a valid phone number for region %s: %q", region, s)
	}
	return n, nil
}

// knownRegion reports whether the library has metadata for region.
func knownRegion(region string) bool {
	return phonenumbers.GetSupportedRegions()[region]
}

// parse classifies a caller number stripped of its URI.
func parse(s, region string) (textback.Number, *phonenumbers.PhoneNumber, Reason) {
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", nil, InvalidNumber
	}
	n, why := classify(num)
	if why == OK {
		return n, num, OK
	}
	// "00" is the international prefix of most of the world, and a PBX may
	// pass it through in a region whose own prefix differs ("011" in the
	// US), where no national number starts with "00" either.
	if d := strings.TrimLeft(s, " "); strings.HasPrefix(d, "00") {
		if alt, err := phonenumbers.Parse("+"+d[2:], region); err == nil {
			if n, ok := classify(alt); ok == OK {
				return n, alt, OK
			}
		}
	}
	return "", nil, why
}

// classify says whether a parsed number is one to text, and why not.
func classify(num *phonenumbers.PhoneNumber) (textback.Number, Reason) {
	if !phonenumbers.IsValidNumber(num) {
		// The library's short-code metadata knows this one, or has short
		// codes of its length (3 to 6 digits in the US and GB), not
		// subscriber numbers.
		if phonenumbers.IsValidShortNumber(num) || phonenumbers.IsPossibleShortNumber(num) {
			return "", ShortCode
		}
		return "", InvalidNumber
	}
	e := phonenumbers.Format(num, phonenumbers.E164)
	switch d := len(e) - 1; {
	case !strings.HasPrefix(e, "+") || !digitsOnly(e[1:]):
		return "", InvalidNumber
	case d < minE164Digits:
		return "", ShortCode
	case d > maxE164Digits:
		return "", InvalidNumber
	}
	return textback.Number(e), OK
}

// unwrap strips what a PBX may wrap a number in: angle brackets, a tel:,
// sip: or sips: URI (keeping its user part), "@host", URI parameters and
// percent-escapes. tel says the number was a tel: URI; anon that its host
// was RFC 3323's anonymous.invalid.
func unwrap(s string) (user string, tel, anon bool) {
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i+1:], '>'); j >= 0 {
			s = s[i+1 : i+1+j]
		}
	}
	s = strings.TrimSpace(s)
	switch lower := strings.ToLower(s); {
	case strings.HasPrefix(lower, "tel:"):
		s, tel = s[len("tel:"):], true
	case strings.HasPrefix(lower, "sip:"):
		s = s[len("sip:"):]
	case strings.HasPrefix(lower, "sips:"):
		s = s[len("sips:"):]
	}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		host := strings.ToLower(s[at+1:])
		anon = host == "anonymous.invalid" || strings.HasPrefix(host, "anonymous.invalid;") ||
			strings.HasPrefix(host, "anonymous.invalid:")
		s = s[:at]
	}
	if i := strings.IndexAny(s, ";?"); i >= 0 {
		s = s[:i]
	}
	if strings.Contains(s, "%") {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
	}
	return strings.TrimSpace(s), tel, anon
}

// withheldWords are what PBXs, carriers and caller ID units put where a
// number would be, lowercased and reduced to their letters ("<unknown>",
// "Out-Of-Area" and "_undef_" become "unknown", "outofarea" and "undef").
var withheldWords = map[string]bool{
	"anonymous": true, "anon": true, "anonymouscaller": true,
	"restricted": true, "presentationrestricted": true,
	"private": true, "privatenumber": true, "privatecaller": true,
	"unavailable": true, "notavailable": true, "na": true,
	"unknown": true, "unknownnumber": true, "unknowncaller": true, "callerunknown": true,
	"withheld": true, "numberwithheld": true,
	"blocked": true, "nocallerid": true, "noid": true, "outofarea": true,
	"null": true, "nil": true, "none": true,
	// Bellcore MDMF caller ID: "P" private, "O" out of area.
	"p": true, "o": true,
	// Asterisk's caller ID when a channel has none.
	"asterisk": true,
	// FreeSWITCH's "_undef_".
	"undef": true, "undefined": true,
}

// keypadWithheld are the numbers Twilio (and carriers after it) present, in
// E.164, for a withheld caller: the words spelled on a phone keypad. Only
// the "+" form counts: bare, a few are possible local numbers.
var keypadWithheld = map[string]bool{
	"266696687":   true, // ANONYMOUS
	"7378742833":  true, // RESTRICTED
	"86282452253": true, // UNAVAILABLE
	"2562533":     true, // BLOCKED
	"8656696":     true, // UNKNOWN
}

// withheld reports whether s stands for no number: it has neither digits
// nor letters, is one of withheldWords, is all zeros or is "+" and one of
// keypadWithheld.
func withheld(s string) bool {
	var letters, digits strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case unicode.IsLetter(r):
			letters.WriteRune(unicode.ToLower(r))
		}
	}
	d, l := digits.String(), letters.String()
	switch {
	case d == "":
		return l == "" || withheldWords[l]
	case l != "":
		return false
	}
	return strings.Trim(d, "0") == "" || (strings.HasPrefix(s, "+") && keypadWithheld[d])
}

// digitsOnly reports whether s is a non-empty string of ASCII digits.
func digitsOnly(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
