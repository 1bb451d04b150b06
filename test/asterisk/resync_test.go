package asterisk_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/ami"
)

// TestResyncAMI cuts textback's AMI link while a call rings, lets the
// caller hang up during the outage, and restores the link: the AMI source
// must find the call gone in CoreShowChannels (which the shipped
// manager.conf user may run: write = reporting) and report it once, soon,
// as a missed inbound call. The link is cut in a loopback TCP proxy, not by
// restarting Asterisk, which would end the call itself.
func TestResyncAMI(t *testing.T) {
	if !*enabled {
		t.Skip("the Asterisk integration suite runs with -asterisk (see test/asterisk/README.md)")
	}
	startAsterisk(t)
	startUAS(t, "ring", 5071, 0) // 100 reception: rings, never answers
	p := newCutProxy(t, "127.0.0.1:5038")
	src := ami.New(ami.Config{
		Address: p.addr(), Username: "textback", Secret: "change-me",
		InboundContexts: []string{"from-trunk"}, DIDVariable: "FROM_DID",
		KeepAlive: time.Second, DialTimeout: 2 * time.Second,
	}, slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	out := make(chan textback.Event, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, out) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return 5s after cancel")
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !src.Connected() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !src.Connected() {
		t.Fatal("the AMI source did not connect within 5s")
	}

	const number = "+13125550171"
	s := situation{name: "resync", from: outside(number), to: didMain, scenario: "call-cancel", hold: 5 * time.Second}
	called := make(chan error, 1)
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	go func() { called <- placeCall(cctx, t, s, 23500) }()
	time.Sleep(2 * time.Second) // ringing, and seen by textback
	p.cut()
	cutAt := time.Now()
	if err := <-called; err != nil {
		t.Fatalf("the call: %v", err)
	}
	select {
	case ev := <-out:
		t.Fatalf("%v of %+v while the link was cut", ev.Kind, ev.Call)
	default:
	}
	p.restore()
	restored := time.Now()
	var got textback.Call
	wait := time.After(10 * time.Second)
	for got.ID == "" {
		select {
		case ev := <-out:
			if ev.Kind == textback.CallEnded {
				got = ev.Call
			}
		case <-wait:
			t.Fatal("no call reported within 10s of the link's return")
		}
	}
	t.Logf("reported %s after the link's return: %+v", time.Since(restored).Round(time.Millisecond), got)
	if got.CallerNum != number || got.Direction != textback.Inbound || got.DID != didMain {
		t.Errorf("call = %+v, want inbound from %s to %s", got, number, didMain)
	}
	if got.Outcome != textback.NoAnswer && got.Outcome != textback.Abandoned {
		t.Errorf("outcome %s, want a missed call (no_answer or abandoned)", got.Outcome)
	}
	if got.Ended.Before(cutAt) {
		t.Errorf("Ended %v is before the cut %v: the hangup was not seen", got.Ended, cutAt)
	}
	select {
	case ev := <-out:
		if ev.Kind == textback.CallEnded {
			t.Errorf("reported twice: %+v", ev.Call)
		}
	case <-time.After(time.Second):
	}
}

// cutProxy forwards TCP connections to target until cut: then it closes
// them and refuses new ones (accepts and closes at once) until restored.
type cutProxy struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		u, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[u] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		p.wg.Go(func() { pipe(u, c) })
		p.wg.Go(func() { pipe(c, u) })
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// tWriter sends log lines to t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
