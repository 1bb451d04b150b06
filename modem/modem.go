// Package modem turns a GSM/LTE USB modem into a textback.Sender: texts go
// out as SMS through AT commands (github.com/warthog618/modem's at driver
// over a go.bug.st/serial port), encoded with github.com/warthog618/sms.
//
// A Modem owns one port. Its Run supervises it: opens it (by the configured
// path, the /dev/serial/by-id link seen the last time, or by scanning
// /dev/ttyUSB* and /dev/ttyACM* for the IMEI), starts the modem up (echo
// off, verbose errors, SIM PIN, PDU mode, SMSC), polls its health, and opens
// it again when the stick is pulled and comes back. Send texts through the
// port Run holds and fails with a transient error while there is none. A
// Pool spreads texts over several modems.
package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/textback/textback"
	"github.com/warthog618/modem/at"
)

var _ textback.Sender = (*Modem)(nil)

// Config configures one modem. The zero value of every field but Device or
// IMEI is useful.
type Config struct {
	Name    string // for logs and Health; default: the device's base name, else the IMEI
	Device  string // "/dev/ttyUSB2", "/dev/serial/by-id/…", "/dev/textback-modem" (contrib/udev)
	Baud    int    // default 115200; USB modems ignore it
	PIN     string // the SIM PIN, when the SIM asks for one
	PINFile string // or a file holding it; relative names are read from $CREDENTIALS_DIRECTORY
	// IMEI pins the modem: a port answering another IMEI is not it, and when
	// Device is gone the serial ports are scanned for it.
	IMEI string
	// TextMode sends with AT+CMGF=1, for modems that cannot do PDU mode
	// (it is also chosen when AT+CMGF=0 fails). Long texts then arrive as
	// separate texts.
	TextMode bool

	CommandTimeout time.Duration // one AT command; default 10s
	SendTimeout    time.Duration // one AT+CMGS, network included; default 60s
	RegisterWait   time.Duration // how long Send waits for a connected, registered modem; default 10s
	HealthInterval time.Duration // default 30s; 2s while not registered

	// ReceiveInterval is how often the message storage is listed (AT+CMGL)
	// for texts whose +CMTI indication was lost; default 1m. Texts are read
	// in PDU mode only.
	ReceiveInterval time.Duration
	// PartsWait is how long the parts of a long text wait for the missing
	// ones before the text goes to the Sink with "[…]" for them; default 5m.
	PartsWait time.Duration
	// NoDeliveryReports sends without asking for status reports (TP-SRR)
	// and asks the modem for none (AT+CNMI ds 0).
	NoDeliveryReports bool
}

// String describes the config without the PIN.
func (c Config) String() string {
	return fmt.Sprintf("modem %q device %q imei %q (pin redacted)", c.Name, c.Device, c.IMEI)
}

// GoString is String, so %#v does not print the PIN either.
func (c Config) GoString() string { return c.String() }

// LogValue logs the config without the PIN.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", c.Name), slog.String("device", c.Device), slog.String("imei", c.IMEI))
}

// Health is what the last check of a modem found.
type Health struct {
	Name         string
	Device       string // the port open now; "" while disconnected
	Connected    bool   // a port is open and the modem started up
	SIM          string // "READY", "SIM PIN", …
	Registered   bool
	Registration string // "home", "roaming", "searching", "registration denied", "not registered", "unknown"
	Operator     string
	SignalDBm    int // 0: unknown
	SMSC         string
	TextMode     bool
	Err          string    // why it cannot send, "" when it can
	Checked      time.Time // when this was found
}

// Ready reports whether a text sent now would go out.
func (h Health) Ready() bool { return h.Connected && h.Registered }

// Modem is one USB modem. Send, Health, Check and Info are safe for
// concurrent use. Run, called once, owns the port and its goroutines (at's
// reader and command loops end when Run closes the port).
type Modem struct {
	cfg  Config
	name string
	pin  string
	log  *slog.Logger

	// Test seams; set before Run.
	byIDDir   string   // /dev/serial/by-id
	scanGlobs []string // /dev/ttyUSB*, /dev/ttyACM*
	retryMin  time.Duration
	retryMax  time.Duration

	sendSem chan struct{} // one text at a time; Run's shutdown waits on it

	mu       sync.Mutex // guards the fields below
	sess     *session   // nil while disconnected
	health   Health
	changed  chan struct{} // closed and replaced when sess or health changes
	running  bool
	pinErr   error  // the SIM rejected our PIN: never sent again
	imei     string // configured or learned
	lastPath string // the path last opened
	byID     string // its /dev/serial/by-id link
	ref      uint8  // concatenation reference counter
	progress map[int64]*progress
	sink     Sink
	awaiting map[int]*awaiting // sent parts by message reference, awaiting their status reports

	sinkSet   chan struct{}        // cap 1: SetSink was called
	firstSeen map[string]time.Time // incomplete long texts: when a part was first seen; owned by the receive loop
}

// progress is a long text some of whose parts went out before a transient
// failure: a retry of the same text resumes with the same parts and
// reference, so the phone joins them and sees no part twice.
type progress struct {
	body  string
	parts []part
	next  int
	mrs   []string
	at    time.Time
}

// New checks cfg and returns a Modem. It does not touch the device: Run
// does.
func New(cfg Config, log *slog.Logger) (*Modem, error) {
	if cfg.Device == "" && cfg.IMEI == "" {
		return nil, errors.New("modem: set device or imei")
	}
	if cfg.PIN != "" && cfg.PINFile != "" {
		return nil, errors.New("modem: set pin or pin_file, not both")
	}
	if cfg.IMEI != "" && !digits(cfg.IMEI) {
		return nil, fmt.Errorf("modem: imei %q is not digits", cfg.IMEI)
	}
	pin := cfg.PIN
	if cfg.PINFile != "" {
		path := cfg.PINFile
		if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" && !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("modem: pin_file: %w", err)
		}
		pin = strings.TrimSpace(string(b))
	}
	if pin != "" && (!digits(pin) || len(pin) < 4 || len(pin) > 8) {
		return nil, errors.New("modem: the PIN must be 4 to 8 digits")
	}
	if cfg.Baud == 0 {
		cfg.Baud = 115200
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.CommandTimeout, 10*time.Second)
	def(&cfg.SendTimeout, 60*time.Second)
	def(&cfg.RegisterWait, 10*time.Second)
	def(&cfg.HealthInterval, 30*time.Second)
	def(&cfg.ReceiveInterval, time.Minute)
	def(&cfg.PartsWait, 5*time.Minute)
	name := cfg.Name
	if name == "" {
		name = filepath.Base(cfg.Device)
		if cfg.Device == "" {
			name = cfg.IMEI
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Modem{
		cfg:       cfg,
		name:      name,
		pin:       pin,
		log:       log.With("sender", "modem", "modem", name),
		byIDDir:   "/dev/serial/by-id",
		scanGlobs: []string{"/dev/ttyUSB*", "/dev/ttyACM*"},
		retryMin:  time.Second,
		retryMax:  30 * time.Second,
		sendSem:   make(chan struct{}, 1),
		changed:   make(chan struct{}),
		imei:      cfg.IMEI,
		ref:       uint8(time.Now().UnixNano()),
		progress:  map[int64]*progress{},
		health:    Health{Name: name, Err: "not started"},
		awaiting:  map[int]*awaiting{},
		sinkSet:   make(chan struct{}, 1),
		firstSeen: map[string]time.Time{},
	}, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// Name is the modem's name in logs and Health.
func (m *Modem) Name() string { return m.name }

// String names the modem.
func (m *Modem) String() string { return "modem " + m.name }

// Health returns what the last check found.
func (m *Modem) Health() Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.health
}

// notifyLocked wakes the waiters on m.changed; m.mu is held.
func (m *Modem) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// Run supervises the modem until ctx is done: it opens the port, starts the
// modem up, checks its health every HealthInterval, and when the port fails
// (the stick was pulled) it closes it and opens it again, with backoff,
// possibly under another path. It logs reconnects at Warn and what an
// operator must fix (a rejected PIN) at Error. At shutdown it lets a text
// being handed to the modem finish (10 s at most) before closing the port.
// It returns nil once ctx is done, and an error only when called twice.
func (m *Modem) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return fmt.Errorf("modem %s: already running", m.name)
	}
	m.running = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
	}()

	wait := m.retryMin
	var lastErr string
	for ctx.Err() == nil {
		s, err := m.connect(ctx, true)
		if err != nil {
			m.mu.Lock()
			m.health = Health{Name: m.name, Err: err.Error(), Checked: time.Now()}
			pinErr := m.pinErr
			m.notifyLocked()
			m.mu.Unlock()
			switch {
			case ctx.Err() != nil:
			case err.Error() == lastErr:
				m.log.Debug("modem still unavailable", "err", err)
			case pinErr != nil && errors.Is(err, pinErr):
				m.log.Error("modem unusable: fix the PIN", "err", err)
			default:
				m.log.Warn("modem unavailable", "err", err, "retry_in", wait)
			}
			lastErr = err.Error()
			if !sleep(ctx, wait) {
				break
			}
			wait = min(2*wait, m.retryMax)
			continue
		}
		wait, lastErr = m.retryMin, ""
		m.log.Info("modem connected", "device", s.path, "imei", s.imei, "text_mode", s.textMode)
		m.supervise(ctx, s)
		inUse.Delete(s.key)
		m.mu.Lock()
		m.sess = nil
		m.health.Connected, m.health.Device, m.health.Err = false, "", "disconnected"
		m.notifyLocked()
		m.mu.Unlock()
		if ctx.Err() == nil {
			m.log.Warn("modem lost, reopening", "device", s.path)
			sleep(ctx, m.retryMin)
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func resolve(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// supervise polls s until it fails or ctx is done. Beside it, the
// receive loop reads the texts s receives; it has returned when supervise
// returns.
func (m *Modem) supervise(ctx context.Context, s *session) {
	if !s.textMode {
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.receive(rctx, s)
		}()
		defer func() {
			stop()
			<-done
		}()
	}
	for {
		m.mu.Lock()
		every := m.cfg.HealthInterval
		if !m.health.Registered {
			every = min(every, 2*time.Second)
		}
		m.mu.Unlock()
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			// A text being handed over finishes first: half a long text
			// is worse than a late shutdown (STYLE §5).
			grace := time.NewTimer(10 * time.Second)
			select {
			case m.sendSem <- struct{}{}:
				s.close()
				<-m.sendSem
			case <-grace.C:
				s.close()
			}
			grace.Stop()
			<-s.at.Closed()
			return
		case <-s.at.Closed():
			t.Stop()
			s.close()
			return
		case <-t.C:
		}
		m.poll(ctx, s)
	}
}

// poll refreshes the health of s.
func (m *Modem) poll(ctx context.Context, s *session) {
	h, err := s.probe(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if !s.closed() {
			m.health.Err = err.Error()
		}
		return
	}
	h.Name, h.Device, h.Connected, h.SIM, h.SMSC, h.TextMode = m.name, s.path, true, "READY", s.smsc, s.textMode
	h.Checked = time.Now()
	if !h.Registered {
		h.Err = "not registered (" + h.Registration + ")"
	}
	if h.Registered != m.health.Registered {
		if h.Registered {
			m.log.Info("modem registered", "operator", h.Operator, "signal_dbm", h.SignalDBm)
		} else {
			m.log.Warn("modem not registered", "registration", h.Registration)
		}
	}
	m.health = h
	m.notifyLocked()
}

// candidates lists the paths to try, best first.
func (m *Modem) candidates() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var c []string
	add := func(p string) {
		if p != "" && !contains(c, p) {
			c = append(c, p)
		}
	}
	add(m.cfg.Device)
	add(m.byID)
	if m.imei != "" {
		add(m.lastPath)
		for _, g := range m.scanGlobs {
			ms, _ := filepath.Glob(g)
			for _, p := range ms {
				add(p)
			}
		}
	}
	return c
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// connect opens the first candidate that answers as our modem and starts it
// up. The error is the one for the configured device, which is what an
// operator looks at, unless it is absent and nothing else was found.
func (m *Modem) connect(ctx context.Context, track bool) (*session, error) {
	var first error
	for i, p := range m.candidates() {
		r := resolve(p)
		if _, busy := inUse.Load(r); busy && track {
			continue
		}
		scanning := i > 0 && p != m.byID && p != m.lastPath
		if scanning {
			if _, err := os.Stat(p); err != nil {
				continue
			}
		}
		s, err := m.start(ctx, p, scanning)
		if err == nil {
			if track {
				s.key = r
				if _, loaded := inUse.LoadOrStore(r, struct{}{}); loaded {
					s.close()
					continue
				}
			}
			return s, nil
		}
		if first == nil && !(scanning && errors.Is(err, errNotOurs)) {
			first = err
		}
		if errors.Is(err, m.pinErrSnapshot()) || ctx.Err() != nil {
			return nil, err
		}
	}
	if first == nil {
		if m.cfg.Device != "" {
			first = fmt.Errorf("%s: %w (unplugged?)", m.cfg.Device, ErrNoDevice)
		} else {
			first = fmt.Errorf("no serial port answers with IMEI %s", m.imei)
		}
	}
	return nil, first
}

func (m *Modem) pinErrSnapshot() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pinErr == nil {
		return errNeverMatches
	}
	return m.pinErr
}

var (
	errNeverMatches = errors.New("never")
	errNotOurs      = errors.New("another modem")
)

// start opens path and starts the modem up: echo off, verbose errors, IMEI,
// SIM PIN, message format, SMSC, health. On success the session is the
// Modem's current one.
func (m *Modem) start(ctx context.Context, path string, probe bool) (*session, error) {
	rw, err := openPort(path, m.cfg.Baud)
	if err != nil {
		return nil, err
	}
	s := newSession(path, &countingPort{ReadWriteCloser: rw}, m.cfg.CommandTimeout, m.log)
	s.onClose = func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.sess == s {
			m.sess = nil
			m.health.Connected, m.health.Device, m.health.Err = false, "", "disconnected"
			m.notifyLocked()
		}
	}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	// First contact is short: a port that is not the modem's AT port (the
	// GPS or diagnostics interface) or that another program reads answers
	// nothing.
	first := min(m.cfg.CommandTimeout, 3*time.Second)
	if probe {
		first = min(first, time.Second)
	}
	if err := s.at.Init(at.WithTimeout(timeout(ctx, first))); err != nil {
		hint := "not the modem's AT port, or another program reads it"
		if modemManagerRunning() {
			hint = "ModemManager may hold it (see contrib/udev)"
		}
		return nil, fmt.Errorf("%s: no answer to AT: %s (%v)", path, hint, err)
	}
	if _, err := s.cmd(ctx, "+CMEE=2"); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	info, err := s.cmd(ctx, "+CGSN")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.imei = strings.TrimPrefix(plain(info), "+CGSN: ")
	m.mu.Lock()
	want := m.imei
	m.mu.Unlock()
	if want != "" && s.imei != want {
		return nil, fmt.Errorf("%s: IMEI %s is not %s: %w", path, s.imei, want, errNotOurs)
	}
	if err := m.unlockSIM(ctx, s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.textMode = m.cfg.TextMode
	if !s.textMode {
		if _, err := s.cmd(ctx, "+CMGF=0"); err != nil {
			if s.closed() {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			m.log.Warn("modem refuses PDU mode, using text mode: long texts arrive as separate texts", "err", err)
			s.textMode = true
		}
	}
	if s.textMode {
		if _, err := s.cmd(ctx, "+CMGF=1"); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if !s.textMode {
		if err := m.setupReceive(ctx, s); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if info, err := s.cmd(ctx, "+CNUM"); err == nil {
		// +CNUM: "","+447700900123",145 — often empty: the SIM may not know
		if v, ok := value(info, "+CNUM:"); ok {
			if f := strings.Split(v, ","); len(f) >= 2 {
				s.number = strings.Trim(f[1], `"`)
			}
		}
	} else if s.closed() {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if info, err := s.cmd(ctx, "+CSCA?"); err == nil {
		if v, ok := value(info, "+CSCA:"); ok {
			s.smsc = strings.Trim(strings.Split(v, ",")[0], `"`)
		}
	} else if s.closed() {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.smsc == "" {
		m.log.Warn("modem has no SMSC number (AT+CSCA? is empty): sends will fail until one is set")
	}
	h, err := s.probe(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	h.Name, h.Device, h.Connected, h.SIM, h.SMSC, h.TextMode, h.Checked = m.name, path, true, "READY", s.smsc, s.textMode, time.Now()
	if !h.Registered {
		h.Err = "not registered (" + h.Registration + ")"
	}
	ok = true
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.imei == "" {
		m.imei = s.imei // learned: a replug under another name is found by it
	}
	m.lastPath = path
	if id := byIDFor(m.byIDDir, path); id != "" {
		m.byID = id
	}
	m.health = h
	m.sess = s
	m.notifyLocked()
	return s, nil
}

// unlockSIM enters the PIN when the SIM asks for it. A PIN the SIM rejects
// is remembered and never sent again by this process: three wrong ones lock
// the SIM behind its PUK.
func (m *Modem) unlockSIM(ctx context.Context, s *session) error {
	state, err := simState(ctx, s)
	if err != nil {
		return err
	}
	switch state {
	case "READY":
		return nil
	case "SIM PIN":
	case "SIM PUK":
		return errors.New("SIM locked: PUK required (unlock it in a phone)")
	default:
		return fmt.Errorf("SIM state %q: not ready", state)
	}
	m.mu.Lock()
	pinErr := m.pinErr
	m.mu.Unlock()
	if pinErr != nil {
		return pinErr
	}
	if m.pin == "" {
		return errors.New("SIM PIN required but no pin configured")
	}
	if _, err := s.cmd(ctx, fmt.Sprintf("+CPIN=%q", m.pin)); err != nil {
		if s.closed() {
			return err
		}
		e := fmt.Errorf("SIM rejected the configured PIN (%v); not trying it again, lest the SIM lock: fix pin and restart", errors.Unwrap(err))
		m.mu.Lock()
		m.pinErr = e
		m.mu.Unlock()
		return e
	}
	m.log.Info("SIM PIN accepted")
	// The SIM takes a moment to become ready after its PIN.
	deadline := time.Now().Add(15 * time.Second)
	for {
		state, err := simState(ctx, s)
		if err == nil && state == "READY" {
			return nil
		}
		if s.closed() || time.Now().After(deadline) {
			return fmt.Errorf("SIM not ready after its PIN (%s %v)", state, err)
		}
		if !sleep(ctx, 300*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// simState asks AT+CPIN?, waiting out a busy SIM.
func simState(ctx context.Context, s *session) (string, error) {
	var err error
	for range 10 {
		var info []string
		info, err = s.cmd(ctx, "+CPIN?")
		if err == nil {
			v, _ := value(info, "+CPIN:")
			return v, nil
		}
		l := strings.ToLower(err.Error())
		switch {
		case s.closed():
			return "", err
		case strings.Contains(l, "not inserted") || strings.HasSuffix(l, ": 10"):
			return "", errors.New("no SIM card inserted")
		case strings.Contains(l, "busy") || strings.HasSuffix(l, ": 14"):
			if !sleep(ctx, 500*time.Millisecond) {
				return "", ctx.Err()
			}
			continue
		}
		return "", fmt.Errorf("SIM: %w", err)
	}
	return "", fmt.Errorf("SIM busy: %w", err)
}

// waitReady waits, at most RegisterWait, for a started, registered modem.
func (m *Modem) waitReady(ctx context.Context) (*session, error) {
	t := time.NewTimer(m.cfg.RegisterWait)
	defer t.Stop()
	for {
		m.mu.Lock()
		s, h, ch, running := m.sess, m.health, m.changed, m.running
		m.mu.Unlock()
		if s != nil && !s.closed() && h.Registered {
			return s, nil
		}
		if !running && s == nil {
			return nil, errors.New("not running (modem.Run supervises the port)")
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (%s)", ctx.Err(), notReady(h))
		case <-t.C:
			return nil, errors.New(notReady(h))
		}
	}
}

func notReady(h Health) string {
	switch {
	case !h.Connected && h.Err != "":
		return "not connected: " + h.Err
	case !h.Connected:
		return "not connected"
	case !h.Registered:
		return "not registered (" + h.Registration + ")"
	}
	return "not ready"
}

// ready reports whether a Send now would not have to wait.
func (m *Modem) ready() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sess != nil && m.health.Registered
}

func (m *Modem) setUnregistered() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.health.Registered {
		m.health.Registered, m.health.Registration, m.health.Err = false, "unknown", "no network service"
		m.notifyLocked()
	}
}

// Info is what `textback modem info` shows.
type Info struct {
	Device       string
	Manufacturer string
	Model        string
	Firmware     string
	IMEI         string
	SIM          string
	SignalDBm    int // 0: unknown
	Registration string
	Operator     string
	SMSC         string
	TextMode     bool
}

// Info asks the modem who it is and how it is. While Run holds the port it
// asks through it; otherwise it opens the port for the question.
func (m *Modem) Info(ctx context.Context) (Info, error) {
	s, done, err := m.borrow(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("modem %s: info: %w", m.name, err)
	}
	defer done()
	in := Info{Device: s.path, IMEI: s.imei, SIM: "READY", SMSC: s.smsc, TextMode: s.textMode}
	for _, q := range []struct {
		cmd string
		dst *string
	}{{"+CGMI", &in.Manufacturer}, {"+CGMM", &in.Model}, {"+CGMR", &in.Firmware}} {
		info, err := s.cmd(ctx, q.cmd)
		if err != nil {
			return in, fmt.Errorf("modem %s: info: %w", m.name, err)
		}
		v := plain(info)
		if v == "" {
			v, _ = value(info, q.cmd+":")
		}
		*q.dst = strings.TrimPrefix(v, q.cmd+": ")
	}
	h, err := s.probe(ctx)
	if err != nil {
		return in, fmt.Errorf("modem %s: info: %w", m.name, err)
	}
	in.SignalDBm, in.Registration, in.Operator = h.SignalDBm, h.Registration, h.Operator
	return in, nil
}

// Check proves the modem can send: the port opens, it answers AT, the SIM
// is unlocked, it is registered, it has signal and an SMSC number. The
// error says what is wrong.
func (m *Modem) Check(ctx context.Context) error {
	s, done, err := m.borrow(ctx)
	if err != nil {
		return fmt.Errorf("modem %s: %w", m.name, err)
	}
	defer done()
	h, err := s.probe(ctx)
	if err != nil {
		return fmt.Errorf("modem %s: %w", m.name, err)
	}
	switch {
	case !h.Registered:
		return fmt.Errorf("modem %s: not registered (%s)", m.name, h.Registration)
	case h.SignalDBm == 0:
		return fmt.Errorf("modem %s: no signal (AT+CSQ unknown)", m.name)
	case s.smsc == "":
		return fmt.Errorf(`modem %s: no SMSC number on the SIM (AT+CSCA? is empty): set your operator's with AT+CSCA="+…",145`, m.name)
	}
	return nil
}

// borrow returns Run's session, or opens one for the caller while Run is
// not running; done releases it.
func (m *Modem) borrow(ctx context.Context) (*session, func(), error) {
	m.mu.Lock()
	s, running, h := m.sess, m.running, m.health
	m.mu.Unlock()
	if s != nil && !s.closed() {
		return s, func() {}, nil
	}
	if running {
		return nil, nil, errors.New(notReady(h))
	}
	s, err := m.connect(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	return s, func() {
		s.close()
		m.mu.Lock()
		if m.sess == s {
			m.sess = nil
			m.health.Connected = false
		}
		m.mu.Unlock()
	}, nil
}
