package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ferry-cd/ferry/internal/localcluster"
)

// lab is the benchmarks' shared control plane; nil unless FERRY_BENCH=1.
var lab *benchLab

// benchLab is one local control plane with workloads (kube-controller-manager reports
// Deployments with 0 replicas healthy, as it would in a real cluster) and its audit log.
type benchLab struct {
	cluster *localcluster.Cluster
	audit   auditLog
	kube    kubernetes.Interface
}

func TestMain(m *testing.M) {
	if os.Getenv("FERRY_BENCH") != "1" {
		os.Exit(m.Run()) // TestBench skips: `go test ./...` stays fast
	}
	os.Exit(runWithLab(m))
}

func runWithLab(m *testing.M) int {
	ctrllog.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "ferry-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	flags, logPath, err := auditFlags(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opts := localcluster.DefaultOptions()
	opts.Workloads = true
	opts.APIServerFlags = flags
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	c, err := localcluster.Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start local control plane:", err)
		return 1
	}
	defer c.Stop()
	kube, err := kubernetes.NewForConfig(withAgent(c.Config, agentHarness))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lab = &benchLab{cluster: c, audit: auditLog{path: logPath}, kube: kube}
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "control-plane logs:", c.LogDir())
	}
	return code
}

// withAgent returns a copy of cfg whose requests carry userAgent, so that the audit log tells
// the clients apart.
func withAgent(cfg *rest.Config, userAgent string) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.UserAgent = userAgent
	return out
}

// kubectlPath is the kubectl built with the control plane (`make controlplane`).
func kubectlPath() string { return filepath.Join(localcluster.DefaultBinDir(), "kubectl") }

// Settings from the environment, for quick iterations; `make bench` uses the defaults.
type settings struct {
	sizes     []int         // FERRY_BENCH_N: environment sizes of scenarios 1 to 4
	agentSize []int         // FERRY_BENCH_AGENT_N: environment sizes of scenario 6
	reps      int           // FERRY_BENCH_REPS: runs per side and scenario
	largeReps int           // FERRY_BENCH_REPS_5000: the same from 5000 objects up (see repsAt)
	idle      time.Duration // FERRY_BENCH_IDLE: the agent's idle time before RSS is read
	idleEnvs  time.Duration // FERRY_BENCH_IDLE_ENVS: how long scenario 8 counts the idle cost
	scenarios string        // FERRY_BENCH_SCENARIOS: e.g. "1,2,5"; all when empty
}

func loadSettings(tb testing.TB) settings {
	tb.Helper()
	s := settings{sizes: []int{100, 1000, 5000}, reps: 5, largeReps: 3, agentSize: []int{1000, 10000}, idle: time.Minute, idleEnvs: 2 * time.Minute, scenarios: os.Getenv("FERRY_BENCH_SCENARIOS")}
	for name, p := range map[string]*[]int{"FERRY_BENCH_N": &s.sizes, "FERRY_BENCH_AGENT_N": &s.agentSize} {
		if v := os.Getenv(name); v != "" {
			*p = nil
			for _, f := range strings.Split(v, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n < 2 {
					tb.Fatalf("%s=%q: want sizes of 2 objects or more, comma-separated", name, v)
				}
				*p = append(*p, n)
			}
		}
	}
	for name, p := range map[string]*int{"FERRY_BENCH_REPS": &s.reps, "FERRY_BENCH_REPS_5000": &s.largeReps} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				tb.Fatalf("%s=%q: want a positive number", name, v)
			}
			*p = n
		}
	}
	for name, p := range map[string]*time.Duration{"FERRY_BENCH_IDLE": &s.idle, "FERRY_BENCH_IDLE_ENVS": &s.idleEnvs} {
		if v := os.Getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				tb.Fatalf("%s=%q: want a positive duration", name, v)
			}
			*p = d
		}
	}
	return s
}

// repsAt returns the runs per side of scenarios 1 to 4 at size n: fewer from 5000 objects up,
// where one first sync takes minutes on a 2-core machine and `make bench` must end in about
// 25 minutes. The table's notes give the count used.
func (s settings) repsAt(n int) int {
	if n >= 5000 {
		return min(s.reps, s.largeReps)
	}
	return s.reps
}

// runs reports whether scenario n is selected.
func (s settings) runs(n int) bool {
	if s.scenarios == "" {
		return true
	}
	for _, f := range strings.Split(s.scenarios, ",") {
		if strings.TrimSpace(f) == strconv.Itoa(n) {
			return true
		}
	}
	return false
}
