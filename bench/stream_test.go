package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/textback/textback/esl/esltest"
)

// The streams are built by repeating the recorded calls with fresh ids.
// Calls are interleaved frame by frame in batches of batchCalls, so that
// about that many calls are in progress at once, as on a busy PBX.
const (
	amiReps    = 250 // × 9 recorded calls ≈ 200,000 AMI events
	eslReps    = 50  // × 8 recorded calls ≈ 20,000 ESL events (≈ 90 MB)
	batchCalls = 90
)

// amiBanner is what Asterisk sends first on a manager connection.
const amiBanner = "Asterisk Call Manager/11.0.0\r\n"

// amiStream is a built AMI event stream, without the banner.
type amiStream struct {
	data   []byte
	events int // frames in data
	calls  int // calls the tracker reports on it (set by the first run)
}

var amiCache = map[int]*amiStream{}

// amiCalls returns the event frames of every recorded call
// (ami/testdata/*.ami.txt): the banner, the responses and FullyBooted left
// out, each frame with its "\r\n\r\n".
func amiCalls(tb testing.TB) [][][]byte {
	tb.Helper()
	files, err := filepath.Glob("../ami/testdata/*.ami.txt")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no AMI transcripts: %v", err)
	}
	slices.Sort(files)
	var calls [][][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		_, b, _ = bytes.Cut(b, []byte("\r\n")) // banner
		var frames [][]byte
		for _, fr := range bytes.SplitAfter(b, []byte("\r\n\r\n")) {
			if len(bytes.TrimSpace(fr)) == 0 || bytes.HasPrefix(fr, []byte("Response:")) || bytes.HasPrefix(fr, []byte("Event: FullyBooted")) {
				continue
			}
			frames = append(frames, fr)
		}
		calls = append(calls, frames)
	}
	return calls
}

// renameAMI prefixes the value of every *Uniqueid and *Linkedid field
// (Uniqueid, Linkedid, DestUniqueid, BridgeUniqueid, LocalOneLinkedid, ...).
func renameAMI(dst, frame []byte, prefix string) []byte {
	for len(frame) > 0 {
		line, rest, _ := bytes.Cut(frame, []byte("\r\n"))
		frame = rest
		k, v, ok := bytes.Cut(line, []byte(": "))
		if ok && len(v) > 0 && (hasSuffixFold(k, "uniqueid") || hasSuffixFold(k, "linkedid")) {
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			dst = append(dst, prefix...)
			dst = append(dst, v...)
		} else {
			dst = append(dst, line...)
		}
		dst = append(dst, "\r\n"...)
	}
	return dst
}

func hasSuffixFold(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && strings.EqualFold(string(b[len(b)-len(suffix):]), suffix)
}

// buildAMI repeats the recorded calls reps times with fresh ids.
func buildAMI(tb testing.TB, reps int) *amiStream {
	tb.Helper()
	if s := amiCache[reps]; s != nil {
		return s
	}
	calls := amiCalls(tb)
	var order [][][]byte // per call instance: its renamed frames
	for r := range reps {
		for i, c := range calls {
			prefix := fmt.Sprintf("r%d.%d-", r, i)
			fr := make([][]byte, len(c))
			for j, f := range c {
				fr[j] = renameAMI(nil, f, prefix)
			}
			order = append(order, fr)
		}
	}
	s := &amiStream{}
	var buf bytes.Buffer
	interleave(order, func(f []byte) {
		buf.Write(f)
		s.events++
	})
	s.data = buf.Bytes()
	amiCache[reps] = s
	return s
}

// interleave emits the items of calls batchCalls calls at a time,
// round-robin within a batch.
func interleave(calls [][][]byte, emit func([]byte)) {
	for start := 0; start < len(calls); start += batchCalls {
		batch := calls[start:min(start+batchCalls, len(calls))]
		for i := 0; ; i++ {
			more := false
			for _, c := range batch {
				if i < len(c) {
					emit(c[i])
					more = true
				}
			}
			if !more {
				break
			}
		}
	}
}

// eslStream is a built ESL event stream: text/event-plain messages with
// their envelopes.
type eslStream struct {
	data   []byte
	bodies [][]byte          // the event bodies, aliasing data
	msgs   []esltest.Message // the messages, aliasing data
	events int
	calls  int // calls the tracker reports on it
}

var eslCache = map[int]*eslStream{}

var seqRE = regexp.MustCompile(`(?m)^Event-Sequence: [0-9]+$`)

// retagUUIDs returns a copy of body with the first group of every
// lower-case UUID replaced by tag (8 hex digits): the same length, so that
// Content-Length stays right, and consistent across the call's events.
func retagUUIDs(body []byte, tag string) []byte {
	out := bytes.Clone(body)
	for i := 0; i+36 <= len(out); i++ {
		if isUUID(out[i : i+36]) {
			copy(out[i:], tag)
			i += 35
		}
	}
	return out
}

func isUUID(u []byte) bool {
	for j, c := range u {
		switch j {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// eslCalls returns the event bodies of every recorded call
// (esl/testdata/*.esl.txt).
func eslCalls(tb testing.TB) [][][]byte {
	tb.Helper()
	files, err := filepath.Glob("../esl/testdata/*.esl.txt")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no ESL captures: %v", err)
	}
	slices.Sort(files)
	var calls [][][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		msgs, err := esltest.Split(b)
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		var bodies [][]byte
		for _, m := range esltest.Events(msgs) {
			bodies = append(bodies, m.Body)
		}
		calls = append(calls, bodies)
	}
	return calls
}

// buildESL repeats the recorded calls reps times: every UUID (Unique-ID,
// Channel-Call-UUID, Other-Leg-Unique-ID, Bridge-*, variables) gets the
// repetition's tag in its first group, and Event-Sequence counts up across
// the whole stream as one FreeSWITCH's does. Envelopes are rebuilt, with
// the right Content-Length.
func buildESL(tb testing.TB, reps int) *eslStream {
	tb.Helper()
	if s := eslCache[reps]; s != nil {
		return s
	}
	calls := eslCalls(tb)
	var order [][][]byte
	for r := range reps {
		for i, c := range calls {
			tag := fmt.Sprintf("%08x", r*16+i)
			bs := make([][]byte, len(c))
			for j, body := range c {
				bs[j] = retagUUIDs(body, tag)
			}
			order = append(order, bs)
		}
	}
	s := &eslStream{}
	var buf bytes.Buffer
	var offs [][3]int // message, body, end
	seq := 1000
	interleave(order, func(body []byte) {
		seq++
		body = seqRE.ReplaceAll(body, []byte("Event-Sequence: "+strconv.Itoa(seq)))
		m := esltest.EventPlain(body)
		start := buf.Len() + len(m.Raw) - len(m.Body)
		offs = append(offs, [3]int{buf.Len(), start, buf.Len() + len(m.Raw)})
		buf.Write(m.Raw)
		s.events++
	})
	s.data = buf.Bytes()
	for _, o := range offs {
		body := s.data[o[1]:o[2]:o[2]]
		s.bodies = append(s.bodies, body)
		s.msgs = append(s.msgs, esltest.Message{Type: "text/event-plain", Raw: s.data[o[0]:o[2]:o[2]], Body: body})
	}
	eslCache[reps] = s
	return s
}

// oneCPU runs the benchmark on one core (GOMAXPROCS=1), as the figures are
// quoted, and restores the setting after.
func oneCPU(b *testing.B) {
	prev := runtime.GOMAXPROCS(1)
	b.Cleanup(func() { runtime.GOMAXPROCS(prev) })
}
