package modem

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/warthog618/sms/encoding/pdumode"
	"github.com/warthog618/sms/encoding/tpdu"
	"github.com/warthog618/sms/encoding/ucs2"
)

// part is one AT+CMGS of a text: a PDU in PDU mode, a whole short text in
// text mode.
type part struct {
	cmd  string // "+CMGS=23" or `+CMGS="+4477…"`
	data string // hex PDU, or the text
	cscs string // text mode: the character set ("IRA" or "UCS2")
	dcs  int    // text mode: the data coding for AT+CSMP
}

// counter is a tpdu.Counter over a uint8 that the caller guards.
type counter struct{ n *uint8 }

func (c counter) Count() int { *c.n++; return int(*c.n) }

// encodePDU splits body into SMS-SUBMIT PDUs for to: GSM 7-bit with the
// default extension table (€ [ ] { } ~ ^ \ | cost two septets) when every
// character has one, UCS-2 otherwise; more than one part carries an 8-bit
// concatenation header with reference ref (3GPP TS 23.040 §9.2.3.24.1).
//
// github.com/warthog618/sms does the coding and the splitting; what we do
// around it: a fresh template per text, so the data coding of one text
// cannot carry over to the next; our own concatenation reference, where
// sms.Encode starts at 1 for every text, so two long texts to one phone
// would share it and be mixed up; and a check of every part against the
// limits, so a bug in the splitting fails here and not on the phone.
func encodePDU(to, body string, ref *uint8) ([]part, error) {
	return encodeSubmit(to, body, ref, false)
}

// encodeSubmit is encodePDU, asking for a status report on each part
// (TP-SRR, TS 23.040 §9.2.3.5) when srr is set.
func encodeSubmit(to, body string, ref *uint8, srr bool) ([]part, error) {
	ud, udh, alpha := tpdu.EncodeUserData([]byte(body))
	if alpha == tpdu.Alpha7Bit && strings.ContainsRune(body, 0x1b) {
		// warthog618/sms maps U+001B to the GSM escape septet itself, which
		// a phone reads as the start of an extension character (and which
		// checkSegment refuses at the end of a part): such a text goes as
		// UCS-2. Found by FuzzEncodePDU.
		ud, udh, alpha = ucs2.Encode([]rune(body)), nil, tpdu.AlphaUCS2
	}
	t := tpdu.TPDU{Direction: tpdu.MO}
	t.SetSmsType(tpdu.SmsSubmit)
	t.DA = tpdu.NewAddress(tpdu.FromNumber(to))
	dcs, err := tpdu.DCS(0).WithAlphabet(alpha)
	if err != nil {
		return nil, err
	}
	t.SetDCS(byte(dcs))
	if udh != nil {
		t.SetUDH(udh)
	}
	// A relative validity period of 4 days (TP-VP 0xAA, TS 23.040
	// §9.2.3.12.1): the service centre gives up on a phone that stays off
	// longer; a missed-call text older than that is stale.
	var vp tpdu.ValidityPeriod
	vp.SetRelative(4 * 24 * time.Hour)
	t.SetVP(vp)
	if srr {
		t.FirstOctet |= tpdu.FoSRR
	}
	segs := t.Segment(ud, tpdu.WithConcatRef(counter{ref}))
	if len(segs) == 0 {
		return nil, errors.New("empty text")
	}
	if len(segs) > 255 {
		return nil, fmt.Errorf("text needs %d parts, more than 255", len(segs))
	}
	parts := make([]part, 0, len(segs))
	for i := range segs {
		s := &segs[i]
		if err := checkSegment(s, alpha); err != nil {
			return nil, fmt.Errorf("part %d: %w", i+1, err)
		}
		b, err := s.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", i+1, err)
		}
		// An empty SMSC address (00): the modem uses the SIM's (AT+CSCA).
		p := pdumode.PDU{TPDU: b}
		h, err := p.MarshalHexString()
		if err != nil {
			return nil, fmt.Errorf("part %d: %w", i+1, err)
		}
		// AT+CMGS counts the TPDU only, without the SMSC octets (27.005 §3.5.1).
		parts = append(parts, part{cmd: fmt.Sprintf("+CMGS=%d", len(b)), data: h})
	}
	return parts, nil
}

// checkSegment checks what phones rely on: a GSM escape is never the last
// septet of a part (its character would be split from it) and a UTF-16
// surrogate pair is never split.
func checkSegment(s *tpdu.TPDU, alpha tpdu.Alphabet) error {
	ud := s.UD
	switch alpha {
	case tpdu.Alpha7Bit:
		esc := false
		for _, c := range ud {
			esc = !esc && c == 0x1b
		}
		if esc {
			return errors.New("GSM escape split from its character")
		}
	case tpdu.AlphaUCS2:
		if len(ud)%2 != 0 {
			return errors.New("odd UCS-2 length")
		}
		if n := len(ud); n >= 2 {
			last := rune(ud[n-2])<<8 | rune(ud[n-1])
			if 0xd800 <= last && last < 0xdc00 {
				return errors.New("surrogate pair split")
			}
		}
	}
	return nil
}

// encodeText splits body into text-mode texts for modems that cannot do PDU
// mode. Text mode has no concatenation header, so a long text arrives as
// several separate texts of up to 160 (ASCII) or 70 (UCS-2) characters.
// ASCII goes as IRA; anything else, control characters included (a line
// break would make the modem prompt again), goes as UCS-2 hex, number too
// (27.005 §3.1: the number is in the AT+CSCS character set).
func encodeText(to, body string) []part {
	if isIRA(body) {
		var parts []part
		for len(body) > 0 {
			n := min(len(body), 160)
			parts = append(parts, part{cmd: fmt.Sprintf("+CMGS=%q", to), data: body[:n], cscs: "IRA", dcs: 0})
			body = body[n:]
		}
		return parts
	}
	u := utf16.Encode([]rune(body))
	num := ucs2Hex(utf16.Encode([]rune(to)))
	var parts []part
	for len(u) > 0 {
		n := min(len(u), 70)
		if n < len(u) && utf16.IsSurrogate(rune(u[n-1])) && u[n-1] < 0xdc00 {
			n--
		}
		parts = append(parts, part{cmd: fmt.Sprintf("+CMGS=%q", num), data: ucs2Hex(u[:n]), cscs: "UCS2", dcs: 8})
		u = u[n:]
	}
	return parts
}

func isIRA(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '`' {
			return false
		}
	}
	return true
}

func ucs2Hex(u []uint16) string {
	b := make([]byte, 2*len(u))
	for i, r := range u {
		b[2*i], b[2*i+1] = byte(r>>8), byte(r)
	}
	return strings.ToUpper(hex.EncodeToString(b))
}
