package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Field is one "Key: Value" line of a frame.
type Field struct {
	Key, Value string
}

// Frame is one AMI message (an event, a response), its fields in wire order.
// Keys may repeat (ChanVariable, Output); Get returns the first. The keys
// and values of a frame from Reader share one string: code that keeps a
// value long after the frame (the Tracker) should strings.Clone it.
type Frame struct {
	Fields []Field
}

// Get returns the value of the first field named key, compared without case.
func (f Frame) Get(key string) string {
	for _, fl := range f.Fields {
		if strings.EqualFold(fl.Key, key) {
			return fl.Value
		}
	}
	return ""
}

// All returns the values of every field named key, in order.
func (f Frame) All(key string) []string {
	var vs []string
	for _, fl := range f.Fields {
		if strings.EqualFold(fl.Key, key) {
			vs = append(vs, fl.Value)
		}
	}
	return vs
}

// Has reports whether the frame has a field named key, even an empty one.
func (f Frame) Has(key string) bool {
	for _, fl := range f.Fields {
		if strings.EqualFold(fl.Key, key) {
			return true
		}
	}
	return false
}

// Event returns the frame's event name, or "" for a response.
func (f Frame) Event() string { return f.Get("Event") }

// MaxFrame bounds one frame: its bytes (blank lines before it included) plus
// a fixed overhead for each field, so that a frame of a million one-byte
// lines is bounded in memory as well as on the wire.
const MaxFrame = 4 << 20

// fieldOverhead is what a Field costs beyond its bytes: two string headers.
const fieldOverhead = 32

// maxBanner bounds the greeting line; Asterisk's is under 40 bytes.
const maxBanner = 1 << 10

// ErrFrameTooLarge is returned for a frame bigger than MaxFrame. The Reader
// stays usable: the next Read skips the rest of the oversized frame (up to
// the next blank line) and returns the frame after it, or ErrFrameTooLarge
// again when it has skipped another MaxFrame bytes without finding the end.
var ErrFrameTooLarge = errors.New("ami: frame too large")

// endCommand ends the raw body of a "Response: Follows" (Asterisk before 14).
const endCommand = "--END COMMAND--"

// Reader reads frames from an AMI byte stream. It accepts CRLF and LF-only
// line ends, empty values, repeated keys, NUL bytes and lines without a
// colon (kept as fields with an empty key). It is not safe for concurrent
// use.
//
// Command output comes two ways and Read turns both into "Output" fields:
// Asterisk 14 and later answer "Response: Success" with one "Output:" field
// a line; older ones answer "Response: Follows", a few header fields, the
// raw CLI output (LF line ends, blank lines included) and "--END COMMAND--"
// at the end of its last line. Each raw line becomes an "Output" field.
type Reader struct {
	br *bufio.Reader
	// skip is set after ErrFrameTooLarge: Read discards up to the next
	// blank line before reading a frame. midLine says the discarding starts
	// in the middle of a line, whose end is not a blank line.
	skip, midLine bool
	// buf collects the lines of the frame being read and spans says where
	// its fields are in them: a frame costs one string, not one a line.
	buf   []byte
	spans []span
}

// span is one field of the frame being read, as offsets into Reader.buf.
// output marks a raw "Response: Follows" body line (key "Output").
type span struct {
	k0, k1, v0, v1 int
	output         bool
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// Banner reads the one-line greeting Asterisk sends on connect
// ("Asterisk Call Manager/11.0.0"). It reads at most 1 KiB.
func (r *Reader) Banner() (string, error) {
	line, _, _, err := r.line(maxBanner)
	if err != nil {
		return "", fmt.Errorf("ami: banner: %w", err)
	}
	return string(line), nil
}

// Read returns the next frame. It returns io.EOF at a clean end of stream,
// io.ErrUnexpectedEOF when the stream ends inside a frame, and
// ErrFrameTooLarge for a frame bigger than MaxFrame (see there).
func (r *Reader) Read() (Frame, error) {
	if r.skip {
		if err := r.resync(); err != nil {
			return Frame{}, err
		}
	}
	var (
		size int
		// A "Response: Follows" frame: follows. Its first line ended in
		// CRLF: crlf. Raw body lines seen: raw. "--END COMMAND--" seen: ended.
		follows, crlf, raw, ended bool
	)
	r.buf, r.spans = r.buf[:0], r.spans[:0]
	for {
		line, eol, complete, err := r.line(MaxFrame - size)
		size += len(line) + len(eol)
		if errors.Is(err, ErrFrameTooLarge) {
			r.skip, r.midLine = true, !complete
			return Frame{}, err
		}
		if err != nil {
			if errors.Is(err, io.EOF) && (len(r.spans) > 0 || len(line) > 0) {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
		if len(line) == 0 {
			if len(r.spans) == 0 {
				continue // stray blank line between frames
			}
			// In a Follows frame a blank line is part of the raw body,
			// unless no raw line came yet and it ends the way the header
			// lines did (then the frame had no raw body: Output fields).
			if follows && !ended && (raw || crlf && eol == "\n") {
				raw = true
				r.spans = append(r.spans, span{output: true})
			} else {
				return r.frame(), nil
			}
		} else if follows && !ended && (raw || !isFollowsHeader(line)) {
			body, end := bytes.CutSuffix(bytes.TrimRight(line, " \t\r"), []byte(endCommand))
			if end {
				ended = true
				if len(body) == 0 {
					continue
				}
				line = body
			}
			raw = true
			base := len(r.buf)
			r.buf = append(r.buf, line...)
			r.spans = append(r.spans, span{v0: base, v1: len(r.buf), output: true})
		} else {
			r.addField(line)
			if len(r.spans) == 1 && r.isFollows(r.spans[0]) {
				follows, crlf = true, eol == "\r\n"
			}
		}
		size += fieldOverhead
		if size > MaxFrame {
			r.skip, r.midLine = true, false
			return Frame{}, ErrFrameTooLarge
		}
	}
}

// addField appends line to r.buf and its field to r.spans, split as
// "Key: Value": the key without surrounding space, the value without the
// one space after the colon. A line without a colon is kept whole as the
// value of a field with an empty key.
func (r *Reader) addField(line []byte) {
	base := len(r.buf)
	r.buf = append(r.buf, line...)
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		r.spans = append(r.spans, span{k0: base, k1: base, v0: base, v1: len(r.buf)})
		return
	}
	k := line[:i]
	k0, k1 := 0, 0
	if t := bytes.TrimSpace(k); len(t) > 0 {
		k0 = cap(k) - cap(t)
		k1 = k0 + len(t)
	}
	v0 := i + 1
	if v0 < len(line) && line[v0] == ' ' {
		v0++
	}
	r.spans = append(r.spans, span{k0: base + k0, k1: base + k1, v0: base + v0, v1: len(r.buf)})
}

// frame makes the Frame of r.spans, every field a piece of one string.
func (r *Reader) frame() Frame {
	s := string(r.buf)
	f := Frame{Fields: make([]Field, len(r.spans))}
	for i, sp := range r.spans {
		if sp.output {
			f.Fields[i] = Field{Key: "Output", Value: s[sp.v0:sp.v1]}
		} else {
			f.Fields[i] = Field{Key: s[sp.k0:sp.k1], Value: s[sp.v0:sp.v1]}
		}
	}
	return f
}

func (r *Reader) isFollows(sp span) bool {
	return !sp.output && bytes.EqualFold(r.buf[sp.k0:sp.k1], []byte("Response")) &&
		bytes.EqualFold(bytes.TrimSpace(r.buf[sp.v0:sp.v1]), []byte("Follows"))
}

func isFollows(fl Field) bool {
	return strings.EqualFold(fl.Key, "Response") && strings.EqualFold(strings.TrimSpace(fl.Value), "Follows")
}

// isFollowsHeader reports whether a line of a "Response: Follows" frame is
// one of the fields Asterisk puts before the raw output (or an Output field,
// should a server mix the two forms).
func isFollowsHeader(line []byte) bool {
	k, _, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return false
	}
	switch strings.ToLower(string(bytes.TrimSpace(k))) {
	case "actionid", "privilege", "message", "output":
		return true
	}
	return false
}

// line returns one line without its end, the end ("\r\n", "\n", or "" at
// EOF), and whether the last byte consumed ended a line. A line longer than
// limit fails with ErrFrameTooLarge after consuming at most limit+64 KiB.
// The returned slice may alias the reader's buffer until the next call.
func (r *Reader) line(limit int) (line []byte, eol string, complete bool, err error) {
	chunk, err := r.br.ReadSlice('\n')
	if err == nil && len(chunk) <= limit {
		line, eol = trimEOL(chunk)
		return line, eol, true, nil
	}
	var buf []byte
	for {
		if len(buf)+len(chunk) > limit {
			return nil, "", err == nil, ErrFrameTooLarge
		}
		buf = append(buf, chunk...)
		if err != bufio.ErrBufferFull {
			break
		}
		chunk, err = r.br.ReadSlice('\n')
	}
	if err != nil {
		return buf, "", false, err // EOF with a partial line, or a read error
	}
	line, eol = trimEOL(buf)
	return line, eol, true, nil
}

func trimEOL(b []byte) ([]byte, string) {
	if b, ok := bytes.CutSuffix(b, []byte("\r\n")); ok {
		return b, "\r\n"
	}
	if b, ok := bytes.CutSuffix(b, []byte("\n")); ok {
		return b, "\n"
	}
	return b, ""
}

// resync discards the rest of an oversized frame, up to and including the
// next blank line. It gives up with ErrFrameTooLarge after MaxFrame bytes,
// leaving r.skip set so that the next Read goes on discarding.
func (r *Reader) resync() error {
	n := 0
	for {
		chunk, err := r.br.ReadSlice('\n')
		n += len(chunk)
		atStart := !r.midLine
		r.midLine = err != nil
		if err != nil && err != bufio.ErrBufferFull {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if err == nil && atStart && (len(chunk) == 1 || len(chunk) == 2 && chunk[0] == '\r') {
			r.skip = false
			return nil
		}
		if n > MaxFrame {
			return ErrFrameTooLarge
		}
	}
}
