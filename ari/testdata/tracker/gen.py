#!/usr/bin/env python3
"""Writes the hand-written ARI scenarios here: the situations of
../../../ami/testdata/tracker, as Asterisk 22 sends them on
/ari/events?subscribeAll=true (see ../*.ari.jsonl for the real thing: no
StasisStart, channel snapshots without linkedid). Ids, callers, DIDs and ring
times match the AMI transcripts so both trackers are held to one table.
Run: python3 gen.py"""
import json, os, datetime

HERE = os.path.dirname(os.path.abspath(__file__))
AST = "02:fc:00:00:00:01"


class Sc:
    def __init__(s, name, epoch, seq):
        s.name, s.t0, s.t, s.seq, s.lines, s.chans, s.n = name, epoch, 0.0, seq, [], {}, 0

    def ts(s):
        d = datetime.datetime.fromtimestamp(s.t0 + s.t, datetime.timezone.utc)
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"

    def chan(s, name, state, num, cname, ctx, exten, app="", data="", prio=1):
        cid = f"textback-lab-{s.t0}.{s.seq + s.n}"
        s.n += 1
        c = {"id": cid, "name": name, "state": state, "protocol_id": "", "caller": {"name": cname, "number": num},
             "connected": {"name": "", "number": ""}, "accountcode": "",
             "dialplan": {"context": ctx, "exten": exten, "priority": prio, "app_name": app, "app_data": data},
             "creationtime": s.ts(), "language": "en"}
        s.chans[name] = c
        s.ev("ChannelCreated", channel=c)
        return c

    def ev(s, typ, **kw):
        e = {"type": typ, "timestamp": s.ts()}
        for k, v in kw.items():
            e[k] = json.loads(json.dumps(v))  # a snapshot
        e["asterisk_id"], e["application"] = AST, "textback-capture"
        s.lines.append(json.dumps(e, separators=(",", ":")))

    def app(s, c, app, data, prio=None):
        c["dialplan"].update(app_name=app, app_data=data)
        if prio:
            c["dialplan"]["priority"] = prio
        s.ev("ChannelDialplan", dialplan_app=app, dialplan_app_data=data, channel=c)

    def var(s, c, k, v):
        s.ev("ChannelVarset", variable=k, value=v, channel=c)

    def state(s, c, st):
        c["state"] = st
        s.ev("ChannelStateChange", channel=c)

    def dial(s, caller, peer, status, dialstring=""):
        kw = {"dialstatus": status, "peer": peer}
        if caller:
            kw["caller"] = caller
        if dialstring:
            kw["dialstring"] = dialstring
        s.ev("Dial", **kw)

    def hangup(s, c, cause, soft=None):
        kw = {"cause": cause, "channel": c}
        if soft is not None:
            kw["soft"] = soft
        s.ev("ChannelHangupRequest", **kw)

    def destroy(s, c, cause, txt):
        s.ev("ChannelDestroyed", cause=cause, cause_txt=txt, channel=c)

    def bridge(s, bid, typ="mixing", tech="simple_bridge", chans=()):
        return {"id": bid, "technology": tech, "bridge_type": typ, "bridge_class": "basic", "creator": "",
                "name": "", "channels": list(chans), "creationtime": s.ts(), "video_mode": "none"}

    def enter(s, b, c):
        b["channels"].append(c["id"])
        s.ev("ChannelEnteredBridge", bridge=b, channel=c)

    def leave(s, b, c):
        b["channels"].remove(c["id"])
        s.ev("ChannelLeftBridge", bridge=b, channel=c)

    def at(s, t):
        s.t = t

    def write(s):
        open(f"{HERE}/{s.name}.ari.jsonl", "w").write("\n".join(s.lines) + "\n")


def inbound(s, caller, did, name="Pat Caller"):
    a = s.chan(f"PJSIP/carrier-{s.seq:08x}", "Ring", caller, name, "from-trunk", did)
    s.var(a, "__TB_DID", did)
    s.app(a, "Set", f"__TB_DID={did}")
    return a


def phone_leg(s, a, ext, did):
    b = s.chan(f"PJSIP/{ext}-{s.seq + s.n:08x}", "Down", ext, "", "from-internal", "s")
    s.var(b, "__TB_DID", did)
    s.app(b, "AppDial", "(Outgoing Line)")
    return b


def end(s, c, cause=16, txt="Normal Clearing", soft=None):
    s.hangup(c, cause, soft)
    s.destroy(c, cause, txt)


def ringgroup_local_answered():
    # Ring group through Local channels: Local/100 and Local/101; 101 answers after 6.5 s.
    s = Sc("ringgroup_local_answered", 1795846200, 40)
    a = inbound(s, "+13125550106", "+12125550105")
    s.app(a, "Dial", "Local/100@from-internal&Local/101@from-internal,20")
    locs = []
    for ext in ("100", "101"):
        l1 = s.chan(f"Local/{ext}@from-internal-{s.seq:08x};1", "Down", "+13125550106", "Pat Caller", "from-internal", ext)
        l2 = s.chan(f"Local/{ext}@from-internal-{s.seq:08x};2", "Ring", "+13125550106", "Pat Caller", "from-internal", ext)
        s.app(l1, "AppDial", "(Outgoing Line)")
        s.dial(a, l1, "", f"{ext}@from-internal")
        s.app(l2, "Dial", f"PJSIP/{ext},20")
        p = phone_leg(s, l2, ext, "+12125550105")
        s.dial(l2, p, "", ext)
        locs.append((l1, l2, p))
    s.at(0.05)
    for l1, l2, p in locs:
        s.state(p, "Ringing")
        s.dial(l2, p, "RINGING")
        s.state(l1, "Ringing")
        s.dial(a, l1, "RINGING")
    s.at(6.55)
    (l1a, l2a, pa), (l1b, l2b, pb) = locs
    s.state(pb, "Up")
    s.dial(l2b, pb, "ANSWER")
    s.state(l2b, "Up")
    s.state(l1b, "Up")
    s.dial(a, l1b, "ANSWER")
    s.state(a, "Up")
    # The losers are cancelled.
    s.dial(a, l1a, "CANCEL")
    s.dial(l2a, pa, "CANCEL")
    end(s, pa, 0, "Unknown", soft=None)
    end(s, l2a, 16)
    end(s, l1a, 16)
    b1 = s.bridge("b-rg-1")
    s.ev("BridgeCreated", bridge=b1)
    s.enter(b1, l1b)
    s.enter(b1, a)
    b2 = s.bridge("b-rg-2")
    s.ev("BridgeCreated", bridge=b2)
    s.enter(b2, pb)
    s.enter(b2, l2b)
    s.at(20.0)
    s.hangup(pb, 16, soft=True)
    s.leave(b2, pb)
    s.destroy(pb, 16, "Normal Clearing")
    s.leave(b2, l2b)
    end(s, l2b, 16)
    s.ev("BridgeDestroyed", bridge=b2)
    s.leave(b1, l1b)
    end(s, l1b, 16)
    s.leave(b1, a)
    end(s, a, 16, soft=True)
    s.ev("BridgeDestroyed", bridge=b1)
    return s


def queue_abandoned():
    # Answer + Queue(support); member Local/100@queue-agents rings; caller hangs up after 9 s.
    s = Sc("queue_abandoned", 1795846300, 50)
    a = inbound(s, "+13125550107", "+12125550104")
    s.app(a, "Answer", "")
    s.state(a, "Up")
    s.app(a, "Queue", "support,,,,60")
    l1 = s.chan(f"Local/100@queue-agents-{s.seq:08x};1", "Down", "+13125550107", "Pat Caller", "queue-agents", "100")
    l2 = s.chan(f"Local/100@queue-agents-{s.seq:08x};2", "Ring", "+13125550107", "Pat Caller", "queue-agents", "100")
    s.app(l1, "AppQueue", "(Outgoing Line)")
    s.dial(a, l1, "", "100@queue-agents/n")
    s.app(l2, "Dial", "PJSIP/100,,")
    p = phone_leg(s, l2, "100", "+12125550104")
    s.dial(l2, p, "", "100")
    s.at(0.05)
    s.state(p, "Ringing")
    s.dial(l2, p, "RINGING")
    s.state(l1, "Ringing")
    s.dial(a, l1, "RINGING")
    s.at(9.05)
    s.hangup(a, 16)
    s.dial(a, l1, "CANCEL")
    s.var(a, "QUEUESTATUS", "")
    end(s, l1, 16)
    s.dial(l2, p, "CANCEL")
    end(s, p, 0, "Unknown")
    end(s, l2, 16)
    s.destroy(a, 16, "Normal Clearing")
    return s


def followme_mobile_answered():
    # 100 rings 10 s, then FollowMe's Local leg dials the mobile out the trunk; it answers 5.2 s later.
    s = Sc("followme_mobile_answered", 1795846400, 60)
    a = inbound(s, "+13125550108", "+12125550106")
    s.app(a, "Dial", "PJSIP/100,10")
    p = phone_leg(s, a, "100", "+12125550106")
    s.dial(a, p, "", "100")
    s.at(0.05)
    s.state(p, "Ringing")
    s.dial(a, p, "RINGING")
    s.at(10.05)
    s.dial(a, p, "NOANSWER")
    end(s, p, 0, "Unknown")
    s.var(a, "DIALSTATUS", "NOANSWER")
    s.app(a, "FollowMe", "100,d")
    l1 = s.chan(f"Local/+16175550198@followme-dial-{s.seq:08x};1", "Down", "+13125550108", "Pat Caller", "followme-dial", "+16175550198")
    l2 = s.chan(f"Local/+16175550198@followme-dial-{s.seq:08x};2", "Ring", "+13125550108", "Pat Caller", "followme-dial", "+16175550198")
    s.app(l1, "AppDial2", "(Outgoing Line)")
    s.app(l2, "Dial", "PJSIP/+16175550198@carrier,60")
    m = s.chan(f"PJSIP/carrier-{s.seq + s.n:08x}", "Down", "+13125550108", "Pat Caller", "from-trunk", "s")
    s.app(m, "AppDial", "(Outgoing Line)")
    s.dial(l2, m, "", "+16175550198@carrier")
    s.at(10.3)
    s.state(m, "Ringing")
    s.dial(l2, m, "RINGING")
    s.state(l1, "Ringing")
    s.at(15.5)
    s.state(m, "Up")
    s.dial(l2, m, "ANSWER")
    s.state(l2, "Up")
    s.state(l1, "Up")
    s.state(a, "Up")
    b1 = s.bridge("b-fm-1")
    s.ev("BridgeCreated", bridge=b1)
    s.enter(b1, m)
    s.enter(b1, l2)
    b2 = s.bridge("b-fm-2")
    s.ev("BridgeCreated", bridge=b2)
    s.enter(b2, l1)
    s.enter(b2, a)
    s.at(30.0)
    s.hangup(a, 16)
    s.leave(b2, a)
    s.destroy(a, 16, "Normal Clearing")
    s.leave(b2, l1)
    end(s, l1, 16)
    s.ev("BridgeDestroyed", bridge=b2)
    s.leave(b1, l2)
    end(s, l2, 16)
    s.leave(b1, m)
    end(s, m, 16, soft=True)
    s.ev("BridgeDestroyed", bridge=b1)
    return s


def closed_voicemail():
    s = Sc("closed_voicemail", 1795846500, 70)
    a = inbound(s, "+13125550109", "+12125550103")
    s.app(a, "VoiceMail", "100@default,u")
    s.state(a, "Up")
    s.at(14.0)
    s.var(a, "VMSTATUS", "SUCCESS")
    end(s, a, 16)
    return s


def closed_hangup():
    s = Sc("closed_hangup", 1795846600, 80)
    a = inbound(s, "+13125550106", "+12125550107")
    s.app(a, "Playback", "closed")
    s.state(a, "Up")
    s.at(4.0)
    s.app(a, "Hangup", "")
    end(s, a, 16, soft=None)
    return s


def ivr_caller_hangup():
    s = Sc("ivr_caller_hangup", 1795846700, 90)
    a = inbound(s, "+13125550107", "+12125550108")
    s.app(a, "Answer", "")
    s.state(a, "Up")
    s.app(a, "Background", "main-menu")
    s.at(6.0)
    s.hangup(a, 16)
    s.destroy(a, 16, "Normal Clearing")
    return s


def chanunavail():
    # Dial PJSIP/100 with 100 unregistered: no channel is created at all.
    s = Sc("chanunavail", 1795846800, 100)
    a = inbound(s, "+13125550108", "+12125550100")
    s.app(a, "Dial", "PJSIP/100,12")
    s.var(a, "DIALSTATUS", "CHANUNAVAIL")
    s.app(a, "Hangup", "")
    s.at(0.02)
    end(s, a, 20, "Subscriber absent")
    return s


def ringgroup_busy_noanswer():
    # 100 answers busy at once, 101 rings out after 15 s.
    s = Sc("ringgroup_busy_noanswer", 1795846900, 110)
    a = inbound(s, "+13125550109", "+12125550109")
    s.app(a, "Dial", "PJSIP/100&PJSIP/101,15")
    p1 = phone_leg(s, a, "100", "+12125550109")
    s.dial(a, p1, "", "100")
    p2 = phone_leg(s, a, "101", "+12125550109")
    s.dial(a, p2, "", "101")
    s.at(0.05)
    s.state(p2, "Ringing")
    s.dial(a, p2, "RINGING")
    s.at(0.3)
    s.dial(a, p1, "BUSY")
    end(s, p1, 17, "User busy")
    s.at(15.05)
    s.dial(a, p2, "NOANSWER")
    end(s, p2, 0, "Unknown")
    s.var(a, "DIALSTATUS", "NOANSWER")
    s.app(a, "Hangup", "")
    end(s, a, 16)
    return s


if __name__ == "__main__":
    for f in (ringgroup_local_answered, queue_abandoned, followme_mobile_answered, closed_voicemail,
              closed_hangup, ivr_caller_hangup, chanunavail, ringgroup_busy_noanswer):
        f().write()
