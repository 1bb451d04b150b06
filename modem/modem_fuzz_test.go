package modem

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/warthog618/modem/at"
)

// FuzzEncodePDU encodes arbitrary UTF-8 text in PDU mode and decodes the
// parts with github.com/warthog618/sms as a phone joins them: the text must
// come back the same, and every part must pass the limits phones rely on.
// Text mode must carry the same text too.
//
//	go test ./modem -run '^$' -fuzz '^FuzzEncodePDU$' -fuzztime 75s
func FuzzEncodePDU(f *testing.F) {
	for _, s := range []string{
		"Hi, this is Peak HVAC. Sorry we missed your call!",
		"Price: £20 @ 5pm, ¿ok? ñ Ü",
		"€ [ ] { } ~ ^ \\ |",
		strings.Repeat("x", 160),
		strings.Repeat("x", 161),
		strings.Repeat("a", 152) + "€" + strings.Repeat("b", 20),
		strings.Repeat("🙂", 40),
		strings.Repeat("é", 69) + "ç",
		"Thanks 🙂 call you soon",
		"line\r\nbreak\ttab\x00nul\x1b[31mansi",
		"\r", "@", "\x00", "a\r", strings.Repeat("x", 7) + "\r",
		"{business} $(reboot) `id`",
		"עברית العربية 中文 🇬🇧",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if !utf8.ValidString(body) || len(body) > 4000 {
			t.Skip()
		}
		var ref uint8
		parts, err := encodePDU("+15551234567", body, &ref)
		if body == "" {
			if err == nil {
				t.Fatalf("empty text encoded to %d parts", len(parts))
			}
			return
		}
		if err != nil {
			t.Fatalf("encodePDU(%q): %v", body, err)
		}
		got, segs := decodeParts(t, parts)
		if got != body {
			t.Fatalf("round trip:\nsent    %q\ndecoded %q", body, got)
		}
		for i, s := range segs {
			if len(s.UD) == 0 {
				t.Fatalf("part %d of %d is empty", i+1, len(segs))
			}
		}

		// Text mode: the parts' data joined is the text again.
		var b strings.Builder
		for _, p := range encodeText("+15551234567", body) {
			switch p.cscs {
			case "IRA":
				if !isIRA(p.data) || len(p.data) > 160 {
					t.Fatalf("IRA part %q", p.data)
				}
				b.WriteString(p.data)
			case "UCS2":
				raw, err := hex.DecodeString(p.data)
				if err != nil || len(raw)%2 != 0 || len(raw) > 140 {
					t.Fatalf("UCS2 part %q: %v", p.data, err)
				}
				u := make([]uint16, len(raw)/2)
				for i := range u {
					u[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
				}
				if n := len(u); n > 0 && 0xd800 <= u[n-1] && u[n-1] < 0xdc00 {
					t.Fatalf("UCS2 part ends in a high surrogate")
				}
				b.WriteString(string(utf16.Decode(u)))
			default:
				t.Fatalf("text part with character set %q", p.cscs)
			}
		}
		if b.String() != body {
			t.Fatalf("text mode:\nsent    %q\njoined  %q", body, b.String())
		}
	})
}

// scriptedModem answers each AT command with a scripted answer, the way
// a real port would: it echoes nothing (E0), answers +CMGS with the "> "
// prompt, and the PDU with the answer scripted for "+CMGS". Answers go out
// from one goroutine, in order, so that Write never blocks at's loops.
type scriptedModem struct {
	answers map[string]string // by command ("+CSQ", "+CREG?", …)
	pr      *io.PipeReader
	pw      *io.PipeWriter
	out     chan string
	done    chan struct{}
	once    sync.Once
	pending []byte
}

func newScriptedModem(answers map[string]string) *scriptedModem {
	pr, pw := io.Pipe()
	m := &scriptedModem{answers: answers, pr: pr, pw: pw, out: make(chan string, 16), done: make(chan struct{})}
	go func() {
		for {
			select {
			case s := <-m.out:
				if _, err := m.pw.Write([]byte(s)); err != nil {
					return
				}
			case <-m.done:
				return
			}
		}
	}()
	return m
}

func (m *scriptedModem) Read(b []byte) (int, error) { return m.pr.Read(b) }

func (m *scriptedModem) Write(b []byte) (int, error) {
	m.pending = append(m.pending, b...)
	for {
		if i := bytes.IndexByte(m.pending, 0x1a); i >= 0 { // the PDU, then Ctrl-Z
			m.pending = m.pending[i+1:]
			m.send(answer(m.answers["+CMGS"]))
			continue
		}
		i := bytes.IndexByte(m.pending, '\r')
		if i < 0 {
			return len(b), nil
		}
		line := strings.TrimSpace(string(m.pending[:i]))
		m.pending = m.pending[i+1:]
		cmd := strings.TrimPrefix(line, "AT")
		switch {
		case line == "":
		case strings.HasPrefix(cmd, "+CMGS="):
			m.send("\r\n> ")
		default:
			m.send(answer(m.answers[cmd]))
		}
	}
}

// answer frames a scripted answer, ending it with OK unless it already has
// a final result code: a stray OK would end the next command.
func answer(s string) string {
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if l == "OK" || strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "+CME ERROR:") || strings.HasPrefix(l, "+CMS ERROR:") {
			return "\r\n" + s + "\r\n"
		}
	}
	return "\r\n" + s + "\r\nOK\r\n"
}

func (m *scriptedModem) send(s string) {
	select {
	case m.out <- s:
	case <-m.done:
	}
}

func (m *scriptedModem) Close() error {
	m.once.Do(func() {
		close(m.done)
		m.pw.Close()
		m.pr.Close()
	})
	return nil
}

// FuzzATAnswers gives the answer parsers whatever a modem could say to
// AT+CSQ, +CREG?, +CEREG?, +COPS?, +CPIN? and +CMGS — garbage, unsolicited
// lines in the middle, +CMS ERROR lines numeric or textual — over the real
// at driver: nothing may panic or hang, the health read stays in range,
// and a +CMS ERROR answer to a send comes back as a *CMSError.
//
//	go test ./modem -run '^$' -fuzz '^FuzzATAnswers$' -fuzztime 75s
func FuzzATAnswers(f *testing.F) {
	f.Add("+CSQ: 20,99", "+CREG: 0,1", "+CEREG: 0,1", `+COPS: 0,0,"Test Mobile",7`, "+CPIN: READY", "+CMGS: 12")
	f.Add("+CSQ: 99,99", "+CREG: 0,5", "+CEREG: 2,\"1A2B\",\"0001\"\r\n+CEREG: 0,2", `+COPS: 0`, "+CPIN: SIM PIN", "+CMS ERROR: 21")
	f.Add("+CSQ: 31", "+CREG: 1,\"00C3\",\"1234\"\r\n+CREG: 0,3", "ERROR", `+COPS: 0,0,"",`, "+CME ERROR: 10", "+CMS ERROR: short message transfer rejected")
	f.Add("+CSQ: -1,x", "+CREG: ,", "+CEREG:", `+COPS: ,,"\"`, "+CME ERROR: SIM busy", "+CMS ERROR: 99999999999999999999")
	f.Add("+CSQ:", "RING\r\n+CREG: 0,1", "+CMTI: \"SM\",3\r\n+CEREG: 0,6", "+COPS: 0,0,\"\x1b[31m\r\nx\",2", "+CPIN: NOT INSERTED", "+CMS ERROR: 197")
	f.Add("+CSQ: 0", "+CREG: 0,99999999999999999999", "+CEREG: 0,-5", "+COPS:", "+CPIN:", "+CMS ERROR: ")
	f.Add("", "", "", "", "", "")
	f.Add("+CMS ERROR: 500", "+CME ERROR: 30", "+CREG: 0,4", "> ", "ERROR", "+CMS ERROR: 300\r\n+CMGS: 3")
	f.Fuzz(func(t *testing.T, csq, creg, cereg, cops, cpin, cmgs string) {
		for _, s := range []string{csq, creg, cereg, cops, cpin, cmgs} {
			if len(s) > 512 {
				t.Skip()
			}
		}
		fm := newScriptedModem(map[string]string{
			"+CSQ": csq, "+CREG?": creg, "+CEREG?": cereg, "+COPS?": cops, "+CPIN?": cpin, "+CMGS": cmgs,
		})
		s := newSession("fuzz", &countingPort{ReadWriteCloser: fm}, 2*time.Second, slog.New(slog.DiscardHandler))
		defer s.close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()

		h, err := s.probe(ctx)
		if err == nil {
			if h.SignalDBm != 0 && (h.SignalDBm < -113 || h.SignalDBm > -51) {
				t.Fatalf("SignalDBm %d out of range", h.SignalDBm)
			}
			if h.Registration == "" {
				t.Fatalf("empty Registration")
			}
			if h.Registered != registered(func() int {
				for st, name := range regNames {
					if name == h.Registration {
						return st
					}
				}
				return -1
			}()) {
				t.Fatalf("Registered %v for %q", h.Registered, h.Registration)
			}
		}
		if s.closed() {
			return
		}
		// A busy SIM is waited out for 5 s; a fuzzer need not wait so long.
		sctx, scancel := context.WithTimeout(ctx, 600*time.Millisecond)
		_, err = simState(sctx, s)
		scancel()
		if err != nil && err.Error() == "" {
			t.Fatalf("simState: empty error")
		}
		if s.closed() {
			return
		}
		var ref uint8
		parts, err := encodePDU("+15551234567", "Sorry we missed your call", &ref)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.sendPart(parts[0], 2*time.Second)
		if err != nil && err.Error() == "" {
			t.Fatalf("sendPart: empty error")
		}
		if first, _, _ := strings.Cut(strings.TrimLeft(cmgs, "\r\n"), "\r"); strings.HasPrefix(first, "+CMS ERROR:") && !strings.Contains(first, "\n") {
			var ce *CMSError
			if !errors.As(err, &ce) {
				t.Fatalf("answer %q: error %v, want a *CMSError", first, err)
			}
		}
	})
}

// FuzzClassifyCMS: any +CMS ERROR value gives a *CMSError with a text.
func FuzzClassifyCMS(f *testing.F) {
	for _, s := range []string{"21", "197", "300", "512", "0", "-1", "99999999999999999999",
		"short message transfer rejected", "Unknown", "SM rejected: duplicate SM", "", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ce := classifyCMS(at.CMSError(s))
		if ce == nil || ce.Text == "" && strings.TrimSpace(s) != "" {
			t.Fatalf("classifyCMS(%q) = %+v", s, ce)
		}
		if ce.Error() == "" {
			t.Fatalf("empty error")
		}
	})
}
