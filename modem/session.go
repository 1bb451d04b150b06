package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/warthog618/modem/at"
)

// session is one opened port: the at driver over it, and what start-up
// learned. It ends when the port fails or is closed; a new one replaces it.
// Its commands are serialised by at's command loop, so it is safe for
// concurrent use.
type session struct {
	path     string // as opened
	key      string // path resolved when opened: its entry in inUse
	port     *countingPort
	at       *at.AT
	cmdTO    time.Duration
	log      *slog.Logger
	textMode bool // AT+CMGF=1
	imei     string
	smsc     string

	closeOnce sync.Once
	onClose   func()     // set before use: tells the Modem at once, not when Run notices
	mu        sync.Mutex // guards cscs, mem and number
	cscs      string     // text mode: the character set last set
	mem       string     // the message storage AT+CPMS chose; "" unknown
	number    string     // the SIM's own number (AT+CNUM), if it knows it

	// From at's indication goroutines to the receive loop.
	indicated chan int      // +CMTI storage indices
	reports   chan []string // +CDS status reports: header and PDU
	sweepNow  chan struct{} // cap 1: list the storage (+CDSI, or indications dropped)
}

// urcs are unsolicited result codes real modems print whenever they like,
// also in the middle of a command's answer. at takes them out of the answer
// and hands them to log. +CREG/+CEREG/+CPIN are not here: their prefixes
// are also answers, which parse.go tells apart.
var urcs = []string{"RING", "+CRING:", "^RSSI:", "^HCSQ:", "^MODE:", "^BOOT:",
	"^SYSSTART", "RDY", "SMS DONE", "PB DONE", "+QIND:", "+CIEV:", "NO CARRIER", "+CLIP:"}

func newSession(path string, rw *countingPort, cmdTO time.Duration, log *slog.Logger) *session {
	s := &session{path: path, port: rw, cmdTO: cmdTO, log: log,
		indicated: make(chan int, 64), reports: make(chan []string, 64), sweepNow: make(chan struct{}, 1)}
	var opts []at.Option
	opts = append(opts, at.WithTimeout(cmdTO), at.WithCmds("E0"))
	debug := func(l []string) { log.Debug("modem unsolicited", "line", strings.Join(l, " ")) }
	for _, u := range urcs {
		opts = append(opts, at.WithIndication(u, debug))
	}
	// New texts are stored and indicated (AT+CNMI mt 1); status reports
	// come whole (ds 1): "+CDS: <length>" and the PDU on the next line. A
	// +CMT (mt 2, which we never ask for) also has its PDU on the next line.
	opts = append(opts,
		at.WithIndication("+CMTI:", func(l []string) { debug(l); s.onCMTI(l) }),
		at.WithIndication("+CDSI:", func(l []string) { debug(l); s.kick() }),
		at.WithIndication("+CDS:", func(l []string) { debug(l); s.onCDS(l) }, at.WithTrailingLine),
		at.WithIndication("+CMT:", debug, at.WithTrailingLine),
	)
	s.at = at.New(rw, opts...)
	return s
}

func (s *session) close() {
	s.closeOnce.Do(func() {
		s.port.Close()
		if s.onClose != nil {
			s.onClose()
		}
	})
}

func (s *session) closed() bool {
	select {
	case <-s.at.Closed():
		return true
	default:
		return false
	}
}

// timeout maps ctx's deadline onto at's per-command timeout: at takes no
// ctx (STYLE §5).
func timeout(ctx context.Context, d time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if u := time.Until(dl); u < d {
			return max(u, time.Millisecond)
		}
	}
	return d
}

// cmd runs one command. A command that times out leaves its answer on the
// way, where it would be read as the next command's, so the session is
// closed and the supervisor opens a fresh one.
func (s *session) cmd(ctx context.Context, cmd string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		logged := cmd
		if strings.HasPrefix(cmd, "+CPIN=") {
			logged = "+CPIN=****"
		}
		s.log.Debug("modem command", "cmd", "AT"+logged)
	}
	info, err := s.at.Command(cmd, at.WithTimeout(timeout(ctx, s.cmdTO)))
	if errors.Is(err, at.ErrDeadlineExceeded) {
		s.close()
		return nil, fmt.Errorf("AT%s: no answer within %s", cmd, timeout(ctx, s.cmdTO))
	}
	if errors.Is(err, at.ErrClosed) {
		return nil, fmt.Errorf("AT%s: %w", cmd, errGone)
	}
	if err != nil {
		return info, fmt.Errorf("AT%s: %w", cmd, err)
	}
	return info, nil
}

// errGone: the port closed under us (the stick was pulled, or we closed it).
var errGone = errors.New("modem gone")

// value returns the first answer line with prefix ("+CSQ:"), without it.
// Lines that do not start with it (URCs at does not know) are skipped.
func value(info []string, prefix string) (string, bool) {
	for _, l := range info {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSpace(l[len(prefix):]), true
		}
	}
	return "", false
}

// plain returns the first line that is not a known URC or +-prefixed, for
// AT+CGMI and friends which answer without a prefix.
func plain(info []string) string {
	for _, l := range info {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "+") || strings.HasPrefix(l, "^") || l == "RING" {
			continue
		}
		return l
	}
	return ""
}

// regState reads a +CREG/+CEREG answer. The answer is "<n>,<stat>[,…]";
// an unsolicited line arriving in the middle is "<stat>[,<lac>,…]" with a
// quoted second field, and is skipped.
func regState(info []string, prefix string) (int, bool) {
	stat := -1
	for _, l := range info {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		f := strings.Split(strings.TrimSpace(l[len(prefix):]), ",")
		if len(f) < 2 || strings.HasPrefix(f[1], `"`) {
			continue // a URC
		}
		if n, err := strconv.Atoi(strings.TrimSpace(f[1])); err == nil {
			stat = n
		}
	}
	return stat, stat >= 0
}

var regNames = map[int]string{
	0: "not registered", 1: "home", 2: "searching", 3: "registration denied", 4: "unknown", 5: "roaming",
	6: "home (SMS only)", 7: "roaming (SMS only)",
}

func registered(stat int) bool { return stat == 1 || stat == 5 || stat == 6 || stat == 7 }

// csqDBm converts an AT+CSQ rssi to dBm (27.007 §8.5): 0 is -113 dBm or
// less, 31 is -51 dBm or more, 99 unknown (0 returned).
func csqDBm(rssi int) int {
	if rssi < 0 || rssi > 31 {
		return 0
	}
	return -113 + 2*rssi
}

// probe reads the state the health checks report.
func (s *session) probe(ctx context.Context) (h Health, err error) {
	info, err := s.cmd(ctx, "+CSQ")
	if err != nil {
		return h, err
	}
	if v, ok := value(info, "+CSQ:"); ok {
		rssi, _ := strconv.Atoi(strings.TrimSpace(strings.Split(v, ",")[0]))
		h.SignalDBm = csqDBm(rssi)
	}
	stat := -1
	for _, c := range []string{"+CREG", "+CEREG"} {
		info, err := s.cmd(ctx, c+"?")
		if errors.Is(err, errGone) || s.closed() {
			return h, err
		}
		if err != nil {
			continue // +CEREG is unknown to 2G/3G-only modems
		}
		if st, ok := regState(info, c+":"); ok && (stat < 0 || registered(st) || stat == 4) {
			stat = st
		}
	}
	h.Registered = registered(stat)
	h.Registration = regNames[stat]
	if h.Registration == "" {
		h.Registration = "unknown"
	}
	if info, err := s.cmd(ctx, "+COPS?"); err == nil {
		if v, ok := value(info, "+COPS:"); ok {
			if f := strings.Split(v, ","); len(f) >= 3 {
				h.Operator = strings.Trim(f[2], `"`)
			}
		}
	} else if s.closed() {
		return h, err
	}
	return h, nil
}
