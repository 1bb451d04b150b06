// Package sms turns textback Messages into texts: Twilio sends them through
// Twilio's Programmable Messaging REST API, and Log writes them to the log
// instead, for trials and the demo.
package sms
