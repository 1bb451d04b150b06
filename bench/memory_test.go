package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/textproto"
	"runtime"
	"testing"
	"time"

	"github.com/textback/textback/ami"
	"github.com/textback/textback/esl"
)

// ringing is how many calls BenchmarkMemory starts and leaves ringing.
const ringing = 10000

// BenchmarkMemory starts 10,000 calls at once (the first half of each
// recorded call's events, every call with fresh ids) through the real
// parser and tracker, then reports the heap the tracker retains
// (runtime.ReadMemStats after GC, minus the heap before) in MB, and the
// process's resident set after the input was freed.
func BenchmarkMemory(b *testing.B) {
	b.Run("ami", func(b *testing.B) {
		calls := amiCalls(b)
		var buf bytes.Buffer
		var order [][][]byte
		for i := range ringing {
			c := calls[i%len(calls)]
			prefix := fmt.Sprintf("m%d-", i)
			half := make([][]byte, len(c)/2)
			for j := range half {
				half[j] = renameAMI(nil, c[j], prefix)
			}
			order = append(order, half)
		}
		interleave(order, func(f []byte) { buf.Write(f) })
		data := buf.Bytes()
		order = nil
		for b.Loop() {
			base := heap()
			tr := ami.NewTracker(ami.TrackerConfig{InboundContexts: amiLab.InboundContexts, DIDVariable: amiLab.DIDVariable, MaxCalls: ringing})
			r := ami.NewReader(bytes.NewReader(data))
			now := time.Unix(1795845900, 0)
			for {
				f, err := r.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				tr.Handle(f, now)
			}
			r = nil
			reportHeap(b, base, tr.Len())
			runtime.KeepAlive(tr)
		}
		runtime.KeepAlive(data)
	})
	b.Run("esl", func(b *testing.B) {
		calls := eslCalls(b)
		var bodies [][]byte
		var order [][][]byte
		for i := range ringing {
			c := calls[i%len(calls)]
			tag := fmt.Sprintf("%08x", i)
			half := make([][]byte, len(c)/2)
			for j := range half {
				half[j] = retagUUIDs(c[j], tag)
			}
			order = append(order, half)
		}
		interleave(order, func(body []byte) { bodies = append(bodies, body) })
		order = nil
		for b.Loop() {
			base := heap()
			tr := esl.NewTracker(esl.TrackerConfig{MaxCalls: ringing})
			now := time.Unix(1795845900, 0)
			for _, body := range bodies {
				h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(body))).ReadMIMEHeader()
				if err != nil {
					b.Fatal(err)
				}
				tr.Handle(h, now)
			}
			reportHeap(b, base, tr.Len())
			runtime.KeepAlive(tr)
		}
		runtime.KeepAlive(bodies)
	})
}

// heap returns the live heap after a full GC.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func reportHeap(b *testing.B, base uint64, calls int) {
	if calls != ringing {
		b.Fatalf("%d calls in progress, want %d", calls, ringing)
	}
	h := heap()
	b.ReportMetric(float64(h-base)/(1<<20), "tracker-MB")
	b.ReportMetric(float64(h-base)/float64(calls), "B/call")
	b.ReportMetric(0, "ns/op")
}
