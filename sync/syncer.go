package sync

import (
	"context"
	"fmt"
	"net/http"
	gosync "sync"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// FieldManager is the server-side apply field manager of everything ferry applies.
const FieldManager = "ferry"

// Annotations users put on objects in their overlays.
const (
	// ForceAnnotation "true" lets ferry delete and recreate an object whose immutable fields changed.
	ForceAnnotation = "ferry.dev/force"
	// PruneAnnotation "disabled" keeps an object in the cluster when it leaves the overlay.
	PruneAnnotation = "ferry.dev/prune"
)

// Options configure a Syncer.
type Options struct {
	// Namespace holds the state ConfigMaps (ferry's own namespace).
	Namespace string
	// Concurrency bounds the objects applied at once.
	Concurrency int
	// HealthTimeout bounds the wait for applied objects to become healthy; 0 skips the wait.
	HealthTimeout time.Duration
	// PollInterval is how often health is polled.
	PollInterval time.Duration
}

// DefaultOptions returns Options for namespace ferry-system, concurrency 16, a 5 minute health
// timeout polled every 2 seconds.
func DefaultOptions() Options {
	return Options{Namespace: "ferry-system", Concurrency: 16, HealthTimeout: 5 * time.Minute, PollInterval: 2 * time.Second}
}

// Syncer makes a cluster match rendered environments. It is long-lived: the agent keeps one,
// and with a drift Watch it skips objects known to be unchanged. Safe for one sync per
// environment at a time.
type Syncer struct {
	opts Options
	kube kubernetes.Interface
	meta metadata.Interface
	// allKinds is meta without API deprecation warnings, for lists of every kind served.
	allKinds metadata.Interface
	mapper   meta.RESTMapper
	mgr      *ssa.ResourceManager
	state    *StateStore
	watch    *Watch

	// namespaces holds the environment namespaces known to exist, so that a sync does not
	// read them again; an apply that fails forgets them.
	namespaces gosync.Map
}

// New returns a Syncer talking to the cluster of cfg. The error names what could not be built.
func New(cfg *rest.Config, opts Options) (*Syncer, error) {
	def := DefaultOptions()
	if opts.Namespace == "" {
		opts.Namespace = def.Namespace
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = def.Concurrency
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = def.PollInterval
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return newSyncer(cfg, httpClient, opts)
}

func newSyncer(cfg *rest.Config, httpClient *http.Client, opts Options) (*Syncer, error) {
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes REST mapper: %w", err)
	}
	c, err := client.New(cfg, client.Options{HTTPClient: httpClient, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	kube, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	md, err := metadata.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes metadata client: %w", err)
	}
	// Lists of every kind the cluster serves (rebuildInventory, namespaceContents) touch
	// deprecated ones too (v1 Endpoints, ComponentStatus), whose warnings say nothing to a user.
	quietCfg := rest.CopyConfig(cfg)
	quietCfg.WarningHandler = rest.NoWarnings{}
	quiet, err := metadata.NewForConfigAndClient(quietCfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("kubernetes metadata client: %w", err)
	}
	poller := newStatusPoller(c, mapper)
	mgr := ssa.NewResourceManager(c, poller, ssa.Owner{Field: FieldManager, Group: "ferry.dev"})
	mgr.SetConcurrency(opts.Concurrency)
	return &Syncer{
		opts: opts, kube: kube, meta: md, allKinds: quiet, mapper: mapper, mgr: mgr,
		state: NewStateStore(kube, opts.Namespace),
	}, nil
}

// State returns the StateStore the Syncer writes.
func (s *Syncer) State() *StateStore { return s.state }

// EnableDriftWatch makes the Syncer watch the objects it owns, so that later syncs send only
// what changed in git or drifted in the cluster. Watches stop when ctx ends.
func (s *Syncer) EnableDriftWatch(ctx context.Context) {
	s.watch = newWatch(ctx, s.meta, s.mapper)
}

// Drifted returns the owned objects of env that changed in the cluster since ferry applied
// them, as seen by the drift watch (nil without one).
func (s *Syncer) Drifted(env string) []ObjectID {
	if s.watch == nil {
		return nil
	}
	return s.watch.drifted(env)
}

// DriftChanges delivers an environment's name each time one of its objects drifts (nil
// without a drift watch).
func (s *Syncer) DriftChanges() <-chan string {
	if s.watch == nil {
		return nil
	}
	return s.watch.Changes()
}
