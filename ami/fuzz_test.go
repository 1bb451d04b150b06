package ami

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// FuzzReader feeds arbitrary bytes to Reader: it must not panic or loop,
// must account for every byte it returns, and a frame it returns must read
// back the same once encoded again (outside the legacy Follows form, whose
// raw body has no encoding of its own).
//
//	go test -run '^$' -fuzz FuzzReader -fuzztime 2m ./ami
func FuzzReader(f *testing.F) {
	// The captures, cut at frame boundaries into pieces of about 4 KiB:
	// whole 140 KB captures make every mutation and minimization slow.
	// TestReadCaptures reads them whole.
	for _, data := range captures(f) {
		banner, rest, _ := bytes.Cut(data, []byte("\r\n"))
		for len(rest) > 0 {
			n := bytes.Index(rest[min(len(rest), 4<<10):], []byte("\r\n\r\n"))
			if n < 0 {
				n = len(rest)
			} else {
				n += min(len(rest), 4<<10) + 4
			}
			f.Add(append(append(bytes.Clone(banner), "\r\n"...), rest[:n]...))
			rest = rest[n:]
		}
	}
	for _, s := range []string{
		"Event: A\nKey: v\n\n",
		"Event: A\r\nAccountCode: \r\nX:\r\ngarbage\r\n\x00: \x00\r\n\r\n",
		"Response: Success\r\nActionID: 1\r\nMessage: Command output follows\r\nOutput: a\r\nOutput: \r\n\r\n",
		"Response: Follows\r\nPrivilege: Command\r\nActionID: 2\r\n\nline\nx: y\n\nlast--END COMMAND--\r\n\r\nEvent: B\r\n\r\n",
		"Response: Follows\nActionID: 3\nOutput: a\n\n",
		"\r\n\r\n\n\nEvent: A\r\nKey: v",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		if _, err := r.Banner(); err != nil {
			return
		}
		var got []Frame
		bytesOut := 0
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatalf("%d Reads on %d bytes: no progress", i, len(data))
			}
			fr, err := r.Read()
			if errors.Is(err, ErrFrameTooLarge) {
				continue
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				t.Fatalf("Read() error %v", err)
			}
			if len(fr.Fields) == 0 {
				t.Fatalf("Read() returned an empty frame")
			}
			for _, fl := range fr.Fields {
				bytesOut += len(fl.Value)
				if !isFollows(fr.Fields[0]) { // a legacy body's "Output" keys are ours
					bytesOut += len(fl.Key)
				}
			}
			got = append(got, fr)
		}
		if bytesOut > len(data) {
			t.Fatalf("frames hold %d bytes, input had %d", bytesOut, len(data))
		}
		for _, fr := range got {
			if isFollows(fr.Fields[0]) {
				continue
			}
			enc := encode(fr)
			back, err := NewReader(bytes.NewReader(enc)).Read()
			if err != nil {
				t.Fatalf("re-reading %q: %v", enc, err)
			}
			if !reflect.DeepEqual(back, fr) {
				t.Fatalf("round trip:\nread    %q\nencoded %q\nre-read %q", fr.Fields, enc, back.Fields)
			}
		}
	})
}

// encode writes a frame the way Reader reads it: a field with an empty key
// as ": value", so that a value holding a colon survives.
func encode(f Frame) []byte {
	var b []byte
	for _, fl := range f.Fields {
		b = append(b, fl.Key...)
		b = append(b, ": "...)
		b = append(b, fl.Value...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}
