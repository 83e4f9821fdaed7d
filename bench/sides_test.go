package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// stateNamespace holds the state ConfigMaps of the environments ferry syncs in process.
const stateNamespace = "ferry-bench"

// sample is one measured run: its wall time, the requests the audit log saw from it and the
// CPU time kube-apiserver and etcd spent meanwhile.
type sample struct {
	wall, server time.Duration
	req          requests
}

// measure runs fn and returns its wall time and the requests of the client with userAgent.
func measure(tb testing.TB, userAgent string, fn func()) sample {
	tb.Helper()
	mark, cpu := lab.audit.mark(tb), serverCPU()
	start := time.Now()
	fn()
	wall := time.Since(start)
	return sample{wall: wall, server: serverCPU() - cpu, req: lab.audit.since(tb, mark, userAgent)}
}

// alternate runs a then b on even runs and b then a on odd ones, so that neither side always
// finds the cluster just warmed up (or still busy) by the other.
func alternate(i int, a, b func()) {
	if i%2 == 0 {
		a()
		b()
	} else {
		b()
		a()
	}
}

// unthrottled turns client-go's client-side rate limit off for cfg, as `ferry agent` runs by
// default (--kube-api-qps -1), so that the in-process sides are measured by their engines and
// the cluster, as kubectl's serial apply is, rather than by a token bucket (the local
// cluster's config has 200 requests per second).
func unthrottled(cfg *rest.Config) *rest.Config {
	cfg.QPS, cfg.Burst = -1, 0
	return cfg
}

// ferrySide is one environment synced by a long-lived Syncer with a drift watch, as the agent
// keeps it, with DefaultOptions (concurrency 16, health polled every 2 s).
type ferrySide struct {
	syncer *sync.Syncer
	env    *environments.Environment
	stop   context.CancelFunc // stops the drift watch's informers
}

func newFerrySide(tb testing.TB, env *environments.Environment) *ferrySide {
	tb.Helper()
	opts := sync.DefaultOptions()
	opts.Namespace = stateNamespace
	s, err := sync.New(unthrottled(withAgent(lab.cluster.Config, agentFerry)), opts)
	must(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	s.EnableDriftWatch(ctx)
	return &ferrySide{syncer: s, env: env, stop: cancel}
}

// sync makes the cluster match res at revision, health wait included. Callers build res
// before they start the clock: rendering is scenario 5's business.
func (f *ferrySide) sync(tb testing.TB, res render.Result, revision string) *sync.Report {
	tb.Helper()
	rep, err := f.syncer.Sync(tb.Context(), f.env, res, revision)
	if err != nil {
		tb.Fatalf("ferry sync of %s at %s: %v", f.env.Name, revision, err)
	}
	return rep
}

// waitWatching waits until a sync of res at revision sends nothing: the drift watch has seen
// every object as ferry applied it. An agent's next scheduled sync is minutes away; a
// benchmark's is not, so it waits for the watch instead of measuring its start-up.
func (f *ferrySide) waitWatching(tb testing.TB, res render.Result, revision string) {
	tb.Helper()
	err := wait.PollUntilContextTimeout(tb.Context(), 2*time.Second, 2*time.Minute, false, func(ctx context.Context) (bool, error) {
		s := measure(tb, agentFerry, func() {
			_, err := f.syncer.Sync(ctx, f.env, res, revision)
			must(tb, err)
		})
		return s.req.Total <= 2, nil
	})
	if err != nil {
		tb.Fatalf("ferry's drift watch of %s never vouched for all objects: %v", f.env.Name, err)
	}
}

// ssaSide is the Flux-style baseline: fluxcd/pkg/ssa's ApplyAllStaged of every object, every
// time (kustomize-controller's way), with concurrency 4 as in FACTS.md's baseline.
type ssaSide struct{ mgr *ssa.ResourceManager }

func newSSASide(tb testing.TB) *ssaSide {
	tb.Helper()
	cfg := unthrottled(withAgent(lab.cluster.Config, agentSSA))
	httpClient, err := rest.HTTPClientFor(cfg)
	must(tb, err)
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	must(tb, err)
	c, err := client.New(cfg, client.Options{HTTPClient: httpClient, Mapper: mapper})
	must(tb, err)
	mgr := ssa.NewResourceManager(c, polling.NewStatusPoller(c, mapper, polling.Options{}),
		ssa.Owner{Field: "kustomize-controller", Group: "kustomize.toolkit.fluxcd.io"})
	mgr.SetConcurrency(4)
	return &ssaSide{mgr: mgr}
}

// apply applies objs, which ssa mutates: callers pass copies, made before the clock starts.
func (s *ssaSide) apply(tb testing.TB, objs []*unstructured.Unstructured) *ssa.ChangeSet {
	tb.Helper()
	cs, err := s.mgr.ApplyAllStaged(tb.Context(), objs, ssa.DefaultApplyOptions())
	if err != nil {
		tb.Fatalf("ssa ApplyAllStaged: %v", err)
	}
	return cs
}

// prune deletes objs (copies, as for apply) as kustomize-controller prunes: a GET to check the
// owner labels, then a DELETE.
func (s *ssaSide) prune(tb testing.TB, objs []*unstructured.Unstructured, env string) {
	tb.Helper()
	_, err := s.mgr.DeleteAll(tb.Context(), objs, ssa.DeleteOptions{
		PropagationPolicy: metav1.DeletePropagationBackground,
		Inclusions:        map[string]string{render.ManagedByLabel: render.ManagedByValue, render.EnvironmentLabel: env},
	})
	if err != nil {
		tb.Fatalf("ssa DeleteAll: %v", err)
	}
}

// kubectlRun is what scenario 1 reads of one kubectl process.
type kubectlRun struct {
	sample
	cpu     time.Duration // kubectl's own CPU time
	peakRSS int64         // KiB
}

// kubectlApply runs `kubectl apply --server-side -f` on yaml in a process of its own, with a
// fresh discovery cache (as ferry's fresh Syncer has no REST mapping cached).
func kubectlApply(tb testing.TB, yaml []byte) kubectlRun {
	tb.Helper()
	dir := tb.TempDir()
	file := filepath.Join(dir, "objects.yaml")
	must(tb, writeFile(file, yaml))
	cmd := exec.CommandContext(tb.Context(), kubectlPath(), "--kubeconfig", lab.cluster.KubeconfigPath,
		"--cache-dir", filepath.Join(dir, "cache"), "apply", "--server-side", "-f", file)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	var err error
	s := measure(tb, agentKubectl, func() { err = cmd.Run() })
	if err != nil {
		tb.Fatalf("kubectl apply: %v: %s", err, stderr.String())
	}
	return kubectlRun{sample: s, cpu: processCPU(cmd), peakRSS: maxRSS(cmd)}
}

// maxRSS returns an ended command's peak RSS in KiB (Linux's ru_maxrss unit).
func maxRSS(cmd *exec.Cmd) int64 {
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}

// settle waits until kube-controller-manager has seen every Deployment in namespace (their
// status is observed), so that its work on one run's objects does not slow the next run.
func settle(tb testing.TB, namespace string) {
	tb.Helper()
	err := wait.PollUntilContextTimeout(tb.Context(), 250*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := lab.kube.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, d := range list.Items {
			if d.Status.ObservedGeneration < d.Generation {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		tb.Fatalf("deployments in %s never observed: %v", namespace, err)
	}
}

// uniqueName returns a DNS label for one run's environment and namespace.
func uniqueName(prefix string, n, run int) string {
	return fmt.Sprintf("%s%d-%d-%d", prefix, n, run, time.Now().UnixNano()%100000)
}
