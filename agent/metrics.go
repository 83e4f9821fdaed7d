package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Prometheus series DESIGN.md lists, in a registry of their own.
type metrics struct {
	registry *prometheus.Registry
	syncs    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	ready    *prometheus.GaugeVec
	revision *prometheus.GaugeVec
	drift    *prometheus.GaugeVec
	halted   *prometheus.CounterVec
	analysis *prometheus.CounterVec
	suspend  *prometheus.GaugeVec
	renders  *prometheus.CounterVec
	// phases times the parts of a sync: fetch, render (kustomize ran), apply, health (the wait).
	phases *prometheus.HistogramVec
	// notifications counts ferry.yaml's notifications by name and result (notify.Outcome).
	notifications *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_sync_total", Help: "Sync attempts by environment and result (applied, unchanged, failed).",
		}, []string{"env", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ferry_sync_duration_seconds", Help: "Duration of sync attempts, health wait included.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}, []string{"env"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ferry_environment_ready", Help: "1 when the environment's last sync succeeded and it is healthy, else 0.",
		}, []string{"env"}),
		revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ferry_applied_revision_info", Help: "The revision last applied to each environment (value 1).",
		}, []string{"env", "revision"}),
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ferry_drift_objects", Help: "Owned objects changed in the cluster since ferry applied them.",
		}, []string{"env"}),
		halted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_rollout_halted_total", Help: "Staged rollouts halted, by environment and stage.",
		}, []string{"env", "stage"}),
		analysis: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_analysis_total", Help: "Evaluations of rollout analysis checks, by environment, stage, check and result (pass, fail).",
		}, []string{"env", "stage", "check", "result"}),
		suspend: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ferry_environment_suspended", Help: "1 while an operator has suspended the environment (ferry suspend), else 0.",
		}, []string{"env"}),
		renders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_renders_total", Help: "Renders a sync needed at a revision the environment's last render was not of, by result: rendered (kustomize ran; failed renders too) or reused (none of the last render's inputs changed).",
		}, []string{"env", "result"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ferry_sync_phase_seconds", Help: "Time spent in each phase of a sync: fetch (git), render (when kustomize ran), apply (server-side apply and prune), health (the wait after an apply).",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 9),
		}, []string{"env", "phase"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_notifications_total", Help: "Notification messages by notification name and result (sent, failed, dropped, deduplicated).",
		}, []string{"name", "result"}),
	}
	m.registry.MustRegister(m.syncs, m.duration, m.ready, m.revision, m.drift, m.halted, m.analysis, m.suspend, m.renders, m.phases, m.notifications,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// applied records an applied revision, replacing the environment's previous one.
func (m *metrics) applied(env, revision string) {
	m.revision.DeletePartialMatch(prometheus.Labels{"env": env})
	m.revision.WithLabelValues(env, revision).Set(1)
}

// forget deletes every series of env, for an environment that left ferry.yaml: a gauge that
// stayed would report a removed environment as ready (or not) forever.
func (m *metrics) forget(env string) {
	only := prometheus.Labels{"env": env}
	m.syncs.DeletePartialMatch(only)
	m.duration.DeletePartialMatch(only)
	m.ready.DeletePartialMatch(only)
	m.revision.DeletePartialMatch(only)
	m.drift.DeletePartialMatch(only)
	m.halted.DeletePartialMatch(only)
	m.analysis.DeletePartialMatch(only)
	m.suspend.DeletePartialMatch(only)
	m.renders.DeletePartialMatch(only)
	m.phases.DeletePartialMatch(only)
}

// setSuspended records whether env is suspended.
func (m *metrics) setSuspended(env string, suspended bool) {
	v := 0.0
	if suspended {
		v = 1
	}
	m.suspend.WithLabelValues(env).Set(v)
}

// phase records how long a phase of a sync of env took.
func (m *metrics) phase(env, phase string, d time.Duration) {
	m.phases.WithLabelValues(env, phase).Observe(d.Seconds())
}
