#!/usr/bin/env python3
"""Writes the synthetic AMI transcripts of this directory (see README.md).

They are modelled, frame by frame, on the real Asterisk 22 captures in
../*.ami.txt: same field order, Privilege classes, channel snapshots, VarSet
bursts around Dial, Local channel pairs with LocalBridge, queue events. They
were not captured from a running Asterisk. Run from this directory:

    python3 gen.py
"""

SYSTEM = "textback-lab"
STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
DIAL_VARS = ["DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME",
             "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS", "RINGTIME",
             "RINGTIME_MS", "PROGRESSTIME", "PROGRESSTIME_MS"]
CAUSE_TXT = {0: "Unknown", 16: "Normal Clearing", 17: "User busy",
             20: "Subscriber absent", 26: "Answered elsewhere",
             127: "Interworking, unspecified"}


class Chan:
    def __init__(self, name, uid, lid, state, num, cname, context, exten):
        self.name, self.uid, self.lid = name, uid, lid
        self.state, self.num, self.cname = state, num, cname
        self.cl_num, self.cl_name = "<unknown>", "<unknown>"
        self.context, self.exten, self.prio = context, exten, 1

    def snap(self, p=""):
        return [
            (p + "Channel", self.name),
            (p + "ChannelState", str(self.state)),
            (p + "ChannelStateDesc", STATE_DESC[self.state]),
            (p + "CallerIDNum", self.num),
            (p + "CallerIDName", self.cname),
            (p + "ConnectedLineNum", self.cl_num),
            (p + "ConnectedLineName", self.cl_name),
            (p + "Language", "en"),
            (p + "AccountCode", ""),
            (p + "Context", self.context),
            (p + "Exten", self.exten),
            (p + "Priority", str(self.prio)),
            (p + "Uniqueid", self.uid),
            (p + "Linkedid", self.lid),
        ]


class Stream:
    def __init__(self, t0, seq, chan_seq, bridge_ids):
        self.t0, self.t = t0, 0.0
        self.seq, self.chan_seq = seq, chan_seq
        self.frames = []
        self.bridge_ids = list(bridge_ids)
        self.lid = None

    def at(self, t):
        assert t >= self.t, (t, self.t)
        self.t = t
        return self

    def tick(self, d=0.000011):
        self.t += d

    def ev(self, name, priv, fields):
        self.tick()
        head = [("Event", name), ("Privilege", priv),
                ("Timestamp", "%.6f" % (self.t0 + self.t)), ("SystemName", SYSTEM)]
        self.frames.append(head + fields)

    def uid(self):
        u = "%s-%d.%d" % (SYSTEM, self.t0, self.seq)
        self.seq += 1
        return u

    def chan(self, tech, state, num, cname, context, exten, lid=None):
        name = "%s-%08x" % (tech, self.chan_seq)
        self.chan_seq += 1
        u = self.uid()
        return Chan(name, u, lid or u, state, num, cname, context, exten)

    def local_pair(self, dest, context, lid):
        base = "Local/%s@%s-%08x" % (dest, context, self.chan_seq)
        self.chan_seq += 1
        one = Chan(base + ";1", self.uid(), lid, 0, "<unknown>", "<unknown>", context, dest)
        two = Chan(base + ";2", self.uid(), lid, 4, "<unknown>", "<unknown>", context, dest)
        return one, two

    # channel events
    def newchannel(self, c):
        self.ev("Newchannel", "call,all", c.snap())

    def newstate(self, c, state):
        c.state = state
        self.ev("Newstate", "call,all", c.snap())

    def newexten(self, c, app, data, prio=None):
        if prio is not None:
            c.prio = prio
        self.ev("Newexten", "dialplan,all", c.snap() + [
            ("Extension", c.exten), ("Application", app), ("AppData", data)])

    def varset(self, c, var, val):
        self.ev("VarSet", "dialplan,all", c.snap() + [("Variable", var), ("Value", val)])

    def dial_vars(self, c):
        for v in DIAL_VARS:
            self.varset(c, v, "")

    def newcallerid(self, c, num, cname=None):
        c.num = num
        if cname is not None:
            c.cname = cname
        self.ev("NewCallerid", "call,all", c.snap() + [
            ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")])

    def connected(self, c, num, cname):
        c.cl_num, c.cl_name = num, cname
        self.ev("NewConnectedLine", "call,all", c.snap())

    def dial(self, name, src, dst, extra):
        self.ev(name, "call,all", src.snap() + dst.snap("Dest") + extra)

    def hanguprequest(self, c, cause=None):
        self.ev("HangupRequest", "call,all", c.snap() + ([("Cause", str(cause))] if cause is not None else []))

    def softhanguprequest(self, c, cause=16):
        self.ev("SoftHangupRequest", "call,all", c.snap() + [("Cause", str(cause))])

    def hangup(self, c, cause):
        self.ev("Hangup", "call,all", c.snap() + [("Cause", str(cause)), ("Cause-txt", CAUSE_TXT[cause])])

    def device(self, dev, state):
        self.ev("DeviceStateChange", "call,all", [("Device", dev), ("State", state)])

    def localbridge(self, one, two):
        self.ev("LocalBridge", "call,all", one.snap("LocalOne") + two.snap("LocalTwo") + [
            ("Context", one.context), ("Exten", one.exten), ("LocalOptimization", "No")])

    def bridge_fields(self, bid, n, tech="simple_bridge"):
        return [("BridgeUniqueid", bid), ("BridgeType", "basic"), ("BridgeTechnology", tech),
                ("BridgeCreator", "<unknown>"), ("BridgeName", "<unknown>"),
                ("BridgeNumChannels", str(n)), ("BridgeVideoSourceMode", "none")]

    def bridge_create(self):
        bid = self.bridge_ids.pop(0)
        self.ev("BridgeCreate", "call,all", self.bridge_fields(bid, 0))
        return bid

    def bridge_enter(self, bid, n, c):
        self.ev("BridgeEnter", "call,all", self.bridge_fields(bid, n) + c.snap())

    def bridge_leave(self, bid, n, c):
        self.ev("BridgeLeave", "call,all", self.bridge_fields(bid, n, "native_rtp") + c.snap())

    def bridge_destroy(self, bid):
        self.ev("BridgeDestroy", "call,all", self.bridge_fields(bid, 0, "native_rtp"))

    def cdr(self, c, dst, dst_ctx, dst_chan, app, data, start, answer, end, disp):
        def clock(off):
            return "" if off is None else "2026-11-28 %s" % hms(self.t0 + off)
        dur = int(end - start)
        bill = int(end - answer) if answer is not None else 0
        self.ev("Cdr", "cdr,all", [
            ("AccountCode", ""), ("Source", c.num), ("Destination", dst),
            ("DestinationContext", dst_ctx), ("CallerID", '"%s" <%s>' % (c.cname, c.num)),
            ("Channel", c.name), ("DestinationChannel", dst_chan),
            ("LastApplication", app), ("LastData", data),
            ("StartTime", clock(start)), ("AnswerTime", clock(answer)), ("EndTime", clock(end)),
            ("Duration", str(dur)), ("BillableSeconds", str(bill)), ("Disposition", disp),
            ("AMAFlags", "DOCUMENTATION"), ("UniqueID", c.uid), ("UserField", "")])

    def write(self, path):
        out = ["Asterisk Call Manager/11.0.0\r\n",
               "Response: Success\r\nActionID: capture-login\r\nMessage: Authentication accepted\r\n\r\n",
               "Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 3\r\nLastReload: 3\r\nStatus: Fully Booted\r\n\r\n"]
        for fr in self.frames:
            out.append("".join("%s: %s\r\n" % kv for kv in fr) + "\r\n")
        out.append("Response: Goodbye\r\nActionID: capture-logoff\r\nMessage: Thanks for all the fish.\r\n\r\n")
        with open(path, "w", newline="") as f:
            f.write("".join(out))


def hms(epoch):
    s = int(epoch) % 86400
    return "%02d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


def inbound(s, caller, cname, did, label):
    """The trunk's channel enters from-trunk and sets __TB_DID."""
    c = s.chan("PJSIP/carrier", 4, caller, cname, "from-trunk", did)
    s.lid = c.uid
    s.newchannel(c)
    s.varset(c, "SIPDOMAIN", "127.0.0.1")
    s.newexten(c, "NoOp", 'TB inbound %s DID %s from "%s" <%s>' % (label, did, cname, caller), 1)
    s.newexten(c, "Set", "__TB_DID=" + did, 2)
    s.varset(c, "__TB_DID", did)
    return c


def phone_leg(s, ext, name, caller, did, ctx_exten=None):
    """Newchannel of a phone a Dial rings, up to its AppDial."""
    p = s.chan("PJSIP/%s" % ext, 0, ext, name, "internal", "s", s.lid)
    s.newchannel(p)
    s.varset(p, "__TB_DID", did)
    p.exten = ctx_exten or did
    p.cl_num, p.cl_name = caller.num, caller.cname
    s.newexten(p, "AppDial", "(Outgoing Line)")
    s.connected(p, caller.num, caller.cname)
    return p


def ring(s, src, dst, dev):
    s.newstate(dst, 5)
    s.varset(src, "RINGTIME", "0")
    s.varset(src, "RINGTIME_MS", "3")
    s.dial("DialState", src, dst, [("DialStatus", "RINGING")])
    s.device(dev, "RINGING")


def local_leg(s, dest, ctx, caller, did, lid):
    """A Dial or Queue of Local/dest@ctx/n: the ;1/;2 pair up to ;2's Dial."""
    one, two = s.local_pair(dest, ctx, lid)
    s.newchannel(one)
    s.newchannel(two)
    one.exten = did
    one.cl_num, one.cl_name = caller.num, caller.cname
    s.newexten(one, "AppDial", "(Outgoing Line)")
    s.newcallerid(one, did)
    s.varset(one, "__TB_DID", did)
    s.varset(two, "__TB_DID", did)
    s.newcallerid(two, caller.num, caller.cname)
    s.connected(two, did, "<unknown>")
    s.localbridge(one, two)
    return one, two


def ringgroup_local_answered():
    """Ring group through Local channels; the second phone answers."""
    s = Stream(1795846200, 40, 0x1a, ["5b0e8a7c-1f2d-4c39-9b7e-2a6d0c4f8e11", "e3c1d9a2-7b44-4f0e-a8d5-91c2b6f3a7d0"])
    did, caller = "+12125550105", "+13125550106"
    c = inbound(s, caller, "Kim Caller", did, "ringgroup-local")
    s.newexten(c, "Dial", "Local/100@ringgroup/n&Local/101@ringgroup/n,20", 3)
    s.dial_vars(c)
    legs = []
    for ext, name in (("100", "Alice Front Desk"), ("101", "Bob Back Office")):
        one, two = local_leg(s, ext, "ringgroup", c, did, c.uid)
        s.dial("DialBegin", c, one, [("DialString", "Local/%s@ringgroup/n" % ext)])
        s.newexten(two, "Dial", "PJSIP/" + ext, 1)
        s.dial_vars(two)
        legs.append((ext, name, one, two))
    phones = []
    for ext, name, one, two in legs:
        s.tick(0.002)
        p = phone_leg(s, ext, name, two, did, ext)
        s.dial("DialBegin", two, p, [("DialString", ext)])
        s.connected(two, ext, name)
        phones.append(p)
    for (ext, name, one, two), p in zip(legs, phones):
        s.tick(0.003)
        ring(s, two, p, "PJSIP/" + ext)
        s.newstate(one, 5)
        one.exten = did
        s.newexten(one, "AppDial", "(Outgoing Line)")
        s.newcallerid(one, ext, name)
        s.connected(one, c.num, c.cname)
        s.dial("DialState", c, one, [("DialStatus", "RINGING")])
    s.connected(c, "100", "Alice Front Desk")
    # 101 answers after 6.5 s.
    (_, _, one0, two0), (_, _, one1, two1) = legs
    p0, p1 = phones
    s.at(6.512)
    s.newstate(p1, 6)
    s.varset(two1, "DIALSTATUS", "ANSWER")
    s.dial("DialEnd", two1, p1, [("DialStatus", "ANSWER")])
    s.newstate(two1, 6)
    b1 = s.bridge_create()
    p1.exten = ""
    s.newexten(p1, "AppDial", "(Outgoing Line)")
    s.bridge_enter(b1, 1, p1)
    s.newstate(one1, 6)
    s.varset(c, "DIALSTATUS", "ANSWER")
    s.dial("DialEnd", c, one1, [("DialStatus", "ANSWER")])
    s.dial("DialEnd", c, one0, [("DialStatus", "CANCEL")])
    s.newstate(c, 6)
    s.connected(c, "101", "Bob Back Office")
    s.hanguprequest(two0, 26)
    s.hangup(one0, 26)
    s.dial("DialEnd", two0, p0, [("DialStatus", "CANCEL")])
    s.varset(two0, "DIALSTATUS", "CANCEL")
    s.hangup(p0, 26)
    s.device("PJSIP/100", "NOT_INUSE")
    s.softhanguprequest(two0, 16)
    s.hangup(two0, 26)
    s.bridge_enter(b1, 2, two1)
    b2 = s.bridge_create()
    s.bridge_enter(b2, 1, one1)
    s.bridge_enter(b2, 2, c)
    s.device("PJSIP/101", "INUSE")
    # The caller hangs up after 10 s of talk.
    s.at(16.530)
    s.hanguprequest(c, 16)
    s.bridge_leave(b2, 1, c)
    s.varset(c, "DIALSTATUS", "ANSWER")
    s.softhanguprequest(c, 16)
    s.hangup(c, 16)
    s.cdr(c, did, "from-trunk", one1.name, "Dial", "Local/100@ringgroup/n&Local/101@ringgroup/n,20", 0, 6.512, 16.53, "ANSWERED")
    s.hanguprequest(one1, 16)
    s.bridge_leave(b2, 0, one1)
    s.bridge_destroy(b2)
    s.hangup(one1, 16)
    s.hanguprequest(two1, 16)
    s.bridge_leave(b1, 1, two1)
    s.varset(two1, "DIALSTATUS", "ANSWER")
    s.softhanguprequest(two1, 16)
    s.hangup(two1, 16)
    s.bridge_leave(b1, 0, p1)
    s.bridge_destroy(b1)
    s.hangup(p1, 16)
    s.device("PJSIP/101", "NOT_INUSE")
    s.write("ringgroup_local_answered.ami.txt")


def queue_abandoned():
    """Queue ringall of two Local members; the caller hangs up after 9 s."""
    s = Stream(1795846300, 50, 0x24, [])
    did, caller = "+12125550104", "+13125550107"
    c = inbound(s, caller, "Leo Caller", did, "queue")
    s.newexten(c, "Answer", "", 3)
    s.at(0.006)
    s.newstate(c, 6)
    s.at(0.015)
    s.newexten(c, "Queue", "support,,,,60", 4)
    s.varset(c, "QUEUEWAIT", "")
    s.varset(c, "QUEUEWAIT_MS", "")
    s.ev("QueueCallerJoin", "agent,all", c.snap() + [("Queue", "support"), ("Position", "1"), ("Count", "1")])
    s.ev("MusicOnHoldStart", "call,all", c.snap() + [("Class", "default")])
    legs = []
    for ext, name in (("100", "Alice Front Desk"), ("101", "Bob Back Office")):
        one, two = local_leg(s, ext, "queue-agents", c, did, c.uid)
        iface = "Local/%s@queue-agents/n" % ext
        s.dial("AgentCalled", c, one, [("Queue", "support"), ("Interface", iface), ("MemberName", name)])
        s.dial("DialBegin", c, one, [("DialString", iface)])
        s.newexten(two, "NoOp", "TB queue agent leg -> PJSIP/" + ext, 1)
        s.newexten(two, "Dial", "PJSIP/" + ext, 2)
        s.dial_vars(two)
        legs.append((ext, name, one, two))
    phones = []
    for ext, name, one, two in legs:
        s.tick(0.002)
        p = phone_leg(s, ext, name, two, did, ext)
        s.dial("DialBegin", two, p, [("DialString", ext)])
        s.connected(two, ext, name)
        phones.append(p)
    for (ext, name, one, two), p in zip(legs, phones):
        s.tick(0.003)
        ring(s, two, p, "PJSIP/" + ext)
        s.newstate(one, 5)
        one.exten = did
        s.newexten(one, "AppDial", "(Outgoing Line)")
        s.newcallerid(one, ext, name)
        s.connected(one, c.num, c.cname)
        s.dial("DialState", c, one, [("DialStatus", "RINGING")])
    # The caller hangs up at 9 s while both members ring (member timeout 15 s).
    s.at(9.021)
    s.hanguprequest(c)
    for ext, name, one, two in legs:
        s.dial("DialEnd", c, one, [("DialStatus", "CANCEL")])
    for (ext, name, one, two), p in zip(legs, phones):
        s.hangup(one, 16)
        s.hanguprequest(two, 16)
        s.dial("DialEnd", two, p, [("DialStatus", "CANCEL")])
        s.varset(two, "DIALSTATUS", "CANCEL")
        s.hangup(p, 16)
        s.device("PJSIP/" + ext, "NOT_INUSE")
        s.softhanguprequest(two, 16)
        s.hangup(two, 16)
    s.varset(c, "ABANDONED", "TRUE")
    for var, val in (("QUEUENAME", "support"), ("QUEUEMAX", "0"), ("QUEUESTRATEGY", "ringall"),
                     ("QUEUECALLS", "1"), ("QUEUEHOLDTIME", "1"), ("QUEUETALKTIME", "4"),
                     ("QUEUECOMPLETED", "1"), ("QUEUEABANDONED", "2"), ("QUEUESRVLEVEL", "0"),
                     ("QUEUESRVLEVELPERF", "0.0")):
        s.varset(c, var, val)
    s.ev("QueueCallerAbandon", "agent,all", c.snap() + [
        ("Queue", "support"), ("Position", "1"), ("OriginalPosition", "1"), ("HoldTime", "9")])
    s.ev("QueueCallerLeave", "agent,all", c.snap() + [("Queue", "support"), ("Position", "1"), ("Count", "0")])
    s.ev("MusicOnHoldStop", "call,all", c.snap())
    s.softhanguprequest(c, 16)
    s.cdr(c, did, "from-trunk", legs[0][2].name, "Queue", "support,,,,60", 0, 0.006, 9.021, "ANSWERED")
    s.hangup(c, 16)
    s.write("queue_abandoned.ami.txt")


def followme_mobile_answered():
    """Desk phone rings out, then a follow-me Local leg calls a mobile out
    through the carrier, and the mobile answers."""
    s = Stream(1795846400, 60, 0x2e, ["0f6a2b9e-3c71-4e8d-b2a4-7d19e5c0a3f6", "9d84c2e1-5a0b-47f3-8e6c-b1a2d3c4e5f7"])
    did, caller, mobile = "+12125550106", "+13125550108", "+16175550123"
    c = inbound(s, caller, "Mia Caller", did, "followme")
    s.newexten(c, "Dial", "PJSIP/100,10", 3)
    s.dial_vars(c)
    p = phone_leg(s, "100", "Alice Front Desk", c, did)
    s.dial("DialBegin", c, p, [("DialString", "100")])
    s.connected(c, "100", "Alice Front Desk")
    s.tick(0.002)
    ring(s, c, p, "PJSIP/100")
    s.at(10.008)
    s.dial("DialEnd", c, p, [("DialStatus", "NOANSWER")])
    s.varset(c, "DIALSTATUS", "NOANSWER")
    s.newexten(c, "Dial", "Local/%s@followme/n,20" % mobile, 4)
    s.hangup(p, 0)
    s.device("PJSIP/100", "NOT_INUSE")
    s.dial_vars(c)
    one, two = local_leg(s, mobile, "followme", c, did, c.uid)
    s.dial("DialBegin", c, one, [("DialString", "Local/%s@followme/n" % mobile)])
    s.newexten(two, "NoOp", "TB follow-me -> " + mobile, 1)
    s.newexten(two, "Dial", "PJSIP/%s@carrier,20" % mobile, 2)
    s.dial_vars(two)
    m = s.chan("PJSIP/carrier", 0, "<unknown>", "<unknown>", "from-trunk", "s", s.lid)
    s.newchannel(m)
    s.varset(m, "__TB_DID", did)
    m.exten = mobile
    m.num, m.cl_num, m.cl_name = mobile, two.num, two.cname
    s.newexten(m, "AppDial", "(Outgoing Line)")
    s.newcallerid(m, mobile)
    s.connected(m, two.num, two.cname)
    s.dial("DialBegin", two, m, [("DialString", "%s@carrier" % mobile)])
    s.connected(two, mobile, "<unknown>")
    s.at(10.190)
    s.newstate(m, 5)
    s.varset(two, "RINGTIME", "0")
    s.dial("DialState", two, m, [("DialStatus", "RINGING")])
    s.newstate(one, 5)
    s.dial("DialState", c, one, [("DialStatus", "RINGING")])
    # The mobile answers after 5 s.
    s.at(15.214)
    s.newstate(m, 6)
    s.varset(two, "DIALSTATUS", "ANSWER")
    s.dial("DialEnd", two, m, [("DialStatus", "ANSWER")])
    s.newstate(two, 6)
    b1 = s.bridge_create()
    m.exten = ""
    s.newexten(m, "AppDial", "(Outgoing Line)")
    s.bridge_enter(b1, 1, m)
    s.newstate(one, 6)
    s.varset(c, "DIALSTATUS", "ANSWER")
    s.dial("DialEnd", c, one, [("DialStatus", "ANSWER")])
    s.newstate(c, 6)
    s.bridge_enter(b1, 2, two)
    b2 = s.bridge_create()
    s.bridge_enter(b2, 1, one)
    s.bridge_enter(b2, 2, c)
    # The mobile hangs up after 8 s of talk.
    s.at(23.402)
    s.hanguprequest(m, 16)
    s.bridge_leave(b1, 1, m)
    s.bridge_leave(b1, 0, two)
    s.bridge_destroy(b1)
    s.hangup(m, 16)
    s.varset(two, "DIALSTATUS", "ANSWER")
    s.softhanguprequest(two, 16)
    s.hangup(two, 16)
    s.hanguprequest(one, 16)
    s.bridge_leave(b2, 1, one)
    s.hangup(one, 16)
    s.bridge_leave(b2, 0, c)
    s.bridge_destroy(b2)
    s.varset(c, "DIALSTATUS", "ANSWER")
    s.newexten(c, "Hangup", "", 5)
    s.softhanguprequest(c, 16)
    s.cdr(c, did, "from-trunk", one.name, "Dial", "Local/%s@followme/n,20" % mobile, 0, 15.214, 23.402, "ANSWERED")
    s.hangup(c, 16)
    s.write("followme_mobile_answered.ami.txt")


def closed_voicemail():
    """After hours: straight to voicemail, a message left."""
    s = Stream(1795846500, 70, 0x34, [])
    did, caller = "+12125550103", "+13125550109"
    c = inbound(s, caller, "Ned Caller", did, "after-hours")
    s.newexten(c, "VoiceMail", "100@default,u", 3)
    s.at(0.012)
    s.newstate(c, 6)
    s.at(8.441)
    s.hanguprequest(c)
    s.varset(c, "VM_MESSAGEFILE", "/tmp/ast-run/spool/voicemail/default/100/INBOX/msg0001")
    s.ev("MessageWaiting", "call,all", c.snap() + [
        ("Mailbox", "100@default"), ("Waiting", "1"), ("New", "2"), ("Old", "0")])
    s.varset(c, "VMSTATUS", "SUCCESS")
    s.softhanguprequest(c, 16)
    s.cdr(c, did, "from-trunk", "", "VoiceMail", "100@default,u", 0, 0.012, 8.441, "ANSWERED")
    s.hangup(c, 16)
    s.write("closed_voicemail.ami.txt")


def closed_hangup():
    """After hours: a closed message, then the dialplan hangs up."""
    s = Stream(1795846600, 80, 0x38, [])
    did, caller = "+12125550107", "+13125550106"
    c = inbound(s, caller, "Kim Caller", did, "closed")
    s.newexten(c, "Answer", "", 3)
    s.at(0.007)
    s.newstate(c, 6)
    s.newexten(c, "Playback", "custom/closed-hours", 4)
    s.at(5.262)
    s.newexten(c, "Hangup", "", 5)
    s.softhanguprequest(c, 16)
    s.cdr(c, did, "from-trunk", "", "Hangup", "", 0, 0.007, 5.262, "ANSWERED")
    s.hangup(c, 16)
    s.write("closed_hangup.ami.txt")


def ivr_caller_hangup():
    """An IVR menu; the caller hangs up before choosing."""
    s = Stream(1795846700, 90, 0x3c, [])
    did, caller = "+12125550108", "+13125550107"
    c = inbound(s, caller, "Leo Caller", did, "ivr")
    s.newexten(c, "Answer", "", 3)
    s.at(0.006)
    s.newstate(c, 6)
    s.newexten(c, "Background", "custom/main-menu", 4)
    s.at(7.118)
    s.hanguprequest(c)
    s.softhanguprequest(c, 16)
    s.cdr(c, did, "from-trunk", "", "Background", "custom/main-menu", 0, 0.006, 7.118, "ANSWERED")
    s.hangup(c, 16)
    s.write("ivr_caller_hangup.ami.txt")


def chanunavail():
    """Main line, phone 100 not registered: Dial makes no channel at all."""
    s = Stream(1795846800, 100, 0x40, [])
    did, caller = "+12125550100", "+13125550108"
    c = inbound(s, caller, "Mia Caller", did, "main")
    s.newexten(c, "Dial", "PJSIP/100,12", 3)
    s.dial_vars(c)
    s.tick(0.001)
    s.varset(c, "DIALSTATUS", "CHANUNAVAIL")
    s.newexten(c, "NoOp", "TB main DID DIALSTATUS=CHANUNAVAIL", 4)
    s.newexten(c, "Hangup", "", 5)
    s.softhanguprequest(c, 16)
    s.cdr(c, did, "from-trunk", "", "Dial", "PJSIP/100,12", 0, None, 0.004, "FAILED")
    s.hangup(c, 20)
    s.write("chanunavail.ami.txt")


def ringgroup_busy_noanswer():
    """Ring group 100&101: 100 answers busy at once, 101 rings out."""
    s = Stream(1795846900, 110, 0x44, [])
    did, caller = "+12125550109", "+13125550109"
    c = inbound(s, caller, "Ned Caller", did, "ringgroup")
    s.newexten(c, "Dial", "PJSIP/100&PJSIP/101,15", 3)
    s.dial_vars(c)
    p0 = phone_leg(s, "100", "Alice Front Desk", c, did)
    s.dial("DialBegin", c, p0, [("DialString", "100")])
    p1 = phone_leg(s, "101", "Bob Back Office", c, did)
    s.dial("DialBegin", c, p1, [("DialString", "101")])
    s.connected(c, "100", "Alice Front Desk")
    s.tick(0.002)
    ring(s, c, p1, "PJSIP/101")
    s.at(0.304)
    s.hanguprequest(p0, 17)
    s.dial("DialEnd", c, p0, [("DialStatus", "BUSY")])
    s.hangup(p0, 17)
    s.at(15.006)
    s.dial("DialEnd", c, p1, [("DialStatus", "NOANSWER")])
    s.varset(c, "DIALSTATUS", "NOANSWER")
    s.newexten(c, "NoOp", "TB ringgroup DID DIALSTATUS=NOANSWER", 4)
    s.hangup(p1, 0)
    s.device("PJSIP/101", "NOT_INUSE")
    s.newexten(c, "Hangup", "", 5)
    s.softhanguprequest(c, 16)
    s.cdr(c, did, "from-trunk", p1.name, "Dial", "PJSIP/100&PJSIP/101,15", 0, None, 15.009, "NO ANSWER")
    s.hangup(c, 16)
    s.write("ringgroup_busy_noanswer.ami.txt")


if __name__ == "__main__":
    ringgroup_local_answered()
    queue_abandoned()
    followme_mobile_answered()
    closed_voicemail()
    closed_hangup()
    ivr_caller_hangup()
    chanunavail()
    ringgroup_busy_noanswer()
