package esl

import (
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/textback/textback"
)

// TrackerConfig says how to read calls out of the event stream.
type TrackerConfig struct {
	// InboundContexts are the dialplan contexts the trunk profile delivers
	// inbound calls to. Empty means "public", FreeSWITCH's and FusionPBX's.
	InboundContexts []string
	// DIDVariable is a channel variable holding the dialed number. Empty:
	// the A-leg's Caller-Destination-Number in its inbound context.
	DIDVariable string
	// MaxCalls caps the calls followed at once; the call heard from least
	// recently is dropped, unreported, to make room. Zero means 10000.
	MaxCalls int
	// StaleAfter drops, unreported, a call that had no event for this long:
	// its hangups were lost (a reconnect, a restart). Zero means 6h.
	StaleAfter time.Duration
}

const (
	defaultMaxCalls   = 10000
	defaultStaleAfter = 6 * time.Hour
	sweepEvery        = time.Minute
	// endedFor is how long a reported call's id and legs are remembered, so
	// that a late event of it cannot start a phantom second call.
	endedFor = 10 * time.Minute
	// maxLegs caps the legs of one call (a ring group of 100 phones is 101).
	maxLegs = 1024
)

// Subscribed lists the events the Tracker reads: what Source subscribes to
// ("event plain ..."; every word after CUSTOM is a subclass).
var Subscribed = []string{
	"CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
	"CHANNEL_BRIDGE", "CHANNEL_EXECUTE", "CHANNEL_HANGUP_COMPLETE",
	"CUSTOM", "vm::maintenance",
}

// trackedApps are the dialplan applications whose CHANNEL_EXECUTE the
// Tracker acts on (call.execute).
var trackedApps = []string{"voicemail", "lua", "bridge", "callcenter", "fifo"}

// Filters narrow Subscribed at FreeSWITCH: Source sends each as "filter
// HEADER VALUE" before subscribing. mod_event_socket lets an event through
// when any filter matches it (OR, values compared case-insensitively), so
// every subscribed event but CHANNEL_EXECUTE is let through by name, and
// CHANNEL_EXECUTE only for trackedApps: most of them are "set", and a
// leg's other events carry what they would tell (channel variables, times).
var Filters = func() [][2]string {
	var f [][2]string
	for _, n := range Subscribed {
		if n != "CHANNEL_EXECUTE" {
			f = append(f, [2]string{"Event-Name", n})
		}
		if n == "CUSTOM" {
			break // the rest are subclasses
		}
	}
	for _, a := range trackedApps {
		f = append(f, [2]string{"Application", a})
	}
	return f
}()

// Tracker follows the legs of every call, grouped under the A-leg's
// Unique-ID, and reports each call once every leg has sent
// CHANNEL_HANGUP_COMPLETE. It is not safe for concurrent use: one goroutine
// feeds it.
//
// A leg belongs to the call named by, in this order, its
// variable_originating_leg_uuid, variable_cc_member_session_uuid (a
// mod_callcenter agent leg), Other-Leg-Unique-ID when Other-Type is
// originator, variable_call_uuid, Channel-Call-UUID, or its own Unique-ID;
// a leg named by a leg already known joins that leg's call. A CHANNEL_BRIDGE
// of the A-leg pulls in its partner too.
//
// The tracker decides mostly from each leg's CHANNEL_HANGUP_COMPLETE, which
// carries the leg's own times (Caller-Channel-*-Time, µs since the epoch)
// and causes, so events that arrive out of order (eslgo hands each event to
// its listener in a goroutine of its own) change nothing but when the call
// is seen to end.
//
// A call is Inbound when its A-leg has Call-Direction inbound and its first
// event seen names one of InboundContexts as Caller-Context; Outbound when a
// leg went out through a gateway (variable_sip_gateway_name); Internal
// otherwise.
//
// It was Answered when the A-leg was bridged (CHANNEL_BRIDGE, or a
// Caller-Channel-Bridged-Time on its final event) to another leg that is not
// a loopback/ channel. The A-leg's own answer proves nothing: voicemail, an
// IVR and mod_callcenter's music answer it with nobody there.
//
// Otherwise the call was missed, and the first of these gives its Outcome
// (the precedence of ami.Tracker):
//
//  1. Voicemail: voicemail (not "check") or FusionPBX's "lua app.lua
//     voicemail" ran on a leg, or vm::maintenance leave-message named it.
//  2. Abandoned: the caller hung up while legs rang (a leg ended
//     ORIGINATOR_CANCEL, DIALSTATUS CANCEL, or the A-leg ended
//     ORIGINATOR_CANCEL while bridging), or while it waited in
//     mod_callcenter or mod_fifo.
//  3. NoAnswer: a leg rang out (NO_ANSWER, ALLOTTED_TIMEOUT, ...; DIALSTATUS
//     NOANSWER). It outranks Busy: in a ring group with one phone busy and
//     one ringing out, the caller heard ringing.
//  4. Busy: a leg answered busy or declined (USER_BUSY, CALL_REJECTED).
//  5. Unavailable: no leg could be reached (USER_NOT_REGISTERED makes no
//     leg at all: only the A-leg's DIALSTATUS CHANUNAVAIL tells).
//  6. NoAnswer: a leg was dialed, and nothing above said how it ended.
//  7. Unattended: nothing rang and no voicemail: closed hours, an IVR.
//
// Rang is the time during which at least one other leg was ringing: from
// its first 180 or 183 (Caller-Channel-Progress[-Media]-Time; its creation
// when it rang out or was answered without either) to its answer or hangup,
// up to the moment a person answered.
//
// CallerNum is the A-leg's Caller-Caller-ID-Number. Withheld is set when it
// is "anonymous" or the like, or when FreeSWITCH marks the caller profile
// hidden. mod_sofia (sofia.c, sofia_handle_sip_i_invite) takes
// caller_id_number, ani and username from the P-Asserted-Identity user (then
// P-Preferred-Identity, over Remote-Party-ID, over From), keeps From in
// variable_sip_from_*, stores the PAI user as variable
// sip_P-Asserted-Identity and the Privacy header as variable sip_Privacy,
// and sets hide-name and hide-number for "Privacy: id" (or Remote-Party-ID
// privacy=full, yes, number). So an INVITE from anonymous with Privacy: id
// and a PAI arrives as Caller-Caller-ID-Number: the real number next to
// Caller-Privacy-Hide-Number: true (testdata/tracker/withheld_pai.esl.txt).
// Either of the flag, sip_Privacy and sip_Remote-Party-ID is enough.
type Tracker struct {
	cfg     TrackerConfig
	didKey  string
	calls   map[string]*call
	legs    map[string]*leg
	ended   map[string]time.Time // ids of calls and legs reported lately
	swept   time.Time
	ev      event
	results []textback.Event
}

type call struct {
	id   string
	a    *leg // Unique-ID == id, once seen
	legs []*leg
	live int // legs without CHANNEL_HANGUP_COMPLETE
	seen time.Time

	ctxKnown, inbound bool
	context, did      string
	callerNum         string
	callerName        string
	withheld          bool
	gateway           bool
	dialedTo          string // Caller-Destination-Number of the first gateway leg

	answered    bool
	answerAt    int64 // µs
	voicemail   bool
	abandoned   bool
	noAnswer    bool
	busy        bool
	unavailable bool
	dialed      bool
	queued      bool // the A-leg ran callcenter or fifo
}

type leg struct {
	uuid     string
	call     *call
	loopback bool
	done     bool

	created, progress, answered, hangup int64 // µs
	cause                               string
	seen                                time.Time // local time of its last event, for Resync
}

// NewTracker returns a Tracker.
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = defaultMaxCalls
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = defaultStaleAfter
	}
	if len(cfg.InboundContexts) == 0 {
		cfg.InboundContexts = []string{"public"}
	}
	t := &Tracker{
		cfg:   cfg,
		calls: make(map[string]*call),
		legs:  make(map[string]*leg),
		ended: make(map[string]time.Time),
	}
	if v := strings.TrimPrefix(cfg.DIDVariable, "variable_"); v != "" {
		t.didKey = textproto.CanonicalMIMEHeaderKey("variable_" + v)
	}
	return t
}

// Len returns the number of calls in progress.
func (t *Tracker) Len() int { return len(t.calls) }

// Handle takes one event's headers (as eslgo parsed them: canonical keys,
// URL-encoded values), received at now, and returns what it did to the
// calls: a CallAnswered event when a person answered a call (once per call,
// before its CallEnded; in the same slice when only the A-leg's final event
// tells), a CallEnded event for each call that ended. Times in the calls
// are FreeSWITCH's; Decided is now. The slice is reused by the next call.
func (t *Tracker) Handle(h textproto.MIMEHeader, now time.Time) []textback.Event {
	t.ev.decode(h, t.didKey)
	return t.handle(&t.ev, now)
}

func (t *Tracker) handle(e *event, now time.Time) []textback.Event {
	t.results = t.results[:0]
	if now.Sub(t.swept) >= sweepEvery || now.Before(t.swept) {
		t.sweep(now)
	}
	switch e[fName] {
	case "CUSTOM":
		if e[fSubclass] == "vm::maintenance" && e[fVMAction] == "leave-message" {
			if l := t.legs[e[fVMUUID]]; l != nil {
				l.call.voicemail = true
			}
		}
		return t.out()
	case "CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
		"CHANNEL_BRIDGE", "CHANNEL_EXECUTE", "CHANNEL_HANGUP_COMPLETE":
	default:
		return t.out()
	}
	uid := e[fUUID]
	if uid == "" {
		return t.out()
	}
	l := t.legs[uid]
	if l == nil {
		if _, gone := t.ended[uid]; gone {
			return t.out()
		}
		c := t.callFor(e)
		if c == nil || len(c.legs) >= maxLegs {
			return t.out()
		}
		l = t.addLeg(c, uid, e)
	}
	c := l.call
	c.seen, l.seen = now, now
	l.times(e)
	if l == c.a {
		t.aLeg(c, e, now)
	} else if e[fGateway] != "" {
		c.gateway = true
		if c.dialedTo == "" {
			c.dialedTo = e[fDest]
		}
	}
	switch e[fName] {
	case "CHANNEL_CREATE":
		if l != c.a {
			c.dialed = true
		}
	case "CHANNEL_EXECUTE":
		c.execute(l, e[fApp], e[fAppData])
	case "CHANNEL_BRIDGE":
		t.bridge(e, now)
	case "CHANNEL_HANGUP_COMPLETE":
		t.hangup(c, l, e, now)
	}
	return t.out()
}

func (t *Tracker) out() []textback.Event {
	if len(t.results) == 0 {
		return nil
	}
	return t.results
}

// callFor finds or starts the call a new leg belongs to.
func (t *Tracker) callFor(e *event) *call {
	var ids [6]string
	n := 0
	if e[fOrigLeg] != "" {
		ids[n] = e[fOrigLeg]
		n++
	}
	if e[fCCMember] != "" {
		ids[n] = e[fCCMember]
		n++
	}
	if e[fOtherType] == "originator" && e[fOtherLeg] != "" {
		ids[n] = e[fOtherLeg]
		n++
	}
	for _, s := range [...]string{e[fVarCallUUID], e[fCallUUID], e[fUUID]} {
		if s != "" {
			ids[n] = s
			n++
		}
	}
	for _, id := range ids[:n] {
		if l := t.legs[id]; l != nil {
			return l.call
		}
		if c := t.calls[id]; c != nil {
			return c
		}
	}
	id := ids[0]
	if _, gone := t.ended[id]; gone {
		return nil // a late leg of a call already reported
	}
	return t.newCall(id)
}

func (t *Tracker) newCall(id string) *call {
	if len(t.calls) >= t.cfg.MaxCalls {
		var oldest *call
		for _, c := range t.calls {
			if oldest == nil || c.seen.Before(oldest.seen) {
				oldest = c
			}
		}
		t.forget(oldest)
	}
	c := &call{id: id, legs: make([]*leg, 0, 4)}
	t.calls[id] = c
	return c
}

func (t *Tracker) addLeg(c *call, uid string, e *event) *leg {
	l := &leg{uuid: uid, call: c, loopback: strings.HasPrefix(e[fChanName], "loopback/")}
	c.legs = append(c.legs, l)
	c.live++
	t.legs[uid] = l
	if uid == c.id {
		c.a = l
	}
	return l
}

// times keeps the latest non-zero value of each of the leg's times.
func (l *leg) times(e *event) {
	set := func(p *int64, s string) {
		if v := atoi64(s); v > 0 {
			*p = v
		}
	}
	set(&l.created, e[fCreated])
	if p := firstNonZero(atoi64(e[fProgress]), atoi64(e[fProgressMedia])); p > 0 {
		l.progress = p
	}
	set(&l.answered, e[fAnswered])
	set(&l.hangup, e[fHangupTime])
	if e[fCause] != "" {
		l.cause = e[fCause]
	}
}

// aLeg reads what the A-leg's events say about the caller.
func (t *Tracker) aLeg(c *call, e *event, now time.Time) {
	if !c.ctxKnown && e[fContext] != "" {
		c.ctxKnown = true
		c.context = e[fContext]
		c.inbound = e[fDirection] == "inbound" && t.isInbound(e[fContext])
		if c.inbound && c.did == "" {
			c.did = e[fDest]
		}
	}
	if e[fDID] != "" {
		c.did = e[fDID]
	}
	if c.callerNum == "" && e[fCIDNum] != "" {
		c.callerNum, c.callerName = e[fCIDNum], e[fCIDName]
	}
	if e[fHideNum] == "true" || privacyID(e[fSipPrivacy]) || rpidPrivate(e[fRPID]) {
		c.withheld = true
	}
	if b := atoi64(e[fBridged]); b > 0 && !c.answered && e[fLastBridgeTo] != "" {
		if o := t.legs[e[fLastBridgeTo]]; o == nil || !o.loopback {
			t.answer(c, b, now)
		}
	}
}

// execute notes what a dialplan application says about the call.
func (c *call) execute(l *leg, app, data string) {
	switch strings.ToLower(app) {
	case "voicemail":
		if !strings.HasPrefix(strings.TrimSpace(data), "check") {
			c.voicemail = true
		}
	case "lua":
		// FusionPBX: "app.lua voicemail" leaves a message, "app.lua
		// voicemail ... check" reads them.
		f := strings.Fields(data)
		if len(f) >= 2 && f[0] == "app.lua" && f[1] == "voicemail" && !slices.Contains(f, "check") {
			c.voicemail = true
		}
	case "bridge":
		c.dialed = true
	case "callcenter", "fifo":
		if l == c.a {
			c.dialed, c.queued = true, true
		}
	}
}

// bridge handles a CHANNEL_BRIDGE: the A-leg of a call bridged to a partner.
// It may arrive on either leg (uuid_bridge, mod_callcenter).
func (t *Tracker) bridge(e *event, now time.Time) {
	a, b := e[fBridgeA], e[fBridgeB]
	for _, side := range [2][2]string{{a, b}, {b, a}} {
		c := t.calls[side[0]]
		if c == nil || side[1] == "" {
			continue
		}
		p := t.legs[side[1]]
		if p != nil && p.call != c && p.call.id == p.uuid && len(p.call.legs) == 1 && !p.call.inbound {
			t.move(p, c) // an agent leg mod_callcenter originated on its own
		}
		if p == nil || p.call == c && !p.loopback {
			t.answer(c, atoi64(e[fDate]), now)
		}
	}
}

// answer marks c answered at at (µs), and reports it the first time.
func (t *Tracker) answer(c *call, at int64, now time.Time) {
	if c.answered {
		return
	}
	c.answered, c.answerAt = true, at
	t.results = append(t.results, textback.Event{Kind: textback.CallAnswered, Call: c.sofar(now)})
}

// move moves leg l, alone in a call of its own, into call c.
func (t *Tracker) move(l *leg, c *call) {
	delete(t.calls, l.call.id)
	l.call = c
	c.legs = append(c.legs, l)
	if !l.done {
		c.live++
	}
	c.dialed = true
}

func (t *Tracker) hangup(c *call, l *leg, e *event, now time.Time) {
	if l.done {
		return
	}
	l.done = true
	c.live--
	if l == c.a {
		c.dialStatus(e[fDialStatus])
		c.dialStatus(causeStatus(e[fOrigDisp]))
		if e[fLastApp] == "voicemail" || e[fVMLen] != "" {
			c.voicemail = true
		}
		callerGone := e[fCause] == "ORIGINATOR_CANCEL" || strings.HasPrefix(e[fHangupDisp], "recv_")
		switch {
		case e[fDialStatus] == "CANCEL":
			c.abandoned = true
		case callerGone && e[fLastApp] == "bridge":
			c.abandoned = true
		case callerGone && c.queued && (e[fLastApp] == "callcenter" || e[fLastApp] == "fifo"):
			c.abandoned = true
		}
	} else {
		switch s := causeStatus(l.cause); s {
		case "CANCEL":
			c.abandoned = true
		default:
			c.dialStatus(s)
		}
	}
	if c.live <= 0 && c.a != nil && c.a.done {
		t.finish(c, now)
	}
}

// dialStatus records a DIALSTATUS-like verdict on a leg. CANCEL is handled
// by the callers: the A-leg's DIALSTATUS CANCEL is the caller's hangup.
func (c *call) dialStatus(s string) {
	switch s {
	case "NOANSWER":
		c.noAnswer = true
	case "BUSY":
		c.busy = true
	case "CHANUNAVAIL", "CONGESTION":
		c.unavailable = true
	}
}

// causeStatus maps a leg's Hangup-Cause (or originate_disposition) to the
// DIALSTATUS it means, or "".
func causeStatus(cause string) string {
	switch cause {
	case "NO_ANSWER", "ALLOTTED_TIMEOUT", "PROGRESS_TIMEOUT", "RECOVERY_ON_TIMER_EXPIRE", "NO_USER_RESPONSE":
		return "NOANSWER"
	case "USER_BUSY", "CALL_REJECTED":
		return "BUSY"
	case "USER_NOT_REGISTERED", "SUBSCRIBER_ABSENT", "NO_ROUTE_DESTINATION", "UNALLOCATED_NUMBER",
		"NORMAL_TEMPORARY_FAILURE", "DESTINATION_OUT_OF_ORDER", "NETWORK_OUT_OF_ORDER",
		"GATEWAY_DOWN", "INCOMPATIBLE_DESTINATION", "MEDIA_TIMEOUT":
		return "CHANUNAVAIL"
	case "NORMAL_CIRCUIT_CONGESTION", "SWITCH_CONGESTION":
		return "CONGESTION"
	case "ORIGINATOR_CANCEL":
		return "CANCEL"
	}
	return ""
}

func (t *Tracker) finish(c *call, now time.Time) {
	t.forget(c)
	if len(t.ended) >= 8*t.cfg.MaxCalls {
		clear(t.ended) // bounded memory beats a perfect guard against repeats
	}
	t.ended[c.id] = now
	for _, l := range c.legs {
		t.ended[l.uuid] = now
	}
	var ended int64
	for _, l := range c.legs {
		ended = max(ended, l.hangup)
	}
	r := c.sofar(now)
	r.Outcome, r.Ended, r.Rang = c.outcome(), micros(ended), c.rang()
	t.results = append(t.results, textback.Event{Call: r})
}

// sofar returns c as known so far, without its Outcome, Ended and Rang.
func (c *call) sofar(now time.Time) textback.Call {
	dir := textback.Internal
	switch {
	case c.inbound:
		dir = textback.Inbound
	case c.gateway:
		dir = textback.Outbound
	}
	var started time.Time
	if c.a != nil {
		started = micros(c.a.created)
	}
	r := textback.Call{
		ID:         textback.CallID(c.id),
		Source:     "esl",
		Direction:  dir,
		Outcome:    textback.Answered,
		CallerNum:  c.callerNum,
		CallerName: c.callerName,
		Withheld:   c.withheld || withheldNumber(c.callerNum),
		DID:        c.did,
		Context:    c.context,
		Started:    started,
		Decided:    now,
	}
	if dir == textback.Outbound {
		r.Dialed = c.dialedTo
	}
	return r
}

func (c *call) outcome() textback.Outcome {
	return textback.Signs{
		Answered: c.answered, Voicemail: c.voicemail, Abandoned: c.abandoned, NoAnswer: c.noAnswer,
		Busy: c.busy, Unavailable: c.unavailable, Dialed: c.dialed,
	}.Outcome()
}

// rang returns the union of the other legs' ringing intervals, up to the
// answer by a person.
func (c *call) rang() time.Duration {
	type span struct{ from, to int64 }
	var spans []span
	for _, l := range c.legs {
		if l == c.a {
			continue
		}
		from := l.progress
		if from == 0 && (l.answered > 0 || causeStatus(l.cause) == "NOANSWER") {
			from = l.created
		}
		to := l.hangup
		if l.answered > 0 {
			to = l.answered
		}
		if c.answered && c.answerAt > 0 {
			to = min(to, c.answerAt)
		}
		if from > 0 && to > from {
			spans = append(spans, span{from, to})
		}
	}
	slices.SortFunc(spans, func(x, y span) int { return int(min(max(x.from-y.from, -1), 1)) })
	var total, end int64
	for _, s := range spans {
		if s.from > end {
			total += s.to - s.from
			end = s.to
		} else if s.to > end {
			total += s.to - end
			end = s.to
		}
	}
	return time.Duration(total) * time.Microsecond
}

func (t *Tracker) forget(c *call) {
	for _, l := range c.legs {
		if t.legs[l.uuid] == l {
			delete(t.legs, l.uuid)
		}
	}
	if t.calls[c.id] == c {
		delete(t.calls, c.id)
	}
}

func (t *Tracker) sweep(now time.Time) {
	t.swept = now
	for id, at := range t.ended {
		if now.Sub(at) > endedFor {
			delete(t.ended, id)
		}
	}
	for _, c := range t.calls {
		if now.Sub(c.seen) > t.cfg.StaleAfter {
			t.forget(c)
		}
	}
}

func (t *Tracker) isInbound(context string) bool {
	for _, ic := range t.cfg.InboundContexts {
		if strings.EqualFold(ic, context) {
			return true
		}
	}
	return false
}

// withheldNumber reports whether a caller ID number hides the caller:
// mod_sofia's "anonymous" (From: anonymous@anonymous.invalid), and what
// carriers send.
func withheldNumber(n string) bool {
	if n == "" {
		return true
	}
	for _, w := range [...]string{"anonymous", "restricted", "private", "unavailable", "unknown", "withheld", "blocked", "0000000000"} {
		if strings.EqualFold(n, w) {
			return true
		}
	}
	return false
}

// privacyID reports whether a SIP Privacy header value ("id", "user;id")
// asks to hide the caller's identity (RFC 3323, RFC 3325). mod_sofia
// (sofia.c, sofia_handle_sip_i_invite) stores the header as variable
// sip_Privacy and sets hide-name and hide-number only when it lists "id";
// "user" is taken as withheld here too: the caller asked for anonymity,
// even if FreeSWITCH still shows the P-Asserted-Identity number.
func privacyID(v string) bool {
	for f := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
		if strings.EqualFold(f, "id") || strings.EqualFold(f, "user") {
			return true
		}
	}
	return false
}

// rpidPrivate reports whether a Remote-Party-ID header hides the number:
// mod_sofia (sofia.c, sofia_handle_sip_i_invite) sets hide-number for
// privacy=full, yes and number, and only hide-name for privacy=name. uri
// (draft-ietf-sip-privacy-04: hide the URI, so the number) is kept too.
func rpidPrivate(v string) bool {
	i := strings.Index(strings.ToLower(v), "privacy=")
	if i < 0 {
		return false
	}
	p := v[i+len("privacy="):]
	if j := strings.IndexAny(p, ";>, "); j >= 0 {
		p = p[:j]
	}
	for _, w := range [...]string{"full", "yes", "number", "uri"} {
		if strings.EqualFold(p, w) {
			return true
		}
	}
	return false
}

func firstNonZero(a, b int64) int64 {
	switch {
	case a > 0 && b > 0:
		return min(a, b)
	case a > 0:
		return a
	}
	return max(b, 0)
}

// atoi64 parses a decimal microsecond count; anything else is 0.
func atoi64(s string) int64 {
	if s == "" || len(s) > 18 {
		return 0
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n
}

func micros(us int64) time.Time {
	if us <= 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}
