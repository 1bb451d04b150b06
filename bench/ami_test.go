package bench

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ivahaev/amigo"
	"github.com/textback/textback"
	"github.com/textback/textback/ami"
)

// amiLab is the tracker config of the recorded calls (ami/testdata).
var amiLab = ami.TrackerConfig{InboundContexts: []string{"from-trunk"}, DIDVariable: "__TB_DID"}

// BenchmarkAMI measures AMI event throughput on one core, each client on
// the same stream of the recorded calls repeated with fresh ids:
//
//   - reader+tracker: textback's ami.Reader and ami.Tracker on the bytes in
//     memory: parse and tracking, the daemon's work per event.
//   - reader: ami.Reader alone (parse only).
//   - source-tcp: the daemon's own path, ami.Source (Client, Reader,
//     Tracker) logged in to a loopback AMI server that sends the stream.
//   - amigo-tcp: github.com/ivahaev/amigo v0.1.10 on the same server,
//     counting the events its default handler receives (parse only).
//   - bufio: a minimal hand-written reader, lines up to a blank line into a
//     map (parse only).
func BenchmarkAMI(b *testing.B) {
	s := buildAMI(b, amiReps)
	b.Run("reader+tracker", func(b *testing.B) {
		oneCPU(b)
		b.SetBytes(int64(len(s.data)))
		now := time.Unix(1795845900, 0)
		cpu0 := cpuTime()
		for b.Loop() {
			tr := ami.NewTracker(amiLab)
			r := ami.NewReader(bytes.NewReader(s.data))
			calls := 0
			for {
				f, err := r.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				calls += len(tr.Handle(f, now))
			}
			if tr.Len() != 0 || calls == 0 {
				b.Fatalf("%d calls reported, %d left", calls, tr.Len())
			}
			s.calls = calls
		}
		report(b, s.events, s.calls, cpu0)
	})
	b.Run("reader", func(b *testing.B) {
		oneCPU(b)
		b.SetBytes(int64(len(s.data)))
		cpu0 := cpuTime()
		for b.Loop() {
			r := ami.NewReader(bytes.NewReader(s.data))
			n := 0
			for {
				_, err := r.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != s.events {
				b.Fatalf("%d events, want %d", n, s.events)
			}
		}
		report(b, s.events, 0, cpu0)
	})
	b.Run("bufio", func(b *testing.B) {
		oneCPU(b)
		b.SetBytes(int64(len(s.data)))
		cpu0 := cpuTime()
		for b.Loop() {
			if n := bufioCount(bytes.NewReader(s.data)); n != s.events {
				b.Fatalf("%d events, want %d", n, s.events)
			}
		}
		report(b, s.events, 0, cpu0)
	})
	b.Run("source-tcp", func(b *testing.B) {
		oneCPU(b)
		if s.calls == 0 {
			b.Skip("run reader+tracker first")
		}
		b.SetBytes(int64(len(s.data)))
		cpu0 := cpuTime()
		for b.Loop() {
			b.StopTimer()
			srv := startAMIServer(b, s.data)
			src := ami.New(ami.Config{
				Address: srv.addr(), Username: "bench", Secret: "bench",
				InboundContexts: amiLab.InboundContexts, DIDVariable: amiLab.DIDVariable,
				KeepAlive: time.Hour,
			}, nil)
			out := make(chan textback.Event, 256)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- src.Run(ctx, out) }()
			srv.waitLogin(b)
			b.StartTimer()
			srv.send()
			for range s.calls {
				<-out
			}
			b.StopTimer()
			cancel()
			<-done
			srv.close()
			b.StartTimer()
		}
		report(b, s.events, s.calls, cpu0)
	})
	b.Run("amigo-tcp", func(b *testing.B) {
		oneCPU(b)
		b.SetBytes(int64(len(s.data)))
		cpu0 := cpuTime()
		for b.Loop() {
			b.StopTimer()
			srv := startAMIServer(b, s.data)
			host, port, _ := net.SplitHostPort(srv.addr())
			a := amigo.New(&amigo.Settings{
				Username: "bench", Password: "bench", Host: host, Port: port,
				ReconnectInterval: time.Hour, // it reconnects forever: not during the run
			})
			var n atomic.Int64
			all := make(chan struct{})
			a.RegisterDefaultHandler(func(map[string]string) {
				if n.Add(1) == int64(s.events) {
					close(all)
				}
			})
			a.Connect()
			srv.waitLogin(b)
			time.Sleep(20 * time.Millisecond) // amigo reads the login reply with a bufio.Reader of its own
			b.StartTimer()
			srv.send()
			select {
			case <-all:
			case <-time.After(time.Minute):
				b.Fatalf("amigo: %d of %d events", n.Load(), s.events)
			}
			b.StopTimer()
			srv.close()
			b.StartTimer()
		}
		report(b, s.events, 0, cpu0)
	})
}

// report adds events/s and calls/s (wall clock) to b, and events per CPU
// second of the whole process (user+sys, getrusage): on a shared machine the
// wall figures fall with the neighbours' load, the CPU figure much less.
func report(b *testing.B, events, calls int, cpu0 time.Duration) {
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(events)/sec, "events/s")
	if calls > 0 {
		b.ReportMetric(float64(calls)/sec, "calls/s")
	}
	if cpu := (cpuTime() - cpu0).Seconds() / float64(b.N); cpu > 0 {
		b.ReportMetric(float64(events)/cpu, "events/cpu-s")
	}
	b.ReportMetric(0, "ns/op")
}

// cpuTime returns the process's user+sys CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bufioCount is the minimal AMI reader: lines up to a blank line, into a
// map. It returns the number of frames with an Event field.
func bufioCount(r io.Reader) int {
	br := bufio.NewReaderSize(r, 64<<10)
	n := 0
	m := map[string]string{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return n
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if m["Event"] != "" {
				n++
			}
			m = map[string]string{}
			continue
		}
		if k, v, ok := strings.Cut(line, ": "); ok {
			m[k] = v
		}
	}
}

// amiServer is a loopback AMI server for one connection: banner, a
// Success reply to every action (Login included), and the stream once send
// is called.
type amiServer struct {
	ln     net.Listener
	stream []byte
	login  chan struct{}
	start  chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func startAMIServer(tb testing.TB, stream []byte) *amiServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &amiServer{ln: ln, stream: stream, login: make(chan struct{}), start: make(chan struct{})}
	s.wg.Go(func() {
		first := true
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			serveStream := first
			first = false
			s.wg.Go(func() { s.serve(c, serveStream) })
		}
	})
	return s
}

func (s *amiServer) addr() string { return s.ln.Addr().String() }

func (s *amiServer) serve(c net.Conn, stream bool) {
	defer c.Close()
	if _, err := io.WriteString(c, amiBanner); err != nil {
		return
	}
	br := bufio.NewReader(c)
	for {
		action, id, err := readAction(br)
		if err != nil {
			return
		}
		reply := "Response: Success\r\n"
		if id != "" {
			reply += "ActionID: " + id + "\r\n"
		}
		if strings.EqualFold(action, "Login") {
			reply += "Message: Authentication accepted\r\n"
		}
		if _, err := io.WriteString(c, reply+"\r\n"); err != nil {
			return
		}
		if strings.EqualFold(action, "Login") && stream {
			close(s.login)
			go func() {
				<-s.start
				c.Write(s.stream)
			}()
			stream = false
		}
	}
}

// readAction reads one action and returns its name and ActionID.
func readAction(br *bufio.Reader) (action, id string, err error) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if action != "" {
				return action, id, nil
			}
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "action":
			action = strings.TrimSpace(v)
		case "actionid":
			id = strings.TrimSpace(v)
		}
	}
}

func (s *amiServer) waitLogin(tb testing.TB) {
	tb.Helper()
	select {
	case <-s.login:
	case <-time.After(10 * time.Second):
		tb.Fatal("no login")
	}
}

func (s *amiServer) send() { close(s.start) }

func (s *amiServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
