package modem

import (
	"context"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/pdumode"
	"github.com/warthog618/sms/encoding/tpdu"

	"github.com/textback/textback"
)

// Sink takes the texts a modem receives and the delivery reports on the
// texts it sent; *replies.Handler is one. An error means "not taken": a
// received text then stays on the SIM and is offered again.
type Sink interface {
	Inbound(ctx context.Context, m textback.InboundText) error
	Delivery(ctx context.Context, d textback.Delivery) error
}

// sinkTimeout bounds one call of the Sink.
const sinkTimeout = 30 * time.Second

// SetSink makes m hand the texts it receives, and the delivery reports on
// those it sent, to s. It may be called before or while Run runs; until a
// Sink is set received texts stay on the SIM.
func (m *Modem) SetSink(s Sink) {
	m.mu.Lock()
	m.sink = s
	m.mu.Unlock()
	select {
	case m.sinkSet <- struct{}{}:
	default:
	}
}

func (m *Modem) currentSink() Sink {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sink
}

// setupReceive chooses the message storage and asks for indications of new
// texts (+CMTI, stored first, so that nothing is lost between the
// indication and our read) and, unless turned off, for status reports
// (+CDS). Neither is fatal: the periodic sweep (AT+CMGL) reads what
// indications would have announced.
func (m *Modem) setupReceive(ctx context.Context, s *session) error {
	var mem string
	for _, x := range []string{"SM", "ME", "MT"} {
		if _, err := s.cmd(ctx, fmt.Sprintf("+CPMS=%q,%q,%q", x, x, x)); err == nil {
			mem = x
			break
		} else if s.closed() {
			return err
		}
	}
	if mem == "" {
		m.log.Warn("modem accepts no message storage (AT+CPMS): received texts are read from its default one")
	}
	ds := 1
	if m.cfg.NoDeliveryReports {
		ds = 0
	}
	var err error
	for _, mode := range []int{2, 1} {
		if _, err = s.cmd(ctx, fmt.Sprintf("+CNMI=%d,1,0,%d,0", mode, ds)); err == nil || s.closed() {
			break
		}
	}
	if err != nil {
		if s.closed() {
			return err
		}
		m.log.Warn("modem refuses AT+CNMI: received texts are read every receive interval only", "err", err, "receive_interval", m.cfg.ReceiveInterval)
	}
	s.mu.Lock()
	s.mem = mem
	s.mu.Unlock()
	return nil
}

// indication handlers: they run on goroutines of at's, so they only pass
// what they got on, never blocking.

func (s *session) onCMTI(l []string) {
	// +CMTI: "SM",3
	mem, idx, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(l[0], "+CMTI:")), ",")
	n, err := strconv.Atoi(strings.TrimSpace(idx))
	s.mu.Lock()
	ours := s.mem == "" || strings.Trim(mem, `"`) == s.mem
	s.mu.Unlock()
	if err == nil && ours {
		select {
		case s.indicated <- n:
			return
		default:
		}
	}
	s.kick() // a memory we do not read, or too many at once: list them all
}

func (s *session) onCDS(l []string) {
	select {
	case s.reports <- l:
	default:
		s.log.Warn("modem status report dropped: too many at once")
	}
}

func (s *session) kick() {
	select {
	case s.sweepNow <- struct{}{}:
	default:
	}
}

// storedText is one message in the modem's storage.
type storedText struct {
	idx int
	t   *tpdu.TPDU
	err error // undecodable
}

// receive reads the texts the modem receives until s ends or ctx is done:
// everything in storage at once (texts that came while we were away), each
// text an indication announces, and everything again every
// ReceiveInterval (an indication lost). It owns m.firstSeen.
func (m *Modem) receive(ctx context.Context, s *session) {
	held := map[int]storedText{}
	m.sweep(ctx, s, held)
	tick := time.NewTicker(m.cfg.ReceiveInterval)
	defer tick.Stop()
	for {
		var wake <-chan time.Time
		var t *time.Timer
		if next := m.dispatch(ctx, s, held); !next.IsZero() {
			t = time.NewTimer(time.Until(next))
			wake = t.C
		}
		stop := func() {
			if t != nil {
				t.Stop()
			}
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-s.at.Closed():
			stop()
			return
		case idx := <-s.indicated:
			m.read(ctx, s, idx, held)
		case l := <-s.reports:
			m.onReport(ctx, l)
		case <-s.sweepNow:
			m.sweep(ctx, s, held)
		case <-m.sinkSet:
			m.sweep(ctx, s, held)
		case <-tick.C:
			m.sweep(ctx, s, held)
		case <-wake:
		}
		stop()
	}
}

// sweep replaces held by what AT+CMGL=4 lists.
func (m *Modem) sweep(ctx context.Context, s *session, held map[int]storedText) {
	info, err := s.cmd(ctx, "+CMGL=4")
	if err != nil {
		if !s.closed() && ctx.Err() == nil {
			m.log.Warn("modem: listing received texts failed", "err", err)
		}
		return
	}
	clear(held)
	for _, st := range parseListing(info, "+CMGL:") {
		held[st.idx] = st
	}
}

// read reads the text at idx into held.
func (m *Modem) read(ctx context.Context, s *session, idx int, held map[int]storedText) {
	info, err := s.cmd(ctx, "+CMGR="+strconv.Itoa(idx))
	if err != nil {
		if !s.closed() && ctx.Err() == nil {
			m.log.Warn("modem: reading a received text failed; the next sweep lists it", "index", idx, "err", err)
		}
		return
	}
	got := parseListing(info, "+CMGR:")
	if len(got) == 0 {
		delete(held, idx) // empty: deleted meanwhile
		return
	}
	got[0].idx = idx
	held[idx] = got[0]
}

// parseListing reads AT+CMGL (header "+CMGL: <index>,<stat>,[<alpha>],<length>")
// or AT+CMGR ("+CMGR: <stat>,[<alpha>],<length>") answers in PDU mode: each
// header is followed by its PDU. Lines that are neither (URCs) are skipped.
func parseListing(info []string, prefix string) []storedText {
	var out []storedText
	for i := 0; i < len(info); i++ {
		v, ok := strings.CutPrefix(info[i], prefix)
		if !ok || i+1 >= len(info) {
			continue
		}
		st := storedText{}
		if prefix == "+CMGL:" {
			n, err := strconv.Atoi(strings.TrimSpace(strings.Split(v, ",")[0]))
			if err != nil {
				continue
			}
			st.idx = n
		}
		i++
		st.t, st.err = decodeStored(strings.TrimSpace(info[i]))
		out = append(out, st)
	}
	return out
}

// decodeStored decodes a stored PDU: SMSC address, then an SMS-DELIVER or
// SMS-STATUS-REPORT (both mobile terminated).
func decodeStored(h string) (*tpdu.TPDU, error) {
	p, err := pdumode.UnmarshalHexString(h)
	if err != nil {
		return nil, err
	}
	return sms.Unmarshal(p.TPDU, sms.AsMT)
}

// group is the stored parts of one received text.
type group struct {
	key   string
	parts map[int]storedText // by sequence number (1 for a single part)
	idxs  []int              // every index, duplicates of a part too
	total int
	ref   int
}

// dispatch hands complete texts, and incomplete ones whose parts waited
// PartsWait, to the Sink, deleting each from the storage once the Sink
// took it. It returns when an incomplete text will be due (zero: none).
func (m *Modem) dispatch(ctx context.Context, s *session, held map[int]storedText) time.Time {
	sink := m.currentSink()
	if sink == nil || ctx.Err() != nil {
		return time.Time{}
	}
	groups := map[string]*group{}
	for _, idx := range slices.Sorted(mapKeys(held)) {
		st := held[idx]
		switch {
		case st.err != nil:
			// Nothing can read it, and it takes a slot on the SIM.
			m.log.Warn("modem: undecodable received text deleted", "index", idx, "err", st.err)
			m.delete(ctx, s, idx, held)
			continue
		case st.t.SmsType() == tpdu.SmsStatusReport:
			if m.report(ctx, st.t) {
				m.delete(ctx, s, idx, held)
			}
			continue
		case st.t.SmsType() != tpdu.SmsDeliver:
			continue // a stored SMS-SUBMIT: not ours
		}
		key, seq, total, ref := "#"+strconv.Itoa(idx), 1, 1, 0
		if n, sq, r, ok := st.t.ConcatInfo(); ok && n > 1 && sq >= 1 && sq <= n {
			key, seq, total, ref = fmt.Sprintf("%s/%d/%d", st.t.OA.Number(), r, n), sq, n, r
		}
		g := groups[key]
		if g == nil {
			g = &group{key: key, parts: map[int]storedText{}, total: total, ref: ref}
			groups[key] = g
		}
		if _, dup := g.parts[seq]; !dup {
			g.parts[seq] = st
		}
		g.idxs = append(g.idxs, idx)
	}
	for k := range m.firstSeen {
		if groups[k] == nil {
			delete(m.firstSeen, k)
		}
	}
	var next time.Time
	now := time.Now()
	for _, key := range slices.Sorted(mapKeys(groups)) {
		g := groups[key]
		if len(g.parts) < g.total {
			first, ok := m.firstSeen[key]
			if !ok {
				first = now
				m.firstSeen[key] = now
			}
			if due := first.Add(m.cfg.PartsWait); now.Before(due) {
				if next.IsZero() || due.Before(next) {
					next = due
				}
				continue
			}
		}
		in := m.inbound(s, g)
		cctx, cancel := context.WithTimeout(ctx, sinkTimeout)
		err := sink.Inbound(cctx, in)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				m.log.Warn("received text not taken; it stays on the SIM and is offered again", "from", in.From, "err", err)
			}
			continue
		}
		m.log.Info("sms received", "from", in.From, "parts", len(g.parts), "of", g.total)
		for _, idx := range g.idxs {
			m.delete(ctx, s, idx, held)
		}
		delete(m.firstSeen, key)
	}
	return next
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// delete deletes the text at idx from the storage. A failure leaves it
// there; the next sweep offers it again, and the Sink sees a repeat.
func (m *Modem) delete(ctx context.Context, s *session, idx int, held map[int]storedText) {
	if _, err := s.cmd(context.WithoutCancel(ctx), "+CMGD="+strconv.Itoa(idx)); err != nil {
		m.log.Warn("modem: deleting a received text failed", "index", idx, "err", err)
		return
	}
	delete(held, idx)
}

// inbound joins the parts of g, in order. A missing part shows as "[…]".
//
// Its ProviderID is the same whenever the same parts are read again (after
// a crash before the delete, say), so the store takes it for a repeat: the
// modem's name, the service centre's time stamp of the first part present,
// the concatenation reference, and a checksum over the sender and the
// parts (which keeps the sender's number out of the id).
func (m *Modem) inbound(s *session, g *group) textback.InboundText {
	var segs []*tpdu.TPDU
	var body strings.Builder
	sum := crc32.NewIEEE()
	var first *tpdu.TPDU
	missing := false
	for seq := 1; seq <= g.total; seq++ {
		st, ok := g.parts[seq]
		if !ok {
			missing = true
			continue
		}
		if first == nil {
			first = st.t
			sum.Write([]byte(st.t.OA.Number()))
		}
		fmt.Fprintf(sum, "/%d:", seq)
		sum.Write(st.t.UD)
		segs = append(segs, st.t)
	}
	if b, err := sms.Decode(segs); err == nil && !missing {
		body.Write(b)
	} else {
		for seq := 1; seq <= g.total; seq++ {
			st, ok := g.parts[seq]
			if !ok {
				body.WriteString("[…]")
				continue
			}
			b, _ := sms.Decode([]*tpdu.TPDU{st.t})
			body.Write(b)
		}
	}
	scts := first.SCTS.Time
	received := scts
	if received.IsZero() || received.After(time.Now().Add(time.Hour)) {
		received = time.Now()
	}
	s.mu.Lock()
	to := s.number
	s.mu.Unlock()
	return textback.InboundText{
		Provider:   "modem",
		ProviderID: fmt.Sprintf("%s:%s:%d:%08x", m.name, scts.UTC().Format("20060102T150405Z"), g.ref, sum.Sum32()),
		From:       textback.Number(first.OA.Number()),
		To:         textback.Number(to),
		Body:       body.String(),
		Received:   received,
	}
}

// awaiting is a sent text whose status reports are awaited; m.mu guards it.
type awaiting struct {
	id        string // the Receipt's ProviderID
	to        string
	mrs       []int
	delivered map[int]bool
	sent      time.Time
}

// awaitReportsLocked remembers the parts of a sent text by message reference,
// for the status reports to find it; m.mu is held.
func (m *Modem) awaitReportsLocked(id, to string, mrs []string) {
	for mr, a := range m.awaiting {
		if time.Since(a.sent) > 5*24*time.Hour { // past the 4-day validity period
			delete(m.awaiting, mr)
		}
	}
	a := &awaiting{id: id, to: to, delivered: map[int]bool{}, sent: time.Now()}
	for _, s := range mrs {
		if n, err := strconv.Atoi(s); err == nil {
			a.mrs = append(a.mrs, n)
			m.awaiting[n] = a // a newer text reusing the reference wins
		}
	}
}

// onReport handles a +CDS status report: "+CDS: <length>" and the PDU.
func (m *Modem) onReport(ctx context.Context, l []string) {
	if len(l) < 2 {
		return
	}
	t, err := decodeStored(strings.TrimSpace(l[1]))
	if err != nil || t.SmsType() != tpdu.SmsStatusReport {
		m.log.Warn("modem: undecodable status report", "err", err)
		return
	}
	m.report(ctx, t)
}

// report hands the delivery a status report tells of to the Sink. It
// returns false when the Sink did not take it (a stored report is then kept
// and offered again); reports on texts we do not know, and interim ones
// (the service centre still trying), are taken and dropped.
func (m *Modem) report(ctx context.Context, t *tpdu.TPDU) bool {
	sink := m.currentSink()
	if sink == nil {
		return false
	}
	mr, st := int(t.MR), t.ST
	m.mu.Lock()
	a := m.awaiting[mr]
	if a == nil || !sameNumber(a.to, t.RA.Number()) {
		m.mu.Unlock()
		m.log.Debug("modem: status report on a text we do not know", "mr", mr, "status", st)
		return true
	}
	var status textback.DeliveryStatus
	switch {
	case st < 0x20: // completed: delivered (or forwarded, or replaced)
		a.delivered[mr] = true
		if len(a.delivered) == len(a.mrs) {
			status = textback.Delivered
		}
	case st >= 0x40: // permanent error, or temporary and the SC gave up
		status = textback.Undelivered
	}
	id := a.id
	m.mu.Unlock()
	if status == "" {
		return true // a part of several, or the SC still tries
	}
	at := t.DT.Time
	if at.IsZero() {
		at = time.Now()
	}
	d := textback.Delivery{Provider: "modem", ProviderID: id, Status: status, At: at,
		Detail: fmt.Sprintf("TP-Status 0x%02x (%s)", st, tpStatus(st))}
	cctx, cancel := context.WithTimeout(ctx, sinkTimeout)
	defer cancel()
	if err := sink.Delivery(cctx, d); err != nil {
		m.log.Warn("delivery report not taken", "provider_id", id, "err", err)
		return false
	}
	m.mu.Lock()
	for _, n := range a.mrs {
		if m.awaiting[n] == a {
			delete(m.awaiting, n)
		}
	}
	m.mu.Unlock()
	return true
}

// sameNumber compares a number we sent to with a status report's recipient,
// which a network may give in national form.
func sameNumber(sent, ra string) bool {
	a, b := strings.TrimPrefix(sent, "+"), strings.TrimPrefix(ra, "+")
	if a == "" || b == "" {
		return true
	}
	n := min(len(a), len(b), 8)
	return a[len(a)-n:] == b[len(b)-n:]
}

// tpStatus names a TP-Status (3GPP TS 23.040 §9.2.3.15).
func tpStatus(st byte) string {
	switch st {
	case 0x00:
		return "received by the SME"
	case 0x01:
		return "forwarded, delivery unconfirmed"
	case 0x02:
		return "replaced by the SC"
	case 0x41:
		return "incompatible destination"
	case 0x42:
		return "connection rejected by SME"
	case 0x43:
		return "not obtainable"
	case 0x46:
		return "SM validity period expired"
	case 0x47:
		return "SM deleted by originating SME"
	case 0x48:
		return "SM deleted by SC administration"
	case 0x49:
		return "SM does not exist"
	case 0x62:
		return "no response from SME"
	case 0x63:
		return "SME busy"
	}
	switch {
	case st < 0x20:
		return "delivered"
	case st < 0x40:
		return "temporary error, SC still trying"
	case st < 0x60:
		return "permanent error"
	}
	return "temporary error, SC gave up"
}
