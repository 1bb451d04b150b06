package modem

import (
	"errors"
	"strings"
	"testing"

	"github.com/warthog618/modem/at"
	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/pdumode"
	"github.com/warthog618/sms/encoding/tpdu"

	"github.com/textback/textback"
)

// TestEncodeHelloHello checks the PDU against the published example of an
// SMS-SUBMIT of "hellohello" to +46708251358 with a 4-day relative validity
// period, from Lars Pettersson's "SMS and the PDU format"
// (http://www.dreamfabric.com/sms/, the "hellohello" example): the TPDU
// 11000B916407281553F80000AA0AE8329BFD4697D9EC37, preceded here by 00, the
// empty SMSC address that tells the modem to use the SIM's.
func TestEncodeHelloHello(t *testing.T) {
	var ref uint8
	parts, err := encodePDU("+46708251358", "hellohello", &ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 {
		t.Fatalf("%d parts, want 1", len(parts))
	}
	const want = "00" + "11000B916407281553F80000AA0AE8329BFD4697D9EC37"
	if got := strings.ToUpper(parts[0].data); got != want {
		t.Errorf("PDU = %s, want %s", got, want)
	}
	if parts[0].cmd != "+CMGS=23" {
		t.Errorf("cmd = %s, want +CMGS=23 (the TPDU length, SMSC octet excluded)", parts[0].cmd)
	}
}

// decodeParts decodes our own PDUs as a phone would join them.
func decodeParts(t *testing.T, parts []part) (string, []*tpdu.TPDU) {
	t.Helper()
	var segs []*tpdu.TPDU
	for _, p := range parts {
		pdu, err := pdumode.UnmarshalHexString(p.data)
		if err != nil {
			t.Fatal(err)
		}
		tp, err := sms.Unmarshal(pdu.TPDU, sms.AsMO)
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, tp)
	}
	b, err := sms.Decode(segs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), segs
}

func TestEncode(t *testing.T) {
	long := strings.Repeat("Sorry we missed your call. ", 12)[:300]
	for name, tt := range map[string]struct {
		body  string
		alpha tpdu.Alphabet
		parts int
	}{
		"ascii":         {"Hi, this is Peak HVAC. Sorry we missed your call!", tpdu.Alpha7Bit, 1},
		"gsm basic @£$": {"Price: £20 @ 5pm, ¿ok? ñ Ü", tpdu.Alpha7Bit, 1},
		"gsm extension": {"€ [ ] { } ~ ^ \\ |", tpdu.Alpha7Bit, 1},
		"160 septets":   {strings.Repeat("x", 160), tpdu.Alpha7Bit, 1},
		"161 septets":   {strings.Repeat("x", 161), tpdu.Alpha7Bit, 2},
		"80 ext = 160":  {strings.Repeat("€", 80), tpdu.Alpha7Bit, 1},
		"emoji":         {"Thanks 🙂 call you soon", tpdu.AlphaUCS2, 1},
		"accents":       {"Désolé, nous avons manqué votre appel – à bientôt", tpdu.AlphaUCS2, 1},
		"300 ascii":     {long, tpdu.Alpha7Bit, 2},
		"70 ucs2":       {strings.Repeat("é", 69) + "ç", tpdu.AlphaUCS2, 1}, // é is GSM, ç alone is too
		"long emoji":    {strings.Repeat("🙂", 40), tpdu.AlphaUCS2, 2},
	} {
		t.Run(name, func(t *testing.T) {
			var ref uint8
			parts, err := encodePDU("+15551234567", tt.body, &ref)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != tt.parts {
				t.Errorf("%d parts, want %d", len(parts), tt.parts)
			}
			got, segs := decodeParts(t, parts)
			if got != tt.body {
				t.Errorf("decoded %q, want %q", got, tt.body)
			}
			if a, _ := segs[0].Alphabet(); a != tt.alpha {
				t.Errorf("alphabet %v, want %v", a, tt.alpha)
			}
		})
	}
}

// TestEncodeEscapeAtBoundary puts a GSM escape pair (€ is ESC 0x65) across
// the 153-septet boundary of a concatenated text: the pair must move whole
// into the second part.
func TestEncodeEscapeAtBoundary(t *testing.T) {
	body := strings.Repeat("a", 152) + "€" + strings.Repeat("b", 20)
	var ref uint8
	parts, err := encodePDU("+15551234567", body, &ref)
	if err != nil {
		t.Fatal(err)
	}
	got, segs := decodeParts(t, parts)
	if got != body {
		t.Fatalf("decoded %q, want %q", got, body)
	}
	if n := len(segs[0].UD); n != 152 {
		t.Errorf("part 1 has %d septets, want 152 (the escape pair moved to part 2)", n)
	}
	if segs[1].UD[0] != 0x1b {
		t.Errorf("part 2 starts with %#x, want the escape 0x1b", segs[1].UD[0])
	}
}

// TestEncodeNoLeak: a UCS-2 text and then an ASCII text through the same
// reference counter; the second is GSM 7-bit.
func TestEncodeNoLeak(t *testing.T) {
	var ref uint8
	if _, err := encodePDU("+15551234567", "Merci 🙂", &ref); err != nil {
		t.Fatal(err)
	}
	parts, err := encodePDU("+15551234567", "plain text", &ref)
	if err != nil {
		t.Fatal(err)
	}
	_, segs := decodeParts(t, parts)
	if segs[0].DCS != 0 {
		t.Errorf("DCS %#x after a UCS-2 text, want 0", byte(segs[0].DCS))
	}
}

// TestConcatRef: sms.Encode, which modem's gsm.SendLongMessage uses, starts
// the concatenation reference at 1 for every text, so two long texts to one
// phone share it; ours differ.
func TestConcatRef(t *testing.T) {
	long := strings.Repeat("x", 200)
	a, _ := sms.Encode([]byte(long), sms.To("+15551234567"))
	b, _ := sms.Encode([]byte(long), sms.To("+15551234567"))
	_, _, ra, _ := a[0].ConcatInfo()
	_, _, rb, _ := b[0].ConcatInfo()
	if ra != rb {
		t.Logf("sms.Encode now varies the reference (%d, %d): the workaround may go", ra, rb)
	}
	var ref uint8
	p1, _ := encodePDU("+15551234567", long, &ref)
	p2, _ := encodePDU("+15551234567", long, &ref)
	_, s1 := decodeParts(t, p1)
	_, s2 := decodeParts(t, p2)
	_, _, r1, _ := s1[0].ConcatInfo()
	_, _, r2, _ := s2[0].ConcatInfo()
	if r1 == r2 {
		t.Errorf("two long texts share concatenation reference %d", r1)
	}
}

func TestEncodeText(t *testing.T) {
	parts := encodeText("+15551234567", strings.Repeat("a", 170))
	if len(parts) != 2 || parts[0].cscs != "IRA" || len(parts[0].data) != 160 {
		t.Errorf("ascii: %+v", parts)
	}
	parts = encodeText("+15551234567", "a"+strings.Repeat("🙂", 36))
	if len(parts) != 2 || parts[0].cscs != "UCS2" || len(parts[0].data) != 69*4 {
		t.Errorf("emoji: %d parts, first %d hex digits (want 69 units: no split surrogate)", len(parts), len(parts[0].data))
	}
}

func TestClassifyCMS(t *testing.T) {
	for in, want := range map[string]struct {
		code      int
		permanent bool
	}{
		"1": {1, true}, "21": {21, true}, "29": {29, true}, "50": {50, true}, "304": {304, true},
		"38": {38, false}, "42": {42, false}, "331": {331, false}, "332": {332, false}, "500": {500, false},
		"330": {330, false}, "514": {514, false}, "197": {197, true},
		"Short message transfer rejected": {21, true},
		"network out of order":            {38, false},
		"Unassigned (unallocated) number": {1, true},
		"no network service":              {331, false},
		"something new":                   {0, false},
	} {
		got := classifyCMS(at.CMSError(in))
		if got.Code != want.code || got.Permanent != want.permanent {
			t.Errorf("%q: code %d permanent %v, want %d %v", in, got.Code, got.Permanent, want.code, want.permanent)
		}
		err := sendError(at.CMSError(in))
		if errors.Is(err, textback.ErrUndeliverable) != want.permanent {
			t.Errorf("%q: undeliverable %v, want %v", in, !want.permanent, want.permanent)
		}
	}
}

func TestRegState(t *testing.T) {
	for name, tt := range map[string]struct {
		info []string
		want int
	}{
		"answer":            {[]string{"+CREG: 0,1"}, 1},
		"answer with cell":  {[]string{"+CREG: 2,5,\"00C3\",\"0010\",7"}, 5},
		"urc before":        {[]string{"+CREG: 2", "+CREG: 0,1"}, 1},
		"urc with cell":     {[]string{"+CREG: 1,\"00C3\",\"0010\"", "+CREG: 0,2"}, 2},
		"other urcs around": {[]string{"RING", "^RSSI: 12", "+CREG: 0,5"}, 5},
	} {
		got, _ := regState(tt.info, "+CREG:")
		if got != tt.want {
			t.Errorf("%s: %d, want %d", name, got, tt.want)
		}
	}
}

func TestCSQ(t *testing.T) {
	for rssi, want := range map[int]int{0: -113, 1: -111, 20: -73, 31: -51, 99: 0} {
		if got := csqDBm(rssi); got != want {
			t.Errorf("csqDBm(%d) = %d, want %d", rssi, got, want)
		}
	}
}
