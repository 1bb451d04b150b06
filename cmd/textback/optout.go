package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/textback/textback"
	"github.com/textback/textback/rules"
	"github.com/textback/textback/sqlite"
)

// optoutCmd manages the opt-out list: callers who are never texted again.
// Numbers are read in [detect] default_region and kept in E.164.
func optoutCmd(load func() (Config, error), stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "optout",
		Short: "Manage the opt-out list: numbers that are never texted",
		Long: "The opt-out list wins over every rule and the allow list. Numbers are written in any form and read\n" +
			"in [detect] default_region; the list is kept in E.164 in the store.",
	}
	// withStore opens the store (creating it: the list may be filled
	// before the daemon first runs) and normalises the arguments.
	withStore := func(cmd *cobra.Command, f func(db *sqlite.DB, cfg *Config) error) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		db, err := openStore(cmd.Context(), &cfg)
		if err != nil {
			return err
		}
		defer db.Close()
		return f(db, &cfg)
	}
	parseAll := func(args []string, region string) ([]textback.Number, error) {
		var nums []textback.Number
		var errs []error
		for _, a := range args {
			n, err := rules.ParseNumber(a, region)
			if err != nil {
				errs = append(errs, err)
			}
			nums = append(nums, n)
		}
		return nums, errors.Join(errs...)
	}
	set := func(out bool) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(db *sqlite.DB, cfg *Config) error {
				nums, err := parseAll(args, cfg.Detect.DefaultRegion)
				if err != nil {
					return err // none changed: a typo must not half-apply
				}
				now := time.Now()
				for _, n := range nums {
					if err := db.SetOptOut(cmd.Context(), n, out, "cli", now); err != nil {
						return err
					}
					if out {
						fmt.Fprintf(stdout, "opted out %s\n", n)
					} else {
						fmt.Fprintf(stdout, "opted in %s\n", n)
					}
				}
				return nil
			})
		}
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the opt-out list, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(db *sqlite.DB, _ *Config) error {
				list, err := db.OptOuts(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NUMBER\tSINCE\tSOURCE")
				for _, o := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Number, o.At.Local().Format("2006-01-02 15:04:05"), sanitize(o.Source))
				}
				return tw.Flush()
			})
		},
	}
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the opt-out list to standard output, one number a line (for optout import)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(db *sqlite.DB, _ *Config) error {
				list, err := db.OptOuts(cmd.Context())
				if err != nil {
					return err
				}
				w := bufio.NewWriter(stdout)
				for _, o := range list {
					fmt.Fprintln(w, o.Number)
				}
				return w.Flush()
			})
		},
	}
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Add the numbers of a file, one a line (# starts a comment); - reads standard input",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			return withStore(cmd, func(db *sqlite.DB, cfg *Config) error {
				nums, err := readNumberFile(r, args[0], cfg.Detect.DefaultRegion)
				if err != nil {
					return err // nothing imported: fix the file and run again
				}
				now := time.Now()
				for _, n := range nums {
					if err := db.SetOptOut(cmd.Context(), n, true, "import", now); err != nil {
						return err
					}
				}
				fmt.Fprintf(stdout, "%d numbers from %s are on the opt-out list\n", len(nums), args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(
		&cobra.Command{Use: "add NUMBER...", Short: "Put numbers on the opt-out list", Args: cobra.MinimumNArgs(1), RunE: set(true)},
		&cobra.Command{Use: "remove NUMBER...", Short: "Take numbers off the opt-out list", Args: cobra.MinimumNArgs(1), RunE: set(false)},
		list, imp, export,
	)
	return cmd
}

// readNumberFile reads one number a line, with "#" comments and blank
// lines, and reports every bad line.
func readNumberFile(r io.Reader, name, region string) ([]textback.Number, error) {
	var nums []textback.Number
	var errs []error
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s, _, _ := strings.Cut(sc.Text(), "#")
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := rules.ParseNumber(s, region)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, line, err))
			continue
		}
		nums = append(nums, n)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return nums, errors.Join(errs...)
}
