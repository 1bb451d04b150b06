#!/usr/bin/env python3
"""Writes the hand-written FreeSWITCH scenarios in this directory.

Every event is a real event of ../<capture>.esl.txt (FreeSWITCH 1.11.1, see
../EXPECTED.md) with the fields that differ rewritten: UUIDs, channel names,
destinations, the Caller-Channel-*-Time stamps and the variables derived from
them, hangup causes and dispositions, and the variables the scenario adds
(mod_callcenter's cc_*, mod_sofia's privacy ones). Header order, encoding and
framing are the captures'. Channel-state housekeeping events (CHANNEL_STATE,
CHANNEL_CALLSTATE, CODEC, PRESENCE_IN, CALL_UPDATE) are left out.

Run it from this directory: python3 gen.py
"""
import re, time, urllib.parse, uuid as uuidlib

HERE = __import__("os").path.dirname(__import__("os").path.abspath(__file__))


def parse(name):
    b = open(f"{HERE}/../{name}.esl.txt", "rb").read()
    i, out = 0, []
    while i < len(b):
        j = b.index(b"\n\n", i)
        hdr = b[i:j].decode()
        m = re.search(r"Content-Length: (\d+)", hdr)
        n = int(m.group(1)) if m else 0
        body = b[j + 2:j + 2 + n].decode()
        i = j + 2 + n
        if "event-plain" in hdr:
            out.append([l.split(": ", 1) for l in body.rstrip("\n").split("\n")])
    return out


def get(ev, k):
    for kk, v in ev:
        if kk == k:
            return v
    return ""


ANS, NOA, VM, AB, OUT = (parse(n) for n in ("answered", "ring_no_answer_hangup", "ring_no_answer_voicemail",
                                            "caller_abandons", "outbound_call"))
# (events, index, own uuid, partner uuid) of each template.
T = {
    "a_create": (ANS, 2), "a_exec": (ANS, 14), "a_progress": (ANS, 24), "a_progress_media": (ANS, 32),
    "a_answer": (ANS, 34), "bridge": (ANS, 37), "unbridge": (ANS, 47), "a_exec_complete": (ANS, 49),
    "a_hangup_bridged": (ANS, 55), "a_destroy": (ANS, 56),
    "b_outgoing": (ANS, 15), "b_create": (ANS, 17), "b_originate": (ANS, 18), "b_progress": (ANS, 22),
    "b_answer": (ANS, 27), "b_hangup": (ANS, 41), "b_hangup_answered": (ANS, 46), "b_destroy": (ANS, 51),
    "b_hangup_noanswer": (NOA, 40), "a_hangup_noanswer": (NOA, 35),
    "a_exec_answer": (VM, 27), "a_answer_vm": (VM, 39), "a_exec_vm": (VM, 44), "vm_leave": (VM, 56),
    "a_hangup_vm": (VM, 63),
    "b_hangup_cancel": (AB, 38), "a_hangup_cancel": (AB, 31),
    "gw_create": (OUT, 22), "gw_hangup_answered": (OUT, 44),
}
OLD = {}  # a template's own uuid and the uuid of the other leg
for name, (evs, i) in T.items():
    ev = evs[i]
    own = get(ev, "Unique-ID")
    other = ""
    for e in evs:
        u = get(e, "Unique-ID")
        if u and u != own:
            other = u
            break
    OLD[name] = (own, other)

q = lambda s: urllib.parse.quote(s, safe="")
START = 1795846000_000000  # µs; every scenario starts here, 5 minutes apart
CALLER, DID = "+13125550123", "+12125550100"


class Leg:
    def __init__(s, name, dest, kind="b", context="public", cid=(CALLER, "Pat Caller")):
        s.uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, name))
        s.name, s.dest, s.kind, s.context = name, dest, kind, context
        s.call_uuid = s.uuid
        s.other = None
        s.cid = cid
        s.t = dict(created=0, progress=0, progress_media=0, answered=0, bridged=0, hangup=0, transfer=0)
        s.extra = {}  # variables added to every event of the leg
        s.set = {}  # fields overridden on every event of the leg


class Scenario:
    def __init__(s, name, t0):
        s.name, s.t0, s.now, s.seq, s.out = name, t0, t0, 9000, []

    def at(s, sec):
        s.now = s.t0 + int(sec * 1_000_000)
        return s.now

    def emit(s, tpl, leg, partner=None, set=None, add=None, drop=()):
        evs, i = T[tpl]
        own, other = OLD[tpl]
        p = partner or leg.other
        s.seq += 1
        now = s.now
        lt = time.gmtime(now // 1_000_000)
        fields = {
            "Event-Date-Timestamp": str(now), "Event-Sequence": str(s.seq),
            "Event-Date-Local": q(time.strftime("%Y-%m-%d %H:%M:%S", lt)),
            "Event-Date-GMT": time.strftime("%a,%%20%d%%20%b%%20%Y%%20%H%%3A%M%%3A%S%%20GMT", lt),
            "Channel-Name": q(leg.name), "Caller-Channel-Name": q(leg.name), "variable_channel_name": q(leg.name),
            "Caller-Destination-Number": q(leg.dest), "Caller-Context": leg.context,
            "Channel-Call-UUID": leg.call_uuid, "variable_call_uuid": leg.call_uuid,
            "Caller-Caller-ID-Number": q(leg.cid[0]), "Caller-Orig-Caller-ID-Number": q(leg.cid[0]),
            "Caller-Caller-ID-Name": q(leg.cid[1]), "Caller-Orig-Caller-ID-Name": q(leg.cid[1]),
            "Caller-ANI": q(leg.cid[0]), "Caller-Username": q(leg.cid[0]),
        }
        if leg.kind == "b":
            fields["Caller-Callee-ID-Number"] = q(leg.dest)
        for k, v in (("Created", "created"), ("Answered", "answered"), ("Progress", "progress"),
                     ("Progress-Media", "progress_media"), ("Hangup", "hangup"), ("Bridged", "bridged"),
                     ("Transfer", "transfer")):
            fields[f"Caller-Channel-{k}-Time"] = str(leg.t[v])
        fields["Caller-Profile-Created-Time"] = str(leg.t["transfer"] or leg.t["created"])
        for v in ("start", "answer", "bridge", "progress", "progress_media", "end"):
            us = leg.t[{"start": "created", "answer": "answered", "bridge": "bridged", "end": "hangup"}.get(v, v)]
            fields[f"variable_{v}_uepoch"] = str(us)
            fields[f"variable_{v}_epoch"] = str(us // 1_000_000)
            if us:
                fields[f"variable_{v}_stamp"] = q(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(us // 1_000_000)))
        c, a, h = leg.t["created"], leg.t["answered"], leg.t["hangup"]
        if h:
            fields.update(variable_duration=str((h - c) // 1_000_000), variable_uduration=str(h - c),
                          variable_billsec=str((h - a) // 1_000_000 if a else 0),
                          variable_billusec=str(h - a if a else 0),
                          variable_answersec=str((a - c) // 1_000_000 if a else 0),
                          variable_waitsec=str((a - c) // 1_000_000 if a else 0))
        fields.update(leg.set)
        fields.update(set or {})
        body = []
        for k, v in evs[i]:
            if k in drop:
                continue
            if k in fields:
                v = fields[k]
            else:
                v = v.replace(own, leg.uuid)
                if other:
                    v = v.replace(other, p.uuid if p else leg.uuid)
            body.append((k, v))
        for k, v in list(leg.extra.items()) + list((add or {}).items()):
            if k not in dict(body):
                body.append((k, v))
        text = "".join(f"{k}: {v}\n" for k, v in body) + "\n"
        s.out.append(f"Content-Length: {len(text.encode())}\nContent-Type: text/event-plain\n\n{text}")

    def write(s):
        greet = "Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: +OK accepted\n\n" \
                "Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n"
        with open(f"{HERE}/{s.name}.esl.txt", "w") as f:
            f.write(greet + "".join(s.out))


def a_leg(sc, cid=(CALLER, "Pat Caller")):
    a = Leg(sc.name + "/a", DID, kind="a", cid=cid)
    a.name = f"sofia/external/{cid[0]}@127.0.0.1"
    return a


def b_leg(sc, a, ext, n=1):
    b = Leg(f"{sc.name}/b{n}", ext, cid=a.cid)
    b.name = f"sofia/internal/{ext}@127.0.0.1:{5189 + int(ext) - 99}"
    b.call_uuid, b.other = a.uuid, a
    return b


def bridged_fields(a, b, cause="NORMAL_CLEARING"):
    return {"variable_originate_disposition": "SUCCESS", "variable_DIALSTATUS": "SUCCESS",
            "variable_last_bridge_to": b.uuid, "variable_bridge_uuid": b.uuid, "variable_bridge_channel": q(b.name),
            "variable_bridge_hangup_cause": cause, "variable_last_bridge_hangup_cause": cause}


def ring(sc, a, bs, at):
    """Creates and rings legs bs at second at (progress 20 ms later)."""
    sc.at(at)
    for b in bs:
        b.t["created"] = sc.now
        sc.emit("b_outgoing", b)
        sc.emit("b_create", b)
        sc.emit("b_originate", b)
    sc.at(at + 0.02)
    for b in bs:
        b.t["progress"] = sc.now
        sc.emit("b_progress", b)
    if not a.t["progress"]:
        a.t["progress"] = sc.now
        sc.emit("a_progress", a)


def answer_bridge(sc, a, b, at):
    sc.at(at)
    b.t["answered"] = sc.now
    sc.emit("b_answer", b)
    sc.at(at + 0.04)
    if not a.t["answered"]:
        a.t["answered"] = a.t["progress_media"] = sc.now
        sc.emit("a_progress_media", a, b)
        sc.emit("a_answer", a, b)
    a.t["bridged"] = b.t["bridged"] = sc.now
    sc.emit("bridge", a, b, set={"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": b.uuid,
                                 "Other-Leg-Unique-ID": b.uuid, "Other-Leg-Channel-Name": q(b.name),
                                 "Other-Leg-Destination-Number": q(b.dest)})


def hangup_b(sc, b, tpl, cause, disp, at):
    sc.at(at)
    b.t["hangup"] = sc.now
    f = {"Hangup-Cause": cause, "variable_hangup_cause": cause, "variable_sip_hangup_disposition": disp}
    sc.emit("b_hangup", b, set=f)
    sc.emit(tpl, b, set=f)
    sc.emit("b_destroy", b, set=f)


def hangup_a(sc, a, tpl, cause, disp, at, partner=None, **kw):
    sc.at(at)
    a.t["hangup"] = sc.now
    f = {"Hangup-Cause": cause, "variable_hangup_cause": cause, "variable_sip_hangup_disposition": disp}
    f.update(kw.pop("set", {}))
    sc.emit(tpl, a, partner, set=f, **kw)
    sc.emit("a_destroy", a, partner, set={"Hangup-Cause": cause})


def start(sc, a, apps):
    a.t["created"] = sc.now
    sc.emit("a_create", a)
    for app, data in apps:
        sc.emit("a_exec", a, set={"Application": app, "Application-Data": q(data),
                                  "variable_current_application": app,
                                  "variable_current_application_data": q(data)})


SETS = [("set", "domain_name=127.0.0.1"), ("set", "call_timeout=12"), ("set", "hangup_after_bridge=true"),
        ("set", "continue_on_fail=true")]
NOBRIDGE = ("variable_last_bridge_to", "variable_bridge_uuid", "variable_bridge_channel",
            "variable_bridge_hangup_cause", "variable_bridge_stamp", "variable_bridge_epoch",
            "variable_bridge_uepoch", "variable_last_bridge_hangup_cause",
            "variable_last_bridge_proto_specific_hangup_cause")


def ringgroup_second_answers(t0):
    """(a) ring group 100,101 at once; 101 answers after 6 s; 100 is cancelled
    (LOSE_RACE, sent CANCEL); 101 talks 5 s and hangs up."""
    sc = Scenario("ringgroup_second_answers", t0)
    a = a_leg(sc)
    b1, b2 = b_leg(sc, a, "100", 1), b_leg(sc, a, "101", 2)
    start(sc, a, SETS + [("bridge", "user/100@127.0.0.1,user/101@127.0.0.1")])
    ring(sc, a, [b1, b2], 0.3)
    answer_bridge(sc, a, b2, 6.3)
    hangup_b(sc, b1, "b_hangup_cancel", "LOSE_RACE", "send_cancel", 6.33)
    hangup_b(sc, b2, "b_hangup_answered", "NORMAL_CLEARING", "recv_bye", 11.3)
    sc.emit("unbridge", a, b2, set={"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": b2.uuid})
    hangup_a(sc, a, "a_hangup_bridged", "NORMAL_CLEARING", "send_bye", 11.32, b2, set=bridged_fields(a, b2))
    return sc


def closed_voicemail(t0):
    """(b) night mode: straight to voicemail, no B-leg; a 6 s message."""
    sc = Scenario("closed_voicemail", t0)
    a = a_leg(sc)
    start(sc, a, [("set", "domain_name=127.0.0.1"), ("answer", "")])
    sc.at(0.05)
    a.t["answered"] = a.t["progress_media"] = sc.now
    sc.emit("a_answer_vm", a)
    sc.emit("a_exec_vm", a, set={"Application": "voicemail", "Application-Data": q("default 127.0.0.1 100")})
    sc.at(12.0)
    sc.emit("vm_leave", a, set={"VM-UUID": a.uuid, "VM-Message-Len": "6", "VM-Caller-ID-Number": q(CALLER)})
    hangup_a(sc, a, "a_hangup_vm", "NORMAL_CLEARING", "recv_bye", 12.02,
             set={"variable_voicemail_message_len": q("00:00:06")},
             drop=("variable_originate_disposition", "variable_DIALSTATUS", "variable_originate_failed_cause",
                   "variable_originated_legs", "variable_originate_causes", "variable_last_bridge_hangup_cause",
                   "variable_dialed_user", "variable_dialed_domain", "variable_call_timeout",
                   "variable_hangup_after_bridge", "variable_continue_on_fail"))
    return sc


def withheld_pai(t0):
    """(c) From anonymous, Privacy: id, P-Asserted-Identity with the real
    number; ext 100 rings out. mod_sofia (sofia.c,
    sofia_handle_sip_i_invite) takes caller_id_number, ani and username from
    the PAI user, keeps sip_from_* as sent, sets sip_P-Asserted-Identity to the
    PAI user, sip_cid_type pid, sip_Privacy to the header value, and for
    Privacy: id sets SWITCH_CPF_HIDE_NAME|SWITCH_CPF_HIDE_NUMBER."""
    sc = Scenario("withheld_pai", t0)
    cid = (CALLER, "Anonymous")
    a = a_leg(sc, cid)
    a.name = "sofia/external/anonymous@anonymous.invalid"
    priv = {"Caller-Privacy-Hide-Name": "true", "Caller-Privacy-Hide-Number": "true",
            "variable_sip_from_user": "anonymous", "variable_sip_from_host": "anonymous.invalid",
            "variable_sip_from_uri": q("anonymous@anonymous.invalid"), "variable_sip_from_display": "Anonymous",
            "variable_sip_from_user_stripped": "anonymous",
            "variable_sip_full_from": q('"Anonymous" <sip:anonymous@anonymous.invalid>;tag=4874CARRIER1'),
            "variable_caller_id": q(f'"Anonymous" <{CALLER}>')}
    a.set.update(priv)
    a.extra.update({"variable_sip_P-Asserted-Identity": q(CALLER), "variable_sip_cid_type": "pid",
                    "variable_sip_Privacy": "id"})
    b = b_leg(sc, a, "100")
    b.set.update({"Caller-Privacy-Hide-Name": "true", "Caller-Privacy-Hide-Number": "true",
                  "Other-Leg-Privacy-Hide-Name": "true", "Other-Leg-Privacy-Hide-Number": "true"})
    start(sc, a, SETS + [("bridge", "user/100@127.0.0.1")])
    ring(sc, a, [b], 0.3)
    hangup_b(sc, b, "b_hangup_noanswer", "NO_ANSWER", "send_cancel", 11.6)
    sc.emit("a_exec", a, set={"Application": "hangup", "Application-Data": "NO_ANSWER"})
    hangup_a(sc, a, "a_hangup_noanswer", "NO_ANSWER", "send_refuse", 11.62, b)
    return sc


def cc_agent(sc, a, ext, n, member_uuid):
    """An agent leg mod_callcenter originates (outbound_agent_thread_run):
    switch_ivr_originate with no session, so no originator, Other-Leg or
    originating_leg_uuid; the member is named by cc_member_session_uuid."""
    g = Leg(f"{sc.name}/agent{n}", ext, context="default", cid=a.cid)
    g.name = f"sofia/internal/{ext}@127.0.0.1:{5189 + int(ext) - 99}"
    g.other = None
    g.set.update({"Other-Leg-Unique-ID": "", "variable_originating_leg_uuid": "", "variable_originator": "",
                  "variable_signal_bond": "", "Other-Type": ""})
    g.extra.update({"variable_cc_queue": "support@default", "variable_cc_member_uuid": member_uuid,
                    "variable_cc_member_session_uuid": a.uuid, "variable_cc_member_pre_answer_uuid": member_uuid,
                    "variable_cc_agent": f"{ext}@default", "variable_cc_agent_type": "callback",
                    "variable_cc_side": "agent", "variable_ignore_early_media": "true"})
    return g


def strip_other(g):
    # Agent legs have no Other-Leg block at all: drop the template's.
    return tuple(k for k in ("Other-Type", "Other-Leg-Unique-ID", "variable_originating_leg_uuid",
                             "variable_originator", "variable_signal_bond"))


def queue(t0, name, answered):
    """(d) mod_callcenter queue support@default, ring-all to agents 100 and
    101. answered: 101 answers after 8 s of queueing, 100 is hung up by
    switch_core_session_hupall_matching_var(cc_member_pre_answer_uuid,
    ORIGINATOR_CANCEL) and the member is uuid_bridged to 101. Otherwise the
    caller hangs up after 20 s in the queue while 100 rings."""
    sc = Scenario(name, t0)
    a = a_leg(sc)
    member = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, name + "/member"))
    a.extra.update({"variable_cc_queue": "support@default", "variable_cc_member_uuid": member,
                    "variable_cc_side": "member", "variable_cc_queue_joined_epoch": str(t0 // 1_000_000)})
    start(sc, a, [("set", "domain_name=127.0.0.1"), ("answer", "")])
    sc.at(0.05)
    a.t["answered"] = a.t["progress_media"] = sc.now
    sc.emit("a_answer_vm", a)
    sc.emit("a_exec", a, set={"Application": "callcenter", "Application-Data": "support%40default",
                              "variable_current_application": "callcenter"})
    agents = [cc_agent(sc, a, "100", 1, member)] + ([cc_agent(sc, a, "101", 2, member)] if answered else [])
    drop = strip_other(None)
    sc.at(1.0)
    for g in agents:
        g.t["created"] = sc.now
        sc.emit("b_create", g, drop=drop)
    sc.at(1.02)
    for g in agents:
        g.t["progress"] = sc.now
        sc.emit("b_progress", g, drop=drop)
    if answered:
        g100, g101 = agents
        sc.at(8.0)
        g101.t["answered"] = sc.now
        sc.emit("b_answer", g101, drop=drop)
        hangup_b(sc, g100, "b_hangup_cancel", "ORIGINATOR_CANCEL", "send_cancel", 8.02)
        sc.at(8.04)
        a.t["bridged"] = g101.t["bridged"] = sc.now
        sc.emit("bridge", a, g101, set={"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": g101.uuid,
                                        "Other-Leg-Unique-ID": g101.uuid, "Other-Type": "originatee",
                                        "Event-Calling-Function": "uuid_bridge_on_soft_execute"})
        hangup_b(sc, g101, "b_hangup_answered", "NORMAL_CLEARING", "recv_bye", 20.0)
        sc.emit("unbridge", a, g101, set={"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": g101.uuid})
        f = bridged_fields(a, g101)
        f.update({"variable_last_app": "callcenter", "variable_last_arg": "support%40default"})
        hangup_a(sc, a, "a_hangup_bridged", "NORMAL_CLEARING", "send_bye", 20.02, g101, set=f,
                 add={"variable_cc_agent": "101%40default", "variable_cc_agent_uuid": g101.uuid,
                      "variable_cc_agent_found": "true", "variable_cc_cause": "answered",
                      "variable_cc_queue_answered_epoch": str(a.t["bridged"] // 1_000_000)},
                 drop=("variable_originate_disposition", "variable_DIALSTATUS", "variable_originated_legs",
                       "variable_originate_causes"))
    else:
        (g100,) = agents
        sc.at(20.0)
        a.t["hangup"] = sc.now
        hangup_a(sc, a, "a_hangup_vm", "NORMAL_CLEARING", "recv_bye", 20.0,
                 set={"variable_last_app": "callcenter", "variable_last_arg": "support%40default"},
                 add={"variable_cc_cause": "cancel", "variable_cc_cancel_reason": "BREAK_OUT",
                      "variable_cc_queue_canceled_epoch": str(sc.now // 1_000_000)},
                 drop=("variable_originate_disposition", "variable_DIALSTATUS", "variable_originate_failed_cause",
                       "variable_originated_legs", "variable_originate_causes",
                       "variable_last_bridge_hangup_cause", "variable_voicemail_message_len",
                       "variable_voicemail_account", "variable_dialed_user", "variable_dialed_domain"))
        hangup_b(sc, g100, "b_hangup_cancel", "ORIGINATOR_CANCEL", "send_cancel", 20.1)
    return sc


def transfer_blind(t0):
    """(e) 100 answers after 3 s, talks, then blind-transfers the caller to
    101 (REFER): sofia_handle_sip_i_refer runs switch_ivr_session_transfer on
    the A-leg, which unbridges, takes a new caller profile (destination 101,
    Caller-Channel-Transfer-Time) and bridges to 101, who answers after 4 s."""
    sc = Scenario("transfer_blind", t0)
    a = a_leg(sc)
    b1, b2 = b_leg(sc, a, "100", 1), b_leg(sc, a, "101", 2)
    start(sc, a, SETS + [("bridge", "user/100@127.0.0.1")])
    ring(sc, a, [b1], 0.3)
    answer_bridge(sc, a, b1, 3.3)
    sc.at(10.0)
    sc.emit("unbridge", a, b1, set={"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": b1.uuid})
    hangup_b(sc, b1, "b_hangup_answered", "NORMAL_CLEARING", "recv_bye", 10.05)
    sc.at(10.06)
    a.t["transfer"] = sc.now
    a.dest = "101"
    a.set.update({"Caller-Profile-Index": "2", "variable_transfer_source":
                  q(f"{sc.now // 1_000_000}:{a.uuid}:bl_xfer:101/public/XML")})
    sc.emit("a_exec", a, b1, set={"Application": "bridge", "Application-Data": q("user/101@127.0.0.1")})
    ring(sc, a, [b2], 10.1)
    answer_bridge(sc, a, b2, 14.1)
    hangup_b(sc, b2, "b_hangup_answered", "NORMAL_CLEARING", "recv_bye", 30.0)
    sc.emit("unbridge", a, b2, set={"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": b2.uuid})
    hangup_a(sc, a, "a_hangup_bridged", "NORMAL_CLEARING", "send_bye", 30.02, b2, set=bridged_fields(a, b2))
    return sc


def followme_gateway(t0):
    """(f) follow-me: 100 rings 10 s (leg_timeout, NO_ANSWER), then the mobile
    through gateway carrier (sofia/gateway/carrier/+16175550198, channel
    sofia/external/+16175550198) answers after 5 s."""
    sc = Scenario("followme_gateway_answered", t0)
    a = a_leg(sc)
    b1 = b_leg(sc, a, "100", 1)
    start(sc, a, SETS + [("bridge", "[leg_timeout=10]user/100@127.0.0.1|sofia/gateway/carrier/+16175550198")])
    ring(sc, a, [b1], 0.3)
    hangup_b(sc, b1, "b_hangup_noanswer", "NO_ANSWER", "send_cancel", 10.3)
    m = Leg(sc.name + "/mobile", "+16175550198", cid=a.cid)
    m.name, m.call_uuid, m.other = "sofia/external/+16175550198", a.uuid, a
    m.set["Caller-Context"] = "public"
    sc.at(10.32)
    m.t["created"] = sc.now
    sc.emit("gw_create", m)
    sc.at(11.0)
    m.t["progress"] = sc.now
    sc.emit("b_progress", m, add={"variable_sip_gateway_name": "carrier"})
    answer_bridge(sc, a, m, 15.3)
    sc.at(25.0)
    m.t["hangup"] = sc.now
    sc.emit("gw_hangup_answered", m, set={"Hangup-Cause": "NORMAL_CLEARING",
                                         "variable_sip_hangup_disposition": "recv_bye"})
    sc.emit("unbridge", a, m, set={"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": m.uuid})
    hangup_a(sc, a, "a_hangup_bridged", "NORMAL_CLEARING", "send_bye", 25.02, m, set=bridged_fields(a, m))
    return sc


if __name__ == "__main__":
    for n, f in enumerate([ringgroup_second_answers, closed_voicemail, withheld_pai,
                           lambda t: queue(t, "queue_agent_answered", True),
                           lambda t: queue(t, "queue_abandoned", False),
                           transfer_blind, followme_gateway]):
        f(START + n * 300_000_000).write()
