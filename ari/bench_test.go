package ari

import (
	"testing"
	"time"

	cari "github.com/CyCoreSystems/ari/v6"
)

// BenchmarkTracker measures decoded events through the tracker: every
// capture in turn, as one stream.
func BenchmarkTracker(b *testing.B) {
	var evs []cari.Event
	for name := range trackerCases {
		evs = append(evs, decodeAll(b, readCapture(b, name))...)
	}
	tr := NewTracker(trackerLab)
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		for _, e := range evs {
			tr.Handle(e, now)
		}
		n += len(evs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeAndTrack adds the library's decoding, which is what the
// source pays per websocket message.
func BenchmarkDecodeAndTrack(b *testing.B) {
	var lines [][]byte
	for name := range trackerCases {
		lines = append(lines, readCapture(b, name)...)
	}
	tr := NewTracker(trackerLab)
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		for _, l := range lines {
			e, err := decode(l)
			if err != nil {
				b.Fatal(err)
			}
			tr.Handle(e, now)
		}
		n += len(lines)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
