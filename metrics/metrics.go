// Package metrics turns the daemon's calls, texts and health into
// Prometheus metrics on a registry of its own.
//
// Counters and histograms are updated on the hot path (a decision, a send)
// and cost an atomic add; everything that needs a look at the PBX link, the
// modems or the store is read only when /metrics is scraped.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/textback/textback"
)

// Modem is what the metrics show of one modem.
type Modem struct {
	Name         string
	Registered   bool
	Registration string // "home", "roaming", "searching", …
	SignalDBm    int    // 0: unknown, and not exported
}

// Gauges are the store's counts read at each scrape.
type Gauges struct {
	Queued  int // texts in the outbox
	OptOuts int // numbers on the opt-out list
}

// Probes are read at scrape time. Any of them may be nil: its metrics are
// then left out.
type Probes struct {
	PBXConnected func() bool
	Modems       func() []Modem
	Store        func(ctx context.Context) (Gauges, error)
}

// Metrics holds the daemon's metrics. Its methods are safe for concurrent
// use, and do nothing on a nil *Metrics, so code paths without metrics
// (tests, the demo) need no checks.
type Metrics struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	texts    *prometheus.CounterVec
	inbound  *prometheus.CounterVec
	decision prometheus.Histogram
	send     prometheus.Histogram
}

// Buckets, in seconds. A decision (the rules and one SQLite transaction)
// takes well under a millisecond to a few; a send is an HTTPS request to
// a carrier or an AT exchange with a modem, tens of milliseconds to seconds.
var (
	decisionBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	sendBuckets     = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
)

// New makes the metrics and registers them, with the probes, the Go
// runtime's and the process's, on a registry of their own.
func New(p Probes) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "textback_calls_total",
			Help: "Calls decided, by direction, outcome and the verdict's reason.",
		}, []string{"direction", "outcome", "reason"}),
		texts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "textback_texts_total",
			Help: "Texts by the state they reached (queued, sent, retry, failed, expired, unknown) and the sender that took them.",
		}, []string{"state", "sender"}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "textback_inbound_texts_total",
			Help: "Texts received from callers, by keyword (none, opt-out, opt-in, help).",
		}, []string{"keyword"}),
		decision: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "textback_decision_latency_seconds",
			Help:    "From the PBX source knowing a call ended to its verdict being journaled.",
			Buckets: decisionBuckets,
		}),
		send: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "textback_send_latency_seconds",
			Help:    "From a call's decision (or the end of the caller's quiet hours) to a sender accepting its text.",
			Buckets: sendBuckets,
		}),
	}
	m.reg.MustRegister(m.calls, m.texts, m.inbound, m.decision, m.send,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		probes{p})
	return m
}

// Handler serves the registry in the Prometheus exposition format. A probe
// that fails (the store locked) leaves its metric out of that scrape
// rather than failing the whole of it.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry returns the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Call counts a journaled verdict, and observes the decision latency when
// the source said when it knew the call had ended.
func (m *Metrics) Call(v textback.Verdict, journaled time.Time) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(string(v.Call.Direction), string(v.Call.Outcome), v.Reason).Inc()
	if !v.Call.Decided.IsZero() {
		m.decision.Observe(journaled.Sub(v.Call.Decided).Seconds())
	}
	if v.Send {
		m.texts.WithLabelValues(string(textback.Queued), "").Inc()
	}
}

// Text counts a text reaching a state other than sent: "retry", failed,
// expired, unknown.
func (m *Metrics) Text(state string) {
	if m == nil {
		return
	}
	m.texts.WithLabelValues(state, "").Inc()
}

// Sent counts a text a sender accepted and observes the send latency.
func (m *Metrics) Sent(sender string, latency time.Duration) {
	if m == nil {
		return
	}
	m.texts.WithLabelValues(string(textback.Sent), sender).Inc()
	m.send.Observe(latency.Seconds())
}

// Inbound counts a text received from a caller.
func (m *Metrics) Inbound(k textback.Keyword) {
	if m == nil {
		return
	}
	m.inbound.WithLabelValues(k.String()).Inc()
}

// probes collects what is read at scrape time.
type probes struct{ p Probes }

var (
	pbxConnectedDesc = prometheus.NewDesc("textback_pbx_connected",
		"1 while the PBX source is connected and logged in.", nil, nil)
	modemSignalDesc = prometheus.NewDesc("textback_modem_signal_dbm",
		"The modem's received signal strength, in dBm (left out while unknown).", []string{"modem"}, nil)
	modemRegisteredDesc = prometheus.NewDesc("textback_modem_registered",
		"1 while the modem is registered on a network; registration says how.", []string{"modem", "registration"}, nil)
	outboxDepthDesc = prometheus.NewDesc("textback_outbox_depth",
		"Texts in the outbox: queued, or being handed to a sender.", nil, nil)
	optOutsDesc = prometheus.NewDesc("textback_optouts",
		"Numbers on the opt-out list.", nil, nil)
)

// storeTimeout bounds the store's part of a scrape: a locked database makes
// the store gauges miss one scrape, not hang it.
const storeTimeout = 2 * time.Second

func (c probes) Describe(ch chan<- *prometheus.Desc) {
	ch <- pbxConnectedDesc
	ch <- modemSignalDesc
	ch <- modemRegisteredDesc
	ch <- outboxDepthDesc
	ch <- optOutsDesc
}

func (c probes) Collect(ch chan<- prometheus.Metric) {
	if c.p.PBXConnected != nil {
		ch <- prometheus.MustNewConstMetric(pbxConnectedDesc, prometheus.GaugeValue, b2f(c.p.PBXConnected()))
	}
	if c.p.Modems != nil {
		for _, h := range c.p.Modems() {
			if h.SignalDBm != 0 {
				ch <- prometheus.MustNewConstMetric(modemSignalDesc, prometheus.GaugeValue, float64(h.SignalDBm), h.Name)
			}
			ch <- prometheus.MustNewConstMetric(modemRegisteredDesc, prometheus.GaugeValue, b2f(h.Registered), h.Name, h.Registration)
		}
	}
	if c.p.Store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		g, err := c.p.Store(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(outboxDepthDesc, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(outboxDepthDesc, prometheus.GaugeValue, float64(g.Queued))
		ch <- prometheus.MustNewConstMetric(optOutsDesc, prometheus.GaugeValue, float64(g.OptOuts))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
