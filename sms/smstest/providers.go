package smstest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// basic checks HTTP basic credentials.
func basic(user, pass string) func(*Fake, *http.Request, []byte) string {
	return func(_ *Fake, r *http.Request, _ []byte) string {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			return fmt.Sprintf("basic auth %q is not %s and its secret", u, user)
		}
		return ""
	}
}

// bearer checks a bearer token.
func bearer(tok string) func(*Fake, *http.Request, []byte) string {
	return func(_ *Fake, r *http.Request, _ []byte) string {
		if r.Header.Get("Authorization") != "Bearer "+tok {
			return "Authorization is not the API key as a bearer token"
		}
		return ""
	}
}

func post(path string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Path == path }
}

// NewTwilio starts a fake of Twilio's Programmable Messaging API: Create a
// Message (POST /2010-04-01/Accounts/{AccountSid}/Messages.json, a form with
// To, Body and From or MessagingServiceSid, basic auth AccountSid:AuthToken,
// answered 201 with the Message resource,
// https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource)
// and Fetch an Account (GET /2010-04-01/Accounts/{AccountSid}.json). Errors
// are Twilio's {code, message, more_info, status}
// (https://www.twilio.com/docs/usage/twilios-response).
func NewTwilio(t testing.TB) *Fake {
	account := "/2010-04-01/Accounts/" + TwilioAccountSID
	return newFake(t, "twilio", twilioLike(TwilioAccountSID, TwilioAuthToken, account+"/Messages.json",
		func(n int, _ Text) string { return fmt.Sprintf("SM%032x", n) }, account+".json", "https://www.twilio.com/docs/errors/"), "")
}

// NewSignalWire starts a fake of SignalWire's Compatibility (LaML) API,
// which is shaped like Twilio's: POST
// /api/laml/2010-04-01/Accounts/{project_id}/Messages with basic auth
// project_id:api_token, and GET /api/laml/2010-04-01/Accounts/{project_id}
// (https://developer.signalwire.com/compatibility-api/reference).
func NewSignalWire(t testing.TB) *Fake {
	account := "/api/laml/2010-04-01/Accounts/" + SignalWireProjectID
	return newFake(t, "signalwire", twilioLike(SignalWireProjectID, SignalWireAPIToken, account+"/Messages",
		func(n int, _ Text) string { return fmt.Sprintf("b3877c40-da60-4998-90ad-%012x", n) }, account,
		"https://developer.signalwire.com/compatibility-api/reference/error-codes#"), "")
}

func twilioLike(account, token, messages string, id func(int, Text) string, accountPath, moreInfo string) spec {
	refuse := func(w http.ResponseWriter, status int, problem string) {
		code := 20000 + status // 20003 (authenticate) aside, Twilio's 20xxx codes follow the status: 20404, 20429, 20500
		switch status {
		case http.StatusUnauthorized:
			code = 20003
		case http.StatusBadRequest:
			code = 21602 // "Message body is required", the closest of Twilio's codes for a malformed request
		}
		writeJSON(w, status, map[string]any{"code": code, "message": problem, "more_info": fmt.Sprintf("%s%d", moreInfo, code), "status": status})
	}
	return spec{
		send: post(messages),
		auth: basic(account, token),
		parse: func(f *Fake, r *http.Request, raw []byte) (Text, []string) {
			b := readForm(r, raw)
			// The documented parameters for one SMS; Twilio accepts more
			// (MediaUrl, ContentSid, …) that a text-back never needs.
			b.keys([]string{"To", "Body"}, []string{"From", "MessagingServiceSid", "StatusCallback", "ValidityPeriod", "ApplicationSid", "MaxPrice", "ProvideFeedback", "Attempt", "ForceDelivery", "SmartEncoded", "ShortenUrls", "SendAt", "ScheduleType"})
			t := Text{To: b.e164("To"), Body: b.nonEmpty("Body"), From: b.sender("From"), Fields: b.fields}
			_, hasFrom := b.fields["From"]
			if svc := b.str("MessagingServiceSid"); !hasFrom && svc == "" {
				b.problemf("neither From nor MessagingServiceSid")
			} else if svc != "" && (len(svc) != 34 || !strings.HasPrefix(svc, "MG")) {
				b.problemf("MessagingServiceSid %q is not MG and 32 hex digits", svc)
			}
			return t, b.problems
		},
		id: id,
		ok: func(w http.ResponseWriter, t Text) {
			var from, svc any
			if t.From != "" {
				from = t.From
			}
			if s, _ := t.Fields["MessagingServiceSid"].(string); s != "" {
				svc = s
			}
			uri := strings.TrimSuffix(messages, ".json") + "/" + t.ID
			writeJSON(w, http.StatusCreated, map[string]any{
				"account_sid": account, "api_version": "2010-04-01", "body": t.Body,
				"date_created": "Thu, 30 Jul 2015 20:12:31 +0000", "date_sent": nil, "date_updated": "Thu, 30 Jul 2015 20:12:31 +0000",
				"direction": "outbound-api", "error_code": nil, "error_message": nil, "from": from, "messaging_service_sid": svc,
				"num_media": "0", "num_segments": "1", "price": nil, "price_unit": "USD", "sid": t.ID, "status": "queued",
				"subresource_uris": map[string]string{"media": uri + "/Media.json"}, "to": t.To, "uri": uri + ".json",
			})
		},
		refuse:    refuse,
		checkPath: accountPath,
		checkAnswer: func(w http.ResponseWriter) {
			writeJSON(w, http.StatusOK, map[string]any{"sid": account, "owner_account_sid": account, "friendly_name": "Peak HVAC",
				"status": "active", "type": "Full", "date_created": "Thu, 30 Jul 2015 20:00:00 +0000", "uri": accountPath})
		},
	}
}

// NewTelnyx starts a fake of Telnyx's Messaging API v2: POST /v2/messages
// with a bearer API key and a JSON body {from, to, text,
// messaging_profile_id}, answered 200 {data: message}
// (https://developers.telnyx.com/api/messaging/send-message), and GET
// /v2/balance (https://developers.telnyx.com/api/account/get-user-balance).
// Errors are {errors: [{code, title, detail}]}
// (https://developers.telnyx.com/development/api-fundamentals/api-errors).
func NewTelnyx(t testing.TB) *Fake {
	return newFake(t, "telnyx", spec{
		send: post("/v2/messages"),
		auth: bearer(TelnyxAPIKey),
		parse: func(f *Fake, r *http.Request, raw []byte) (Text, []string) {
			b := readJSON(r, raw)
			b.keys([]string{"to"}, []string{"from", "text", "messaging_profile_id", "subject", "media_urls", "webhook_url",
				"webhook_failover_url", "use_profile_webhooks", "type", "auto_detect", "send_at"})
			t := Text{To: b.e164("to"), From: b.sender("from"), Body: b.nonEmpty("text"), Fields: b.fields}
			if _, ok := b.fields["text"]; !ok {
				b.problemf("no text (nor media_urls, which a text-back never sends)")
			}
			if t.From == "" && b.str("messaging_profile_id") == "" {
				b.problemf("neither from nor messaging_profile_id")
			}
			return t, b.problems
		},
		id: func(n int, _ Text) string { return fmt.Sprintf("40385f64-5717-4562-b3fc-%012x", n) },
		ok: func(w http.ResponseWriter, t Text) {
			writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
				"record_type": "message", "direction": "outbound", "id": t.ID, "type": "SMS",
				"messaging_profile_id": t.Fields["messaging_profile_id"], "text": t.Body,
				"from":  map[string]any{"phone_number": t.From, "carrier": "TELNYX LLC", "line_type": "VoIP"},
				"to":    []any{map[string]any{"phone_number": t.To, "status": "queued", "carrier": "T-MOBILE USA, INC.", "line_type": "Wireless"}},
				"parts": 1, "encoding": "GSM-7", "errors": []any{},
			}})
		},
		refuse: func(w http.ResponseWriter, status int, problem string) {
			code := "10015" // bad request
			switch {
			case status == http.StatusUnauthorized:
				code = "10009" // authentication failed
			case status == http.StatusTooManyRequests:
				code = "10011" // too many requests
			case status >= 500:
				code = "10007" // unexpected error
			}
			writeJSON(w, status, map[string]any{"errors": []any{map[string]any{"code": code, "title": http.StatusText(status), "detail": problem,
				"meta": map[string]any{"url": "https://developers.telnyx.com/docs/overview/errors/" + code}}}})
		},
		checkPath: "/v2/balance",
		checkAnswer: func(w http.ResponseWriter) {
			writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"record_type": "balance", "balance": "300.00",
				"currency": "USD", "credit_limit": "100.00", "available_credit": "400.00", "pending": "10.00"}})
		},
	}, "")
}

// NewPlivo starts a fake of Plivo's Message API: POST
// /v1/Account/{auth_id}/Message/ with basic auth auth_id:auth_token and a
// JSON body {src, dst, text}, answered 202 {api_id, message,
// message_uuid: [...]} (https://www.plivo.com/docs/messaging/api/message/send-a-message),
// and GET /v1/Account/{auth_id}/ (https://www.plivo.com/docs/account/api/account).
// Errors are {api_id, error}.
func NewPlivo(t testing.TB) *Fake {
	account := "/v1/Account/" + PlivoAuthID + "/"
	return newFake(t, "plivo", spec{
		send: post(account + "Message/"),
		auth: basic(PlivoAuthID, PlivoAuthToken),
		parse: func(f *Fake, r *http.Request, raw []byte) (Text, []string) {
			b := readJSON(r, raw)
			b.keys([]string{"dst", "text"}, []string{"src", "powerpack_uuid", "type", "url", "method", "log", "trackable", "dlt_entity_id", "dlt_template_id", "dlt_template_category"})
			// dst may list several numbers joined by "<"; a text-back sends to one.
			t := Text{To: b.e164("dst"), From: b.sender("src"), Body: b.nonEmpty("text"), Fields: b.fields}
			if t.From == "" && b.str("powerpack_uuid") == "" {
				b.problemf("neither src nor powerpack_uuid")
			}
			return t, b.problems
		},
		id: func(n int, _ Text) string { return fmt.Sprintf("db3ce55a-7f1d-11e1-8ea7-%012x", n) },
		ok: func(w http.ResponseWriter, t Text) {
			writeJSON(w, http.StatusAccepted, map[string]any{"api_id": "db342550-7f1d-11e1-8ea7-1231380bc196",
				"message": "message(s) queued", "message_uuid": []string{t.ID}})
		},
		refuse: func(w http.ResponseWriter, status int, problem string) {
			writeJSON(w, status, map[string]any{"api_id": "97ceeb52-58b6-11e1-86da-77300b68f8bb", "error": problem})
		},
		checkPath: account,
		checkAnswer: func(w http.ResponseWriter) {
			writeJSON(w, http.StatusOK, map[string]any{"account_type": "standard", "auth_id": PlivoAuthID, "cash_credits": "23.50000",
				"api_id": "a31b3a6a-4d2a-11e5-9d6e-22000ac55e4b", "name": "Peak HVAC", "resource_uri": account})
		},
	}, "")
}

// NewBandwidth starts a fake of Bandwidth's Messaging API v2: POST
// /api/v2/users/{accountId}/messages with basic auth and a JSON body {from,
// to: [...], text, applicationId}, answered 202 with the message
// (https://dev.bandwidth.com/apis/messaging/#tag/Messages/operation/createMessage).
// Errors are {type, description, fieldErrors}. Bandwidth has no account
// endpoint that textback check reads.
func NewBandwidth(t testing.TB) *Fake {
	return newFake(t, "bandwidth", spec{
		send: post("/api/v2/users/" + BandwidthAccountID + "/messages"),
		auth: basic(BandwidthUsername, BandwidthPassword),
		parse: func(f *Fake, r *http.Request, raw []byte) (Text, []string) {
			b := readJSON(r, raw)
			b.keys([]string{"applicationId", "to", "from"}, []string{"text", "media", "tag", "priority", "expiration"})
			t := Text{From: b.e164("from"), Body: b.nonEmpty("text"), Fields: b.fields}
			if app := b.str("applicationId"); app != BandwidthApplicationID {
				b.problemf("applicationId %q is not the application %s", app, BandwidthApplicationID)
			}
			if to, ok := b.fields["to"].([]any); !ok || len(to) == 0 {
				b.problemf("to is %T, want an array of numbers", b.fields["to"])
			} else {
				for i, n := range to {
					if s, _ := n.(string); !isE164(s) {
						b.problemf("to[%d] = %v is not an E.164 number", i, n)
					}
				}
				if len(to) != 1 {
					b.problemf("to has %d numbers: a group text, not a text-back", len(to))
				} else {
					t.To, _ = to[0].(string)
				}
			}
			if _, ok := b.fields["text"]; !ok {
				b.problemf("no text (nor media, which a text-back never sends)")
			}
			return t, b.problems
		},
		id: func(n int, _ Text) string { return fmt.Sprintf("1589228074636lm4k2je7j%07d", n) },
		ok: func(w http.ResponseWriter, t Text) {
			writeJSON(w, http.StatusAccepted, map[string]any{"id": t.ID, "owner": t.From, "applicationId": BandwidthApplicationID,
				"time": "2020-05-11T20:14:34.636Z", "segmentCount": 1, "direction": "out", "to": []string{t.To}, "from": t.From,
				"text": t.Body, "tag": t.Fields["tag"], "priority": "default"})
		},
		refuse: func(w http.ResponseWriter, status int, problem string) {
			typ := strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "-")
			if status == http.StatusBadRequest {
				typ = "request-validation"
			}
			writeJSON(w, status, map[string]any{"type": typ, "description": problem, "fieldErrors": []any{}})
		},
	}, "")
}
