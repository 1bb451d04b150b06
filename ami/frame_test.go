package ami

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func captures(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.ami.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no captures in testdata (err %v)", err)
	}
	m := make(map[string][]byte)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[strings.TrimSuffix(filepath.Base(p), ".ami.txt")] = b
	}
	return m
}

func TestReadCaptures(t *testing.T) {
	for name, data := range captures(t) {
		t.Run(name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(data))
			banner, err := r.Banner()
			if err != nil || banner != "Asterisk Call Manager/11.0.0" {
				t.Fatalf("Banner() = %q, %v", banner, err)
			}
			var n, emptyAccountCode int
			for {
				f, err := r.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("frame %d: %v", n+1, err)
				}
				n++
				if f.Event() == "" && f.Get("Response") == "" {
					t.Errorf("frame %d has neither Event nor Response: %v", n, f.Fields)
				}
				for _, fl := range f.Fields {
					if fl.Key == "" {
						t.Errorf("frame %d: line without a colon: %q", n, fl.Value)
					}
				}
				if f.Has("AccountCode") && f.Get("AccountCode") == "" {
					emptyAccountCode++
				}
			}
			if want := bytes.Count(data, []byte("\r\n\r\n")); n != want {
				t.Errorf("read %d frames, want %d", n, want)
			}
			if emptyAccountCode == 0 {
				t.Errorf("no frame with an empty AccountCode; the captures have many")
			}
		})
	}
}

func fields(kv ...string) Frame {
	var f Frame
	for i := 0; i+1 < len(kv); i += 2 {
		f.Fields = append(f.Fields, Field{kv[i], kv[i+1]})
	}
	return f
}

func TestRead(t *testing.T) {
	for name, tt := range map[string]struct {
		in      string
		want    []Frame
		wantErr error // after the frames; io.EOF for a clean end
	}{
		"crlf": {
			in:   "Event: A\r\nKey: v\r\n\r\n",
			want: []Frame{fields("Event", "A", "Key", "v")},
		},
		"lf only": {
			in:   "Event: A\nKey: v\n\nEvent: B\n\n",
			want: []Frame{fields("Event", "A", "Key", "v"), fields("Event", "B")},
		},
		"empty values": {
			in:   "Event: A\r\nAccountCode: \r\nX:\r\n\r\n",
			want: []Frame{fields("Event", "A", "AccountCode", "", "X", "")},
		},
		"repeated keys": {
			in:   "Event: VarSet\r\nChanVariable: A=1\r\nChanVariable: B=2\r\n\r\n",
			want: []Frame{fields("Event", "VarSet", "ChanVariable", "A=1", "ChanVariable", "B=2")},
		},
		"colons in values, no space": {
			in:   "Event: A\r\nChannel: PJSIP/a:b\r\nKey:v\r\nPad :  two\r\n\r\n",
			want: []Frame{fields("Event", "A", "Channel", "PJSIP/a:b", "Key", "v", "Pad", " two")},
		},
		"garbage line": {
			in:   "Event: A\r\ngarbage here\r\n\r\n",
			want: []Frame{fields("Event", "A", "", "garbage here")},
		},
		"stray blank lines": {
			in:   "\r\n\n\r\nEvent: A\r\n\r\n\r\n\nEvent: B\r\n\r\n",
			want: []Frame{fields("Event", "A"), fields("Event", "B")},
		},
		"nul bytes": {
			in:   "Event: A\x00B\r\nK\x00: \x00\r\n\r\n",
			want: []Frame{fields("Event", "A\x00B", "K\x00", "\x00")},
		},
		"command, asterisk 14+": {
			in: "Response: Success\r\nActionID: 1\r\nMessage: Command output follows\r\nOutput: a\r\nOutput: \r\nOutput: b\r\n\r\n",
			want: []Frame{fields("Response", "Success", "ActionID", "1", "Message", "Command output follows",
				"Output", "a", "Output", "", "Output", "b")},
		},
		"command, legacy": {
			in: "Response: Follows\r\nPrivilege: Command\r\nActionID: 2\r\nline one\nChannel: x\n\nlast line\n--END COMMAND--\r\n\r\nEvent: After\r\n\r\n",
			want: []Frame{
				fields("Response", "Follows", "Privilege", "Command", "ActionID", "2",
					"Output", "line one", "Output", "Channel: x", "Output", "", "Output", "last line"),
				fields("Event", "After"),
			},
		},
		"command, legacy, marker on the last line": {
			in: "Response: Follows\r\nPrivilege: Command\r\nActionID: 3\r\nNo such command 'x'--END COMMAND--\r\n\r\n",
			want: []Frame{fields("Response", "Follows", "Privilege", "Command", "ActionID", "3",
				"Output", "No such command 'x'")},
		},
		"command, legacy, body starts blank": {
			in: "Response: Follows\r\nPrivilege: Command\r\nActionID: 4\r\n\n  * Name       : 100\n\n--END COMMAND--\r\n\r\nEvent: After\r\n\r\n",
			want: []Frame{
				fields("Response", "Follows", "Privilege", "Command", "ActionID", "4",
					"Output", "", "Output", "  * Name       : 100", "Output", ""),
				fields("Event", "After"),
			},
		},
		"command, legacy, no output": {
			in:   "Response: Follows\r\nPrivilege: Command\r\nActionID: 5\r\n--END COMMAND--\r\n\r\n",
			want: []Frame{fields("Response", "Follows", "Privilege", "Command", "ActionID", "5")},
		},
		"command, legacy, lf only": {
			in: "Response: Follows\nPrivilege: Command\nActionID: 6\nhello\n\nworld\n--END COMMAND--\n\nEvent: X\n\n",
			want: []Frame{
				fields("Response", "Follows", "Privilege", "Command", "ActionID", "6",
					"Output", "hello", "Output", "", "Output", "world"),
				fields("Event", "X"),
			},
		},
		"follows with Output fields": {
			in: "Response: Follows\r\nActionID: 7\r\nOutput: a\r\nOutput: b\r\n\r\nEvent: X\r\n\r\n",
			want: []Frame{
				fields("Response", "Follows", "ActionID", "7", "Output", "a", "Output", "b"),
				fields("Event", "X"),
			},
		},
		"eof inside a frame": {
			in:      "Event: A\r\n\r\nEvent: B\r\n",
			want:    []Frame{fields("Event", "A")},
			wantErr: io.ErrUnexpectedEOF,
		},
		"eof inside a line": {
			in:      "Event: A\r\nKey: v",
			wantErr: io.ErrUnexpectedEOF,
		},
		"eof at a frame boundary": {
			in:   "Event: A\r\n\r\n\r\n",
			want: []Frame{fields("Event", "A")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			wantErr := tt.wantErr
			if wantErr == nil {
				wantErr = io.EOF
			}
			r := NewReader(strings.NewReader(tt.in))
			for i, want := range tt.want {
				got, err := r.Read()
				if err != nil {
					t.Fatalf("frame %d: Read() error %v", i+1, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("frame %d:\ngot  %q\nwant %q", i+1, got.Fields, want.Fields)
				}
			}
			if got, err := r.Read(); err != wantErr {
				t.Errorf("after %d frames: Read() = %q, %v; want error %v", len(tt.want), got.Fields, err, wantErr)
			}
		})
	}
}

func TestReadTooLarge(t *testing.T) {
	next := "Event: Next\r\nKey: v\r\n\r\n"
	manyLines := strings.Repeat("Key: value\r\n", MaxFrame/10)
	tinyLines := strings.Repeat("k\n", MaxFrame/(2+fieldOverhead)+1) // few bytes, many fields
	for name, in := range map[string]string{
		"many lines":            "Event: Big\r\n" + manyLines + "\r\n" + next,
		"tiny lines":            "Event: Big\r\n" + tinyLines + "\r\n" + next,
		"one long line":         "Event: Big\r\nKey: " + strings.Repeat("x", MaxFrame+1) + "\r\n\r\n" + next,
		"long line ends at cut": "Event: Big\r\nKey: " + strings.Repeat("x", MaxFrame-20) + "\r\nMore: y\r\n\r\n" + next,
		"legacy command never ends": "Response: Follows\r\nPrivilege: Command\r\n" +
			strings.Repeat("output\n\n", MaxFrame/8) + "\r\n" + next,
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReader(strings.NewReader(in))
			if _, err := r.Read(); !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("first Read() error = %v, want ErrFrameTooLarge", err)
			}
			// The rest of the big frame is skipped up to its blank line,
			// perhaps in several MaxFrame steps. What follows a blank line
			// inside it (a legacy command's body) comes out as frames with
			// neither Event nor Response, which a client drops.
			for i := 0; ; i++ {
				f, err := r.Read()
				if errors.Is(err, ErrFrameTooLarge) && i < 3 {
					continue
				}
				if err != nil {
					t.Fatalf("Read() after the big frame: %v", err)
				}
				if f.Event() == "Next" {
					break
				}
				if f.Event() != "" || f.Has("Response") || i > len(in) {
					t.Fatalf("did not resync: got %q", f.Fields)
				}
			}
			if _, err := r.Read(); err != io.EOF {
				t.Errorf("last Read() error = %v, want EOF", err)
			}
		})
	}
}

// TestReadNoBoundary feeds 4×MaxFrame without a blank line: Read must keep
// returning ErrFrameTooLarge (so the caller may give up) in bounded memory.
func TestReadNoBoundary(t *testing.T) {
	in := bytes.Repeat([]byte("Key: value\r\n"), 4*MaxFrame/12)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := NewReader(bytes.NewReader(in))
	tooLarge := 0
	for i := 0; i < 20; i++ {
		_, err := r.Read()
		if errors.Is(err, ErrFrameTooLarge) {
			tooLarge++
			continue
		}
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("Read() error = %v, want ErrFrameTooLarge then ErrUnexpectedEOF", err)
		}
		break
	}
	runtime.ReadMemStats(&after)
	if tooLarge < 3 {
		t.Errorf("%d × ErrFrameTooLarge, want at least 3 for 4×MaxFrame", tooLarge)
	}
	// One frame's worth of fields at most is held at a time; with slice
	// growth and strings that is well under 8×MaxFrame allocated in total
	// for the first frame, and the skipping allocates nothing.
	if got := after.TotalAlloc - before.TotalAlloc; got > 8*MaxFrame {
		t.Errorf("allocated %d MiB for a 16 MiB stream", got>>20)
	}
}

func TestBanner(t *testing.T) {
	for name, tt := range map[string]struct {
		in      string
		want    string
		wantErr error
	}{
		"asterisk": {in: "Asterisk Call Manager/11.0.0\r\nResponse: x\r\n\r\n", want: "Asterisk Call Manager/11.0.0"},
		"lf":       {in: "Asterisk Call Manager/1.1\n", want: "Asterisk Call Manager/1.1"},
		"ssh":      {in: "SSH-2.0-OpenSSH_9.6\r\n", want: "SSH-2.0-OpenSSH_9.6"},
		"too long": {in: strings.Repeat("x", 2000) + "\r\n", wantErr: ErrFrameTooLarge},
		"empty":    {in: "", wantErr: io.EOF},
		"no eol":   {in: "Asterisk Call Manager/11.0.0", wantErr: io.EOF},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := NewReader(strings.NewReader(tt.in)).Banner()
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("Banner() = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
