// Command textback watches a PBX for missed inbound calls and texts each
// missed caller back.
//
//	textback run          the daemon
//	textback check        validate the configuration, log in to the PBX, test the sender
//	textback demo         a self-contained demonstration on recorded Asterisk calls
//	textback simulate     put a described call through the rules
//	textback send-test    send one text through the configured sender
//	textback history      the calls and texts of the journal
//	textback report       missed calls, texts, replies, opt-outs and the revenue recovered
//	textback optout       the opt-out list: add, remove, list, import, export
//	textback version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"
	_ "time/tzdata" // the rules' time zones, on a server without a tz database

	"github.com/spf13/cobra"

	"github.com/textback/textback/metrics"
	"github.com/textback/textback/replies"
	"github.com/textback/textback/rules"
	"github.com/textback/textback/sqlite"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	if err := newRoot(os.Stdout, os.Stderr).Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		fmt.Fprintln(os.Stderr, "textback:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a status and no further message: the
// command has already said what is wrong.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	var cfgPath string
	root := &cobra.Command{
		Use:           "textback",
		Short:         "Text back every caller your business missed",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&cfgPath, "config", "c", DefaultConfigPath, "configuration file")
	load := func() (Config, error) { return LoadConfig(cfgPath) }

	root.AddCommand(
		runCmd(load, stderr),
		checkCmd(load, stdout),
		demoCmd(stdout),
		simulateCmd(load, stdout),
		sendTestCmd(load, stdout, stderr),
		historyCmd(load, stdout),
		modemCmd(load, stdout),
		reportCmd(load, stdout),
		optoutCmd(load, stdout),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "textback", versionString()) },
		},
	)
	return root
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// newMetrics makes the daemon's metrics, with probes of the PBX link, the
// modems and the store.
func newMetrics(c components, db *sqlite.DB) *metrics.Metrics {
	p := metrics.Probes{
		Store: func(ctx context.Context) (metrics.Gauges, error) {
			g, err := db.Gauges(ctx)
			return metrics.Gauges{Queued: g.Queued, OptOuts: g.OptOuts}, err
		},
	}
	if src, ok := c.source.(interface{ Connected() bool }); ok {
		p.PBXConnected = src.Connected
	}
	if c.sender.modems != nil {
		p.Modems = func() []metrics.Modem {
			var out []metrics.Modem
			for _, h := range c.sender.modems() {
				out = append(out, metrics.Modem{Name: h.Name, Registered: h.Registered, Registration: h.Registration, SignalDBm: h.SignalDBm})
			}
			return out
		}
	}
	return metrics.New(p)
}

// newLogger builds the daemon's logger from [log].
func newLogger(w io.Writer, lc LogConfig) *slog.Logger {
	return newLevelLogger(w, lc, new(slog.LevelVar))
}

// newLevelLogger builds a logger from [log] whose level is lv, set here to
// lc.Level: a reload sets it again.
func newLevelLogger(w io.Writer, lc LogConfig, lv *slog.LevelVar) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(lc.Level)) // validated with the config
	lv.Set(level)
	opts := &slog.HandlerOptions{Level: lv}
	if lc.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// shutdownLimit bounds a shutdown: what has not stopped this long after
// SIGTERM is cut off, so that a hung PBX link or store cannot keep the
// process alive. It leaves the outbox's in-flight send time to finish and
// stays inside the unit's TimeoutStopSec=30s.
const shutdownLimit = 20 * time.Second

// awaitShutdown waits for done; once ctx is done, for at most limit more.
// finished is false when the limit passed first.
func awaitShutdown(ctx context.Context, done <-chan error, limit time.Duration) (finished bool, err error) {
	select {
	case err := <-done:
		return true, err
	case <-ctx.Done():
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case err := <-done:
		return true, err
	case <-t.C:
		return false, nil
	}
}

func runCmd(load func() (Config, error), stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the daemon",
		Long: "run follows the PBX's calls and texts missed callers until SIGTERM or SIGINT. On SIGHUP it reads\n" +
			"the configuration again and puts its rules in force (a file with errors is refused and the\n" +
			"running rules stay); the PBX, senders, store and HTTP settings need a restart.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			level := new(slog.LevelVar)
			log := newLevelLogger(stderr, cfg.Log, level)
			slog.SetDefault(log)
			c, err := build(&cfg, log)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() { <-ctx.Done(); stop() }() // a second signal gets the default: exit now
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)

			db, err := openStore(ctx, &cfg)
			if err != nil {
				return err
			}
			closeDB := true
			defer func() {
				if closeDB {
					db.Close()
				}
			}()
			// The loops beat at least every quarter of WatchdogSec; the
			// watchdog pings at every half while all of them beat.
			wd := watchdogInterval(log)
			m := newMetrics(c, db)
			ob := newOutbox(db, c.sender, time.Duration(cfg.Limits.MaxDelay), log)
			ob.metrics, ob.beat = m, newHeartbeat(wd/4)
			running := newTracker()
			d := &daemon{
				policy: c.policy, policies: make(chan *rules.Policy), running: running,
				store: db, log: log, now: time.Now, outbox: ob,
				metrics: m, beat: newHeartbeat(wd / 4),
			}
			for _, w := range policyWarnings(&cfg, c.policy) {
				log.Warn("rules: " + w)
			}
			obs := observability{metrics: m.Handler(), ready: readiness{store: db, modems: c.sender.modems, waiting: d.waitingCalls}}
			if p, ok := c.source.(interface{ Connected() bool }); ok {
				obs.ready.pbx = p
			}
			// One replies handler for the carriers' webhooks and the modem's
			// received texts, so that both share what is still owed a forward.
			rc, err := cfg.repliesConfig(c.sender)
			if err != nil {
				return err
			}
			rh := replies.New(rc, countInbound{db, m}, c.sender, log.With("component", "replies"))
			if c.sender.pool != nil {
				c.sender.pool.SetSink(rh)
			}
			waitHTTP, err := serveHTTP(ctx, &cfg, rh, obs, log)
			if err != nil {
				return err
			}
			rl := &reloader{
				load: load, boot: cfg, cfg: cfg, policy: c.policy, level: level, log: log,
				swap: d.swapPolicy, notify: func(state string) { notify(log, state) },
			}
			d.started = func() {
				notify(log, "READY=1")
				go watchdog(ctx, wd, log, func() { notify(log, "WATCHDOG=1") },
					map[string]*heartbeat{"events": d.beat, "outbox": ob.beat})
				go rl.run(ctx, hup)
			}
			go func() { <-ctx.Done(); notify(log, "STOPPING=1") }()
			log.Info("textback started", "version", versionString(), "pbx", cfg.PBX.Type, "addr", cfg.PBX.Address,
				"senders", cfg.senderList(), "store", cfg.Store.Path, "watchdog", wd)
			served := make(chan error, 1)
			go func() {
				var wg sync.WaitGroup
				wg.Go(func() { defer running.add("http")(); waitHTTP() })
				err := d.serve(ctx, c.source, c.sender.runners...)
				wg.Wait()
				served <- err
			}()
			finished, err := awaitShutdown(ctx, served, shutdownLimit)
			if !finished {
				// Whatever is cut off is in the journal as it stood: a text
				// left "sending" is marked unknown at the next start, never
				// sent twice. The store may be in use by what hangs, so it
				// is not closed (the process exit closes it).
				closeDB = false
				log.Error("shutdown took too long: exiting without waiting for the rest",
					"limit", shutdownLimit, "still_running", strings.Join(running.list(), ", "))
				return exitError(1)
			}
			log.Info("textback stopped")
			return err
		},
	}
}
