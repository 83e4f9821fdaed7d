package sync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/render"
)

// cluster is the local control plane with workloads this package's tests share; each test
// uses environments and namespaces of its own.
var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithCluster(context.Background(), m, true, func(c *localcluster.Cluster) { cluster = c }))
}

// fixture is one test's environment: a repository folder with an overlay, a Syncer whose
// requests are counted, and a client to look at the cluster.
type fixture struct {
	t       *testing.T
	env     *environments.Environment
	repo    string
	syncer  *Syncer
	counter *testutil.RequestCounter
	kube    kubernetes.Interface
}

func newFixture(t *testing.T, watch bool) *fixture {
	t.Helper()
	name := "t" + strings.ToLower(rand.String(6))
	cfg, counter := testutil.CountRequests(cluster.Config)
	opts := DefaultOptions()
	opts.Namespace = "ferry-system"
	opts.HealthTimeout = 90 * time.Second
	opts.PollInterval = 500 * time.Millisecond
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if watch {
		s.EnableDriftWatch(t.Context())
	}
	kube, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control-plane logs: %s", cluster.LogDir())
		}
	})
	return &fixture{
		t:    t,
		env:  &environments.Environment{Name: name, Path: "env", Namespace: name, Prune: true},
		repo: t.TempDir(), syncer: s, counter: counter, kube: kube,
	}
}

// write replaces the overlay with a kustomization listing files, and the files.
func (f *fixture) write(files map[string]string) {
	f.t.Helper()
	dir := filepath.Join(f.repo, "env")
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	kust := "resources:\n"
	for name, content := range files {
		kust += "- " + name + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) render() render.Result {
	f.t.Helper()
	res, err := render.Render(f.t.Context(), os.DirFS(f.repo), f.env)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// sync renders the overlay and syncs it at revision rev.
func (f *fixture) sync(rev string) (*Report, error) {
	f.t.Helper()
	return f.syncer.Sync(f.t.Context(), f.env, f.render(), rev)
}

func (f *fixture) mustSync(rev string) *Report {
	f.t.Helper()
	rep, err := f.sync(rev)
	if err != nil {
		f.t.Fatalf("sync %s: %v", rev, err)
	}
	return rep
}

// waitVouched waits until the drift watch has seen every object of the last apply.
func (f *fixture) waitVouched() {
	f.t.Helper()
	err := wait.PollUntilContextTimeout(f.t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		st, err := f.syncer.state.Load(ctx, f.env.Name)
		return err == nil && f.syncer.watch.vouches(f.env.Name, st.Inventory), nil
	})
	if err != nil {
		f.t.Fatalf("the drift watch never saw all objects: %v", err)
	}
}

func configMap(name, value string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  key: %q\n", name, value)
}

func deploymentYAML(name string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: app
        image: gcr.io/cloud-solutions-images/gceme:1.0.0
`, name, replicas)
}

const serviceYAML = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
`
