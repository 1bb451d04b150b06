package modem

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/textback/textback"
	"github.com/warthog618/modem/at"
)

// cmsCause is one +CMS ERROR value: its meaning and whether retrying the
// same text can help.
type cmsCause struct {
	text      string
	permanent bool
}

// cmsCauses are the +CMS ERROR values of 3GPP TS 27.005 §3.2.5: 0…127 are
// the RP-cause values of TS 24.011 Annex E.2 (the network's answer), 128…255
// the TP-FCS values of TS 23.040 §9.2.3.22 (the service centre's), and 300…
// the ME/TA's own. Permanent means the network or the SIM's subscription
// refused this text and will refuse it again; everything else (congestion,
// no coverage, a busy SIM, a modem in a bad state, a cause we do not know) is
// worth retrying, and the outbox's max_delay bounds the retries.
var cmsCauses = map[int]cmsCause{
	1:  {"unassigned (unallocated) number", true},
	8:  {"operator determined barring", true},
	10: {"call barred", true},
	17: {"network failure", false},
	// 21: the network "does not wish to accept this short message, although
	// it could have" (24.011 E.2): a content or spam filter, SMS barred on
	// the SIM, or a prepaid SIM without credit. The same text gets the same
	// answer, so it is permanent; the error says what to check.
	21:  {"short message transfer rejected (check the SIM's credit and SMS barring)", true},
	22:  {"memory capacity exceeded", false},
	27:  {"destination out of service", false},
	28:  {"unidentified subscriber", false},
	29:  {"facility rejected", true},
	30:  {"unknown subscriber", true},
	38:  {"network out of order", false},
	41:  {"temporary failure", false},
	42:  {"congestion", false},
	47:  {"resources unavailable", false},
	50:  {"requested facility not subscribed", true},
	69:  {"requested facility not implemented", true},
	81:  {"invalid short message transfer reference value", false},
	95:  {"invalid message", true},
	96:  {"invalid mandatory information", true},
	97:  {"message type non-existent or not implemented", true},
	98:  {"message not compatible with short message protocol state", false},
	99:  {"information element non-existent or not implemented", true},
	111: {"protocol error", true},
	127: {"interworking unspecified", false},
	128: {"telematic interworking not supported", true},
	143: {"unspecified TP-PID error", true},
	144: {"data coding scheme not supported", true},
	159: {"unspecified TP-DCS error", true},
	176: {"TPDU not supported", true},
	192: {"SC busy", false},
	193: {"no SC subscription", true},
	194: {"SC system failure", false},
	195: {"invalid SME address", true},
	196: {"destination SME barred", true},
	// 197: the service centre already has this text: it went out; sending
	// it again would not help and must not happen.
	197: {"SM rejected: duplicate SM", true},
	212: {"SIM application toolkit busy", false},
	255: {"unspecified error cause", false},
	300: {"ME failure", false},
	301: {"SMS service of ME reserved", false},
	302: {"operation not allowed", false},
	303: {"operation not supported", false},
	304: {"invalid PDU mode parameter", true},
	305: {"invalid text mode parameter", true},
	310: {"SIM not inserted", false},
	311: {"SIM PIN required", false},
	313: {"SIM failure", false},
	314: {"SIM busy", false},
	315: {"SIM wrong", false},
	316: {"SIM PUK required", false},
	320: {"memory failure", false},
	322: {"memory full", false},
	330: {"SMSC address unknown", false},
	331: {"no network service", false},
	332: {"network timeout", false},
	500: {"unknown error", false},
}

// cmsByText maps the texts firmwares print under AT+CMEE=2 to the numbers.
// Vendors word some differently; unknown texts are transient.
var cmsByText = func() map[string]int {
	m := map[string]int{}
	for code, c := range cmsCauses {
		t, _, _ := strings.Cut(c.text, " (check")
		m[normCMS(t)] = code
	}
	m[normCMS("unassigned number")] = 1
	m[normCMS("short message transfer rejected")] = 21
	m[normCMS("resources unavailable, unspecified")] = 47
	m[normCMS("invalid message, unspecified")] = 95
	m[normCMS("protocol error, unspecified")] = 111
	m[normCMS("interworking, unspecified")] = 127
	m[normCMS("unknown")] = 500
	return m
}()

func normCMS(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			return r
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, s)
}

// CMSError is a +CMS ERROR answer to a send, numeric or textual.
type CMSError struct {
	Code int    // 0 when the modem answered with a text we do not know
	Text string // the meaning, or the modem's own text
	// Permanent reports whether retrying the same text cannot help.
	Permanent bool
}

func (e *CMSError) Error() string {
	if e.Code == 0 {
		return "+CMS ERROR: " + e.Text
	}
	return fmt.Sprintf("+CMS ERROR %d (%s)", e.Code, e.Text)
}

// classifyCMS turns the modem library's answer into a *CMSError.
func classifyCMS(e at.CMSError) *CMSError {
	s := strings.TrimSpace(string(e))
	code, err := strconv.Atoi(s)
	if err != nil {
		c, ok := cmsByText[normCMS(s)]
		if !ok {
			return &CMSError{Text: s}
		}
		code = c
	}
	c, ok := cmsCauses[code]
	if !ok {
		switch {
		case code >= 512:
			c.text = "manufacturer specific"
		default:
			c.text = "unknown cause"
		}
	}
	return &CMSError{Code: code, Text: c.text, Permanent: c.permanent}
}

// sendError wraps err from the modem library for Send: permanent +CMS
// errors wrap textback.ErrUndeliverable, everything else is transient.
func sendError(err error) error {
	var cms at.CMSError
	if errors.As(err, &cms) {
		ce := classifyCMS(cms)
		if ce.Permanent {
			return fmt.Errorf("%w: %w", textback.ErrUndeliverable, ce)
		}
		return ce
	}
	var cme at.CMEError
	if errors.As(err, &cme) {
		return fmt.Errorf("+CME ERROR: %s", string(cme))
	}
	return err
}
