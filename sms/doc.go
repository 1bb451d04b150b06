// Package sms turns textback Messages into texts through carrier HTTP APIs
// (Twilio, SignalWire, Telnyx, Vonage, Plivo, Bandwidth) or an operator's
// own webhook, and Log writes them to the log instead, for trials and the
// demo. Limited, Remember and Failover are senders that wrap others: a rate
// limit, a memory of numbers that cannot take texts, and an ordered list
// that falls over to the next sender without ever sending a text twice.
package sms
