package ari

import (
	"strconv"
	"strings"
	"time"

	cari "github.com/CyCoreSystems/ari/v6"

	"github.com/textback/textback"
)

// TrackerConfig says how to read calls out of the event stream.
type TrackerConfig struct {
	// InboundContexts are the dialplan contexts a trunk delivers inbound
	// calls to (FreePBX: from-trunk, from-pstn, from-did-direct).
	InboundContexts []string
	// DIDVariable is a channel variable holding the dialed number (FreePBX:
	// FROM_DID). Empty: the extension the call entered its inbound context
	// with.
	DIDVariable string
	// LookupPres makes the tracker ask for the presentation of the first
	// channel of every inbound call (Lookups), and hold the call's report
	// until the answer comes (Presentation) or PresTimeout passes (Expire).
	LookupPres bool
	// PresTimeout bounds that wait. Zero means 2s.
	PresTimeout time.Duration
	// MaxCalls caps the calls followed at once. When it is reached, the call
	// heard from least recently is dropped, unreported. Zero means 10000.
	MaxCalls int
	// StaleAfter drops, unreported, a call that had no event for this long:
	// its ChannelDestroyed events were lost. Zero means 6h.
	StaleAfter time.Duration
}

const (
	defaultMaxCalls    = 10000
	defaultStaleAfter  = 6 * time.Hour
	defaultPresTimeout = 2 * time.Second
	sweepEvery         = time.Minute
	// maxChannels caps the channels of one call; a merge that would pass it
	// is not made.
	maxChannels = 1024
)

// Tracker follows the channels of every call and reports each call once all
// of its channels are destroyed. It is not safe for concurrent use: one
// goroutine feeds it.
//
// # Grouping channels without a Linkedid
//
// ARI channel snapshots in Asterisk 22 carry no Linkedid, so the tracker
// builds calls itself. Every ChannelCreated of an unknown channel starts a
// call of its own, with that channel first; calls are then merged, the
// joining call's channels becoming channels of the other:
//
//   - Dial: the peer's call joins the caller's (and a forwarded channel's
//     too). Asterisk creates the dialed channel before it publishes the Dial,
//     so for a moment the leg is a call of its own; it never ends in that
//     moment. A Dial without a caller (ARI or AMI Originate) merges nothing.
//     The dialstring is not needed: the peer's id is in the event.
//   - Local channels: the ;1 and ;2 halves of one Local channel
//     ("Local/100@queue-agents-00000002;1" and ";2", the same name but for
//     the last digit) are paired at the second's ChannelCreated, and the
//     younger's call joins the older's. That is how the phone a queue
//     member's ;2 half dials ends up in the caller's call.
//   - Bridges: when a channel enters a bridge that holds a channel of another
//     call, the younger call joins the older, as Asterisk's own Linkedid
//     would (an ARI application's originated agent leg, a transfer).
//
// A call whose first channel was created in state Down is one Asterisk
// placed (a dialed leg never linked by a Dial, an originate): it is never
// Inbound, so an outgoing trunk leg created in the trunk's inbound context
// cannot pass for a caller.
//
// # Verdicts
//
// They are package ami's (see ami.Tracker), read from ARI events:
//
// A call is Inbound when its first channel is created in, or moves to, one
// of the InboundContexts (ChannelCreated, ChannelDialplan); Outbound when it
// is not, and another channel of it, not Local, was created in an inbound
// context (a trunk leg); Internal otherwise.
//
// A call is Answered when a person's channel is bridged to its first
// channel, directly or through Local pairs (ChannelEnteredBridge). Otherwise
// the first of these gives the Outcome:
//
//  1. Voicemail: ChannelDialplan ran VoiceMail (or MinivmRecord) on any
//     channel of the call.
//  2. Abandoned: a hard ChannelHangupRequest (not "soft": the far end hung
//     up) on the first channel while a leg rang or while its dialplan
//     application was Queue, or DIALSTATUS=CANCEL on the first channel.
//  3. NoAnswer: a leg rang out (Dial NOANSWER, DIALSTATUS NOANSWER).
//  4. Busy: Dial BUSY, or a leg destroyed with cause 17.
//  5. Unavailable: CHANUNAVAIL or CONGESTION, or QUEUESTATUS
//     JOINEMPTY/LEAVEEMPTY/JOINUNAVAIL/LEAVEUNAVAIL.
//  6. NoAnswer: a leg was dialed.
//  7. Unattended: nothing rang.
//
// Rang is the time during which at least one leg rang: from a Dial with an
// empty dialstatus to the Dial with its final status (or the leg's
// ChannelDestroyed), up to the answer.
//
// # Withheld callers
//
// CallerNum is the first channel's caller number in its ChannelCreated.
// Withheld is set when that number hides the caller ("anonymous", "", ...)
// or when the presentation is restricted or unavailable. ARI snapshots carry
// no presentation: ChannelCallerId carries it, but only when the caller ID
// changes. So, with LookupPres, the tracker asks for CALLERID(pres) of the
// first channel of each inbound call as soon as it is seen (Lookups); the
// Source sends GET /channels/{id}/variable and hands back the answer
// (Presentation). A call that ends before the answer is held, unreported,
// until it comes or PresTimeout passes (Expire). A dialplan may also set
// TEXTBACK_PRES (or CALLERPRES) to ${CALLERID(pres)} on the caller's channel
// (contrib/asterisk/extensions.conf does): that Varset, like a
// ChannelCallerId, tells the presentation, and a call told it is not held
// for the lookup. Under load the lookup can take hundreds of milliseconds,
// mostly to learn that the channel is gone (404).
type Tracker struct {
	cfg     TrackerConfig
	didVar  string
	calls   map[string]*call    // by the first channel's id
	chans   map[string]*channel // every channel of the calls
	locals  map[string]*channel // unpaired Local halves, by name without the last digit
	bridges map[string][]*channel
	pres    map[string]*channel // channels whose presentation was asked and not answered
	held    []*call             // ended calls waiting for a presentation
	lookups []string
	swept   time.Time
	epoch   uint64
	seq     uint64
	stack   []*channel
	results []textback.Event

	// missing are the channels the last Resync did not find, to be ended
	// at missingAt unless an event of theirs comes after missingSince.
	missing                              []*channel
	missingSince, missingAt, missingSeen time.Time
}

// call is the state of one group of channels.
type call struct {
	id    string
	seq   uint64 // creation order, to tell the older of two calls
	first *channel
	chans []*channel
	live  int
	seen  time.Time

	started, ended time.Time

	answered    bool
	voicemail   bool
	abandoned   bool
	noAnswer    bool
	busy        bool
	unavailable bool
	dialed      bool
	finished    bool   // every channel is gone; held for its presentation
	dialedTo    string // the number its first trunk leg was dialed with

	ringing  int
	ringFrom time.Time
	rang     time.Duration
}

// channel is one channel. The fields from inbound on describe the channel
// as the first of a call; they are read from the call's first only.
type channel struct {
	id      string
	name    string
	call    *call
	partner *channel
	bridge  string
	mark    uint64
	local   bool
	machine bool
	placed  bool // created Down: a channel Asterisk made to dial or originate
	trunk   bool // created in an inbound context
	dialing bool
	gone    bool
	created time.Time
	seen    time.Time // local time of its last event, for Resync

	inbound    bool
	context    string
	exten      string
	did        string
	app        string // the dialplan application it runs now
	callerNum  string
	callerName string
	withheld   bool
	presState  uint8 // presNone, presAsked, presKnown
	presAsked  time.Time
}

const (
	presNone uint8 = iota
	presAsked
	presKnown
)

// NewTracker returns a Tracker.
func NewTracker(cfg TrackerConfig) *Tracker {
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = defaultMaxCalls
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = defaultStaleAfter
	}
	if cfg.PresTimeout <= 0 {
		cfg.PresTimeout = defaultPresTimeout
	}
	return &Tracker{
		cfg:     cfg,
		didVar:  trimUnderscores(cfg.DIDVariable),
		calls:   make(map[string]*call),
		chans:   make(map[string]*channel),
		locals:  make(map[string]*channel),
		bridges: make(map[string][]*channel),
		pres:    make(map[string]*channel),
	}
}

// Len returns the number of calls in progress, held ones included.
func (t *Tracker) Len() int { return len(t.calls) + len(t.held) }

// Lookups returns the channels whose CALLERID(pres) the tracker wants, and
// forgets them: each is returned once.
func (t *Tracker) Lookups() []string {
	if len(t.lookups) == 0 {
		return nil
	}
	l := t.lookups
	t.lookups = nil
	return l
}

// Presentation takes the answer to a lookup of channel id: the value of
// CALLERID(pres), or "" when it could not be had. It returns the CallEnded
// events of the calls that were waiting only for it.
func (t *Tracker) Presentation(id, pres string, now time.Time) []textback.Event {
	t.results = t.results[:0]
	ch := t.pres[id]
	if ch == nil {
		// Told already (presTold), or gone. A late answer can still only
		// withhold, never allow.
		if ch := t.chans[id]; ch != nil && ch == ch.call.first && presWithheld(pres) {
			ch.withheld = true
		}
		return nil
	}
	delete(t.pres, id)
	ch.presState = presKnown
	if presWithheld(pres) {
		ch.withheld = true
	}
	if c := ch.call; c != nil && c.finished && c.first == ch {
		t.release(c, now)
	}
	return t.out()
}

// Expire reports the held calls whose lookup has taken PresTimeout, as if
// the presentation were allowed. Call it now and then.
func (t *Tracker) Expire(now time.Time) []textback.Event {
	t.results = t.results[:0]
	for _, c := range t.held {
		if now.Sub(c.first.presAsked) >= t.cfg.PresTimeout {
			delete(t.pres, c.first.id)
			c.first.presState = presKnown
			t.release(c, now)
		}
	}
	t.endMissing(now)
	return t.out()
}

// release reports held call c.
func (t *Tracker) release(c *call, now time.Time) {
	for i, h := range t.held {
		if h == c {
			t.held = append(t.held[:i], t.held[i+1:]...)
			break
		}
	}
	t.report(c, now)
}

// Handle takes one event, received at now, and returns what it did to the
// calls: a CallAnswered event when a person answered a call (once per call,
// before its CallEnded), a CallEnded event for each call that ended. Times come from the events' timestamps (now when missing);
// Decided is now. Events of channels never seen created are ignored.
func (t *Tracker) Handle(e cari.Event, now time.Time) []textback.Event {
	if now.Sub(t.swept) >= sweepEvery {
		t.sweep(now)
	}
	t.results = t.results[:0]
	switch e := e.(type) {
	case *cari.ChannelCreated:
		t.created(&e.Channel, stamp(e.Timestamp, now), now)
	case *cari.ChannelDialplan:
		if ch := t.channel(&e.Channel, now); ch != nil {
			c := ch.call
			if isVoicemailApp(e.DialplanApp) {
				c.voicemail = true
			}
			ch.app = e.DialplanApp
			if ctx := dialplanContext(&e.Channel); ch == c.first && !ch.inbound && !ch.placed && t.isInbound(ctx) {
				ch.inbound, ch.context, ch.exten = true, ctx, dialplanExten(&e.Channel)
				t.askPres(ch, now)
			}
		}
	case *cari.ChannelVarset:
		if ch := t.channel(&e.Channel, now); ch != nil {
			t.varSet(ch, e.Variable, e.Value)
		}
	case *cari.ChannelCallerID:
		if ch := t.channel(&e.Channel, now); ch != nil && ch == ch.call.first {
			t.presTold(ch, itoa(e.CallerPresentation))
		}
	case *cari.Dial:
		t.dial(e, stamp(e.Timestamp, now), now)
	case *cari.ChannelEnteredBridge:
		if ch := t.channel(&e.Channel, now); ch != nil && e.Bridge.ID != "" {
			t.enterBridge(ch, e.Bridge.ID, stamp(e.Timestamp, now), now)
		}
	case *cari.ChannelLeftBridge:
		if ch := t.channel(&e.Channel, now); ch != nil && ch.bridge == e.Bridge.ID {
			t.leaveBridge(ch)
		}
	case *cari.ChannelHangupRequest:
		// Soft requests come from the dialplan, AMI or ARI; a hard one from
		// the channel driver: the far end hung up.
		if ch := t.channel(&e.Channel, now); ch != nil {
			c := ch.call
			if ch == c.first && !e.Soft && !c.answered && (c.ringing > 0 || strings.EqualFold(ch.app, "Queue")) {
				c.abandoned = true
			}
		}
	case *cari.ChannelDestroyed:
		if ch := t.channel(&e.Channel, now); ch != nil {
			t.destroyed(ch, e.Cause, stamp(e.Timestamp, now), now)
		}
	}
	return t.out()
}

// out returns the events of the current event, in a slice of their own.
func (t *Tracker) out() []textback.Event {
	if len(t.results) == 0 {
		return nil
	}
	return append([]textback.Event(nil), t.results...)
}

// channel returns the tracked channel of a snapshot, marking its call seen.
func (t *Tracker) channel(d *cari.ChannelData, now time.Time) *channel {
	if d == nil || d.ID == "" {
		return nil
	}
	ch := t.chans[d.ID]
	if ch != nil {
		ch.call.seen, ch.seen = now, now
	}
	return ch
}

// created starts a call for a new channel, and pairs Local halves.
func (t *Tracker) created(d *cari.ChannelData, ts, now time.Time) {
	if d.ID == "" || t.chans[d.ID] != nil {
		return
	}
	if len(t.calls) >= t.cfg.MaxCalls {
		var oldest *call
		for _, c := range t.calls {
			if oldest == nil || c.seen.Before(oldest.seen) {
				oldest = c
			}
		}
		t.forget(oldest)
	}
	ch := t.newChannel(d, ts)
	ch.seen = now
	t.seq++
	c := &call{id: d.ID, seq: t.seq, first: ch, chans: make([]*channel, 1, 4), live: 1, seen: now, started: ts, ended: ts}
	c.chans[0] = ch
	ch.call = c
	t.calls[c.id] = c
	if d.Caller != nil {
		ch.callerNum, ch.callerName = d.Caller.Number, d.Caller.Name
	}
	ch.context = dialplanContext(d)
	if !ch.placed && !ch.local && t.isInbound(ch.context) {
		ch.inbound, ch.exten = true, dialplanExten(d)
		t.askPres(ch, now)
	}
	if ch.local {
		key := ch.name[:len(ch.name)-1]
		if o := t.locals[key]; o != nil && o != ch && !o.gone {
			delete(t.locals, key)
			o.partner, ch.partner = ch, o
			t.merge(c, o.call, ts, now)
		} else {
			t.locals[key] = ch
		}
	}
}

func (t *Tracker) newChannel(d *cari.ChannelData, ts time.Time) *channel {
	ch := &channel{id: d.ID, name: d.Name, created: ts}
	n := len(d.Name)
	ch.local = strings.HasPrefix(d.Name, "Local/") && n > 2 && d.Name[n-2] == ';' && (d.Name[n-1] == '1' || d.Name[n-1] == '2')
	ch.machine = isMachine(d.Name)
	ch.placed = strings.EqualFold(d.State, "Down")
	ch.trunk = t.isInbound(dialplanContext(d))
	t.chans[d.ID] = ch
	return ch
}

// askPres asks for the presentation of ch, the first channel of an inbound
// call.
func (t *Tracker) askPres(ch *channel, now time.Time) {
	if !t.cfg.LookupPres || ch.presState != presNone {
		return
	}
	ch.presState, ch.presAsked = presAsked, now
	t.pres[ch.id] = ch
	t.lookups = append(t.lookups, ch.id)
}

// dial links a Dial's peer (and forwarded channel) to its caller's call,
// and follows the leg's ringing.
func (t *Tracker) dial(e *cari.Dial, ts, now time.Time) {
	caller := t.channel(&e.Caller, now)
	peer := t.channel(&e.Peer, now)
	if caller == nil {
		return // an originate, or a call not seen from its start
	}
	c := caller.call
	if peer == nil && e.Peer.ID != "" && len(c.chans) < maxChannels {
		peer = t.newChannel(&e.Peer, ts) // created before we listened
		peer.call = c
		c.chans = append(c.chans, peer)
		c.live++
	}
	if peer == nil {
		return
	}
	if peer.call != c {
		t.merge(peer.call, c, ts, now)
	}
	if fw := t.channel(&e.Forwarded, now); fw != nil && fw.call != caller.call {
		t.merge(fw.call, caller.call, ts, now)
	}
	c = caller.call
	if peer.call != c {
		return // the merge was refused
	}
	if peer.trunk && !peer.local && c.dialedTo == "" {
		c.dialedTo = dialedNumber(e)
	}
	switch e.Dialstatus {
	case "":
		c.dialed = true
		c.legStart(peer, ts)
	case "RINGING", "PROGRESS", "PROCEEDING":
	default:
		c.dialStatus(e.Dialstatus)
		c.legEnd(peer, ts)
	}
}

// merge moves the channels of call from into call into. A merge that
// would make into too big is not made.
func (t *Tracker) merge(from, into *call, ts, now time.Time) {
	if from == into || from == nil || into == nil || len(from.chans)+len(into.chans) > maxChannels {
		return
	}
	for _, ch := range from.chans {
		ch.call = into
		if ch.dialing {
			ch.dialing = false
			into.chans = append(into.chans, ch)
			into.legStart(ch, ts)
			continue
		}
		into.chans = append(into.chans, ch)
	}
	into.live += from.live
	into.rang += from.rang
	into.voicemail = into.voicemail || from.voicemail
	into.noAnswer = into.noAnswer || from.noAnswer
	into.busy = into.busy || from.busy
	into.unavailable = into.unavailable || from.unavailable
	into.dialed = into.dialed || from.dialed
	if from.ended.After(into.ended) {
		into.ended = from.ended
	}
	into.seen = now
	if t.calls[from.id] == from {
		delete(t.calls, from.id)
	}
	if from.first.presState == presAsked {
		delete(t.pres, from.first.id) // no longer a caller
	}
	if !into.answered && t.reachesPerson(into) {
		into.answer(ts)
		t.answered(into, now)
	}
}

func (t *Tracker) enterBridge(ch *channel, bridge string, ts, now time.Time) {
	if ch.bridge == bridge {
		return // a Resync put it there already
	}
	members := t.bridges[bridge]
	for _, o := range members {
		if o.call == ch.call || o.gone {
			continue
		}
		older, younger := ch.call, o.call
		if younger.seq < older.seq {
			older, younger = younger, older
		}
		t.merge(younger, older, ts, now)
	}
	ch.bridge = bridge
	t.bridges[bridge] = append(members, ch)
	if c := ch.call; !c.answered && t.reachesPerson(c) {
		c.answer(ts)
		t.answered(c, now)
	}
}

func (t *Tracker) leaveBridge(ch *channel) {
	members := t.bridges[ch.bridge]
	for i, o := range members {
		if o == ch {
			members[i] = members[len(members)-1]
			members[len(members)-1] = nil
			members = members[:len(members)-1]
			break
		}
	}
	if len(members) == 0 {
		delete(t.bridges, ch.bridge)
	} else {
		t.bridges[ch.bridge] = members
	}
	ch.bridge = ""
}

// varSet reads the variables that matter.
func (t *Tracker) varSet(ch *channel, variable, value string) {
	c := ch.call
	name := trimUnderscores(variable)
	if name == "DIALSTATUS" {
		c.dialStatus(value)
		if ch == c.first && value == "CANCEL" && !c.answered {
			c.abandoned = true
		}
		return
	}
	if ch != c.first {
		return
	}
	switch {
	case t.didVar != "" && ch.did == "" && strings.EqualFold(name, t.didVar):
		ch.did = value
	case name == "QUEUESTATUS":
		switch value {
		case "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL":
			c.unavailable = true
		}
	case strings.EqualFold(name, "TEXTBACK_PRES"), strings.EqualFold(name, "CALLERPRES"), strings.EqualFold(name, "CALLINGPRES"):
		t.presTold(ch, value)
	}
}

// presTold takes a presentation the event stream told for ch, the first
// channel of its call: a ChannelCallerId, or a Varset of the dialplan's copy
// of ${CALLERID(pres)}. Withheld marks ch; a value that is a presentation at
// all answers the lookup, so the call is not held for it: the lookup would
// read the same CALLERID(pres), and a later change makes a ChannelCallerId.
// Anything else ("", a typo) leaves the lookup to answer.
func (t *Tracker) presTold(ch *channel, value string) {
	if presWithheld(value) {
		ch.withheld = true
	}
	if !isPres(value) {
		return
	}
	if t.pres[ch.id] == ch {
		delete(t.pres, ch.id)
	}
	ch.presState = presKnown
}

// destroyed ends channel ch, and its call when it was the last.
func (t *Tracker) destroyed(ch *channel, cause int, ts, now time.Time) {
	if ch.gone {
		return
	}
	c := ch.call
	if ch.bridge != "" {
		t.leaveBridge(ch)
	}
	if ch.local && ch.partner == nil {
		key := ch.name[:len(ch.name)-1]
		if t.locals[key] == ch {
			delete(t.locals, key)
		}
	}
	ch.gone = true
	c.live--
	if ts.After(c.ended) {
		c.ended = ts
	}
	if ch.dialing {
		c.legEnd(ch, ts)
	}
	if ch != c.first && cause == 17 { // user busy
		c.busy = true
	}
	if c.live <= 0 {
		t.finish(c, now)
	}
}

// finish stops following c and reports it, or holds it while the
// presentation of its caller is being looked up.
func (t *Tracker) finish(c *call, now time.Time) {
	t.forget(c)
	if c.ringing > 0 && !c.answered {
		c.rang += positive(c.ended.Sub(c.ringFrom))
		c.ringing = 0
	}
	c.finished = true
	if c.first.presState == presAsked {
		t.pres[c.first.id] = c.first
		t.held = append(t.held, c)
		return
	}
	t.report(c, now)
}

func (t *Tracker) report(c *call, now time.Time) {
	r := callOf(c, now)
	r.Outcome, r.Ended, r.Rang = c.outcome(), c.ended, c.rang
	t.results = append(t.results, textback.Event{Call: r})
}

// answered reports that a person answered c.
func (t *Tracker) answered(c *call, now time.Time) {
	t.results = append(t.results, textback.Event{Kind: textback.CallAnswered, Call: callOf(c, now)})
}

// callOf returns c as known so far, without its Outcome, Ended and Rang.
func callOf(c *call, now time.Time) textback.Call {
	f := c.first
	did := f.did
	if did == "" && f.inbound {
		did = f.exten
	}
	dir := textback.Internal
	switch {
	case f.inbound:
		dir = textback.Inbound
	default:
		for _, ch := range c.chans {
			if ch != f && ch.trunk && !ch.local {
				dir = textback.Outbound
				break
			}
		}
	}
	r := textback.Call{
		ID:         textback.CallID(c.id),
		Source:     "ari",
		Direction:  dir,
		Outcome:    textback.Answered,
		CallerNum:  f.callerNum,
		CallerName: f.callerName,
		Withheld:   f.withheld || withheldNumber(f.callerNum),
		DID:        did,
		Context:    f.context,
		Started:    c.started,
		Decided:    now,
	}
	if dir == textback.Outbound {
		r.Dialed = c.dialedTo
	}
	return r
}

// dialedNumber is the number a Dial to a trunk leg dialed: the leg's caller
// number (what Asterisk sets it to, as in AMI's DestCallerIDNum), else the
// number of the dialstring ("+16175550199@carrier", "PJSIP/+1617…@carrier").
func dialedNumber(e *cari.Dial) string {
	if e.Peer.Caller != nil && e.Peer.Caller.Number != "" && e.Peer.Caller.Number != "<unknown>" {
		return e.Peer.Caller.Number
	}
	s := e.Dialstring
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	s, _, _ = strings.Cut(s, "@")
	return s
}

// outcome judges the call by the precedence every source shares (textback.Signs).
func (c *call) outcome() textback.Outcome {
	return textback.Signs{
		Answered: c.answered, Voicemail: c.voicemail, Abandoned: c.abandoned, NoAnswer: c.noAnswer,
		Busy: c.busy, Unavailable: c.unavailable, Dialed: c.dialed,
	}.Outcome()
}

// dialStatus records what a Dial or a DIALSTATUS said about a leg. CANCEL
// is not here: legs given up because another answered or the caller left
// end CANCEL.
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
	if c.answered || d.dialing || d.gone {
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
			stack = append(stack, p)
		}
		if x.bridge == "" {
			continue
		}
		for _, y := range t.bridges[x.bridge] {
			if y.mark == t.epoch || y.gone {
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

// forget drops c's channels from the indexes.
func (t *Tracker) forget(c *call) {
	for _, ch := range c.chans {
		if t.chans[ch.id] == ch {
			delete(t.chans, ch.id)
		}
		if ch.bridge != "" {
			t.leaveBridge(ch)
		}
		if ch.local {
			key := ch.name[:len(ch.name)-1]
			if t.locals[key] == ch {
				delete(t.locals, key)
			}
		}
		if ch != c.first && t.pres[ch.id] == ch {
			delete(t.pres, ch.id)
		}
	}
	if t.calls[c.id] == c {
		delete(t.calls, c.id)
	}
}

// sweep drops the calls that had no event for StaleAfter.
func (t *Tracker) sweep(now time.Time) {
	t.swept = now
	for _, c := range t.calls {
		if now.Sub(c.seen) > t.cfg.StaleAfter {
			t.forget(c)
			if t.pres[c.first.id] == c.first {
				delete(t.pres, c.first.id)
			}
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

func stamp(ts cari.DateTime, now time.Time) time.Time {
	if t := time.Time(ts); !t.IsZero() {
		return t
	}
	return now
}

func dialplanContext(d *cari.ChannelData) string {
	if d.Dialplan == nil {
		return ""
	}
	return d.Dialplan.Context
}

func dialplanExten(d *cari.ChannelData) string {
	if d.Dialplan == nil {
		return ""
	}
	return d.Dialplan.Exten
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
// unavailable: a number (ChannelCallerId's caller_presentation, 32 is
// "Presentation Prohibited, Not Screened") or a name CALLERID(pres) returns
// ("prohib_not_screened", "unavailable").
func presWithheld(s string) bool {
	s = strings.TrimSpace(s)
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

// isPres reports whether s is a caller ID presentation at all: a number
// below 256, or a name CALLERID(pres) returns ("allowed_not_screened",
// "prohib", "unavailable").
func isPres(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n >= 0 && n < 256
	}
	s = strings.ToLower(s)
	return strings.HasPrefix(s, "allowed") || strings.HasPrefix(s, "prohib") || s == "unavailable"
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

func itoa(n int) string {
	if n < 0 {
		return ""
	}
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}
