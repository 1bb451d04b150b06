package main

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/textback/textback"
	"github.com/textback/textback/ami/amitest"
)

// The demo's calls: AMI streams recorded byte for byte from a real Asterisk
// 22 (a caller who rang out unanswered, then one whose call was answered).
//
//go:embed demo/ring_no_answer_hangup.ami.txt demo/answered.ami.txt
var demoCalls embed.FS

const demoConfig = `
business = "Peak HVAC"

[pbx]
type = "ami"
address = %q
username = "textback"
secret = %q
auth = "md5"
inbound_contexts = ["from-trunk"]
did_variable = "TB_DID"

[detect]
min_rings = 2
default_region = "US"

[sms]
sender = "log"
from = "+12125550100"

[[rules]]
name = "main line"
dids = ["+12125550100"]
message = "Hi, this is {business}. Sorry we missed your call. What can we help you with?"

[http]
listen = ""

[store]
path = %q
`

func demoCmd(stdout io.Writer) *cobra.Command {
	var speed float64
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Show the daemon at work on recorded Asterisk calls; needs nothing installed",
		Long: "demo starts an Asterisk manager (AMI) server inside this process that plays two calls recorded\n" +
			"from a real Asterisk 22 — one missed, one answered — and runs the real daemon against it over TCP,\n" +
			"with the log sender (nothing is sent) and a temporary database.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			return runDemo(ctx, stdout, speed)
		},
	}
	cmd.Flags().Float64Var(&speed, "speed", 4, "play the calls this many times faster than they happened (0: at once)")
	return cmd
}

// demoEvent is one step the demo reports, with its local time.
type demoEvent struct {
	verdict *textback.Verdict
	text    *textback.Text
	at      time.Time
}

func runDemo(ctx context.Context, out io.Writer, speed float64) error {
	missed, err := demoCalls.ReadFile("demo/ring_no_answer_hangup.ami.txt")
	if err != nil {
		return err
	}
	answered, err := demoCalls.ReadFile("demo/answered.ami.txt")
	if err != nil {
		return err
	}
	secret := make([]byte, 12)
	rand.Read(secret)
	srv, err := amitest.NewServer(amitest.ServerConfig{
		Username: "textback", Secret: hex.EncodeToString(secret),
		Transcripts: [][]byte{missed, answered}, Speed: speed,
	})
	if err != nil {
		return fmt.Errorf("demo: AMI server: %w", err)
	}
	defer srv.Close()

	dir, err := os.MkdirTemp("", "textback-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := fmt.Sprintf(demoConfig, srv.Addr(), hex.EncodeToString(secret), filepath.Join(dir, "textback.db"))
	cfg, err := ParseConfig("demo.toml", []byte(src))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	start := time.Now()
	fmt.Fprintf(out, "textback demo\n\n")
	fmt.Fprintf(out, "An Asterisk manager interface on %s plays two calls recorded from a real Asterisk 22,\n", srv.Addr())
	if speed > 0 {
		fmt.Fprintf(out, "%g times faster than they happened. The daemon logs in (MD5 challenge), follows every channel\n", speed)
	} else {
		fmt.Fprintf(out, "as fast as they can be read. The daemon logs in (MD5 challenge), follows every channel\n")
	}
	fmt.Fprintf(out, "and texts the missed caller through the log sender (nothing leaves this machine).\n\n")
	fmt.Fprintf(out, "The daemon's log:\n")
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c, err := build(&cfg, log)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	db, err := openStore(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	var mu sync.Mutex
	var steps []demoEvent
	done := make(chan struct{})
	var once sync.Once
	calls, texts := 0, 0
	check := func() {
		if calls == 2 && texts == 1 {
			once.Do(func() { close(done) })
		}
	}
	ob := newOutbox(db, c.sender, time.Duration(cfg.Limits.MaxDelay), log)
	ob.sent = func(t textback.Text, r textback.Receipt, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		t.Receipt = r
		steps = append(steps, demoEvent{text: &t, at: at})
		texts++
		check()
	}
	d := &daemon{policy: c.policy, store: db, outbox: ob, log: log, now: time.Now}
	d.decided = func(v textback.Verdict, _ int64) {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, demoEvent{verdict: &v, at: time.Now()})
		calls++
		check()
	}

	runCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- d.serve(runCtx, c.source, c.sender.runners...) }()
	select {
	case <-done:
	case <-ctx.Done():
		stop()
		<-served
		return fmt.Errorf("demo: the calls were not all decided in time (%d calls, %d texts)", calls, texts)
	}
	stop()
	if err := <-served; err != nil {
		return err
	}

	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(out, "\nWhat happened (times from the start of the demo):\n")
	decided := map[textback.CallID]time.Time{}
	for _, s := range steps {
		if v := s.verdict; v != nil {
			decided[v.Call.ID] = v.Call.Decided
			caller := string(v.Caller)
			if caller == "" {
				caller = sanitize(v.Call.CallerNum)
			}
			fmt.Fprintf(out, "  %6.2fs  call from %s to %s: %s after ringing %.1fs → %s (%s)\n",
				s.at.Sub(start).Seconds(), caller, sanitize(v.Call.DID), v.Call.Outcome, v.Call.Rang.Seconds(), verdictWord(v.Send), v.Reason)
			fmt.Fprintf(out, "           decided and journaled %s after the last channel hung up\n",
				s.at.Sub(v.Call.Decided).Round(time.Microsecond))
			continue
		}
		t := s.text
		fmt.Fprintf(out, "  %6.2fs  text to %s sent through %s, %s after the last hang-up:\n           %q\n",
			s.at.Sub(start).Seconds(), t.To, t.Receipt.Sender, s.at.Sub(decided[t.CallID]).Round(time.Microsecond), t.Body)
	}
	fmt.Fprintf(out, "\nOne missed caller texted once, one answered caller left alone. Try `textback simulate` next.\n")
	return nil
}
