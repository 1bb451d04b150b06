package bench

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
	"github.com/textback/textback"
	"github.com/textback/textback/esl"
	"github.com/textback/textback/esl/esltest"
)

// BenchmarkESL measures ESL event throughput on one core, each client on
// the same stream of the recorded calls repeated with fresh UUIDs, sent by
// the loopback esltest.Server after auth and "event plain", which (as
// FreeSWITCH) sends only the events subscribed to:
//
//   - source-tcp: the daemon's own subscription (esl.Filters, then
//     esl.Subscribed), esl.Source (eslgo, the reorder queue, esl.Tracker),
//     counting the calls it reports. events/s counts the events it is
//     sent: the stream's events that the subscription lets through.
//   - eslgo-tcp: eslgo v1.5.1 as patched (third_party/eslgo) alone, with
//     the same subscription, counting the events its listener receives.
//   - parse+tracker: eslgo's parse (textproto.ReadMIMEHeader) and
//     esl.Tracker on the bodies in memory: textback's work per event.
//   - envelope: a minimal reader of the same bytes, envelope and headers
//     into a map (parse only).
func BenchmarkESL(b *testing.B) {
	s := buildESL(b, eslReps)
	b.Run("parse+tracker", func(b *testing.B) {
		oneCPU(b)
		b.SetBytes(int64(len(s.data)))
		now := time.Unix(1795845900, 0)
		cpu0 := cpuTime()
		for b.Loop() {
			tr := esl.NewTracker(esl.TrackerConfig{})
			calls := 0
			for _, body := range s.bodies {
				h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(body))).ReadMIMEHeader()
				if err != nil {
					b.Fatal(err)
				}
				calls += len(tr.Handle(h, now))
			}
			if calls == 0 {
				b.Fatal("no calls")
			}
			s.calls = calls
		}
		report(b, s.events, s.calls, cpu0)
	})
	b.Run("envelope", func(b *testing.B) {
		oneCPU(b)
		b.SetBytes(int64(len(s.data)))
		cpu0 := cpuTime()
		for b.Loop() {
			if n := envelopeCount(s.data); n != s.events {
				b.Fatalf("%d events, want %d", n, s.events)
			}
		}
		report(b, s.events, 0, cpu0)
	})
	stream := [][]esltest.Message{s.msgs}
	subEvents, subBytes := subscribedESL(b, s)
	b.Run("source-tcp", func(b *testing.B) {
		oneCPU(b)
		if s.calls == 0 {
			s.calls = trackESL(b, s)
		}
		b.SetBytes(subBytes)
		cpu0 := cpuTime()
		for b.Loop() {
			b.StopTimer()
			srv := &esltest.Server{Password: "ClueCon", Streams: stream}
			if err := srv.Start(); err != nil {
				b.Fatal(err)
			}
			src := esl.New(esl.Config{Address: srv.Addr(), Password: "ClueCon", KeepAlive: time.Hour}, nil)
			out := make(chan textback.Event, 256)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			b.StartTimer()
			go func() { done <- src.Run(ctx, out) }()
			timeout := time.After(2 * time.Minute)
			for i := range s.calls {
				select {
				case <-out:
				case <-timeout:
					b.Fatalf("%d of %d calls", i, s.calls)
				}
			}
			b.StopTimer()
			cancel()
			<-done
			srv.Close()
			b.StartTimer()
		}
		report(b, subEvents, s.calls, cpu0)
	})
	b.Run("eslgo-tcp", func(b *testing.B) {
		oneCPU(b)
		b.SetBytes(subBytes)
		cpu0 := cpuTime()
		for b.Loop() {
			b.StopTimer()
			srv := &esltest.Server{Password: "ClueCon", Streams: stream}
			if err := srv.Start(); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			conn, err := eslgo.InboundOptions{
				Options:  eslgo.Options{Context: ctx, Logger: eslgo.NilLogger{}, ExitTimeout: time.Second},
				Network:  "tcp",
				Password: "ClueCon", AuthTimeout: 10 * time.Second,
			}.Dial(srv.Addr())
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			all := make(chan struct{})
			conn.RegisterEventListener(eslgo.EventListenAll, func(*eslgo.Event) {
				if n.Add(1) == int64(subEvents) {
					close(all)
				}
			})
			b.StartTimer()
			for _, f := range esl.Filters {
				if _, err := conn.SendCommand(ctx, command.Filter{EventHeader: f[0], FilterValue: f[1]}); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := conn.SendCommand(ctx, command.Event{Format: "plain", Listen: esl.Subscribed}); err != nil {
				b.Fatal(err)
			}
			select {
			case <-all:
			case <-time.After(2 * time.Minute):
				b.Fatalf("eslgo: %d of %d events", n.Load(), subEvents)
			}
			b.StopTimer()
			conn.Close()
			cancel()
			srv.Close()
			b.StartTimer()
		}
		report(b, subEvents, 0, cpu0)
	})
}

// subscribedESL returns how many of the stream's events, and how many of
// its bytes, the daemon's subscription (esl.Filters, esl.Subscribed) lets
// through, as esltest.Server applies it.
func subscribedESL(b *testing.B, s *eslStream) (events int, bytes int64) {
	b.Helper()
	var sub esltest.Subscription
	cmds := []string{}
	for _, f := range esl.Filters {
		cmds = append(cmds, "filter "+f[0]+" "+f[1])
	}
	for _, c := range append(cmds, "event plain "+strings.Join(esl.Subscribed, " ")) {
		if r, ok := sub.Command(c); !ok || !strings.HasPrefix(r, "+OK") {
			b.Fatalf("%q: %q", c, r)
		}
	}
	for _, m := range s.msgs {
		if sub.Wants(m.Body) {
			events++
			bytes += int64(len(m.Raw))
		}
	}
	b.Logf("subscribed: %d of %d events (%.1f per call), %d of %d bytes", events, s.events,
		float64(events)/float64(eslReps*len(eslCalls(b))), bytes, len(s.data))
	return events, bytes
}

// trackESL returns the calls esl.Tracker reports on the whole stream.
func trackESL(b *testing.B, s *eslStream) int {
	b.Helper()
	tr := esl.NewTracker(esl.TrackerConfig{})
	now := time.Unix(1795845900, 0)
	calls := 0
	for _, body := range s.bodies {
		h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(body))).ReadMIMEHeader()
		if err != nil {
			b.Fatal(err)
		}
		calls += len(tr.Handle(h, now))
	}
	return calls
}

// envelopeCount is the minimal ESL reader: each message's envelope, then
// its Content-Length body's lines into a map. It returns the events read.
func envelopeCount(data []byte) int {
	br := bufio.NewReaderSize(bytes.NewReader(data), 64<<10)
	n := 0
	for {
		length, typ := 0, ""
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return n
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 {
				break
			}
			k, v, _ := bytes.Cut(line, []byte(": "))
			switch string(k) {
			case "Content-Length":
				length, _ = strconv.Atoi(string(v))
			case "Content-Type":
				typ = string(v)
			}
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(br, body); err != nil {
			return n
		}
		if typ != "text/event-plain" {
			continue
		}
		m := map[string]string{}
		for line := range bytes.SplitSeq(body, []byte("\n")) {
			if k, v, ok := bytes.Cut(line, []byte(": ")); ok {
				m[string(k)] = string(v)
			}
		}
		if m["Event-Name"] != "" {
			n++
		}
	}
}
