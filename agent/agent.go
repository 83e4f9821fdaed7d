package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	gosync "sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ferry-cd/ferry/notify"
	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/sync"
	"github.com/ferry-cd/ferry/sync/source"
)

// Options configure an Agent. Flags and environment variables are resolved in cmd/ferry.
type Options struct {
	// Source is the config repository: URL, branch, credentials, cache folder.
	Source source.Options
	// Environments limits the agent to these environments; empty means all of ferry.yaml.
	Environments []string
	// Namespace is ferry's own namespace: state ConfigMaps, Events and the leader Lease.
	Namespace string
	// WebhookSecret is the HMAC-SHA256 secret of POST /hooks/git; empty disables the webhook.
	WebhookSecret []byte
	// HTTPAddr serves /hooks/git, /healthz and /readyz; MetricsAddr serves /metrics. Either may
	// be "" (not served) and both may be the same address.
	HTTPAddr, MetricsAddr string
	// LeaderElection makes replicas elect one leader with a Lease named LeaseName; only the
	// leader syncs. Identity names this replica (default: host name and a random suffix).
	LeaderElection bool
	LeaseName      string
	Identity       string
	LeaseDuration  time.Duration
	RenewDeadline  time.Duration
	RetryPeriod    time.Duration
	// Forge, when set, receives a commit status ferry/<env> after each sync, and the promotion
	// pull requests of environments with promotion.auto. Pushes use Source's HTTPS credentials.
	Forge promote.Forge
	// Sync configures the sync engine; its Namespace is set from Namespace.
	Sync sync.Options
	// MinBackoff and MaxBackoff bound the retry delay after failed attempts.
	MinBackoff, MaxBackoff time.Duration
	// ShutdownGrace bounds how long Run waits for syncs in progress after ctx ends.
	ShutdownGrace time.Duration
	// Logger receives the sync lines; slog.Default() when nil.
	Logger *slog.Logger
	// Notify configures the delivery of ferry.yaml's notifications (its Report is the
	// agent's). LookupEnv reads the variables their urlFrom names; os.LookupEnv when nil.
	Notify    notify.Options
	LookupEnv func(name string) (string, bool)
	// StatusURL is the status page's address as people reach it, the link of notifications
	// that have no pull request; "" for none.
	StatusURL string
}

// DefaultOptions returns Options for namespace ferry-system, leader election with the Lease
// ferry-agent (15s lease, 10s renew deadline, 2s retry), retries backing off from 1s to 5m,
// 10s to shut down, and notify.DefaultOptions.
func DefaultOptions() Options {
	return Options{
		Source: source.DefaultOptions(), Namespace: "ferry-system",
		LeaderElection: true, LeaseName: "ferry-agent",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		Sync:       sync.DefaultOptions(),
		MinBackoff: time.Second, MaxBackoff: 5 * time.Minute, ShutdownGrace: 10 * time.Second,
		Notify: notify.DefaultOptions(),
	}
}

// Agent is the in-cluster daemon. Build it with New and run it with Run.
type Agent struct {
	opts    Options
	cfg     *rest.Config
	kube    kubernetes.Interface
	log     *slog.Logger
	metrics *metrics
	src     *source.Source

	notifier *notify.Notifier // delivers ferry.yaml's notifications, for every term

	ready atomic.Bool
	mu    gosync.Mutex
	term  *term // the current leadership term, nil while not leading
}

// New returns an Agent for the cluster of cfg. The error names the option or client at fault.
func New(cfg *rest.Config, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Namespace == "" {
		return nil, errors.New("agent: a namespace is required")
	}
	if opts.Identity == "" {
		opts.Identity = defaultIdentity()
	}
	opts.Sync.Namespace = opts.Namespace
	src, err := source.New(opts.Source)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("agent: kubernetes client: %w", err)
	}
	a := &Agent{opts: opts, cfg: cfg, kube: kube, log: opts.Logger, metrics: newMetrics(), src: src}
	opts.Notify.Report = a.reportNotification
	a.notifier = notify.New(opts.Notify)
	return a, nil
}

// Run serves HTTP, takes part in the leader election (or leads alone) and syncs until ctx
// ends; then it cancels or finishes the syncs in progress within ShutdownGrace and returns.
// It returns an error only when it cannot start.
func (a *Agent) Run(ctx context.Context) error {
	stopServers, err := a.serve(ctx)
	if err != nil {
		return err
	}
	defer stopServers()
	if err := a.ensureNamespace(ctx); err != nil {
		return err
	}
	go a.notifier.Run(ctx)
	a.ready.Store(true)
	if a.opts.LeaderElection {
		a.runElected(ctx)
		return nil
	}
	a.lead(ctx)
	return nil
}

func (a *Agent) setTerm(t *term) {
	a.mu.Lock()
	a.term = t
	a.mu.Unlock()
}

func (a *Agent) currentTerm() *term {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.term
}

// Leading reports whether this agent is syncing (it is the leader, or runs alone).
func (a *Agent) Leading() bool { return a.currentTerm() != nil }

// selected reports whether the agent syncs env.
func (a *Agent) selected(env string) bool {
	if len(a.opts.Environments) == 0 {
		return true
	}
	for _, e := range a.opts.Environments {
		if e == env {
			return true
		}
	}
	return false
}
