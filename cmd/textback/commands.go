package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/textback/textback"
	"github.com/textback/textback/rules"
)

// checker is what a sender or source offers to `textback check`.
type checker interface {
	Check(ctx context.Context) error
}

func checkCmd(load func() (Config, error), stdout io.Writer) *cobra.Command {
	var offline bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration, log in to the PBX and test the sender's credentials",
		Long: "check reads the configuration and reports every problem with its line, then (unless --offline)\n" +
			"logs in to the PBX and asks the SMS provider whether the credentials work. The exit status is 0\n" +
			"only when everything is well.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ok := true
			report := func(what string, err error) {
				if err != nil {
					ok = false
					fmt.Fprintf(stdout, "FAIL  %s\n", what)
					for _, line := range strings.Split(err.Error(), "\n") {
						fmt.Fprintf(stdout, "      %s\n", line)
					}
					return
				}
				fmt.Fprintf(stdout, "ok    %s\n", what)
			}
			cfg, err := load()
			report("configuration", err)
			if err != nil {
				return exitError(1)
			}
			log := slog.New(slog.DiscardHandler)
			c, err := build(&cfg, log)
			report("rules, sender and PBX settings", err)
			if err != nil {
				return exitError(1)
			}
			// Warnings do not fail the check: the texts go out, but maybe
			// in two parts, or held by a carrier's filter.
			for _, w := range policyWarnings(&cfg, c.policy) {
				fmt.Fprintf(stdout, "warn  %s\n", w)
			}
			for _, w := range secretWarnings(&cfg) {
				fmt.Fprintf(stdout, "warn  %s\n", w)
			}
			report("store "+cfg.Store.Path, checkStorePath(cfg.Store.Path))
			if !offline {
				ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
				defer cancel()
				who := ""
				if cfg.PBX.Username != "" && cfg.PBX.Type != "esl" {
					who = " as " + cfg.PBX.Username
				}
				report(fmt.Sprintf("PBX: log in to %s at %s%s", cfg.PBX.Type, cfg.PBX.Address, who), c.source.Check(ctx))
				names := strings.Join(cfg.senderList(), ", ")
				if ch, isChecker := c.sender.Sender.(checker); isChecker {
					report("sender "+names+": credentials", ch.Check(ctx))
				} else {
					report("sender "+names+": nothing to check", nil)
				}
			}
			if !ok {
				return exitError(1)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&offline, "offline", false, "check only the file: do not contact the PBX or the SMS provider")
	return cmd
}

// checkStorePath reports whether the daemon will be able to open its
// database: the file exists and is writable, or its directory does.
func checkStorePath(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory", path)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		return f.Close()
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory for the database: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".textback-check-*")
	if err != nil {
		return fmt.Errorf("directory for the database is not writable: %w", err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// noHistory is the history of a store that does not exist yet.
type noHistory struct{}

func (noHistory) LastTexted(context.Context, textback.Number) (time.Time, bool, error) {
	return time.Time{}, false, nil
}
func (noHistory) OptedOut(context.Context, textback.Number) (bool, error)    { return false, nil }
func (noHistory) CountTexts(context.Context, string, time.Time) (int, error) { return 0, nil }

func simulateCmd(load func() (Config, error), stdout io.Writer) *cobra.Command {
	var (
		caller, did, outcome, at, cdr, tz string
		rang                              time.Duration
		asJSON                            bool
	)
	cmd := &cobra.Command{
		Use:   "simulate (--caller N --did D --outcome O --rang DURATION [--at TIME] | --cdr FILE)",
		Short: "Put a described call, or a PBX's CDR file, through the rules and print the verdicts (sends nothing)",
		Long: "simulate puts one described call through the rules, or with --cdr replays an Asterisk Master.csv\n" +
			"or a FreeSWITCH cdr_csv file: each call at the time it ended, with the texts the replay would have\n" +
			"sent counted, so cooldowns and caps apply across the file. Opt-outs and earlier texts come from the\n" +
			"journal when it exists. Nothing is sent or written.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			pol, err := buildPolicy(&cfg)
			if err != nil {
				return err
			}
			var h rules.History = noHistory{}
			if _, err := os.Stat(cfg.Store.Path); err == nil {
				db, err := openStore(cmd.Context(), &cfg)
				if err != nil {
					return err
				}
				defer db.Close()
				h = db
			}
			if cdr != "" {
				if cmd.Flags().Changed("caller") || cmd.Flags().Changed("at") {
					return errors.New("--cdr replays the file's calls: leave out --caller and --at")
				}
				return simulateCDR(cmd.Context(), stdout, pol, h, cdr, tz, asJSON)
			}
			if caller == "" {
				return errors.New("--caller or --cdr is required")
			}
			var o textback.Outcome
			if err := o.UnmarshalText([]byte(outcome)); err != nil {
				return fmt.Errorf("--outcome: %w", err)
			}
			now := time.Now()
			if at != "" {
				if now, err = time.Parse(time.RFC3339, at); err != nil {
					return fmt.Errorf("--at: want a time like 2026-03-02T09:30:00-05:00: %w", err)
				}
			}
			call := textback.Call{
				ID: "simulated", Source: "simulate", Direction: textback.Inbound, Outcome: o,
				CallerNum: caller, DID: did, Started: now.Add(-rang), Ended: now, Rang: rang, Decided: now,
			}
			dec, err := pol.Decide(cmd.Context(), call, now, h)
			if err != nil {
				return err
			}
			if asJSON {
				out := map[string]any{
					"send": dec.Send, "reason": dec.Reason, "detail": dec.Detail, "rule": dec.Rule, "caller": string(dec.Caller),
					"after_hours": dec.AfterHours,
				}
				if dec.Message != nil {
					out["to"], out["from"], out["text"] = string(dec.Message.To), string(dec.Message.From), dec.Message.Body
				}
				if !dec.NotBefore.IsZero() {
					out["not_before"] = dec.NotBefore
				}
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			fmt.Fprintf(stdout, "verdict: %s\nreason:  %s\n", verdictWord(dec.Send), dec.Reason)
			if dec.Detail != "" {
				fmt.Fprintf(stdout, "detail:  %s\n", dec.Detail)
			}
			if dec.Rule != "" {
				fmt.Fprintf(stdout, "rule:    %s\n", dec.Rule)
			}
			if dec.Message != nil {
				from := string(dec.Message.From)
				if from == "" {
					from = "(the sender's default)"
				}
				fmt.Fprintf(stdout, "to:      %s\nfrom:    %s\ntext:    %s\n", dec.Message.To, from, dec.Message.Body)
				if !dec.NotBefore.IsZero() {
					fmt.Fprintf(stdout, "sends:   %s (the end of the caller's quiet hours)\n", dec.NotBefore.Format(time.RFC3339))
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&caller, "caller", "", "caller ID number as the PBX would report it")
	f.StringVar(&did, "did", "", "the number the caller dialed")
	f.StringVar(&outcome, "outcome", "no_answer", "answered, no_answer, busy, abandoned, voicemail, unavailable or unattended")
	f.DurationVar(&rang, "rang", 0, "how long the phones rang (e.g. 12s)")
	f.StringVar(&at, "at", "", "when the call ended, RFC 3339 (default now)")
	f.StringVar(&cdr, "cdr", "", "replay an Asterisk Master.csv or FreeSWITCH cdr_csv file")
	f.StringVar(&tz, "tz", "Local", "with --cdr: the time zone of the file's times (the PBX's), e.g. America/New_York")
	f.BoolVar(&asJSON, "json", false, "print JSON (with --cdr: one object per call)")
	return cmd
}

// simulateCDR replays a CDR file and prints what each call would have got.
func simulateCDR(ctx context.Context, stdout io.Writer, pol *rules.Policy, base rules.History, path, tz string, asJSON bool) error {
	loc, err := parseTZ(tz)
	if err != nil {
		return fmt.Errorf("--tz: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	calls, err := readCDR(f, loc)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	lines, err := replayCDR(ctx, pol, calls, &memHistory{base: base})
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDED\tCALLER\tDID\tOUTCOME\tRANG\tVERDICT\tREASON\tRULE\tDETAIL")
	texted := 0
	for _, l := range lines {
		if l.Send {
			texted++
		}
		who := l.To
		if who == "" {
			who = sanitize(l.CallerRaw)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0fs\t%s\t%s\t%s\t%s\n", l.Ended.Format("2006-01-02 15:04:05"), who,
			sanitize(l.DID), l.Outcome, l.Rang, verdictWord(l.Send), l.Reason, orDash(l.Rule), sanitize(l.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d calls, %d would have been texted\n", len(lines), texted)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sendTestCmd(load func() (Config, error), stdout, stderr io.Writer) *cobra.Command {
	var to, text string
	cmd := &cobra.Command{
		Use:   "send-test --to NUMBER",
		Short: "Send one real text through the configured sender",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			num, err := rules.ParseNumber(to, cfg.Detect.DefaultRegion)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			log := newLogger(stderr, cfg.Log)
			snd, err := buildSenders(&cfg, log)
			if err != nil {
				return err
			}
			var from textback.Number
			if cfg.SMS.From != "" {
				if from, err = rules.ParseNumber(cfg.SMS.From, cfg.Detect.DefaultRegion); err != nil {
					return fmt.Errorf("sms.from: %w", err)
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 90*time.Second)
			defer cancel()
			snd.runAll(ctx) // a modem: open and start it first
			r, err := snd.Send(ctx, textback.Message{CallID: "send-test", To: num, From: from, Body: text})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "sent to %s through %s, id %s\n", num, r.Sender, r.ProviderID)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the number to text")
	cmd.Flags().StringVar(&text, "text", "This is a test text from textback.", "the text")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func historyCmd(load func() (Config, error), stdout io.Writer) *cobra.Command {
	var since, number string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history [--number N]",
		Short: "List the calls and texts of the journal",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			from, err := parseSince(since, time.Now())
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if _, err := os.Stat(cfg.Store.Path); errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no journal at %s yet: the daemon has not run", cfg.Store.Path)
			}
			db, err := openStore(cmd.Context(), &cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			var caller textback.Number
			if number != "" {
				if caller, err = rules.ParseNumber(number, cfg.Detect.DefaultRegion); err != nil {
					return fmt.Errorf("--number: %w", err)
				}
			}
			entries, err := db.History(cmd.Context(), from)
			if err != nil {
				return err
			}
			if caller != "" {
				// The caller's calls, answered ones included (their verdict stops
				// before the number is read, so Party holds it), and the
				// calls staff placed to that number.
				entries = slices.DeleteFunc(entries, func(e textback.Entry) bool { return e.Caller != caller && e.Party != caller })
			}
			if asJSON {
				return writeHistoryJSON(stdout, entries)
			}
			return writeHistoryTable(stdout, entries)
		},
	}
	cmd.Flags().StringVar(&since, "since", "7d", "how far back: a duration (24h, 30d) or a date (2026-03-01)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, one object per call")
	cmd.Flags().StringVar(&number, "number", "", "only the calls from or to this number (any format; read in default_region)")
	return cmd
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := parseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (30d) nor a date (2026-03-01)", s)
}

// historyJSON is one line of `history --json`. Its field names are an
// interface for scripts: keep them.
type historyJSON struct {
	CallID    string    `json:"call_id"`
	Recorded  time.Time `json:"recorded"`
	Direction string    `json:"direction"`
	Outcome   string    `json:"outcome,omitempty"`
	Caller    string    `json:"caller,omitempty"`
	Party     string    `json:"party,omitempty"` // the other end, E.164: the caller, or the number staff called
	CallerRaw string    `json:"caller_raw"`
	DID       string    `json:"did"`
	Rang      float64   `json:"rang_seconds"`
	Send      bool      `json:"send"`
	Reason    string    `json:"reason"`
	Detail    string    `json:"detail,omitempty"`
	Rule      string    `json:"rule,omitempty"`
	Text      *textJSON `json:"text,omitempty"`
}

type textJSON struct {
	ID         int64      `json:"id"`
	To         string     `json:"to"`
	From       string     `json:"from,omitempty"`
	Body       string     `json:"body"`
	State      string     `json:"state"`
	Attempts   int        `json:"attempts"`
	Sender     string     `json:"sender,omitempty"`
	ProviderID string     `json:"provider_id,omitempty"`
	Done       *time.Time `json:"done,omitempty"`
	LastError  string     `json:"last_error,omitempty"`
	Delivery   string     `json:"delivery,omitempty"` // the carrier's report: delivered, undelivered
}

func toHistoryJSON(e textback.Entry) historyJSON {
	h := historyJSON{
		CallID: string(e.Call.ID), Recorded: e.Recorded, Direction: string(e.Call.Direction),
		Caller: string(e.Caller), Party: string(e.Party), CallerRaw: e.Call.CallerNum, DID: e.Call.DID, Rang: e.Call.Rang.Seconds(),
		Send: e.Send, Reason: e.Reason, Detail: e.Detail, Rule: e.Rule,
	}
	if e.Call.Direction == textback.Inbound {
		h.Outcome = string(e.Call.Outcome)
	}
	if t := e.Text; t != nil {
		h.Text = &textJSON{ID: t.ID, To: string(t.To), From: string(t.From), Body: t.Body, State: string(t.State),
			Attempts: t.Attempts, Sender: t.Receipt.Sender, ProviderID: t.Receipt.ProviderID, LastError: t.LastError,
			Delivery: string(t.Delivery)}
		if !t.Done.IsZero() {
			d := t.Done
			h.Text.Done = &d
		}
	}
	return h
}

func writeHistoryJSON(w io.Writer, entries []textback.Entry) error {
	enc := json.NewEncoder(w)
	for _, e := range entries {
		if err := enc.Encode(toHistoryJSON(e)); err != nil {
			return err
		}
	}
	return nil
}

func writeHistoryTable(w io.Writer, entries []textback.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCALLER\tDID\tOUTCOME\tRANG\tVERDICT\tREASON\tTEXT")
	for _, e := range entries {
		caller := e.Caller.Masked()
		if caller == "" {
			caller = sanitize(e.Call.CallerNum)
		}
		outcome := string(e.Call.Outcome)
		if e.Call.Direction != textback.Inbound {
			outcome = string(e.Call.Direction)
		}
		text := "-"
		if e.Text != nil {
			text = string(e.Text.State)
			if e.Text.LastError != "" && e.Text.State != textback.Sent {
				text += ": " + sanitize(e.Text.LastError)
			}
			if e.Text.Delivery != "" {
				text += ", " + string(e.Text.Delivery)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0fs\t%s\t%s\t%s\n", e.Recorded.Local().Format("2006-01-02 15:04:05"),
			caller, sanitize(e.Call.DID), outcome, e.Call.Rang.Seconds(), verdictWord(e.Send), e.Reason, text)
	}
	return tw.Flush()
}

// sanitize keeps PBX-supplied strings (attacker-controlled caller IDs) from
// writing control characters to a terminal.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
