package ami

import (
	"strings"
	"time"

	"github.com/textback/textback"
)

// TrackerConfig says how to read calls out of the event stream.
type TrackerConfig struct {
	// InboundContexts are the dialplan contexts a trunk delivers inbound
	// calls to (FreePBX: from-trunk, from-pstn, from-did-direct).
	InboundContexts []string
	// DIDVariable is a channel variable holding the dialed number (FreePBX:
	// FROM_DID). Empty: the Exten the call entered its inbound context with.
	DIDVariable string
	// MaxCalls caps the calls followed at once. When it is reached, the call
	// heard from least recently is dropped, unreported. Zero means 10000.
	MaxCalls int
	// StaleAfter drops, unreported, a call that had no event for this long:
	// its hangups were lost (a reconnect, a PBX restart). Zero means 6h.
	StaleAfter time.Duration
}

const (
	defaultMaxCalls   = 10000
	defaultStaleAfter = 6 * time.Hour
	// sweepEvery is how often Handle looks for stale calls.
	sweepEvery = time.Minute
	// endedFor is how long a reported call's Linkedid is remembered, so that
	// a late or repeated event of it cannot start a phantom second call.
	endedFor = 10 * time.Minute
	// maxChannels caps the channels of one call. A ringall queue of 100
	// Local members makes about 300.
	maxChannels = 1024
)

// Tracker follows the channels of every call, grouped by Linkedid, and
// reports each call once all of its channels have hung up. It is not safe
// for concurrent use: one goroutine feeds it.
//
// A call is Inbound when its first channel (Uniqueid == Linkedid) enters
// one of the InboundContexts; Outbound when it is not, and another of its
// channels was created in an inbound context: Asterisk gives a channel it
// dials the context of its endpoint, and a trunk's endpoint context is the
// inbound one; Internal otherwise.
//
// A call is Answered when a person's channel is bridged to the caller's
// first channel: directly, or through Local channel pairs (the ;1 half in
// the caller's bridge, the ;2 half bridged to a phone or a trunk leg). The
// caller's channel going Up proves nothing: Answer(), VoiceMail, Playback
// and Queue answer it with nobody there.
//
// Otherwise the call was missed, and the first of these that holds gives
// its Outcome:
//
//  1. Voicemail: the VoiceMail application ran on any channel of the call,
//     even after phones rang out.
//  2. Abandoned: the caller hung up (HangupRequest on the first channel)
//     while a dialed leg was ringing or while it waited in a queue, or its
//     Dial ended with DIALSTATUS=CANCEL. QueueCallerAbandon is not used:
//     app_queue sends it on a queue timeout too.
//  3. NoAnswer: a leg rang out (DialEnd or DIALSTATUS NOANSWER,
//     AgentRingNoAnswer). It outranks Busy: in a ring group where one
//     phone is busy and another rings out, the caller heard ringing.
//  4. Busy: a leg answered busy (BUSY, or a dialed channel hung up with
//     cause 17).
//  5. Unavailable: CHANUNAVAIL or CONGESTION (an unregistered phone makes
//     no channel at all: only the caller's DIALSTATUS VarSet tells), or the
//     queue had no member to ring (QUEUESTATUS JOIN/LEAVE EMPTY/UNAVAIL).
//  6. NoAnswer: a leg was dialed, and nothing above said how it ended.
//  7. Unattended: no phone rang and no voicemail: closed hours, an IVR.
//
// Rang is the time during which at least one dialed leg (DialBegin or
// AgentCalled, to its DialEnd, AgentRingNoAnswer or Hangup) was ringing,
// up to the answer: gaps between tries (announcements, queue retry waits)
// are left out.
//
// CallerNum is the first channel's CallerIDNum in its Newchannel, raw.
// Withheld is set when that number hides the caller ("anonymous", what
// chan_pjsip makes of From: anonymous@anonymous.invalid; "<unknown>", ""),
// or when AMI says the presentation is restricted. It rarely does:
// Newchannel carries no presentation, and NewCallerid, whose
// CID-CallingPres does, is sent only when the number or name changes
// (main/manager_channels.c). A caller who sent "Privacy: id" with a number
// the trunk trusts is seen only if the dialplan copies CALLERID(pres) into a
// CALLERPRES variable on the caller's channel.
type Tracker struct {
	cfg     TrackerConfig
	didVar  string // cfg.DIDVariable without its leading underscores
	calls   map[string]*call
	chans   map[string]*channel  // by Uniqueid, for every channel of calls
	ended   map[string]time.Time // Linkedids reported lately, and when
	swept   time.Time
	epoch   uint64
	ev      event      // the frame being handled; reused to save allocations
	stack   []*channel // reused by reachesPerson
	results []textback.Event
}

// call is the state of one Linkedid.
type call struct {
	id    string
	first *channel // Uniqueid == Linkedid: the caller
	chans []*channel
	live  int       // channels not hung up yet
	seen  time.Time // local time of its last event, for the stale sweep

	inbound  bool // the first channel entered an inbound context
	trunkLeg bool // another channel was created in an inbound context
	context  string
	exten    string // the first channel's Exten on entering its inbound context
	did      string // the DIDVariable value set on the first channel
	dialedTo string // the number the first trunk leg was dialed with

	callerNum, callerName string
	withheld              bool

	started, ended time.Time

	answered    bool
	voicemail   bool
	abandoned   bool
	noAnswer    bool
	busy        bool
	unavailable bool
	dialed      bool // a leg was dialed
	queued      bool // the caller waits in a queue

	ringing   int // legs ringing now
	ringFrom  time.Time
	rang      time.Duration
	queueRing time.Duration // AgentConnect RingTime, for when no leg was seen
}

// channel is one channel of a call.
type channel struct {
	uniqueid string
	name     string
	call     *call
	partner  *channel  // the other half of a Local pair
	bridge   string    // BridgeUniqueid of the bridge it is in, if any
	mark     uint64    // the search epoch that last visited it
	local    bool      // Local/...;1 or ;2
	machine  bool      // a channel no person speaks on (ConfBridge announcer, Snoop, ...)
	trunk    bool      // not the first, not Local, created in an inbound context: a trunk leg
	dialing  bool      // a leg dialed and not yet ended
	gone     bool      // hung up
	seen     time.Time // local time of its last event, for Resync
}

// NewTracker returns a Tracker.
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = defaultMaxCalls
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = defaultStaleAfter
	}
	return &Tracker{
		cfg:    cfg,
		didVar: trimUnderscores(cfg.DIDVariable),
		calls:  make(map[string]*call),
		chans:  make(map[string]*channel),
		ended:  make(map[string]time.Time),
	}
}

// Len returns the number of calls in progress.
func (t *Tracker) Len() int { return len(t.calls) }

// Handle takes one frame, received at now, and returns what it did to the
// calls: a CallAnswered event when a person answered a call (once per call,
// always before its CallEnded), a CallEnded event for each call that ended. Times in the calls come from the frames' Timestamp header
// (manager.conf timestampevents=yes) and are now without it; Decided is now.
// Frames of calls whose first channel was not seen being created (calls in
// progress when the stream started) are ignored.
func (t *Tracker) Handle(f Frame, now time.Time) []textback.Event {
	if now.Sub(t.swept) >= sweepEvery || now.Before(t.swept) {
		t.sweep(now)
	}
	e := &t.ev
	e.parse(f)
	uid, lid := e[fUniqueid], e[fLinkedid]
	if uid == "" || lid == "" {
		return nil // TestEvent, FullyBooted, Cdr, LocalBridge, responses
	}
	ts, ok := parseTimestamp(e[fTimestamp])
	if !ok {
		ts = now
	}
	t.results = t.results[:0]

	ch := t.chans[uid]
	if ch != nil && ch.call.id != lid {
		ch = t.move(ch, lid, ts, now)
	}
	var c *call
	if ch != nil {
		c = ch.call
	} else {
		c = t.calls[lid]
		if c == nil {
			if e[fEvent] != "Newchannel" || uid != lid {
				return t.out()
			}
			if _, done := t.ended[lid]; done {
				return t.out() // a repeat of a call already reported
			}
			c = t.newCall(lid)
		}
		if e[fEvent] == "Hangup" {
			c.seen = now // the hangup of a channel we never knew
			return t.out()
		}
		if ch = t.addChannel(c, uid, ts); ch == nil {
			return t.out()
		}
	}
	c.seen, ch.seen = now, now
	t.apply(c, ch, ts, now)
	return t.out()
}

// out returns the events of the current frame, in a slice of their own.
func (t *Tracker) out() []textback.Event {
	if len(t.results) == 0 {
		return nil
	}
	return append([]textback.Event(nil), t.results...)
}

// apply updates c with the current event, which concerns its channel ch.
func (t *Tracker) apply(c *call, ch *channel, ts, now time.Time) {
	e := &t.ev
	switch e[fEvent] {
	case "Newchannel", "Newexten":
		if ch == c.first && !c.inbound && t.isInbound(e[fContext]) {
			c.inbound = true
			c.context = strings.Clone(e[fContext])
			c.exten = strings.Clone(e[fExten])
		}
		if isVoicemailApp(e[fApplication]) {
			c.voicemail = true
		}
	case "VarSet":
		t.varSet(c, ch)
	case "NewCallerid":
		if ch == c.first && presWithheld(e[fPres]) {
			c.withheld = true
		}
	case "DialBegin", "AgentCalled":
		c.dialed = true
		if d := t.chans[e[fDestUniqueid]]; d != nil && d.call == c {
			c.legStart(d, ts)
			if d.trunk && c.dialedTo == "" {
				// The trunk leg's caller ID is the number dialed; the
				// dialing channel's Exten, when the dialplan set none.
				to := e[fDestCallerIDNum]
				if to == "" || to == "<unknown>" {
					to = e[fExten]
				}
				c.dialedTo = strings.Clone(to)
			}
		}
	case "DialEnd":
		c.dialStatus(e[fDialStatus])
		if d := t.chans[e[fDestUniqueid]]; d != nil && d.call == c {
			c.legEnd(d, ts)
		}
	case "AgentRingNoAnswer":
		c.noAnswer = true
		if d := t.chans[e[fDestUniqueid]]; d != nil && d.call == c {
			c.legEnd(d, ts)
		}
	case "AgentConnect":
		if n, ok := atoi(e[fRingTime]); ok {
			c.queueRing = time.Duration(n) * time.Second
		}
	case "QueueCallerJoin":
		if ch == c.first {
			c.queued = true
		}
	case "QueueCallerLeave":
		if ch == c.first {
			c.queued = false
		}
	case "HangupRequest":
		// A HangupRequest comes from the channel driver (the far end hung
		// up); the dialplan's and AMI's hangups are SoftHangupRequests.
		if ch == c.first && !c.answered && (c.ringing > 0 || c.queued) {
			c.abandoned = true
		}
	case "BridgeEnter":
		ch.bridge = strings.Clone(e[fBridge])
		if !c.answered && t.reachesPerson(c) {
			c.answer(ts)
			t.results = append(t.results, textback.Event{Kind: textback.CallAnswered, Call: t.callOf(c, now)})
		}
	case "BridgeLeave":
		if ch.bridge == e[fBridge] {
			ch.bridge = ""
		}
	case "Hangup":
		t.hangup(c, ch, ts, now)
	}
}

// varSet reads the variables that matter from a VarSet event.
func (t *Tracker) varSet(c *call, ch *channel) {
	e := &t.ev
	name, value := trimUnderscores(e[fVariable]), e[fValue]
	if name == "DIALSTATUS" {
		c.dialStatus(value)
		// Dial sets CANCEL when its caller hung up while the legs rang.
		if ch == c.first && value == "CANCEL" && !c.answered {
			c.abandoned = true
		}
		return
	}
	if ch != c.first {
		return
	}
	switch {
	case t.didVar != "" && c.did == "" && strings.EqualFold(name, t.didVar):
		c.did = strings.Clone(value)
	case name == "QUEUESTATUS":
		switch value {
		case "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL":
			c.unavailable = true
		}
	case strings.EqualFold(name, "CALLERPRES"), strings.EqualFold(name, "CALLINGPRES"):
		// Only a dialplan that copies CALLERID(pres) into a variable makes
		// this event: Asterisk itself publishes the presentation nowhere but
		// in NewCallerid, and only when the number or name changes.
		if presWithheld(value) {
			c.withheld = true
		}
	}
}

// hangup ends channel ch of call c, and the call when it was the last.
func (t *Tracker) hangup(c *call, ch *channel, ts, now time.Time) {
	if ch.gone {
		return
	}
	ch.gone = true
	ch.bridge = ""
	c.live--
	c.ended = ts
	if ch.dialing {
		c.legEnd(ch, ts)
	}
	if ch != c.first && t.ev[fCause] == "17" { // user busy
		c.busy = true
	}
	if c.live <= 0 {
		t.finish(c, now)
	}
}

// finish forgets c, and reports it unless its first channel moved to
// another call.
func (t *Tracker) finish(c *call, now time.Time) {
	t.forget(c)
	if c.first == nil || c.first.call != c {
		return
	}
	if c.ringing > 0 && !c.answered {
		c.rang += positive(c.ended.Sub(c.ringFrom))
		c.ringing = 0
	}
	if c.rang == 0 {
		c.rang = c.queueRing
	}
	if len(t.ended) >= 4*t.cfg.MaxCalls {
		clear(t.ended) // bounded memory beats a perfect guard against repeats
	}
	t.ended[c.id] = now
	r := t.callOf(c, now)
	r.Outcome, r.Ended, r.Rang = c.outcome(), c.ended, c.rang
	t.results = append(t.results, textback.Event{Call: r})
}

// callOf returns c as known so far, without its Outcome, Ended and Rang.
func (t *Tracker) callOf(c *call, now time.Time) textback.Call {
	did := c.did
	if did == "" && c.inbound {
		did = c.exten
	}
	dir := textback.Internal
	switch {
	case c.inbound:
		dir = textback.Inbound
	case c.trunkLeg:
		dir = textback.Outbound
	}
	r := textback.Call{
		ID:         textback.CallID(c.id),
		Source:     "ami",
		Direction:  dir,
		Outcome:    textback.Answered,
		CallerNum:  c.callerNum,
		CallerName: c.callerName,
		Withheld:   c.withheld || withheldNumber(c.callerNum),
		DID:        did,
		Context:    c.context,
		Started:    c.started,
		Decided:    now,
	}
	if dir == textback.Outbound {
		r.Dialed = c.dialedTo
	}
	return r
}

// outcome judges the call by the precedence every source shares (textback.Signs).
func (c *call) outcome() textback.Outcome {
	return textback.Signs{
		Answered: c.answered, Voicemail: c.voicemail, Abandoned: c.abandoned, NoAnswer: c.noAnswer,
		Busy: c.busy, Unavailable: c.unavailable, Dialed: c.dialed,
	}.Outcome()
}

// dialStatus records what a DialEnd or a DIALSTATUS said about a leg.
// CANCEL is not here: the legs of a Dial whose caller hung up, or that was
// answered elsewhere, end CANCEL, and the inner Dials of Local channels
// end CANCEL when their outer leg is given up.
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

func (c *call) legStart(d *channel, ts time.Time) {
	if c.answered || d.dialing {
		return
	}
	d.dialing = true
	if c.ringing == 0 {
		c.ringFrom = ts
	}
	c.ringing++
}

func (c *call) legEnd(d *channel, ts time.Time) {
	if !d.dialing {
		return
	}
	d.dialing = false
	if c.answered || c.ringing <= 0 {
		return
	}
	c.ringing--
	if c.ringing == 0 {
		c.rang += positive(ts.Sub(c.ringFrom))
	}
}

func (c *call) answer(ts time.Time) {
	c.answered = true
	if c.ringing > 0 {
		c.rang += positive(ts.Sub(c.ringFrom))
		c.ringing = 0
	}
}

// reachesPerson reports whether a person's channel is bridged to c's first
// channel, through any chain of bridges and Local pairs.
func (t *Tracker) reachesPerson(c *call) bool {
	first := c.first
	if first == nil || first.gone || first.call != c || first.bridge == "" {
		return false
	}
	t.epoch++
	first.mark = t.epoch
	stack := append(t.stack[:0], first)
	found := false
	for len(stack) > 0 && !found {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if p := x.partner; p != nil && p.mark != t.epoch && !p.gone {
			p.mark = t.epoch
			stack = append(stack, p) // a Local half: never a person
		}
		if x.bridge == "" {
			continue
		}
		for _, y := range c.chans {
			if y.mark == t.epoch || y.gone || y.bridge != x.bridge {
				continue
			}
			y.mark = t.epoch
			if !y.local && !y.machine {
				found = true
				break
			}
			stack = append(stack, y)
		}
	}
	clear(stack[:cap(stack)])
	t.stack = stack[:0]
	return found
}

// newCall starts following Linkedid id, making room if MaxCalls is reached.
// Strings the tracker keeps are cloned: the values of a frame from Reader
// share one string, which a kept value would hold on to whole.
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
	c := &call{id: strings.Clone(id), chans: make([]*channel, 0, 4)}
	t.calls[c.id] = c
	return c
}

// addChannel adds the channel of the current event to c. It returns nil
// when c has too many channels.
func (t *Tracker) addChannel(c *call, uid string, ts time.Time) *channel {
	if len(c.chans) >= maxChannels {
		return nil
	}
	e := &t.ev
	name := strings.Clone(e[fChannel])
	ch := &channel{uniqueid: strings.Clone(uid), name: name, call: c}
	ch.local = strings.HasPrefix(name, "Local/")
	ch.machine = isMachine(name)
	if ch.local {
		for _, o := range c.chans {
			if o.local && o.partner == nil && localPair(o.name, name) {
				o.partner, ch.partner = ch, o
				break
			}
		}
	}
	c.chans = append(c.chans, ch)
	c.live++
	t.chans[ch.uniqueid] = ch
	if uid == c.id && c.first == nil {
		c.first = ch
		c.callerNum = strings.Clone(e[fCallerIDNum])
		c.callerName = strings.Clone(e[fCallerIDName])
		c.context = strings.Clone(e[fContext])
		c.started = ts
	} else if !ch.local && (e[fEvent] == "Newchannel" || e[fEvent] == "CoreShowChannel") && t.isInbound(e[fContext]) {
		c.trunkLeg, ch.trunk = true, true
	}
	return ch
}

// move moves ch to the call of Linkedid lid: Asterisk changes a channel's
// Linkedid when it bridges it with an older call (transfers, Bridge()). It
// returns nil when that call is not followed: ch is then forgotten. The call
// ch leaves ends if ch was its last live channel.
func (t *Tracker) move(ch *channel, lid string, ts, now time.Time) *channel {
	old := ch.call
	if ch.dialing {
		old.legEnd(ch, ts)
	}
	for i, o := range old.chans {
		if o == ch {
			last := len(old.chans) - 1
			old.chans[i] = old.chans[last]
			old.chans[last] = nil
			old.chans = old.chans[:last]
			break
		}
	}
	if !ch.gone {
		old.live--
	}
	nc := t.calls[lid]
	if nc == nil || len(nc.chans) >= maxChannels {
		delete(t.chans, ch.uniqueid)
		ch.call = nil
		ch = nil
	} else {
		ch.call = nc
		nc.chans = append(nc.chans, ch)
		if !ch.gone {
			nc.live++
		}
	}
	if old.live <= 0 {
		t.finish(old, now)
	}
	return ch
}

// forget drops c and its channels.
func (t *Tracker) forget(c *call) {
	for _, ch := range c.chans {
		if t.chans[ch.uniqueid] == ch {
			delete(t.chans, ch.uniqueid)
		}
	}
	if t.calls[c.id] == c {
		delete(t.calls, c.id)
	}
}

// sweep drops the calls that had no event for StaleAfter.
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
	if context == "" {
		return false
	}
	for _, ic := range t.cfg.InboundContexts {
		if strings.EqualFold(ic, context) {
			return true
		}
	}
	return false
}

// localPair reports whether a and b are the two halves of one Local
// channel: "Local/100@queue-agents-00000002;1" and ";2".
func localPair(a, b string) bool {
	n := len(a)
	return n > 2 && len(b) == n && a[n-2] == ';' && a[:n-1] == b[:n-1] &&
		(a[n-1] == '1' && b[n-1] == '2' || a[n-1] == '2' && b[n-1] == '1')
}

// isMachine reports whether a channel is one no person speaks on, by its
// technology: ConfBridge's announcer and recorder, ChanSpy's snoop, ARI's
// external media.
func isMachine(name string) bool {
	for _, p := range [...]string{"CBAnn/", "CBRec/", "Announcer/", "Recorder/", "Snoop/", "UnicastRTP/", "MulticastRTP/", "AudioSocket/", "WebSocket/", "Message/"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// isVoicemailApp reports whether a dialplan application takes a message.
func isVoicemailApp(app string) bool {
	return app != "" && (strings.EqualFold(app, "VoiceMail") || strings.EqualFold(app, "MinivmRecord"))
}

// withheldNumber reports whether a raw caller ID number is one that hides
// the caller: chan_pjsip's "anonymous" (From: anonymous@anonymous.invalid),
// Asterisk's "<unknown>" placeholder, and what carriers send.
func withheldNumber(n string) bool {
	switch n {
	case "", "<unknown>":
		return true
	}
	for _, w := range [...]string{"anonymous", "restricted", "private", "unavailable", "unknown", "withheld", "blocked"} {
		if strings.EqualFold(n, w) {
			return true
		}
	}
	return false
}

// presWithheld reports whether a caller ID presentation is restricted or
// unavailable. It takes Asterisk's number with an optional description
// (NewCallerid "CID-CallingPres: 32 (Presentation Prohibited, Not
// Screened)") or the names CALLERID(pres) returns ("prohib_not_screened").
func presWithheld(s string) bool {
	if s == "" {
		return false
	}
	n, digits := 0, 0
	for digits < len(s) && digits < 4 && s[digits] >= '0' && s[digits] <= '9' {
		n = n*10 + int(s[digits]-'0')
		digits++
	}
	if digits > 0 {
		return n&0x60 != 0 // AST_PRES_RESTRICTION: 0x20 restricted, 0x40 unavailable
	}
	return len(s) >= 6 && strings.EqualFold(s[:6], "prohib") || strings.EqualFold(s, "unavailable")
}

func trimUnderscores(s string) string {
	for len(s) > 0 && s[0] == '_' {
		s = s[1:]
	}
	return s
}

func positive(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// atoi parses a small non-negative decimal number.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// parseTimestamp parses the Timestamp header: epoch seconds with a
// fraction, "1795845639.280774".
func parseTimestamp(s string) (time.Time, bool) {
	var sec, nsec int64
	i := 0
	for ; i < len(s) && s[i] != '.'; i++ {
		if s[i] < '0' || s[i] > '9' || i >= 12 {
			return time.Time{}, false
		}
		sec = sec*10 + int64(s[i]-'0')
	}
	if i == 0 {
		return time.Time{}, false
	}
	if i < len(s) {
		scale := int64(time.Second / 10)
		for i++; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return time.Time{}, false
			}
			nsec += int64(s[i]-'0') * scale
			scale /= 10
		}
	}
	return time.Unix(sec, nsec), true
}

// The fields of an event the tracker reads.
const (
	fEvent = iota
	fTimestamp
	fUniqueid
	fLinkedid
	fChannel
	fCallerIDNum
	fCallerIDName
	fContext
	fExten
	fApplication
	fVariable
	fValue
	fDestUniqueid
	fDialStatus
	fCause
	fBridge
	fRingTime
	fPres
	fDestCallerIDNum
	nFields
)

// event holds the fields of one frame the tracker reads, by f* index.
type event [nFields]string

// parse fills e from f in one pass. Like Frame.Get, it matches keys
// without case and keeps the first of repeated keys.
func (e *event) parse(f Frame) {
	*e = event{}
	var seen uint32
	for i := range f.Fields {
		fl := &f.Fields[i]
		k := fieldIndex(fl.Key)
		if k < 0 || seen&(1<<k) != 0 {
			continue
		}
		seen |= 1 << k
		e[k] = fl.Value
	}
}

// fieldIndex returns the f* index of an event key, or -1. It is the
// tracker's hot path: the length and first two letters pick the one key it
// can be, so most keys cost a switch and two byte compares.
func fieldIndex(k string) int {
	if len(k) < 5 {
		return -1
	}
	var name string
	var i int
	c0, c1 := k[0]|0x20, k[1]|0x20 // ASCII lower case
	switch len(k) {
	case 5:
		switch {
		case c0 == 'e' && c1 == 'v':
			name, i = "Event", fEvent
		case c0 == 'e' && c1 == 'x':
			name, i = "Exten", fExten
		case c0 == 'v' && c1 == 'a':
			name, i = "Value", fValue
		case c0 == 'c' && c1 == 'a':
			name, i = "Cause", fCause
		}
	case 7:
		switch {
		case c0 == 'c' && c1 == 'h':
			name, i = "Channel", fChannel
		case c0 == 'c' && c1 == 'o':
			name, i = "Context", fContext
		}
	case 8:
		switch {
		case c0 == 'u' && c1 == 'n':
			name, i = "Uniqueid", fUniqueid
		case c0 == 'l' && c1 == 'i':
			name, i = "Linkedid", fLinkedid
		case c0 == 'v' && c1 == 'a':
			name, i = "Variable", fVariable
		case c0 == 'r' && c1 == 'i':
			name, i = "RingTime", fRingTime
		}
	case 9:
		if c0 == 't' && c1 == 'i' {
			name, i = "Timestamp", fTimestamp
		}
	case 10:
		if c0 == 'd' && c1 == 'i' {
			name, i = "DialStatus", fDialStatus
		}
	case 11:
		switch {
		case c0 == 'c' && c1 == 'a':
			name, i = "CallerIDNum", fCallerIDNum
		case c0 == 'a' && c1 == 'p':
			name, i = "Application", fApplication
		}
	case 12:
		switch {
		case c0 == 'c' && c1 == 'a':
			name, i = "CallerIDName", fCallerIDName
		case c0 == 'd' && c1 == 'e' && k[4]|0x20 == 'u':
			name, i = "DestUniqueid", fDestUniqueid
		}
	case 14:
		if c0 == 'b' && c1 == 'r' {
			name, i = "BridgeUniqueid", fBridge
		}
	case 15:
		switch {
		case c0 == 'c' && c1 == 'i':
			name, i = "CID-CallingPres", fPres
		case c0 == 'd' && c1 == 'e':
			name, i = "DestCallerIDNum", fDestCallerIDNum
		}
	}
	if name == "" || k != name && !strings.EqualFold(k, name) {
		return -1
	}
	return i
}
