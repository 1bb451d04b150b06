// Package modemtest turns a pseudo-terminal into a GSM modem that answers AT
// commands the way SIMCom and Quectel sticks do, so that the modem package,
// and a demo, can drive the real serial code path without hardware.
//
// It speaks what textback uses: echo (on until ATE0), AT+CMEE, SIM PIN entry
// (three wrong PINs lock the SIM behind its PUK), AT+CSQ, +CREG, +CEREG,
// +COPS, +CSCA, +CGSN and friends, and AT+CMGS in PDU and text mode with the
// "> " prompt sent without a newline. It receives texts too: Receive stores
// an incoming text (its parts, for a long one) in the message storage and
// indicates each with +CMTI as AT+CNMI asked; AT+CPMS, AT+CNMI, AT+CMGR,
// AT+CMGL and AT+CMGD work on that storage in PDU mode; and StatusReport
// answers a sent part that asked for one (TP-SRR) with a +CDS status report. Every PDU it receives is decoded with
// github.com/warthog618/sms and concatenated parts are joined again, so tests
// assert on the texts a phone would show. Tests can also make it misbehave:
// +CMS ERROR answers, unsolicited lines in the middle of a command, slow or
// missing answers, and being unplugged and plugged in again under a new path.
package modemtest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf16"

	"github.com/creack/pty"
	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/pdumode"
	"github.com/warthog618/sms/encoding/tpdu"
)

// Registration states of +CREG/+CEREG (3GPP TS 27.007 §7.2).
const (
	NotRegistered = 0
	Home          = 1
	Searching     = 2
	Denied        = 3
	Unknown       = 4
	Roaming       = 5
)

// Options describe the emulated modem and its SIM. The zero value is a
// registered modem with an unlocked SIM.
type Options struct {
	Manufacturer string // default "SIMCOM INCORPORATED"
	Model        string // default "SIMCOM_SIM7600E-H"
	Revision     string // default "LE20B04SIM7600M22"
	IMEI         string // default "867584030123456"
	PIN          string // non-empty: the SIM asks for this PIN after every power-up
	PUK          string // default "12345678"
	Operator     string // default "Test Mobile"
	SMSC         string // default "+447785016005"; "-" for none on the SIM
	Registration int    // +CREG stat; default Home (the zero value means Home; use SetRegistration for 0)
	RSSI         int    // +CSQ rssi, 0..31 or 99; default 20 (-73 dBm)
	NoPDUMode    bool   // AT+CMGF=0 answers ERROR, like some text-only firmwares
	// TextualCMS makes +CMS ERROR lines textual under AT+CMEE=2 (some
	// firmwares do, others stay numeric).
	TextualCMS bool
	// Number is the SIM's own number, as AT+CNUM answers it; default none.
	Number string
	// Storage is the number of texts the message storage holds; default 30.
	Storage int
	// Storages are the AT+CPMS memories the modem accepts; default SM, ME, MT.
	Storages []string
}

// SMS is one text the modem sent, joined from its parts.
type SMS struct {
	To       string
	Text     string
	Alphabet tpdu.Alphabet // of the first part
	Parts    []Part        // one per PDU, in sequence order
	TextMode bool          // sent with AT+CMGF=1
}

// Incoming is a text the emulated network delivers to the modem.
type Incoming struct {
	From string
	Text string
	SCTS time.Time // the service centre's time stamp; default now, to the second
	// Parts are the parts (1-based) of a long text to deliver, in this order;
	// nil delivers all, in order.
	Parts []int
	// Silent stores the text without a +CMTI indication: it came while the
	// host was away, or the indication was lost.
	Silent bool
	Ref    int // the concatenation reference of a long text; default a counter
}

// Part is one PDU of a text.
type Part struct {
	MR       int           // the message reference the modem answered with
	Ref      int           // concatenation reference; 0 for a single part
	Seq      int           // 1-based; 0 for a single part
	Total    int           // 0 for a single part
	Alphabet tpdu.Alphabet // data coding of this part
	UD       []byte        // user data as sent: septets (unpacked) or octets
	UDH      tpdu.UserDataHeader
	TPDU     *tpdu.TPDU
	SRR      bool // the part asked for a status report
}

// Modem is an emulated modem on a pseudo-terminal. Its methods are safe for
// concurrent use. One goroutine per plug-in serves the pty; Unplug and Close
// stop it and wait for it.
type Modem struct {
	opts Options

	mu       sync.Mutex // guards everything below
	master   *os.File
	slave    *os.File
	path     string
	done     chan struct{} // closed when the serving goroutine of the current plug-in returns
	state    connState
	reg      int
	rssi     int
	pinTries int // wrong PINs in a row
	simState string
	mr       int
	sent     []SMS
	partial  map[string][]Part // "to/ref" → parts so far
	pdus     int
	attempts int            // PDUs (or texts) received, answered or not
	cms      map[int]string // attempt number → +CMS ERROR answer
	hang     map[string]int // command prefix (or "PDU") → answers to swallow
	inject   map[string][]string
	delay    time.Duration
	cmds     []string
	store    map[int]*stored // message storage: index → text
	mem      string          // the memory AT+CPMS chose
	cnmi     [5]int          // AT+CNMI: mode, mt, bm, ds, bfr
	inRef    int             // concatenation references of incoming texts
	byMR     map[int]sentPart
}

// stored is one text in the message storage.
type stored struct {
	stat int    // 0 received unread, 1 received read (27.005 §3.1 <stat>)
	pdu  string // hex, SMSC address first
	tpdu int    // the TPDU's length in octets
}

// sentPart is what a status report needs of a sent part.
type sentPart struct {
	to  string
	srr bool
}

type connState struct {
	echo     bool
	cmee     int
	textMode bool
	cscs     string
}

// New powers up an emulated modem on a new pseudo-terminal.
func New(opts Options) (*Modem, error) {
	if opts.Manufacturer == "" {
		opts.Manufacturer = "SIMCOM INCORPORATED"
	}
	if opts.Model == "" {
		opts.Model = "SIMCOM_SIM7600E-H"
	}
	if opts.Revision == "" {
		opts.Revision = "LE20B04SIM7600M22"
	}
	if opts.IMEI == "" {
		opts.IMEI = "867584030123456"
	}
	if opts.PUK == "" {
		opts.PUK = "12345678"
	}
	if opts.Operator == "" {
		opts.Operator = "Test Mobile"
	}
	if opts.SMSC == "" {
		opts.SMSC = "+447785016005"
	}
	if opts.Registration == 0 {
		opts.Registration = Home
	}
	if opts.RSSI == 0 {
		opts.RSSI = 20
	}
	m := &Modem{
		opts:     opts,
		reg:      opts.Registration,
		rssi:     opts.RSSI,
		simState: "READY",
		partial:  map[string][]Part{},
		cms:      map[int]string{},
		hang:     map[string]int{},
		inject:   map[string][]string{},
		store:    map[int]*stored{},
		mem:      "SM",
		byMR:     map[int]sentPart{},
	}
	if opts.Storage == 0 {
		m.opts.Storage = 30
	}
	if len(opts.Storages) == 0 {
		m.opts.Storages = []string{"SM", "ME", "MT"}
	}
	if opts.PIN != "" {
		m.simState = "SIM PIN"
	}
	if _, err := m.Replug(); err != nil {
		return nil, err
	}
	return m, nil
}

// Path is the device path of the current plug-in (/dev/pts/N).
func (m *Modem) Path() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.path
}

// Unplug closes the pseudo-terminal, as pulling the USB stick does: reads on
// the device fail and its path goes away.
func (m *Modem) Unplug() {
	m.mu.Lock()
	master, slave, done := m.master, m.slave, m.done
	m.master, m.slave, m.path = nil, nil, ""
	m.mu.Unlock()
	if master == nil {
		return
	}
	slave.Close()
	master.Close()
	<-done
}

// Replug unplugs the modem if it is plugged in and plugs it in again on a new
// pseudo-terminal, as a power cycle: echo is on, the SIM asks for its PIN
// again (unless it is locked behind its PUK), and the path may differ.
func (m *Modem) Replug() (string, error) {
	m.Unplug()
	master, slave, err := pty.Open()
	if err != nil {
		return "", fmt.Errorf("modemtest: open pty: %w", err)
	}
	if master, err = pollable(master); err != nil {
		slave.Close()
		return "", fmt.Errorf("modemtest: open pty: %w", err)
	}
	done := make(chan struct{})
	m.mu.Lock()
	m.master, m.slave, m.path, m.done = master, slave, slave.Name(), done
	m.state = connState{echo: true, cscs: "IRA"}
	m.cnmi = [5]int{}
	if m.opts.PIN != "" && m.simState != "SIM PUK" {
		m.simState = "SIM PIN"
	}
	path := m.path
	m.mu.Unlock()
	go func() {
		defer close(done)
		m.serve(master)
	}()
	return path, nil
}

// pollable returns f as a file read through Go's poller. pty.Open leaves
// the master in blocking mode (it asks for its Fd), where Close cannot end
// the Read the serving goroutine is in: the descriptor stays open until
// that Read returns, which it does only once the host closes the port, so
// the host would see no hang-up when the modem is unplugged.
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// Close unplugs the modem for good.
func (m *Modem) Close() error {
	m.Unplug()
	return nil
}

// SetRegistration sets the +CREG/+CEREG state (Home, Searching, …).
func (m *Modem) SetRegistration(stat int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reg = stat
}

// SetRSSI sets the +CSQ rssi (0..31, 99 unknown).
func (m *Modem) SetRSSI(rssi int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rssi = rssi
}

// SetDelay delays every answer by d.
func (m *Modem) SetDelay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay = d
}

// FailSends makes the next sends answer "+CMS ERROR: <code>", one code per
// send, in order.
func (m *Modem) FailSends(codes ...int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range codes {
		m.cms[m.attempts+1+i] = strconv.Itoa(c)
	}
}

// FailSendAt makes the k-th send from now (1 is the next) answer
// "+CMS ERROR: <code>"; each part of a long text is one send.
func (m *Modem) FailSendAt(k, code int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cms[m.attempts+k] = strconv.Itoa(code)
}

// Hang makes the next n commands starting with prefix (e.g. "+CSQ",
// "+CMGS") go unanswered. The prefix "PDU" hangs after a PDU has been
// received, when a real modem would be waiting for the network: the text is
// recorded as sent, but no +CMGS answer comes.
func (m *Modem) Hang(prefix string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hang[prefix] += n
}

// InjectDuring makes the next command starting with prefix be answered with
// lines (unsolicited result codes such as "RING", "+CMTI: \"SM\",3") first;
// for +CMGS they come before the prompt and again before the final answer.
func (m *Modem) InjectDuring(prefix string, lines ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inject[prefix] = append(m.inject[prefix], lines...)
}

// Unsolicited writes lines to the host now, as URCs.
func (m *Modem) Unsolicited(lines ...string) error {
	m.mu.Lock()
	master := m.master
	m.mu.Unlock()
	if master == nil {
		return errors.New("modemtest: unplugged")
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("\r\n" + l + "\r\n")
	}
	_, err := io.WriteString(master, b.String())
	return err
}

// Sent returns the texts the modem has sent, completely reassembled.
func (m *Modem) Sent() []SMS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]SMS(nil), m.sent...)
}

// PDUs returns how many PDUs (or text-mode texts) the modem has accepted.
func (m *Modem) PDUs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pdus
}

// Commands returns the command lines received, without "AT", PINs masked.
func (m *Modem) Commands() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.cmds...)
}

// SIMState is what AT+CPIN? would answer: "READY", "SIM PIN", "SIM PUK".
func (m *Modem) SIMState() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.simState
}

// serve reads commands from the host until the pty fails.
func (m *Modem) serve(master *os.File) {
	var line []byte
	buf := make([]byte, 512)
	var sms *pendingSMS // non-nil after a "> " prompt: collecting the PDU or text
	for {
		n, err := master.Read(buf)
		if err != nil {
			return
		}
		for _, c := range buf[:n] {
			if sms != nil {
				switch c {
				case 0x1a: // Ctrl-Z: send
					body := string(sms.body)
					p := sms
					sms = nil
					m.finishSMS(master, p, body)
				case 0x1b: // ESC: cancel
					sms = nil
				default:
					sms.body = append(sms.body, c)
				}
				continue
			}
			switch c {
			case '\r':
				l := strings.TrimSpace(string(line))
				line = line[:0]
				m.mu.Lock()
				echo := m.state.echo
				m.mu.Unlock()
				if echo {
					io.WriteString(master, l+"\r")
				}
				if l == "" {
					continue
				}
				sms = m.command(master, l)
			case '\n':
			case 0x1b:
				line = line[:0]
			default:
				line = append(line, c)
			}
		}
	}
}

type pendingSMS struct {
	pduLen int    // PDU mode: the length given to AT+CMGS
	to     string // text mode: the number
	body   []byte
	inject []string
}

func (m *Modem) write(w io.Writer, lines ...string) {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("\r\n" + l + "\r\n")
	}
	io.WriteString(w, b.String())
}

// takeHang reports whether an answer to cmd is to be swallowed.
func (m *Modem) takeHang(cmd string) bool {
	for p, n := range m.hang {
		if n > 0 && strings.HasPrefix(cmd, p) {
			m.hang[p]--
			return true
		}
	}
	return false
}

func (m *Modem) cmeError(code int, text string) string {
	if m.state.cmee == 2 {
		return "+CME ERROR: " + text
	}
	if m.state.cmee == 1 {
		return "+CME ERROR: " + strconv.Itoa(code)
	}
	return "ERROR"
}

// command answers one command line. It returns a pendingSMS after sending
// the "> " prompt of AT+CMGS.
func (m *Modem) command(w io.Writer, line string) *pendingSMS {
	up := strings.ToUpper(line)
	if !strings.HasPrefix(up, "AT") {
		m.write(w, "ERROR")
		return nil
	}
	cmd := line[2:]
	ucmd := up[2:]
	m.mu.Lock()
	logged := cmd
	if strings.HasPrefix(ucmd, "+CPIN=") {
		logged = "+CPIN=****"
	}
	m.cmds = append(m.cmds, logged)
	delay := m.delay
	var inject []string
	for p, ls := range m.inject {
		if strings.HasPrefix(ucmd, p) {
			inject = ls
			delete(m.inject, p)
			break
		}
	}
	hang := m.takeHang(ucmd)
	m.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if len(inject) > 0 {
		m.write(w, inject...)
	}
	if hang {
		return nil
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	simReady := m.simState == "READY"
	needSIM := func() bool {
		if simReady {
			return false
		}
		switch m.simState {
		case "SIM PIN":
			m.write(w, m.cmeError(11, "SIM PIN required"))
		default:
			m.write(w, m.cmeError(12, "SIM PUK required"))
		}
		return true
	}
	switch {
	case ucmd == "" || ucmd == "Z" || ucmd == "&F" || ucmd == "+CREG=0" || ucmd == "+CREG=1" || ucmd == "+CREG=2" || ucmd == "+CEREG=0" || ucmd == "+CEREG=2":
		m.write(w, "OK")
	case ucmd == "E0" || ucmd == "E1":
		m.state.echo = ucmd == "E1"
		m.write(w, "OK")
	case strings.HasPrefix(ucmd, "+CMEE="):
		n, err := strconv.Atoi(ucmd[6:])
		if err != nil || n < 0 || n > 2 {
			m.write(w, "ERROR")
			break
		}
		m.state.cmee = n
		m.write(w, "OK")
	case ucmd == "+CGMI" || ucmd == "+GMI":
		m.write(w, m.opts.Manufacturer, "OK")
	case ucmd == "+CGMM" || ucmd == "+GMM":
		m.write(w, m.opts.Model, "OK")
	case ucmd == "+CGMR" || ucmd == "+GMR":
		m.write(w, "+CGMR: "+m.opts.Revision, "OK")
	case ucmd == "+CGSN" || ucmd == "+GSN":
		m.write(w, m.opts.IMEI, "OK")
	case ucmd == "+CNUM":
		if m.opts.Number != "" {
			m.write(w, fmt.Sprintf(`+CNUM: "",%q,145`, m.opts.Number))
		}
		m.write(w, "OK")
	case ucmd == "+GCAP":
		m.write(w, "+GCAP: +CGSM", "OK")
	case ucmd == "+CPIN?":
		m.write(w, "+CPIN: "+m.simState, "OK")
	case strings.HasPrefix(ucmd, "+CPIN="):
		args := strings.Split(strings.ReplaceAll(cmd[6:], `"`, ""), ",")
		switch {
		case m.simState == "READY":
			m.write(w, m.cmeError(3, "operation not allowed"))
		case m.simState == "SIM PUK":
			if len(args) == 2 && args[0] == m.opts.PUK {
				m.opts.PIN = args[1]
				m.simState = "READY"
				m.pinTries = 0
				m.write(w, "OK")
			} else {
				m.write(w, m.cmeError(16, "incorrect password"))
			}
		case args[0] == m.opts.PIN:
			m.simState = "READY"
			m.pinTries = 0
			m.write(w, "OK")
		default:
			m.pinTries++
			if m.pinTries >= 3 {
				m.simState = "SIM PUK"
			}
			m.write(w, m.cmeError(16, "incorrect password"))
		}
	case ucmd == "+CSQ":
		m.write(w, fmt.Sprintf("+CSQ: %d,99", m.rssi), "OK")
	case ucmd == "+CREG?" || ucmd == "+CEREG?":
		if needSIM() {
			break
		}
		name := strings.TrimSuffix(ucmd, "?")
		m.write(w, fmt.Sprintf("%s: 0,%d", name, m.reg), "OK")
	case ucmd == "+COPS?":
		if needSIM() {
			break
		}
		if m.reg == Home || m.reg == Roaming {
			m.write(w, fmt.Sprintf("+COPS: 0,0,%q,7", m.opts.Operator), "OK")
		} else {
			m.write(w, "+COPS: 0", "OK")
		}
	case ucmd == "+CSCA?":
		if needSIM() {
			break
		}
		if m.opts.SMSC == "-" {
			m.write(w, `+CSCA: "",129`, "OK")
		} else {
			m.write(w, fmt.Sprintf("+CSCA: %q,145", m.opts.SMSC), "OK")
		}
	case ucmd == "+CMGF?":
		mode := 0
		if m.state.textMode {
			mode = 1
		}
		m.write(w, fmt.Sprintf("+CMGF: %d", mode), "OK")
	case ucmd == "+CMGF=0":
		if m.opts.NoPDUMode {
			m.write(w, "ERROR")
			break
		}
		m.state.textMode = false
		m.write(w, "OK")
	case ucmd == "+CMGF=1":
		m.state.textMode = true
		m.write(w, "OK")
	case strings.HasPrefix(ucmd, "+CSCS="):
		m.state.cscs = strings.Trim(ucmd[6:], `"`)
		m.write(w, "OK")
	case strings.HasPrefix(ucmd, "+CSMP="):
		m.write(w, "OK")
	case strings.HasPrefix(ucmd, "+CPMS"), strings.HasPrefix(ucmd, "+CNMI"), strings.HasPrefix(ucmd, "+CMGR="),
		strings.HasPrefix(ucmd, "+CMGL"), strings.HasPrefix(ucmd, "+CMGD="):
		if needSIM() {
			break
		}
		m.storageCommand(w, ucmd)
	case strings.HasPrefix(ucmd, "+CMGS="):
		if needSIM() {
			break
		}
		p := &pendingSMS{inject: inject}
		arg := cmd[6:]
		if m.state.textMode {
			to := strings.Trim(arg, `"`)
			if m.state.cscs == "UCS2" {
				to = fromUCS2Hex(to)
			}
			p.to = to
		} else {
			n, err := strconv.Atoi(arg)
			if err != nil || n < 7 || n > 164 {
				m.write(w, m.cmsError("304", "invalid PDU mode parameter"))
				break
			}
			p.pduLen = n
		}
		// The prompt has no newline after it (3GPP TS 27.005 §3.5.1).
		io.WriteString(w, "\r\n> ")
		return p
	default:
		m.write(w, "ERROR")
	}
	return nil
}

var cmsTexts = map[string]string{
	"38":  "network out of order",
	"42":  "congestion",
	"21":  "short message transfer rejected",
	"1":   "unassigned (unallocated) number",
	"304": "invalid PDU mode parameter",
	"331": "no network service",
	"332": "network timeout",
	"500": "unknown error",
}

// cmsError renders "+CMS ERROR" as the modem would; m.mu is held.
func (m *Modem) cmsError(code, text string) string {
	if m.state.cmee == 2 && m.opts.TextualCMS {
		if text == "" {
			text = cmsTexts[code]
		}
		if text != "" {
			return "+CMS ERROR: " + text
		}
	}
	if m.state.cmee == 0 {
		return "ERROR"
	}
	return "+CMS ERROR: " + code
}

func fromUCS2Hex(s string) string {
	b, err := hex.DecodeString(s)
	if err != nil || len(b)%2 != 0 {
		return s
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u))
}

// finishSMS handles the PDU or text after Ctrl-Z.
func (m *Modem) finishSMS(w io.Writer, p *pendingSMS, body string) {
	m.mu.Lock()
	delay := m.delay
	m.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if len(p.inject) > 0 {
		m.write(w, p.inject...)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts++
	if m.reg != Home && m.reg != Roaming {
		m.write(w, m.cmsError("331", ""))
		return
	}
	if code, ok := m.cms[m.attempts]; ok {
		delete(m.cms, m.attempts)
		m.write(w, m.cmsError(code, ""))
		return
	}
	var part Part
	var to string
	if m.state.textMode {
		text := body
		if m.state.cscs == "UCS2" {
			text = fromUCS2Hex(body)
		}
		m.pdus++
		m.mr = (m.mr + 1) % 256
		m.sent = append(m.sent, SMS{To: p.to, Text: text, TextMode: true, Parts: []Part{{MR: m.mr}}})
		if m.takeHang("PDU") {
			return
		}
		m.write(w, fmt.Sprintf("+CMGS: %d", m.mr), "OK")
		return
	}
	pdu, err := pdumode.UnmarshalHexString(strings.TrimSpace(body))
	if err != nil {
		m.write(w, m.cmsError("304", ""))
		return
	}
	if len(pdu.TPDU) != p.pduLen {
		// Real modems count the TPDU without the SMSC part (27.005 §3.5.1);
		// a wrong length is the commonest PDU-mode bug.
		m.write(w, m.cmsError("304", ""))
		return
	}
	t, err := sms.Unmarshal(pdu.TPDU, sms.AsMO)
	if err != nil || t.SmsType() != tpdu.SmsSubmit {
		m.write(w, m.cmsError("304", ""))
		return
	}
	to = t.DA.Number()
	alpha, _ := t.Alphabet()
	m.pdus++
	m.mr = (m.mr + 1) % 256
	part = Part{MR: m.mr, Alphabet: alpha, UD: bytes.Clone(t.UD), UDH: t.UDH, TPDU: t, SRR: t.FirstOctet.SRR()}
	m.byMR[m.mr] = sentPart{to: to, srr: part.SRR}
	if total, seq, ref, ok := t.ConcatInfo(); ok {
		part.Ref, part.Seq, part.Total = ref, seq, total
		key := fmt.Sprintf("%s/%d", to, ref)
		parts := append(m.partial[key], part)
		m.partial[key] = parts
		if len(parts) == total {
			delete(m.partial, key)
			m.record(to, parts)
		}
	} else {
		m.record(to, []Part{part})
	}
	if m.takeHang("PDU") {
		return
	}
	m.write(w, fmt.Sprintf("+CMGS: %d", m.mr), "OK")
}

// record joins parts as a phone would and stores the text; m.mu is held.
func (m *Modem) record(to string, parts []Part) {
	ordered := make([]Part, len(parts))
	segs := make([]*tpdu.TPDU, len(parts))
	for _, p := range parts {
		i := 0
		if p.Seq > 0 {
			i = p.Seq - 1
		}
		if i >= len(parts) || segs[i] != nil {
			m.sent = append(m.sent, SMS{To: to, Text: "<bad concatenation>", Parts: parts})
			return
		}
		ordered[i] = p
		segs[i] = p.TPDU
	}
	text, err := sms.Decode(segs)
	s := SMS{To: to, Text: string(text), Alphabet: ordered[0].Alphabet, Parts: ordered}
	if err != nil {
		s.Text = "<undecodable: " + err.Error() + ">"
	}
	m.sent = append(m.sent, s)
}
