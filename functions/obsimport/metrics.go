package obsimport

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are obsimport's own series (dlibot_obsimport_*).
type metrics struct {
	// objects counts objects seen, by result: queued, duplicate,
	// no_rule, unusable, awaits_marker, reupload_queued, reupload_next,
	// reupload_skipped, reupload_alerted, ignored_not_create,
	// ignored_test_event, ignored_folder_marker, ignored_control.
	objects *prometheus.CounterVec
	// jobs counts DLI import jobs by backend and outcome (submitted,
	// succeeded, failed, rejected, retried, recovered, resubmitted,
	// fenced: a submit not sent because the lease was lost or ran short,
	// duplicate: a job submitted after another replica took over,
	// deferred: a step that would have called DLI held back because DLI
	// is unavailable).
	jobs *prometheus.CounterVec
	// dliHold is the current DLI hold ceiling in seconds while DLI is
	// unavailable (1 → 60), 0 while it answers.
	dliHold prometheus.Gauge
	// submitLatency is the time from an object's first event to its
	// import's submission.
	submitLatency prometheus.Histogram
	// batchFiles is the number of files per job.
	batchFiles prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_obsimport_objects_total", Help: "Objects seen by obsimport, by result.",
		}, []string{"result"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_obsimport_jobs_total", Help: "DLI import jobs by backend and outcome.",
		}, []string{"backend", "outcome"}),
		submitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dlibot_obsimport_submit_latency_seconds", Help: "Time from an object's event to its import's submission.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900},
		}),
		batchFiles: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dlibot_obsimport_batch_files", Help: "Files per DLI import job.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 256, 1000},
		}),
		dliHold: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dlibot_obsimport_dli_hold_seconds",
			Help: "Ceiling of the current hold on obsimport's DLI calls while DLI is unavailable; 0 while DLI answers.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.objects, m.jobs, m.submitLatency, m.batchFiles, m.dliHold} {
			if err := reg.Register(c); err != nil {
				// Already registered by an earlier build in this process
				// (tests): share it.
				if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
					switch c.(type) {
					case *prometheus.CounterVec:
						if c == m.objects {
							m.objects = are.ExistingCollector.(*prometheus.CounterVec)
						} else {
							m.jobs = are.ExistingCollector.(*prometheus.CounterVec)
						}
					case prometheus.Gauge:
						m.dliHold = are.ExistingCollector.(prometheus.Gauge)
					case prometheus.Histogram:
						if c == m.submitLatency {
							m.submitLatency = are.ExistingCollector.(prometheus.Histogram)
						} else {
							m.batchFiles = are.ExistingCollector.(prometheus.Histogram)
						}
					}
				}
			}
		}
	}
	return m
}
