package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/textback/textback"
)

func TestMetrics(t *testing.T) {
	connected := true
	m := New(Probes{
		PBXConnected: func() bool { return connected },
		Modems: func() []Modem {
			return []Modem{{Name: "sim1", Registered: true, Registration: "home", SignalDBm: -71}, {Name: "sim2", Registration: "searching"}}
		},
		Store: func(context.Context) (Gauges, error) { return Gauges{Queued: 3, OptOuts: 7}, nil },
	})
	decided := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	missed := textback.Verdict{Call: textback.Call{Direction: textback.Inbound, Outcome: textback.NoAnswer, Decided: decided}, Send: true, Reason: "send"}
	m.Call(missed, decided.Add(2*time.Millisecond))
	m.Call(textback.Verdict{Call: textback.Call{Direction: textback.Inbound, Outcome: textback.Answered}, Reason: "answered"}, decided)
	m.Sent("twilio", 180*time.Millisecond)
	m.Text("failed")
	m.Inbound(textback.OptOutKeyword)
	m.Inbound(textback.NoKeyword)
	m.Inbound(textback.NoKeyword)

	want := `
# HELP textback_calls_total Calls decided, by direction, outcome and the verdict's reason.
# TYPE textback_calls_total counter
textback_calls_total{direction="inbound",outcome="answered",reason="answered"} 1
textback_calls_total{direction="inbound",outcome="no_answer",reason="send"} 1
# HELP textback_inbound_texts_total Texts received from callers, by keyword (none, opt-out, opt-in, help).
# TYPE textback_inbound_texts_total counter
textback_inbound_texts_total{keyword="none"} 2
textback_inbound_texts_total{keyword="opt-out"} 1
# HELP textback_modem_registered 1 while the modem is registered on a network; registration says how.
# TYPE textback_modem_registered gauge
textback_modem_registered{modem="sim1",registration="home"} 1
textback_modem_registered{modem="sim2",registration="searching"} 0
# HELP textback_modem_signal_dbm The modem's received signal strength, in dBm (left out while unknown).
# TYPE textback_modem_signal_dbm gauge
textback_modem_signal_dbm{modem="sim1"} -71
# HELP textback_optouts Numbers on the opt-out list.
# TYPE textback_optouts gauge
textback_optouts 7
# HELP textback_outbox_depth Texts in the outbox: queued, or being handed to a sender.
# TYPE textback_outbox_depth gauge
textback_outbox_depth 3
# HELP textback_pbx_connected 1 while the PBX source is connected and logged in.
# TYPE textback_pbx_connected gauge
textback_pbx_connected 1
# HELP textback_texts_total Texts by the state they reached (queued, sent, retry, failed, expired, unknown) and the sender that took them.
# TYPE textback_texts_total counter
textback_texts_total{sender="",state="failed"} 1
textback_texts_total{sender="",state="queued"} 1
textback_texts_total{sender="twilio",state="sent"} 1
`
	names := []string{"textback_calls_total", "textback_inbound_texts_total", "textback_modem_registered", "textback_modem_signal_dbm",
		"textback_optouts", "textback_outbox_depth", "textback_pbx_connected", "textback_texts_total"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// The histograms: one decision of 2 ms lands in the 2.5 ms bucket and
	// above; one send of 180 ms in the 250 ms bucket and above.
	body := scrape(t, m)
	for _, line := range []string{
		`textback_decision_latency_seconds_bucket{le="0.001"} 0`,
		`textback_decision_latency_seconds_bucket{le="0.0025"} 1`,
		`textback_decision_latency_seconds_count 1`,
		`textback_send_latency_seconds_bucket{le="0.1"} 0`,
		`textback_send_latency_seconds_bucket{le="0.25"} 1`,
		`textback_send_latency_seconds_count 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}

	connected = false
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP textback_pbx_connected 1 while the PBX source is connected and logged in.
# TYPE textback_pbx_connected gauge
textback_pbx_connected 0
`), "textback_pbx_connected"); err != nil {
		t.Error(err)
	}
}

// A store that fails leaves its gauges out and the rest in.
func TestMetricsStoreError(t *testing.T) {
	m := New(Probes{
		PBXConnected: func() bool { return true },
		Store:        func(context.Context) (Gauges, error) { return Gauges{}, errors.New("database is locked") },
	})
	body := scrape(t, m)
	if strings.Contains(body, "textback_outbox_depth") {
		t.Errorf("/metrics has textback_outbox_depth though the store failed:\n%s", body)
	}
	if !strings.Contains(body, "textback_pbx_connected 1") {
		t.Errorf("/metrics lacks textback_pbx_connected 1:\n%s", body)
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.Call(textback.Verdict{}, time.Now()) // must not panic
	m.Sent("log", time.Second)
	m.Text("failed")
	m.Inbound(textback.HelpKeyword)
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
	}
	return string(b)
}
