package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warthog618/sms/encoding/tpdu"

	"github.com/textback/textback"
	"github.com/textback/textback/modem/modemtest"
)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: testLevel}))
}

func emulator(t *testing.T, opts modemtest.Options) *modemtest.Modem {
	t.Helper()
	em, err := modemtest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	return em
}

// newModem makes a Modem with short timeouts for cfg; cfg.Device defaults
// to em's path.
func newModem(t *testing.T, em *modemtest.Modem, cfg Config) *Modem {
	t.Helper()
	if cfg.Device == "" && cfg.IMEI == "" {
		cfg.Device = em.Path()
	}
	cfg.CommandTimeout = 2 * time.Second
	cfg.SendTimeout = 2 * time.Second
	if cfg.RegisterWait == 0 {
		cfg.RegisterWait = 3 * time.Second
	}
	cfg.HealthInterval = 100 * time.Millisecond
	m, err := New(cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	m.retryMin, m.retryMax = 20*time.Millisecond, 100*time.Millisecond
	m.byIDDir = t.TempDir()
	m.scanGlobs = nil
	return m
}

// run runs m until the test ends.
func run(t *testing.T, m *Modem) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := m.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return")
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func started(t *testing.T, opts modemtest.Options, cfg Config) (*modemtest.Modem, *Modem) {
	t.Helper()
	em := emulator(t, opts)
	m := newModem(t, em, cfg)
	run(t, m)
	waitFor(t, "ready", func() bool { return m.Health().Ready() })
	return em, m
}

func msg(id int64, body string) textback.Message {
	return textback.Message{ID: id, CallID: textback.CallID(fmt.Sprint("call-", id)), To: "+15551234567", Body: body}
}

func send(t *testing.T, s textback.Sender, m textback.Message) textback.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := s.Send(ctx, m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return rc
}

func TestSend(t *testing.T) {
	em, m := started(t, modemtest.Options{}, Config{})
	long := strings.Repeat("Sorry we missed your call, we will ring you back shortly. ", 6)[:300]
	for i, tt := range []struct {
		name  string
		body  string
		alpha tpdu.Alphabet
		parts int
	}{
		{"ascii", "Hi, this is Peak HVAC. Sorry we missed your call.", tpdu.Alpha7Bit, 1},
		{"gsm extension", "Cost: 20€ [incl] {tax} ~ ^ \\ |", tpdu.Alpha7Bit, 1},
		{"emoji", "Thanks for calling 🙂", tpdu.AlphaUCS2, 1},
		{"ascii after ucs2", "plain again", tpdu.Alpha7Bit, 1},
		{"accents", "Désolé – nous rappelons bientôt", tpdu.AlphaUCS2, 1},
		{"300 chars", long, tpdu.Alpha7Bit, 2},
		{"escape at boundary", strings.Repeat("a", 152) + "€" + strings.Repeat("b", 40), tpdu.Alpha7Bit, 2},
		{"long ucs2", strings.Repeat("Désolé 🙂 ", 20), tpdu.AlphaUCS2, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := send(t, m, msg(int64(i+1), tt.body))
			sent := em.Sent()
			if len(sent) != i+1 {
				t.Fatalf("emulator has %d texts, want %d", len(sent), i+1)
			}
			got := sent[i]
			if got.Text != tt.body {
				t.Errorf("text %q, want %q", got.Text, tt.body)
			}
			if got.To != "+15551234567" {
				t.Errorf("to %q", got.To)
			}
			if len(got.Parts) != tt.parts {
				t.Errorf("%d parts, want %d", len(got.Parts), tt.parts)
			}
			for _, p := range got.Parts {
				if p.Alphabet != tt.alpha {
					t.Errorf("part %d alphabet %v, want %v", p.Seq, p.Alphabet, tt.alpha)
				}
			}
			if rc.Sender != "modem" || len(strings.Split(rc.ProviderID, ",")) != tt.parts {
				t.Errorf("receipt %+v", rc)
			}
		})
	}
}

func TestPIN(t *testing.T) {
	em, m := started(t, modemtest.Options{PIN: "1234"}, Config{PIN: "1234"})
	send(t, m, msg(1, "hello"))
	if s := em.SIMState(); s != "READY" {
		t.Errorf("SIM %s", s)
	}
}

func TestPINFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(f, []byte("4321\n"), 0o600)
	_, m := started(t, modemtest.Options{PIN: "4321"}, Config{PINFile: f})
	send(t, m, msg(1, "hello"))
}

func countPIN(em *modemtest.Modem) int {
	n := 0
	for _, c := range em.Commands() {
		if strings.HasPrefix(c, "+CPIN=") {
			n++
		}
	}
	return n
}

// TestWrongPINOnce: a PIN the SIM rejects is sent once, across reconnects
// and replugs, so the SIM never reaches its PUK.
func TestWrongPINOnce(t *testing.T) {
	em := emulator(t, modemtest.Options{PIN: "1234"})
	m := newModem(t, em, Config{PIN: "9999"})
	run(t, m)
	waitFor(t, "the PIN error", func() bool { return strings.Contains(m.Health().Err, "rejected the configured PIN") })
	before := len(em.Commands())
	waitFor(t, "reconnect attempts", func() bool { return len(em.Commands()) > before+10 })
	if n := countPIN(em); n != 1 {
		t.Errorf("PIN sent %d times, want 1", n)
	}
	if s := em.SIMState(); s != "SIM PIN" {
		t.Errorf("SIM %s, want SIM PIN", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := m.Send(ctx, msg(1, "hi"))
	if err == nil || errors.Is(err, textback.ErrUndeliverable) || !strings.Contains(err.Error(), "PIN") {
		t.Errorf("Send: %v, want a transient error about the PIN", err)
	}
}

func TestCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for name, tt := range map[string]struct {
		opts modemtest.Options
		cfg  Config
		reg  int
		want string
	}{
		"ok":          {modemtest.Options{PIN: "1234"}, Config{PIN: "1234"}, modemtest.Home, ""},
		"no pin":      {modemtest.Options{PIN: "1234"}, Config{}, modemtest.Home, "SIM PIN required but no pin configured"},
		"searching":   {modemtest.Options{}, Config{}, modemtest.Searching, "not registered (searching)"},
		"denied":      {modemtest.Options{}, Config{}, modemtest.Denied, "not registered (registration denied)"},
		"no smsc":     {modemtest.Options{SMSC: "-"}, Config{}, modemtest.Home, "no SMSC number"},
		"wrong imei":  {modemtest.Options{}, Config{IMEI: "111111111111111"}, modemtest.Home, "is not 111111111111111"},
		"no such dev": {modemtest.Options{}, Config{Device: "/nonexistent/ttyUSB9"}, modemtest.Home, "no such device"},
	} {
		t.Run(name, func(t *testing.T) {
			em := emulator(t, tt.opts)
			em.SetRegistration(tt.reg)
			m := newModem(t, em, tt.cfg)
			if tt.cfg.IMEI != "" {
				m.cfg.Device = em.Path()
			}
			err := m.Check(ctx)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Check: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	em := emulator(t, modemtest.Options{})
	m := newModem(t, em, Config{})
	in, err := m.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Device: em.Path(), Manufacturer: "SIMCOM INCORPORATED", Model: "SIMCOM_SIM7600E-H", Firmware: "LE20B04SIM7600M22",
		IMEI: "867584030123456", SIM: "READY", SignalDBm: -73, Registration: "home", Operator: "Test Mobile", SMSC: "+447785016005"}
	if in != want {
		t.Errorf("Info\n got %+v\nwant %+v", in, want)
	}
}

func TestNotRegistered(t *testing.T) {
	em, m := started(t, modemtest.Options{}, Config{RegisterWait: 300 * time.Millisecond})
	em.SetRegistration(modemtest.Searching)
	waitFor(t, "not registered", func() bool { return !m.Health().Registered })
	_, err := m.Send(context.Background(), msg(1, "hi"))
	if err == nil || errors.Is(err, textback.ErrUndeliverable) || !strings.Contains(err.Error(), "not registered (searching)") {
		t.Fatalf("Send: %v, want transient not registered (searching)", err)
	}
	em.SetRegistration(modemtest.Roaming)
	waitFor(t, "registered", func() bool { return m.Health().Registered })
	send(t, m, msg(2, "hi"))
}

// TestSendWaitsForRegistration: a send while the modem searches waits
// (bounded) and goes out when it registers.
func TestSendWaitsForRegistration(t *testing.T) {
	em, m := started(t, modemtest.Options{}, Config{RegisterWait: 5 * time.Second})
	em.SetRegistration(modemtest.Searching)
	waitFor(t, "not registered", func() bool { return !m.Health().Registered })
	go func() { time.Sleep(200 * time.Millisecond); em.SetRegistration(modemtest.Home) }()
	send(t, m, msg(1, "waited"))
}

func TestCMSErrors(t *testing.T) {
	for _, textual := range []bool{false, true} {
		em, m := started(t, modemtest.Options{TextualCMS: textual}, Config{})
		for _, tt := range []struct {
			code      int
			permanent bool
		}{{21, true}, {1, true}, {38, false}, {42, false}, {332, false}, {500, false}, {304, true}} {
			t.Run(fmt.Sprintf("%d textual %v", tt.code, textual), func(t *testing.T) {
				em.FailSends(tt.code)
				_, err := m.Send(context.Background(), msg(0, "hi"))
				var ce *CMSError
				if !errors.As(err, &ce) || ce.Code != tt.code {
					t.Fatalf("Send: %v, want +CMS ERROR %d", err, tt.code)
				}
				if errors.Is(err, textback.ErrUndeliverable) != tt.permanent {
					t.Errorf("Send: %v: permanent %v, want %v", err, !tt.permanent, tt.permanent)
				}
			})
		}
		send(t, m, msg(0, "after errors"))
	}
}

// TestResumeLongText: part 2 of 3 fails transiently; the retry sends parts
// 2 and 3 with the same reference, and the phone joins all three.
func TestResumeLongText(t *testing.T) {
	em, m := started(t, modemtest.Options{}, Config{})
	body := strings.Repeat("0123456789", 40)
	em.FailSendAt(2, 42)
	_, err := m.Send(context.Background(), msg(7, body))
	if err == nil || errors.Is(err, textback.ErrUndeliverable) || !strings.Contains(err.Error(), "resumes at part 2") {
		t.Fatalf("Send: %v", err)
	}
	rc := send(t, m, msg(7, body))
	sent := em.Sent()
	if len(sent) != 1 || sent[0].Text != body || len(sent[0].Parts) != 3 {
		t.Fatalf("sent %+v", sent)
	}
	if em.PDUs() != 3 {
		t.Errorf("%d PDUs accepted, want 3", em.PDUs())
	}
	if len(strings.Split(rc.ProviderID, ",")) != 3 {
		t.Errorf("receipt %+v", rc)
	}
}

func TestUnsolicitedMidCommand(t *testing.T) {
	em, m := started(t, modemtest.Options{}, Config{})
	urcs := []string{"RING", `+CMTI: "SM",3`, "^RSSI: 12", `+CREG: 1,"00C3","0010"`, "+CREG: 2"}
	em.InjectDuring("+CMGS", urcs...)
	send(t, m, msg(1, "through the noise"))
	em.InjectDuring("+CSQ", urcs...)
	em.InjectDuring("+CREG?", urcs...)
	em.InjectDuring("+COPS?", urcs...)
	if err := em.Unsolicited("RING", "+CLIP: \"+15550001111\",145"); err != nil {
		t.Fatal(err)
	}
	n := len(em.Commands())
	waitFor(t, "two polls", func() bool { return len(em.Commands()) > n+8 })
	if h := m.Health(); !h.Registered || h.SignalDBm != -73 || h.Operator != "Test Mobile" {
		t.Errorf("health %+v", h)
	}
	send(t, m, msg(2, "still fine"))
	sent := em.Sent()
	if len(sent) != 2 || sent[0].Text != "through the noise" || sent[1].Text != "still fine" {
		t.Errorf("sent %+v", sent)
	}
}

func TestTimeouts(t *testing.T) {
	em, m := started(t, modemtest.Options{}, Config{})

	// No prompt: nothing was handed over, so it is worth retrying.
	em.Hang("+CMGS", 1)
	_, err := m.Send(context.Background(), msg(1, "no prompt"))
	if err == nil || errors.Is(err, textback.ErrUndeliverable) {
		t.Fatalf("Send: %v, want a transient error", err)
	}
	waitFor(t, "ready again", func() bool { return m.Health().Ready() })
	send(t, m, msg(2, "after the hang"))

	// Handed over, no answer: it may have gone out; never twice.
	em.Hang("PDU", 1)
	_, err = m.Send(context.Background(), msg(3, "maybe sent"))
	if !errors.Is(err, ErrUnconfirmed) || errors.Is(err, textback.ErrUndeliverable) {
		t.Fatalf("Send: %v, want ErrUnconfirmed", err)
	}
	waitFor(t, "ready again", func() bool { return m.Health().Ready() })

	// A slow health answer closes the session; it comes back.
	em.Hang("+CSQ", 1)
	waitFor(t, "reconnect", func() bool { return !m.Health().Connected })
	waitFor(t, "ready again", func() bool { return m.Health().Ready() })
	send(t, m, msg(4, "after the reconnect"))
	if got := len(em.Sent()); got != 3 {
		t.Errorf("%d texts, want 3", got)
	}
}

// TestUnplugReplug: the stick is pulled and comes back under another
// path; the configured link (like /dev/serial/by-id or the udev rule's
// /dev/textback-modem) points at the new one.
func TestUnplugReplug(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "textback-modem")
	em := emulator(t, modemtest.Options{PIN: "1234"})
	if err := os.Symlink(em.Path(), link); err != nil {
		t.Fatal(err)
	}
	m := newModem(t, em, Config{Device: link, PIN: "1234", RegisterWait: 200 * time.Millisecond})
	run(t, m)
	waitFor(t, "ready", func() bool { return m.Health().Ready() })
	send(t, m, msg(1, "before"))

	em.Unplug()
	waitFor(t, "disconnected", func() bool { return !m.Health().Connected })
	_, err := m.Send(context.Background(), msg(2, "while gone"))
	if err == nil || errors.Is(err, textback.ErrUndeliverable) {
		t.Fatalf("Send while unplugged: %v, want a transient error", err)
	}
	path, err := em.Replug()
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(link)
	os.Symlink(path, link)
	waitFor(t, "ready after replug", func() bool { return m.Health().Ready() })
	send(t, m, msg(2, "after"))
	if sent := em.Sent(); len(sent) != 2 || sent[1].Text != "after" {
		t.Errorf("sent %+v", sent)
	}
}

// TestReplugByIMEI: the stick comes back as another ttyUSB and the
// configured one is gone; a scan finds it by its IMEI, skipping a port of
// another modem.
func TestReplugByIMEI(t *testing.T) {
	dir := t.TempDir()
	em := emulator(t, modemtest.Options{IMEI: "867584030000001"})
	other := emulator(t, modemtest.Options{IMEI: "867584030000002"})
	os.Symlink(em.Path(), filepath.Join(dir, "ttyUSB0"))
	os.Symlink(other.Path(), filepath.Join(dir, "ttyUSB1"))
	m := newModem(t, em, Config{Device: filepath.Join(dir, "ttyUSB0"), IMEI: "867584030000001"})
	m.scanGlobs = []string{filepath.Join(dir, "ttyUSB*")}
	run(t, m)
	waitFor(t, "ready", func() bool { return m.Health().Ready() })

	em.Unplug()
	os.Remove(filepath.Join(dir, "ttyUSB0"))
	waitFor(t, "disconnected", func() bool { return !m.Health().Connected })
	path, err := em.Replug()
	if err != nil {
		t.Fatal(err)
	}
	os.Symlink(path, filepath.Join(dir, "ttyUSB3"))
	waitFor(t, "ready after replug", func() bool { return m.Health().Ready() })
	if d := m.Health().Device; d != filepath.Join(dir, "ttyUSB3") {
		t.Errorf("device %s, want ttyUSB3", d)
	}
	send(t, m, msg(1, "found you"))
	if len(em.Sent()) != 1 || len(other.Sent()) != 0 {
		t.Errorf("sent through the wrong modem: %d, %d", len(em.Sent()), len(other.Sent()))
	}
}

func TestTextModeFallback(t *testing.T) {
	em, m := started(t, modemtest.Options{NoPDUMode: true}, Config{})
	if !m.Health().TextMode {
		t.Fatal("not in text mode")
	}
	for i, body := range []string{"plain ascii", "Désolé 🙂 line\nbreak", "back to ascii"} {
		send(t, m, msg(int64(i+1), body))
		sent := em.Sent()
		if got := sent[len(sent)-1]; got.Text != body || !got.TextMode || got.To != "+15551234567" {
			t.Errorf("sent %+v, want %q", got, body)
		}
	}
}

func TestPool(t *testing.T) {
	em1 := emulator(t, modemtest.Options{IMEI: "867584030000011"})
	em2 := emulator(t, modemtest.Options{IMEI: "867584030000012"})
	m1 := newModem(t, em1, Config{Name: "a"})
	m2 := newModem(t, em2, Config{Name: "b"})
	pool := NewPool([]*Modem{m1, m2}, testLog(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- pool.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "both ready", func() bool { return m1.Health().Ready() && m2.Health().Ready() })
	for i := range 4 {
		send(t, pool, msg(int64(i+1), fmt.Sprint("text ", i)))
	}
	if a, b := len(em1.Sent()), len(em2.Sent()); a != 2 || b != 2 {
		t.Errorf("round robin: %d and %d, want 2 and 2", a, b)
	}

	em2.SetRegistration(modemtest.Searching)
	waitFor(t, "b not registered", func() bool { return !m2.Health().Registered })
	for i := range 3 {
		send(t, pool, msg(int64(10+i), "only a"))
	}
	if a, b := len(em1.Sent()), len(em2.Sent()); a != 5 || b != 2 {
		t.Errorf("skipping b: %d and %d, want 5 and 2", a, b)
	}

	// A transient failure on one fails over to the other.
	em2.SetRegistration(modemtest.Home)
	waitFor(t, "b registered", func() bool { return m2.Health().Ready() })
	// Of two sends in turn, one starts with b, which fails, and goes to a.
	em2.FailSends(42)
	send(t, pool, msg(20, "fail over"))
	send(t, pool, msg(21, "fail over"))
	if a, b := len(em1.Sent()), len(em2.Sent()); a != 7 || b != 2 {
		t.Errorf("after fail over: %d and %d, want 7 and 2", a, b)
	}
	if h := pool.Health(); len(h) != 2 || h[0].Name != "a" || h[1].Name != "b" {
		t.Errorf("health %+v", h)
	}
}

var testLevel = func() slog.Level {
	if os.Getenv("MODEM_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}()
