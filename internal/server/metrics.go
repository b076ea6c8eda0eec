package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, on a registry of its own so that two servers in
// one process (as in tests) do not collide.
type metrics struct {
	registry *prometheus.Registry

	requests     *prometheus.CounterVec   // by operation and status code
	latency      *prometheus.HistogramVec // by operation
	accepted     *prometheus.CounterVec   // accepted events, by event type
	refused      *prometheus.CounterVec   // refusals, by problem type
	openStreams  prometheus.Gauge
	talksInMem   prometheus.Gauge
	commitBatch  prometheus.Histogram // appends per store commit
	commitTime   prometheus.Histogram
	authFailures *prometheus.CounterVec
	// recordConflicts counts checkpoints refused because the stored record conflicts with a
	// party's cosignature: storage was altered or rolled back under the server.
	recordConflicts prometheus.Counter
}

// MetricsHandler serves the server's Prometheus metrics. It is for the host's operators only,
// on a listener of its own (backchannel serve --metrics-addr), never on the API's.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}

func newMetrics() *metrics {
	r := prometheus.NewRegistry()
	m := &metrics{
		registry: r,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backchannel_http_requests_total",
			Help: "HTTP requests served, by operation and status code.",
		}, []string{"operation", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "backchannel_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by operation (streams excluded).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"operation"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backchannel_events_accepted_total",
			Help: "Events appended to a talks' record, by event type.",
		}, []string{"type"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backchannel_refusals_total",
			Help: "Requests refused, by problem type.",
		}, []string{"problem"}),
		openStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "backchannel_open_streams",
			Help: "Event streams open now.",
		}),
		talksInMem: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "backchannel_talks_in_memory",
			Help: "Talks whose state the server holds in memory (bounded by --max-talks-in-memory).",
		}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "backchannel_store_commit_batch_size",
			Help:    "Appends carried by one durable store commit (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "backchannel_store_commit_seconds",
			Help:    "Time of one durable store commit, fsync included.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25},
		}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backchannel_auth_failures_total",
			Help: "Failed authentications, by reason.",
		}, []string{"reason"}),
		recordConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backchannel_record_conflicts_total",
			Help: "Checkpoints refused because the stored record conflicts with a party's cosignature.",
		}),
	}
	r.MustRegister(m.requests, m.latency, m.accepted, m.refused, m.openStreams, m.talksInMem, m.commitBatch, m.commitTime, m.authFailures, m.recordConflicts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
