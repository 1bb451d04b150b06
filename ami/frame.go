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
// Keys may repeat (ChanVariable, Output); Get returns the first.
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

// Event returns the frame's event name, or "" for a response.
func (f Frame) Event() string { return f.Get("Event") }

// MaxFrame bounds the size of one frame; a peer that sends more is cut off.
const MaxFrame = 4 << 20

// ErrFrameTooLarge is returned for a frame bigger than MaxFrame.
var ErrFrameTooLarge = errors.New("ami: frame too large")

// Reader reads frames from an AMI byte stream.
type Reader struct {
	br   *bufio.Reader
	size int
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// Banner reads the one-line greeting Asterisk sends on connect
// ("Asterisk Call Manager/11.0.0").
func (r *Reader) Banner() (string, error) {
	line, err := r.line()
	if err != nil {
		return "", fmt.Errorf("ami: banner: %w", err)
	}
	return string(line), nil
}

// Read returns the next frame. Lines without a colon (the body of a
// "Response: Follows") become fields with an empty key.
func (r *Reader) Read() (Frame, error) {
	var f Frame
	r.size = 0
	for {
		line, err := r.line()
		if err != nil {
			if errors.Is(err, io.EOF) && len(f.Fields) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
		if len(line) == 0 {
			if len(f.Fields) == 0 {
				continue // stray blank line between frames
			}
			return f, nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			f.Fields = append(f.Fields, Field{Value: string(line)})
			continue
		}
		f.Fields = append(f.Fields, Field{Key: string(bytes.TrimSpace(k)), Value: string(bytes.TrimPrefix(v, []byte(" ")))})
	}
}

// line returns one line without its CRLF or LF.
func (r *Reader) line() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.size += len(chunk)
		if r.size > MaxFrame {
			return nil, ErrFrameTooLarge
		}
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	buf = bytes.TrimSuffix(buf, []byte("\n"))
	buf = bytes.TrimSuffix(buf, []byte("\r"))
	return buf, nil
}
