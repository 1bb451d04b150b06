/*
 * This Source Code Form is subject to the terms of the Mozilla Public
 * License, v. 2.0. If a copy of the MPL was not distributed with this
 * file, You can obtain one at https://mozilla.org/MPL/2.0/.
 */

// textback patch: parseHeader and readEnvelope against net/textproto.

package eslgo

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// headerCases are header blocks, good and bad, as FreeSWITCH sends them and
// as it does not.
var headerCases = []string{
	"",
	"\n",
	"\r\n",
	"Content-Type: auth/request\n\n",
	"Content-Length: 12\nContent-Type: text/event-plain\n\nEvent-Name: X",
	"Content-Type: command/reply\nReply-Text: +OK accepted\n\n",
	"Event-Name: CHANNEL_CREATE\nUnique-ID: abc\nCaller-Caller-ID-Name: Pat%20Caller\nvariable_sip_Privacy: id\n\n",
	"Event-Name: BACKGROUND_JOB\nContent-Length: 5\n\nhello",
	"Event-Name: BACKGROUND_JOB\nContent-Length: 9\n\nhello",
	"Event-Name: BACKGROUND_JOB\nContent-Length: 5\n\n",
	"Event-Name: BACKGROUND_JOB\nContent-Length: x\n\nhello",
	"Event-Name: BACKGROUND_JOB\nContent-Length: -3\n\nhello",
	"Hangup-Cause: NORMAL_CLEARING\nHangup-Cause: NO_ANSWER\n\n",
	"key:value\nKEY-two:  spaced value  \n\tcontinued\n  again\nAfter: x\n\n",
	"A: 1\r\nB: 2\r\n\r\n",
	"A: 1\n \n\n",
	"A: 1\n   ",
	"A: 1\n",
	"A: 1",
	"no colon here\n\n",
	" leading: space\n\n",
	"\tleading: tab\n\n",
	"Bad Key: x\n\n",
	"Bad(Key): x\n\n",
	": empty key\n\n",
	"A: ctl\x01char\n\n",
	"A: del\x7f\n\n",
	"A: tab\tinside\n\n",
	"A: high \xc3\xa9 bytes\n\n",
	"A: cr\rinside\n\n",
	"variable_a: 1\nVariable_A: 2\n\n",
	"x-y-z: 1\nX-Y-Z: 2\nx_Y: 3\n\n",
	"A: 1\n\nB: 2\n\n",
}

// textprotoEvent is readPlainEvent before the patch (eslgo v1.5.1).
func textprotoEvent(body []byte) (*Event, error) {
	reader := bufio.NewReader(bytes.NewBuffer(body))
	headers, err := textproto.NewReader(reader).ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	event := &Event{Headers: headers}
	if cl := headers.Get("Content-Length"); len(cl) > 0 {
		length, err := strconv.Atoi(cl)
		if err != nil {
			return event, err
		}
		if length < 0 {
			return event, errors.New("negative") // v1.5.1 panics here
		}
		event.Body = make([]byte, length)
		if _, err = io.ReadFull(reader, event.Body); err != nil {
			return event, err
		}
	}
	return event, nil
}

func sameEvent(t *testing.T, in string, got, want *Event, gotErr, wantErr error) {
	t.Helper()
	if (gotErr == nil) != (wantErr == nil) || errors.Is(wantErr, io.EOF) != errors.Is(gotErr, io.EOF) ||
		errors.Is(wantErr, io.ErrUnexpectedEOF) != errors.Is(gotErr, io.ErrUnexpectedEOF) {
		t.Fatalf("%q: error %v, want %v", in, gotErr, wantErr)
	}
	if (got == nil) != (want == nil) {
		t.Fatalf("%q: event %v, want %v", in, got, want)
	}
	if got == nil {
		return
	}
	if len(got.Headers) != 0 || len(want.Headers) != 0 {
		if !reflect.DeepEqual(got.Headers, want.Headers) {
			t.Errorf("%q: headers\n%#v\nwant\n%#v", in, got.Headers, want.Headers)
		}
	}
	if !bytes.Equal(got.Body, want.Body) {
		t.Errorf("%q: body %q, want %q", in, got.Body, want.Body)
	}
}

func TestPlainEventAsTextproto(t *testing.T) {
	var keys keyCache
	for round := 0; round < 2; round++ { // the second with the keys cached
		for _, in := range headerCases {
			want, wantErr := textprotoEvent([]byte(in))
			got, gotErr := readPlainEvent([]byte(in), &keys)
			sameEvent(t, in, got, want, gotErr, wantErr)
			if round == 0 {
				got, gotErr = readPlainEvent([]byte(in), nil)
				sameEvent(t, in, got, want, gotErr, wantErr)
			}
		}
	}
	if len(keys.m) == 0 {
		t.Error("no key cached")
	}
}

// TestEnvelopeAsTextproto reads whole recorded FreeSWITCH streams message
// by message, as readResponse does before and after the patch, and every
// plain event body in them.
func TestEnvelopeAsTextproto(t *testing.T) {
	files, _ := filepath.Glob("../../esl/testdata/*.esl.txt")
	more, _ := filepath.Glob("../../esl/testdata/*.esl-json.txt")
	files = append(files, more...)
	if len(files) < 8 {
		t.Fatalf("%d captures", len(files))
	}
	var streams [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, b)
	}
	for _, in := range headerCases {
		streams = append(streams, []byte(in))
	}
	var keys keyCache
	events := 0
	for i, data := range streams {
		old := bufio.NewReader(bytes.NewReader(data))
		oldTP := textproto.NewReader(old)
		// A small buffer, so that lines straddle it.
		cur := bufio.NewReaderSize(bytes.NewReader(data), 16)
		var scratch []byte
		for n := 0; ; n++ {
			want, wantErr := oldTP.ReadMIMEHeader()
			got, gotErr := readEnvelope(cur, &scratch)
			if (gotErr == nil) != (wantErr == nil) || errors.Is(wantErr, io.EOF) != errors.Is(gotErr, io.EOF) {
				t.Fatalf("stream %d message %d: error %v, want %v", i, n, gotErr, wantErr)
			}
			if wantErr != nil {
				break
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("stream %d message %d: envelope %#v, want %#v", i, n, got, want)
			}
			l := 0
			if cl := want.Get("Content-Length"); cl != "" {
				var err error
				if l, err = strconv.Atoi(cl); err != nil || l < 0 {
					break
				}
			}
			wantBody, gotBody := make([]byte, l), make([]byte, l)
			_, wantErr = io.ReadFull(old, wantBody)
			_, gotErr = io.ReadFull(cur, gotBody)
			if (gotErr == nil) != (wantErr == nil) || !bytes.Equal(gotBody, wantBody) {
				t.Fatalf("stream %d message %d: body differs (%v, %v)", i, n, gotErr, wantErr)
			}
			if wantErr != nil {
				break
			}
			if want.Get("Content-Type") == TypeEventPlain {
				events++
				we, wErr := textprotoEvent(wantBody)
				ge, gErr := readPlainEvent(gotBody, &keys)
				sameEvent(t, string(wantBody), ge, we, gErr, wErr)
			}
		}
	}
	if events < 400 {
		t.Errorf("%d plain events compared", events)
	}
}

func TestEnvelopeTooLong(t *testing.T) {
	data := "Content-Type: x\nX: " + strings.Repeat("y", maxEnvelope) + "\n\n"
	_, err := readEnvelope(bufio.NewReader(strings.NewReader(data)), new([]byte))
	if !errors.Is(err, errLongEnvelope) {
		t.Errorf("err = %v, want errLongEnvelope", err)
	}
}

func FuzzPlainEvent(f *testing.F) {
	for _, in := range headerCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, wantErr := textprotoEvent(in)
		got, gotErr := readPlainEvent(in, nil)
		sameEvent(t, string(in), got, want, gotErr, wantErr)
	})
}

func BenchmarkPlainEvent(b *testing.B) {
	data, err := os.ReadFile("../../esl/testdata/ring_no_answer_voicemail.esl.txt")
	if err != nil {
		b.Fatal(err)
	}
	// The largest event of the capture.
	var body []byte
	r := bufio.NewReader(bytes.NewReader(data))
	for {
		h, err := readEnvelope(r, new([]byte))
		if err != nil {
			break
		}
		l, _ := strconv.Atoi(h.Get("Content-Length"))
		m := make([]byte, l)
		io.ReadFull(r, m)
		if h.Get("Content-Type") == TypeEventPlain && len(m) > len(body) {
			body = m
		}
	}
	b.Run("textproto", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			textprotoEvent(body)
		}
	})
	b.Run("patched", func(b *testing.B) {
		var keys keyCache
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			readPlainEvent(body, &keys)
		}
	})
}
