package esl

import (
	"net/textproto"
	"net/url"
	"strings"
)

// The headers of an event the tracker reads, by index into event.
const (
	fName          = iota // Event-Name
	fSubclass             // Event-Subclass (CUSTOM events)
	fSeq                  // Event-Sequence
	fDate                 // Event-Date-Timestamp, µs since the epoch
	fUUID                 // Unique-ID
	fDirection            // Call-Direction
	fCallUUID             // Channel-Call-UUID
	fVarCallUUID          // variable_call_uuid
	fOrigLeg              // variable_originating_leg_uuid
	fCCMember             // variable_cc_member_session_uuid (mod_callcenter agent legs)
	fOtherType            // Other-Type
	fOtherLeg             // Other-Leg-Unique-ID
	fChanName             // Channel-Name
	fContext              // Caller-Context
	fDest                 // Caller-Destination-Number
	fCIDNum               // Caller-Caller-ID-Number
	fCIDName              // Caller-Caller-ID-Name
	fHideNum              // Caller-Privacy-Hide-Number
	fSipPrivacy           // variable_sip_Privacy
	fRPID                 // variable_sip_Remote-Party-ID
	fCreated              // Caller-Channel-Created-Time
	fProgress             // Caller-Channel-Progress-Time
	fProgressMedia        // Caller-Channel-Progress-Media-Time
	fAnswered             // Caller-Channel-Answered-Time
	fBridged              // Caller-Channel-Bridged-Time
	fHangupTime           // Caller-Channel-Hangup-Time
	fCause                // Hangup-Cause
	fApp                  // Application
	fAppData              // Application-Data
	fBridgeA              // Bridge-A-Unique-ID
	fBridgeB              // Bridge-B-Unique-ID
	fDialStatus           // variable_DIALSTATUS
	fOrigDisp             // variable_originate_disposition
	fHangupDisp           // variable_sip_hangup_disposition
	fLastApp              // variable_last_app
	fLastBridgeTo         // variable_last_bridge_to
	fVMLen                // variable_voicemail_message_len
	fVMAction             // VM-Action
	fVMUUID               // VM-UUID
	fGateway              // variable_sip_gateway_name
	fDID                  // TrackerConfig.DIDVariable, when set
	nFields
)

// headerNames are the header names of the f* fields, as FreeSWITCH spells
// them. fDID has none: it is the configured variable.
var headerNames = [nFields]string{
	fName: "Event-Name", fSubclass: "Event-Subclass", fSeq: "Event-Sequence",
	fDate: "Event-Date-Timestamp", fUUID: "Unique-ID", fDirection: "Call-Direction",
	fCallUUID: "Channel-Call-UUID", fVarCallUUID: "variable_call_uuid",
	fOrigLeg: "variable_originating_leg_uuid", fCCMember: "variable_cc_member_session_uuid",
	fOtherType: "Other-Type", fOtherLeg: "Other-Leg-Unique-ID", fChanName: "Channel-Name",
	fContext: "Caller-Context", fDest: "Caller-Destination-Number",
	fCIDNum: "Caller-Caller-ID-Number", fCIDName: "Caller-Caller-ID-Name",
	fHideNum: "Caller-Privacy-Hide-Number", fSipPrivacy: "variable_sip_Privacy",
	fRPID: "variable_sip_Remote-Party-ID", fCreated: "Caller-Channel-Created-Time",
	fProgress: "Caller-Channel-Progress-Time", fProgressMedia: "Caller-Channel-Progress-Media-Time",
	fAnswered: "Caller-Channel-Answered-Time", fBridged: "Caller-Channel-Bridged-Time",
	fHangupTime: "Caller-Channel-Hangup-Time", fCause: "Hangup-Cause",
	fApp: "Application", fAppData: "Application-Data",
	fBridgeA: "Bridge-A-Unique-ID", fBridgeB: "Bridge-B-Unique-ID",
	fDialStatus: "variable_DIALSTATUS", fOrigDisp: "variable_originate_disposition",
	fHangupDisp: "variable_sip_hangup_disposition", fLastApp: "variable_last_app",
	fLastBridgeTo: "variable_last_bridge_to", fVMLen: "variable_voicemail_message_len",
	fVMAction: "VM-Action", fVMUUID: "VM-UUID", fGateway: "variable_sip_gateway_name",
}

// headerKeys are headerNames as textproto (and so eslgo, which reads events
// with textproto.Reader.ReadMIMEHeader) stores them: "Unique-Id",
// "Variable_call_uuid".
var headerKeys = func() (k [nFields]string) {
	for i, n := range headerNames {
		if n != "" {
			k[i] = textproto.CanonicalMIMEHeaderKey(n)
		}
	}
	return k
}()

// event holds the headers of one event the tracker reads, URL-decoded.
type event [nFields]string

// decode fills e from h. didKey is the canonical key of the DID variable,
// or "". Of a repeated header (CHANNEL_HANGUP_COMPLETE has Hangup-Cause
// twice) the first is kept.
func (e *event) decode(h textproto.MIMEHeader, didKey string) {
	*e = event{}
	for i, k := range &headerKeys {
		if k == "" {
			continue
		}
		if v := h[k]; len(v) > 0 {
			e[i] = unescape(v[0])
		}
	}
	if didKey != "" {
		if v := h[didKey]; len(v) > 0 {
			e[fDID] = unescape(v[0])
		}
	}
}

// unescape decodes a URL-encoded header value: FreeSWITCH encodes every
// value of a plain event (switch_event_serialize, "%2B13125550123"). A value
// that is not valid encoding is kept as it came, not dropped: eslgo's own
// GetHeader returns "" for it.
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}
