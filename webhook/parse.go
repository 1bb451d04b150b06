package webhook

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/textback/textback"
)

// number normalises a provider's number to E.164: "+13125550101" stays,
// "13125550101" (Vonage, Plivo) gains its "+". Short codes (3 to 7 digits
// without a "+") are kept as they are.
func number(s string) (textback.Number, bool) {
	s = strings.TrimSpace(s)
	digits := strings.TrimPrefix(s, "+")
	if digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) > 15 {
		return "", false
	}
	switch {
	case len(s) > len(digits) && len(digits) >= 7: // "+" and 7 to 15 digits
		return textback.Number(s), true
	case len(s) == len(digits) && len(digits) >= 8:
		return textback.Number("+" + digits), true
	case len(s) == len(digits) && len(digits) >= 3:
		return textback.Number(digits), true
	}
	return "", false
}

// inbound builds an InboundText, checking what must be there.
func inbound(r *request, provider, id, from, to, body string) (event, error) {
	f, ok := number(from)
	if !ok {
		return event{}, malformed("sender number")
	}
	t, ok := number(to)
	if !ok {
		return event{}, malformed("recipient number")
	}
	if id == "" {
		return event{}, malformed("no message id")
	}
	return event{inbound: &textback.InboundText{Provider: provider, ProviderID: id, From: f, To: t, Body: body, Received: r.now}}, nil
}

// delivery builds a Delivery, or nothing for an intermediate status.
func delivery(r *request, provider, id string, s textback.DeliveryStatus, detail string) ([]event, error) {
	if id == "" {
		return nil, malformed("no message id")
	}
	if s == "" {
		return nil, nil
	}
	return []event{{delivery: &textback.Delivery{Provider: provider, ProviderID: id, Status: s, Detail: detail, At: r.now}}}, nil
}

func one(ev event, err error) ([]event, error) {
	if err != nil {
		return nil, err
	}
	return []event{ev}, nil
}

// status maps a provider's status through a table; statuses not in it are
// intermediate (queued, sent, …) and give "".
func status(table map[string]textback.DeliveryStatus, s string) textback.DeliveryStatus {
	return table[strings.ToLower(s)]
}

func detail(provider, status, code string) string {
	if code == "" || code == "0" {
		return provider + " " + status
	}
	return fmt.Sprintf("%s %s, error %s", provider, status, code)
}

// Twilio and SignalWire post the same form fields
// (https://www.twilio.com/docs/messaging/guides/webhook-request,
// https://www.twilio.com/docs/messaging/guides/track-outbound-message-status).
var twilioStatus = map[string]textback.DeliveryStatus{
	"delivered": textback.Delivered, "read": textback.Delivered,
	"undelivered": textback.Undelivered, "failed": textback.Undelivered,
}

func parseTwilio(provider string, r *request) ([]event, error) {
	p := r.params
	if r.kind == "inbound" {
		return one(inbound(r, provider, p.Get("MessageSid"), p.Get("From"), p.Get("To"), p.Get("Body")))
	}
	s := p.Get("MessageStatus")
	if s == "" {
		return nil, malformed("no MessageStatus")
	}
	return delivery(r, provider, p.Get("MessageSid"), status(twilioStatus, s), detail(provider, s, p.Get("ErrorCode")))
}

// Plivo posts From, To, Text, MessageUUID to the message URL and
// MessageUUID, Status, ErrorCode to the status URL
// (https://www.plivo.com/docs/messaging/api/message#the-message-object).
var plivoStatus = map[string]textback.DeliveryStatus{
	"delivered":   textback.Delivered,
	"undelivered": textback.Undelivered, "failed": textback.Undelivered, "rejected": textback.Undelivered,
}

func parsePlivo(r *request) ([]event, error) {
	p := r.params
	if r.kind == "inbound" {
		return one(inbound(r, "plivo", p.Get("MessageUUID"), p.Get("From"), p.Get("To"), p.Get("Text")))
	}
	s := p.Get("Status")
	if s == "" {
		return nil, malformed("no Status")
	}
	return delivery(r, "plivo", p.Get("MessageUUID"), status(plivoStatus, s), detail("plivo", s, p.Get("ErrorCode")))
}

// Telnyx sends every messaging event to the profile's one webhook URL:
// {"data": {"event_type": "message.received" | "message.sent" |
// "message.finalized", "payload": {"id", "from": {"phone_number"}, "to":
// [{"phone_number", "status"}], "text", "errors": [{"code", "title"}]}}}
// (https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks).
// message.finalized carries the final status of the (first) recipient.
var telnyxStatus = map[string]textback.DeliveryStatus{
	"delivered":       textback.Delivered,
	"delivery_failed": textback.Undelivered, "sending_failed": textback.Undelivered,
}

func parseTelnyx(r *request) ([]event, error) {
	var env struct {
		Data struct {
			EventType string `json:"event_type"`
			Payload   struct {
				ID   string `json:"id"`
				From struct {
					PhoneNumber string `json:"phone_number"`
				} `json:"from"`
				To []struct {
					PhoneNumber string `json:"phone_number"`
					Status      string `json:"status"`
				} `json:"to"`
				Text   string `json:"text"`
				Errors []struct {
					Code  string `json:"code"`
					Title string `json:"title"`
				} `json:"errors"`
			} `json:"payload"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		return nil, malformed("json: %v", err)
	}
	p := env.Data.Payload
	switch env.Data.EventType {
	case "message.received":
		if len(p.To) == 0 {
			return nil, malformed("no recipient")
		}
		return one(inbound(r, "telnyx", p.ID, p.From.PhoneNumber, p.To[0].PhoneNumber, p.Text))
	case "message.finalized":
		if len(p.To) == 0 {
			return nil, malformed("no recipient")
		}
		code := ""
		if len(p.Errors) > 0 {
			code = p.Errors[0].Code
		}
		s := p.To[0].Status
		return delivery(r, "telnyx", p.ID, status(telnyxStatus, s), detail("telnyx", s, code))
	case "":
		return nil, malformed("no event_type")
	}
	return nil, nil // message.sent and the like: nothing to record
}

// Vonage has two APIs. The SMS API sends msisdn (the other party), to (our
// number), messageId, text to the inbound URL and messageId, status,
// err-code to the delivery-receipt URL, as GET query, form or JSON
// (https://developer.vonage.com/en/messaging/sms/guides/inbound-sms,
// https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts).
// The Messages API (a bearer token) posts JSON {message_uuid, from, to,
// text} and {message_uuid, status, error}
// (https://developer.vonage.com/en/api/messages#webhooks). Long inbound
// texts arrive part by part (concat-part), each its own message.
var vonageStatus = map[string]textback.DeliveryStatus{
	"delivered": textback.Delivered, "read": textback.Delivered,
	"expired": textback.Undelivered, "failed": textback.Undelivered, "rejected": textback.Undelivered,
	"undeliverable": textback.Undelivered,
}

func parseVonage(r *request) ([]event, error) {
	if r.Header.Get("Authorization") != "" { // the Messages API
		var m struct {
			UUID   string `json:"message_uuid"`
			From   string `json:"from"`
			To     string `json:"to"`
			Text   string `json:"text"`
			Status string `json:"status"`
			Error  struct {
				Type  string `json:"type"`
				Title any    `json:"title"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.body, &m); err != nil {
			return nil, malformed("json: %v", err)
		}
		if r.kind == "inbound" {
			return one(inbound(r, "vonage", m.UUID, m.From, m.To, m.Text))
		}
		if m.Status == "" {
			return nil, malformed("no status")
		}
		code := ""
		if m.Error.Title != nil {
			code = fmt.Sprint(m.Error.Title)
		}
		return delivery(r, "vonage", m.UUID, status(vonageStatus, m.Status), detail("vonage", m.Status, code))
	}
	p := r.params // verifyVonage filled it from the query, form or JSON
	if r.kind == "inbound" {
		return one(inbound(r, "vonage", p.Get("messageId"), p.Get("msisdn"), p.Get("to"), p.Get("text")))
	}
	s := p.Get("status")
	if s == "" {
		return nil, malformed("no status")
	}
	return delivery(r, "vonage", p.Get("messageId"), status(vonageStatus, s), detail("vonage", s, p.Get("err-code")))
}

// Bandwidth posts a JSON array of events to the application's one callback
// URL: {"type": "message-received" | "message-sending" |
// "message-delivered" | "message-failed", "to", "errorCode", "message":
// {"id", "from", "to": [...], "text"}}
// (https://dev.bandwidth.com/docs/messaging/webhooks/).
func parseBandwidth(r *request) ([]event, error) {
	var evs []struct {
		Type        string `json:"type"`
		To          string `json:"to"`
		Description string `json:"description"`
		ErrorCode   *int   `json:"errorCode"`
		Message     struct {
			ID   string   `json:"id"`
			From string   `json:"from"`
			To   []string `json:"to"`
			Text string   `json:"text"`
		} `json:"message"`
	}
	if err := json.Unmarshal(r.body, &evs); err != nil {
		return nil, malformed("json: %v", err)
	}
	var out []event
	for _, e := range evs {
		var got []event
		var err error
		switch e.Type {
		case "message-received":
			to := e.To
			if to == "" && len(e.Message.To) > 0 {
				to = e.Message.To[0]
			}
			got, err = one(inbound(r, "bandwidth", e.Message.ID, e.Message.From, to, e.Message.Text))
		case "message-delivered":
			got, err = delivery(r, "bandwidth", e.Message.ID, textback.Delivered, "bandwidth delivered")
		case "message-failed":
			code := ""
			if e.ErrorCode != nil {
				code = fmt.Sprint(*e.ErrorCode)
			}
			got, err = delivery(r, "bandwidth", e.Message.ID, textback.Undelivered, detail("bandwidth", "failed", code))
		case "":
			err = malformed("no type")
		}
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// Our generic webhook gateway posts JSON: to /inbound {"id", "from", "to",
// "body"}, to /status {"id", "status": "delivered" | "undelivered", "detail"},
// id being the one it answered the text with.
func parseWebhook(r *request) ([]event, error) {
	var m struct {
		ID     string `json:"id"`
		From   string `json:"from"`
		To     string `json:"to"`
		Body   string `json:"body"`
		Status string `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &m); err != nil {
		return nil, malformed("json: %v", err)
	}
	if r.kind == "inbound" {
		return one(inbound(r, "webhook", m.ID, m.From, m.To, m.Body))
	}
	s := map[string]textback.DeliveryStatus{"delivered": textback.Delivered, "undelivered": textback.Undelivered, "failed": textback.Undelivered}[m.Status]
	if m.Status == "" {
		return nil, malformed("no status")
	}
	d := "webhook " + m.Status
	if m.Detail != "" {
		d += ": " + m.Detail
	}
	return delivery(r, "webhook", m.ID, s, d)
}
