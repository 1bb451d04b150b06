package modem

import "github.com/warthog618/sms/encoding/gsm7/charset"

// warthog618/sms v0.3.0 builds its GSM 7-bit tables on first use, without
// a lock (gsm7/charset: "if defaultEncoder == nil { defaultEncoder = … }"),
// so two modems encoding or decoding at once race (found by go test -race
// on two emulated modems receiving at once). Building every table here,
// before any goroutine can use them, makes later uses read-only.
func init() {
	charset.DefaultEncoder()
	charset.DefaultExtEncoder()
	charset.DefaultDecoder()
	for nli := charset.Start; nli < charset.End; nli++ {
		charset.NewEncoder(nli)
		charset.NewExtEncoder(nli)
		charset.NewDecoder(nli)
		charset.NewExtDecoder(nli)
	}
}
