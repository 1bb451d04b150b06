/*
 * This Source Code Form is subject to the terms of the Mozilla Public
 * License, v. 2.0. If a copy of the MPL was not distributed with this
 * file, You can obtain one at https://mozilla.org/MPL/2.0/.
 */

// textback patch: a header reader that replaces net/textproto's
// ReadMIMEHeader for envelopes and plain event bodies (see PATCHES.md).

package eslgo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"
)

// parseHeader parses the header block at the start of s ("Key: value"
// lines up to a blank line) into a MIMEHeader, with the results of
// textproto.Reader.ReadMIMEHeader on the same bytes: canonical keys (keys
// with a space are kept as they are), values trimmed of spaces and tabs,
// continuation lines (starting with a space or tab) joined with one space,
// repeated keys in order, and the same errors (a line without a colon, an
// invalid key, a control character in a value, a first line that starts
// with a space; io.EOF when s ends before the blank line, with the headers
// read so far). It returns the rest of s after the blank line.
//
// Values are substrings of s: the caller passes a string it will not
// change. keys, when not nil, interns canonical keys across calls; it is
// not safe for concurrent use.
func parseHeader(s string, keys *keyCache) (textproto.MIMEHeader, string, error) {
	// Size the map and the values as textproto does (upcomingHeaderKeys),
	// roughly: from the lines up to the first blank one.
	end := strings.Index(s, "\n\n")
	if end < 0 {
		end = len(s)
	}
	n := min(strings.Count(s[:end], "\n")+1, 1000)
	var strs []string
	if n > 0 {
		strs = make([]string, n)
	}
	m := make(textproto.MIMEHeader, n)

	if len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		line, _ := nextLine(s)
		return m, "", textproto.ProtocolError(fmt.Sprintf("malformed MIME header initial line: %q", line[:min(len(line), 80)]))
	}
	var joined []byte
	for {
		if len(s) == 0 {
			return m, "", io.EOF
		}
		line, rest := nextLine(s)
		s = rest
		if len(line) == 0 {
			return m, s, nil
		}
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			return m, "", textproto.ProtocolError(fmt.Sprintf("malformed MIME header: missing colon: %q", line))
		}
		// The line does not start with a space or tab (the first is
		// checked above, later ones are continuations): trimming it only
		// shortens its end, and the colon stays where it was.
		kv := trimRight(line)
		k, v := kv[:min(colon, len(kv))], kv[min(colon+1, len(kv)):]
		// Continuation lines: each starts with spaces or tabs, which go,
		// and joins with one space.
		if len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
			joined = append(joined[:0], kv...)
			for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
				s = strings.TrimLeft(s, " \t")
				joined = append(joined, ' ')
				if len(s) == 0 {
					break
				}
				var l string
				l, s = nextLine(s)
				joined = append(joined, trim(l)...)
			}
			kv = string(joined)
			k, v, _ = strings.Cut(kv, ":")
		}
		key, ok := keys.canonical(k)
		if !ok {
			return m, "", textproto.ProtocolError(fmt.Sprintf("malformed MIME header line: %q", kv))
		}
		for i := 0; i < len(v); i++ {
			if !validHeaderValueByte(v[i]) {
				return m, "", textproto.ProtocolError(fmt.Sprintf("malformed MIME header line: %q", kv))
			}
		}
		value := v
		for len(value) > 0 && (value[0] == ' ' || value[0] == '\t') {
			value = value[1:]
		}
		vv := m[key]
		if vv == nil && len(strs) > 0 {
			vv, strs = strs[:1:1], strs[1:]
			vv[0] = value
			m[key] = vv
		} else {
			m[key] = append(vv, value)
		}
	}
}

// nextLine cuts s after its first line, as bufio.Reader.ReadLine does:
// the line without "\n" or "\r\n"; the whole of s when it has no "\n".
func nextLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, rest
}

// trim removes leading and trailing spaces and tabs (textproto's trim).
func trim(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return trimRight(s)
}

// trimRight removes trailing spaces and tabs.
func trimRight(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// keyCache maps header keys as they come to their canonical form, so that
// each distinct key is canonicalized and allocated once per connection.
type keyCache struct {
	m map[string]string
}

// maxCachedKeys bounds a keyCache: FreeSWITCH's header names are a small
// set, but channel variables are named by the dialplan.
const maxCachedKeys = 4096

// canonical returns textproto's canonical form of k and whether k is a
// valid key (textproto.canonicalMIMEHeaderKey). A nil c caches nothing.
func (c *keyCache) canonical(k string) (string, bool) {
	if c != nil {
		if v, ok := c.m[k]; ok {
			return v, true
		}
	}
	if k == "" {
		return "", false
	}
	noCanon, canon := false, true
	upper := true
	for i := 0; i < len(k); i++ {
		ch := k[i]
		switch {
		case ch == ' ':
			noCanon = true
		case !validHeaderFieldByte(ch):
			return "", false
		case upper && 'a' <= ch && ch <= 'z', !upper && 'A' <= ch && ch <= 'Z':
			canon = false
		}
		upper = ch == '-'
	}
	var v string
	switch {
	case noCanon || canon:
		v = strings.Clone(k) // not a substring of the body: keys outlive it
	default:
		v = textproto.CanonicalMIMEHeaderKey(k)
	}
	if c != nil && len(c.m) < maxCachedKeys {
		if c.m == nil {
			c.m = make(map[string]string)
		}
		c.m[v] = v // not k: k is a substring of the body
		if k != v {
			c.m[strings.Clone(k)] = v
		}
	}
	return v, true
}

// validHeaderFieldByte reports whether c may appear in a header key
// (textproto's, RFC 7230 token characters).
func validHeaderFieldByte(c byte) bool {
	const mask = 0 |
		(1<<(10)-1)<<'0' |
		(1<<(26)-1)<<'a' |
		(1<<(26)-1)<<'A' |
		1<<'!' |
		1<<'#' |
		1<<'$' |
		1<<'%' |
		1<<'&' |
		1<<'\'' |
		1<<'*' |
		1<<'+' |
		1<<'-' |
		1<<'.' |
		1<<'^' |
		1<<'_' |
		1<<'`' |
		1<<'|' |
		1<<'~'
	return ((uint64(1)<<c)&(mask&(1<<64-1)) |
		(uint64(1)<<(c-64))&(mask>>64)) != 0
}

// validHeaderValueByte reports whether c may appear in a header value
// (textproto's: anything but control characters other than tab).
func validHeaderValueByte(c byte) bool {
	const mask = 0 |
		(1<<(0x7f-0x21)-1)<<0x21 | // VCHAR: %x21-7E
		1<<0x20 | // SP: %x20
		1<<0x09 // HTAB: %x09
	return ((uint64(1)<<c)&^(mask&(1<<64-1)) |
		(uint64(1)<<(c-64))&^(mask>>64)) == 0
}

// errLongEnvelope stops an envelope that never ends.
var errLongEnvelope = errors.New("eslgo: envelope longer than 1 MB")

// maxEnvelope bounds an envelope (the headers before a message's body);
// FreeSWITCH's are a few lines.
const maxEnvelope = 1 << 20

// readEnvelope reads a message's header block from r, up to and including
// the blank line ("\n" or "\r\n"; a line of spaces continues the line
// before it, as in textproto), and parses it. buf is scratch space kept
// between calls. Like textproto, it returns io.EOF when the stream ends
// first.
func readEnvelope(r *bufio.Reader, buf *[]byte) (textproto.MIMEHeader, error) {
	b := (*buf)[:0]
	defer func() { *buf = b[:0] }()
	start := 0 // of the line being read, in b
	for {
		line, err := r.ReadSlice('\n')
		b = append(b, line...)
		line = b[start:]
		if len(b) > maxEnvelope {
			return nil, errLongEnvelope
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			// textproto would parse what came before the error first.
			if _, _, perr := parseHeader(string(b), nil); perr != nil && perr != io.EOF {
				return nil, perr
			}
			return nil, err
		}
		if len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			h, _, err := parseHeader(string(b), nil)
			return h, err
		}
		start = len(b)
	}
}
