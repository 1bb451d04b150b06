package sms

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// hmacHex is the webhook receiver's side, written from the doc comment.
func hmacHex(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return fmt.Sprintf("%x", m.Sum(nil))
}
