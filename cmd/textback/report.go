package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/textback/textback"
	"github.com/textback/textback/sqlite"
)

func reportCmd(load func() (Config, error), stdout io.Writer) *cobra.Command {
	var since string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "report [--since 30d] [--json]",
		Short: "Missed calls, texts, replies and opt-outs, and the revenue the replies are worth",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			now := time.Now()
			from, err := parseSince(since, now)
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
			r, err := buildReport(cmd.Context(), db, from, now, cfg.Report)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return writeReport(stdout, r)
		},
	}
	cmd.Flags().StringVar(&since, "since", "30d", "how far back: a duration (24h, 30d) or a date (2026-03-01)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// reportLine is one line of the report: its counts for the calls of a DID,
// an outcome, or all. The JSON field names are an interface for scripts:
// keep them.
type reportLine struct {
	Key       string  `json:"key,omitempty"` // the DID or the outcome; empty for the total
	Missed    int     `json:"missed"`        // missed inbound calls
	Texted    int     `json:"texted"`        // of those, texted (a sender accepted the text)
	Replied   int     `json:"replied"`       // of those, the caller texted back after the text (STOP and other keywords aside)
	OptedOut  int     `json:"opted_out"`     // of those, the caller opted out after the text
	ReplyRate float64 `json:"reply_rate"`    // replied / texted, 0 to 1
}

// report is what `textback report` prints.
type report struct {
	Since     time.Time    `json:"since"`
	Until     time.Time    `json:"until"`
	Total     reportLine   `json:"total"`
	ByDID     []reportLine `json:"by_did"`
	ByOutcome []reportLine `json:"by_outcome"`
	// The estimate: Replied × ConversionRate × AverageJobValue.
	AverageJobValue  float64 `json:"average_job_value"`
	ConversionRate   float64 `json:"conversion_rate"`
	RecoveredRevenue float64 `json:"recovered_revenue"`
}

// reportStore is what the report reads.
type reportStore interface {
	MissedCalls(ctx context.Context, since time.Time) ([]sqlite.MissedCall, error)
	InboundSince(ctx context.Context, since time.Time) ([]textback.InboundText, error)
}

// buildReport counts the missed calls since from. A call was texted when a
// sender accepted its text. It was replied to when the caller sent us a
// text, other than a keyword (STOP, HELP, …), after it and before any later
// text to them: each reply counts for the latest text before it, so a
// caller texted twice who replied once counts once. It led to an opt-out
// when the caller is on the opt-out list since after the text.
func buildReport(ctx context.Context, st reportStore, from, now time.Time, rc ReportConfig) (report, error) {
	calls, err := st.MissedCalls(ctx, from)
	if err != nil {
		return report{}, err
	}
	inbound, err := st.InboundSince(ctx, from)
	if err != nil {
		return report{}, err
	}
	// The texts to each caller, oldest first (calls come oldest first).
	texts := map[textback.Number][]int{}
	for i, c := range calls {
		if c.TextState == textback.Sent && c.Caller != "" {
			texts[c.Caller] = append(texts[c.Caller], i)
		}
	}
	replied := make([]bool, len(calls))
	for _, m := range inbound {
		if textback.ParseKeyword(m.Body) != textback.NoKeyword {
			continue
		}
		idx := texts[m.From]
		// The latest text sent before the reply.
		j := -1
		for _, i := range idx {
			if !calls[i].TextAt.After(m.Received) {
				j = i
			}
		}
		if j >= 0 {
			replied[j] = true
		}
	}

	r := report{Since: from, Until: now, AverageJobValue: rc.AverageJobValue, ConversionRate: rc.ConversionRate}
	byDID, byOutcome := map[string]*reportLine{}, map[string]*reportLine{}
	line := func(m map[string]*reportLine, key string) *reportLine {
		if m[key] == nil {
			m[key] = &reportLine{Key: key}
		}
		return m[key]
	}
	for i, c := range calls {
		for _, l := range []*reportLine{&r.Total, line(byDID, c.DID), line(byOutcome, string(c.Outcome))} {
			l.Missed++
			if c.TextState != textback.Sent {
				continue
			}
			l.Texted++
			if replied[i] {
				l.Replied++
			}
			if !c.OptedOut.IsZero() && !c.OptedOut.Before(c.TextAt) {
				l.OptedOut++
			}
		}
	}
	finish := func(m map[string]*reportLine) []reportLine {
		out := []reportLine{}
		for _, l := range m {
			l.ReplyRate = rate(l.Replied, l.Texted)
			out = append(out, *l)
		}
		slices.SortFunc(out, func(a, b reportLine) int {
			return cmp.Or(cmp.Compare(b.Missed, a.Missed), cmp.Compare(a.Key, b.Key))
		})
		return out
	}
	r.Total.ReplyRate = rate(r.Total.Replied, r.Total.Texted)
	r.ByDID, r.ByOutcome = finish(byDID), finish(byOutcome)
	r.RecoveredRevenue = float64(r.Total.Replied) * rc.ConversionRate * rc.AverageJobValue
	return r, nil
}

func rate(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func writeReport(w io.Writer, r report) error {
	fmt.Fprintf(w, "textback report: %s to %s\n\n", r.Since.Local().Format("2006-01-02 15:04"), r.Until.Local().Format("2006-01-02 15:04"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tmissed\ttexted\treplied\topted out\treply rate\t")
	row := func(name string, l reportLine) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t\n", sanitize(name), l.Missed, l.Texted, l.Replied, l.OptedOut, percent(l.ReplyRate, l.Texted))
	}
	row("all", r.Total)
	if len(r.ByDID) > 0 {
		fmt.Fprintln(tw, "by DID\t\t\t\t\t\t")
		for _, l := range r.ByDID {
			row(orDash(l.Key), l)
		}
	}
	if len(r.ByOutcome) > 0 {
		fmt.Fprintln(tw, "by outcome\t\t\t\t\t\t")
		for _, l := range r.ByOutcome {
			row(l.Key, l)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s texted, %d replied", plural(r.Total.Texted, "caller"), r.Total.Replied)
	if r.AverageJobValue > 0 && r.ConversionRate > 0 {
		fmt.Fprintf(w, "; at a %s conversion of replies and $%s a job, about $%s recovered",
			percent(r.ConversionRate, 1), money(r.AverageJobValue), money(r.RecoveredRevenue))
	}
	_, err := fmt.Fprintln(w, ".")
	return err
}

func percent(f float64, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", f*100)
}

// money writes an amount rounded to whole units, with thousands separated.
func money(f float64) string {
	s := fmt.Sprintf("%d", int64(math.Round(f)))
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
