// Package asterisk holds textback's integration suite against a real
// Asterisk placing real SIP calls (see README.md). Its tests run only with
// the -asterisk flag:
//
//	test/asterisk/setup && go test ./test/asterisk -asterisk -v
package asterisk
