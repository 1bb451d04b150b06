// Package sms turns textback Messages into texts through carrier HTTP APIs
// (Twilio, SignalWire, Telnyx, Vonage, Plivo, Bandwidth) or an operator's
// own webhook, and Log writes them to the log instead, for trials and the
// demo. Limited, Remember and Failover are senders that wrap others: a rate
// limit, a memory of numbers that cannot take texts, and an ordered list
// that falls over to the next sender without ever sending a text twice.
//
// Senders whose carrier lists the texts it was sent (Twilio, SignalWire,
// Plivo, Bandwidth) are also Finders: after a send whose outcome is unknown,
// Find looks the text up by recipient, sender, body where the carrier keeps
// it, and time, and says whether the carrier has it. The decorators pass
// Find through; see find.go for what each carrier documents.
package sms
