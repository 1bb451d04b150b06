package modemtest

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warthog618/sms/encoding/pdumode"
	"github.com/warthog618/sms/encoding/tpdu"
)

// fixed is a tpdu.Counter that always counts the same.
type fixed int

func (f fixed) Count() int { return int(f) }

// Receive delivers a text to the modem as the network would: each part (a
// long text is split with an 8-bit concatenation header) is stored in the
// message storage and, unless in.Silent or AT+CNMI asked for none (mt 0),
// indicated with +CMTI. It returns the storage indices used, in the order
// the parts arrived. A full storage is an error, as a real SIM would refuse
// the text (the service centre keeps it for later).
func (m *Modem) Receive(in Incoming) ([]int, error) {
	scts := in.SCTS
	if scts.IsZero() {
		scts = time.Now().Truncate(time.Second)
	}
	t := tpdu.TPDU{Direction: tpdu.MT}
	t.SetSmsType(tpdu.SmsDeliver)
	t.OA = tpdu.NewAddress(tpdu.FromNumber(in.From))
	t.SCTS = tpdu.Timestamp{Time: scts}
	ud, udh, alpha := tpdu.EncodeUserData([]byte(in.Text))
	dcs, err := tpdu.DCS(0).WithAlphabet(alpha)
	if err != nil {
		return nil, err
	}
	t.SetDCS(byte(dcs))
	if udh != nil {
		t.SetUDH(udh)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	ref := in.Ref
	if ref == 0 {
		m.inRef = m.inRef%255 + 1
		ref = m.inRef
	}
	segs := t.Segment(ud, tpdu.WithConcatRef(fixed(ref)))
	which := in.Parts
	if which == nil {
		for i := range segs {
			which = append(which, i+1)
		}
	}
	smsc := pdumode.SMSCAddress{Address: tpdu.NewAddress(tpdu.FromNumber(strings.TrimPrefix(m.opts.SMSC, "-")))}
	var idxs []int
	for _, k := range which {
		if k < 1 || k > len(segs) {
			return idxs, fmt.Errorf("modemtest: no part %d of %d", k, len(segs))
		}
		b, err := segs[k-1].MarshalBinary()
		if err != nil {
			return idxs, fmt.Errorf("modemtest: part %d: %w", k, err)
		}
		p := pdumode.PDU{SMSC: smsc, TPDU: b}
		h, err := p.MarshalHexString()
		if err != nil {
			return idxs, fmt.Errorf("modemtest: part %d: %w", k, err)
		}
		idx := m.freeIndex()
		if idx == 0 {
			return idxs, errors.New("modemtest: message storage full")
		}
		m.store[idx] = &stored{stat: 0, pdu: strings.ToUpper(h), tpdu: len(b)}
		idxs = append(idxs, idx)
		if !in.Silent && m.cnmi[0] > 0 && m.cnmi[1] == 1 && m.master != nil {
			m.write(m.master, fmt.Sprintf("+CMTI: %q,%d", m.mem, idx))
		}
	}
	return idxs, nil
}

// freeIndex returns the lowest free storage index, 0 when full; m.mu is held.
func (m *Modem) freeIndex() int {
	for i := 1; i <= m.opts.Storage; i++ {
		if _, ok := m.store[i]; !ok {
			return i
		}
	}
	return 0
}

// Stored returns the storage indices that hold a text, in order.
func (m *Modem) Stored() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var idx []int
	for i := range m.store {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx
}

// StatusReport sends the SMS-STATUS-REPORT (3GPP TS 23.040 §9.2.2.3) of the
// sent part with message reference mr, with TP-Status st (0x00 delivered,
// 0x40… permanent failures, 0x60… the service centre gave up), as +CDS (AT+CNMI
// ds 1). It is an error when the part asked for no report (TP-SRR) or the
// host asked for none (ds 0): a network would send nothing.
func (m *Modem) StatusReport(mr int, st byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	sp, ok := m.byMR[mr]
	switch {
	case !ok:
		return fmt.Errorf("modemtest: no part sent with message reference %d", mr)
	case !sp.srr:
		return fmt.Errorf("modemtest: the part with message reference %d asked for no status report (TP-SRR)", mr)
	case m.cnmi[3] != 1:
		return fmt.Errorf("modemtest: the host asked for no status reports (AT+CNMI ds %d)", m.cnmi[3])
	case m.master == nil:
		return errors.New("modemtest: unplugged")
	}
	now := time.Now().Truncate(time.Second)
	t := tpdu.TPDU{Direction: tpdu.MT, MR: byte(mr), ST: st}
	t.SetSmsType(tpdu.SmsStatusReport)
	t.RA = tpdu.NewAddress(tpdu.FromNumber(sp.to))
	t.SCTS = tpdu.Timestamp{Time: now.Add(-time.Second)}
	t.DT = tpdu.Timestamp{Time: now}
	b, err := t.MarshalBinary()
	if err != nil {
		return fmt.Errorf("modemtest: status report: %w", err)
	}
	h, err := (&pdumode.PDU{TPDU: b}).MarshalHexString()
	if err != nil {
		return fmt.Errorf("modemtest: status report: %w", err)
	}
	// Like +CMGR, the PDU follows its header line directly (27.005 §3.4.1).
	_, err = io.WriteString(m.master, fmt.Sprintf("\r\n+CDS: %d\r\n%s\r\n", len(b), strings.ToUpper(h)))
	return err
}

// storageCommand answers AT+CPMS, AT+CNMI, AT+CMGR, AT+CMGL and AT+CMGD;
// m.mu is held.
func (m *Modem) storageCommand(w io.Writer, ucmd string) {
	used := len(m.store)
	switch {
	case ucmd == "+CPMS?":
		mem := fmt.Sprintf("%q,%d,%d", m.mem, used, m.opts.Storage)
		m.write(w, "+CPMS: "+mem+","+mem+","+mem, "OK")
	case strings.HasPrefix(ucmd, "+CPMS="):
		mems := strings.Split(strings.ReplaceAll(ucmd[6:], `"`, ""), ",")
		for _, x := range mems {
			if !slices.Contains(m.opts.Storages, x) {
				m.write(w, m.cmsError("302", "operation not allowed"))
				return
			}
		}
		// One storage stands for all of them; its name is the first's.
		m.mem = mems[0]
		m.write(w, fmt.Sprintf("+CPMS: %d,%d,%d,%d,%d,%d", used, m.opts.Storage, used, m.opts.Storage, used, m.opts.Storage), "OK")
	case ucmd == "+CNMI?":
		c := m.cnmi
		m.write(w, fmt.Sprintf("+CNMI: %d,%d,%d,%d,%d", c[0], c[1], c[2], c[3], c[4]), "OK")
	case strings.HasPrefix(ucmd, "+CNMI="):
		var c [5]int
		max := [5]int{3, 3, 3, 2, 1}
		for i, f := range strings.Split(ucmd[6:], ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if i >= 5 || err != nil || n < 0 || n > max[i] {
				m.write(w, m.cmsError("303", "operation not supported"))
				return
			}
			c[i] = n
		}
		m.cnmi = c
		m.write(w, "OK")
	case m.state.textMode:
		// Text-mode reading is not emulated.
		m.write(w, m.cmsError("302", "operation not allowed"))
	case strings.HasPrefix(ucmd, "+CMGR="):
		idx, err := strconv.Atoi(ucmd[6:])
		if err != nil || idx < 1 || idx > m.opts.Storage {
			m.write(w, m.cmsError("321", "invalid memory index"))
			return
		}
		s, ok := m.store[idx]
		if !ok {
			m.write(w, "OK") // SIMCom answers an empty index with OK alone
			return
		}
		io.WriteString(w, fmt.Sprintf("\r\n+CMGR: %d,,%d\r\n%s\r\n\r\nOK\r\n", s.stat, s.tpdu, s.pdu))
		s.stat = 1
	case ucmd == "+CMGL" || strings.HasPrefix(ucmd, "+CMGL="):
		want := 0
		if ucmd != "+CMGL" {
			n, err := strconv.Atoi(ucmd[6:])
			if err != nil || n < 0 || n > 4 {
				m.write(w, m.cmsError("303", "operation not supported"))
				return
			}
			want = n
		}
		var b strings.Builder
		for i := 1; i <= m.opts.Storage; i++ {
			s, ok := m.store[i]
			if !ok || (want != 4 && s.stat != want) {
				continue
			}
			fmt.Fprintf(&b, "\r\n+CMGL: %d,%d,,%d\r\n%s\r\n", i, s.stat, s.tpdu, s.pdu)
			s.stat = 1
		}
		b.WriteString("\r\nOK\r\n")
		io.WriteString(w, b.String())
	case strings.HasPrefix(ucmd, "+CMGD="):
		args := strings.Split(ucmd[6:], ",")
		idx, err := strconv.Atoi(args[0])
		flag := 0
		if len(args) > 1 {
			flag, _ = strconv.Atoi(args[1])
		}
		if flag == 4 {
			clear(m.store)
			m.write(w, "OK")
			return
		}
		if err != nil || idx < 1 || idx > m.opts.Storage {
			m.write(w, m.cmsError("321", "invalid memory index"))
			return
		}
		delete(m.store, idx)
		m.write(w, "OK")
	default:
		m.write(w, "ERROR")
	}
}
