package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/textback/textback/modem"
)

// modemCmd is `textback modem`: what the configured modems say of
// themselves.
func modemCmd(load func() (Config, error), stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "modem",
		Short: "Inspect the configured USB modems",
		Args:  cobra.NoArgs,
	}
	var asJSON bool
	var timeout time.Duration
	info := &cobra.Command{
		Use:   "info",
		Short: "Show each [[modem]]: maker, model, firmware, IMEI, SIM, signal, registration, operator, SMSC",
		Long: "Show each [[modem]]: maker, model, firmware, IMEI, SIM, signal, registration, operator, SMSC.\n" +
			"It opens each modem's port itself, so stop the daemon first: two programs on one port garble each other.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if len(cfg.Modems) == 0 {
				return errors.New("no [[modem]] configured")
			}
			out, failed := modemInfos(cmd.Context(), &cfg, timeout)
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
			} else {
				printModemInfos(stdout, out)
			}
			if failed {
				return exitError(1)
			}
			return nil
		},
	}
	info.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	info.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for each modem")
	cmd.AddCommand(info)
	return cmd
}

// modemInfo is one modem in `textback modem info`.
type modemInfo struct {
	Name         string `json:"name"`
	Device       string `json:"device"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Firmware     string `json:"firmware,omitempty"`
	IMEI         string `json:"imei,omitempty"`
	SIM          string `json:"sim,omitempty"`
	SignalDBm    int    `json:"signal_dbm,omitempty"`
	Registration string `json:"registration,omitempty"`
	Operator     string `json:"operator,omitempty"`
	SMSC         string `json:"smsc,omitempty"`
	TextMode     bool   `json:"text_mode"`
	Error        string `json:"error,omitempty"`
}

// modemInfos asks every configured modem; failed reports whether one did
// not answer.
func modemInfos(ctx context.Context, cfg *Config, timeout time.Duration) (out []modemInfo, failed bool) {
	if ctx == nil {
		ctx = context.Background()
	}
	for i, mc := range cfg.Modems {
		mi := modemInfo{Name: mc.Name, Device: mc.Device}
		pin, err := cfg.secret(mc.PIN, mc.PINFile, fmt.Sprintf("modem[%d].pin_file", i))
		var m *modem.Modem
		if err == nil {
			m, err = modem.New(modem.Config{Name: mc.Name, Device: mc.Device, Baud: mc.Baud, PIN: pin, IMEI: mc.IMEI, TextMode: mc.TextMode}, nil)
		}
		if err == nil {
			mi.Name = m.Name()
			ictx, cancel := context.WithTimeout(ctx, timeout)
			var in modem.Info
			in, err = m.Info(ictx)
			cancel()
			if in.Device != "" {
				mi.Device = in.Device
			}
			mi.Manufacturer, mi.Model, mi.Firmware, mi.IMEI = in.Manufacturer, in.Model, in.Firmware, in.IMEI
			mi.SIM, mi.SignalDBm, mi.Registration, mi.Operator, mi.SMSC, mi.TextMode =
				in.SIM, in.SignalDBm, in.Registration, in.Operator, in.SMSC, in.TextMode
		}
		if err != nil {
			mi.Error = err.Error()
			failed = true
		}
		out = append(out, mi)
	}
	return out, failed
}

func printModemInfos(w io.Writer, infos []modemInfo) {
	for i, mi := range infos {
		if i > 0 {
			fmt.Fprintln(w)
		}
		tw := w
		fmt.Fprintf(tw, "%-14s%s\n", "modem", mi.Name)
		fmt.Fprintf(tw, "%-14s%s\n", "device", mi.Device)
		if mi.Error != "" {
			fmt.Fprintf(tw, "%-14s%s\n", "error", mi.Error)
		}
		if mi.IMEI != "" {
			signal := "unknown"
			if mi.SignalDBm != 0 {
				signal = fmt.Sprintf("%d dBm", mi.SignalDBm)
			}
			smsc := mi.SMSC
			if smsc == "" {
				smsc = "none (sends fail: set it with AT+CSCA)"
			}
			mode := "PDU"
			if mi.TextMode {
				mode = "text"
			}
			for _, kv := range [][2]string{
				{"manufacturer", mi.Manufacturer}, {"model", mi.Model}, {"firmware", mi.Firmware}, {"imei", mi.IMEI},
				{"sim", mi.SIM}, {"signal", signal}, {"registration", mi.Registration}, {"operator", mi.Operator},
				{"smsc", smsc}, {"sms mode", mode},
			} {
				fmt.Fprintf(tw, "%-14s%s\n", kv[0], kv[1])
			}
		}
	}
}
