package rollout

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// cluster is the local control plane this package's tests share (without workloads: the
// rollouts move ConfigMaps, which are healthy once written); each test has its own
// environment and namespace.
var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithCluster(context.Background(), m, false, func(c *localcluster.Cluster) { cluster = c }))
}

// fixture is one test's environment: an overlay of two ConfigMaps, "stable" and "canary"
// (labelled track: canary), rolled out in the stages canary and all.
type fixture struct {
	t      *testing.T
	env    *environments.Environment
	repo   string
	syncer *sync.Syncer
	kube   kubernetes.Interface
}

func newFixture(t *testing.T, canary, all environments.Stage) *fixture {
	t.Helper()
	name := "t" + strings.ToLower(rand.String(6))
	opts := sync.DefaultOptions()
	opts.HealthTimeout = time.Minute
	opts.PollInterval = 200 * time.Millisecond
	s, err := sync.New(cluster.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	canary.Name, all.Name = "canary", "all"
	canary.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"track": "canary"}}
	env := &environments.Environment{Name: name, Path: "env", Namespace: name, Prune: true,
		Rollout: &environments.Rollout{Stages: []environments.Stage{canary, all}, OnFailure: environments.Halt, Timeout: time.Minute}}
	return &fixture{t: t, env: env, repo: t.TempDir(), syncer: s, kube: kube}
}

// write sets both ConfigMaps' value and renders the overlay.
func (f *fixture) write(value string) render.Result {
	f.t.Helper()
	dir := filepath.Join(f.repo, "env")
	files := map[string]string{
		"kustomization.yaml": "resources: [stable.yaml, canary.yaml]\n",
		"stable.yaml":        fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stable\ndata:\n  version: %q\n", value),
		"canary.yaml":        fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: canary\n  labels: {track: canary}\ndata:\n  version: %q\n", value),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	res, err := render.Render(f.t.Context(), os.DirFS(f.repo), f.env)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// deploy syncs value at revision everywhere at once: what runs before the rollout.
func (f *fixture) deploy(value, revision string) {
	f.t.Helper()
	if _, err := f.syncer.Sync(f.t.Context(), f.env, f.write(value), revision); err != nil {
		f.t.Fatalf("sync %s: %v", revision, err)
	}
}

// version returns the version the ConfigMap name holds in the cluster.
func (f *fixture) version(name string) string {
	f.t.Helper()
	cm, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(f.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return cm.Data["version"]
}

func (f *fixture) state() *sync.State {
	f.t.Helper()
	st, err := f.syncer.State().Load(f.t.Context(), f.env.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// observer keeps what a rollout reported, as lines such as "evaluated canary smoke fail"; it
// calls onEvaluated, when set, after each evaluation, and onAwaiting when a wait for approval
// begins.
type observer struct {
	mu          stdsync.Mutex
	calls       []string
	halt        *Halt
	onEvaluated func(CheckResult)
	onAwaiting  func()
}

func (o *observer) add(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, fmt.Sprintf(format, args...))
}

func (o *observer) Progress(_ context.Context, _ int, st environments.Stage, phase string) {
	o.add("progress %s %s", st.Name, phase)
}
func (o *observer) NotSaved(_ context.Context, st environments.Stage, err error) {
	o.add("not saved %s: %v", st.Name, err)
}
func (o *observer) StageApplied(_ context.Context, st environments.Stage, _ *sync.Report) {
	o.add("applied %s", st.Name)
}
func (o *observer) Evaluated(_ context.Context, st environments.Stage, r CheckResult) {
	result := "pass"
	if !r.Pass {
		result = "fail: " + r.Reason
	}
	o.add("evaluated %s %s %s", st.Name, r.Check, result)
	if o.onEvaluated != nil {
		o.onEvaluated(r)
	}
}
func (o *observer) StageSoaked(_ context.Context, st environments.Stage) { o.add("soaked %s", st.Name) }
func (o *observer) AwaitingApproval(_ context.Context, _ int, st environments.Stage) {
	o.add("awaiting approval %s", st.Name)
	if o.onAwaiting != nil {
		o.onAwaiting()
	}
}
func (o *observer) Approved(_ context.Context, st environments.Stage, a sync.Request) {
	o.add("approved %s by %s", st.Name, a.By)
}
func (o *observer) Halted(_ context.Context, h *Halt) {
	o.add("halted %s", h.Stage)
	o.halt = h
}
func (o *observer) ProposeRevert(context.Context) { o.add("propose revert") }
func (o *observer) Finished(_ context.Context, st environments.Stage, _ *sync.Report) {
	o.add("finished %s", st.Name)
}

// lines returns the calls with repeated ones (a soak's evaluations, whose number a loaded
// machine may change) counted once.
func (o *observer) lines() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, c := range o.calls {
		if len(out) == 0 || out[len(out)-1] != c {
			out = append(out, c)
		}
	}
	return out
}
