// Package localcluster runs a real Kubernetes control plane on loopback for tests, `ferry dev up`
// and `make demo`: etcd and kube-apiserver, and with Options.Workloads also
// kube-controller-manager, kube-scheduler and kwok with fake nodes, so that Deployments schedule,
// become ready and roll out. The programs are built from the Go module proxy by
// internal/controlplane/tools/build.sh (`make controlplane`) into DefaultBinDir.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/ferry-cd/ferry/internal/procgroup"
)

// Versions of the control-plane programs. internal/controlplane/tools/build.sh pins the same.
const (
	KubernetesVersion = "v1.37.2"
	EtcdVersion       = "v3.6.8"
	KwokVersion       = "v0.8.0"
)

// Options says what to start and where.
type Options struct {
	// BinDir holds the six programs and the kwok stage files; DefaultBinDir() when empty.
	BinDir string
	// Dir is the cluster's working folder (certs, etcd data, kubeconfig, logs). When empty a
	// temporary folder is made and removed by Stop; a folder given here is kept.
	Dir string
	// Workloads also starts kube-controller-manager, kube-scheduler and kwok with Nodes fake
	// nodes, so that pods are scheduled and become ready.
	Workloads bool
	// Nodes is the number of fake nodes with Workloads.
	Nodes int
	// StartTimeout bounds the whole start, readiness included.
	StartTimeout time.Duration
	// StopGrace is how long each program may take to exit after SIGTERM before SIGKILL.
	StopGrace time.Duration
	// APIServerFlags are extra kube-apiserver flags, after ferry's own (bench turns on the
	// audit log with them, to count every client's requests the same way).
	APIServerFlags []string
}

// DefaultOptions returns Options for an API server only, in a temporary folder.
func DefaultOptions() Options {
	return Options{Nodes: 1, StartTimeout: 2 * time.Minute, StopGrace: 3 * time.Second}
}

// Cluster is a running local control plane.
type Cluster struct {
	// KubeconfigPath is a kubeconfig file for the cluster-admin user.
	KubeconfigPath string
	// Config is the same admin identity as a client-go config.
	Config *rest.Config

	dir, logDir string
	removeDir   bool
	grace       time.Duration
	mu          sync.Mutex
	procs       []*procgroup.Process
	stopped     bool

	// kube-apiserver's program and flags, for RestartAPIServer
	apiserverBin  string
	apiserverArgs []string
}

// serviceCIDR is the range of Service IPs; its first address is the kubernetes Service.
const serviceCIDR = "10.96.0.0/16"

var kubernetesServiceIP = net.IPv4(10, 96, 0, 1)

// Start starts the control plane and returns once the API server is ready and, with Workloads,
// the nodes are Ready and the default ServiceAccount exists. On error everything started is
// stopped again and the error carries the failing program's log tail; a *MissingBinariesError
// means `make controlplane` has not been run.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts = withDefaults(opts)
	if err := checkBinaries(opts.BinDir); err != nil {
		return nil, err
	}
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := c.start(ctx, opts); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

func withDefaults(opts Options) Options {
	def := DefaultOptions()
	if opts.BinDir == "" {
		opts.BinDir = DefaultBinDir()
	}
	if opts.Nodes <= 0 {
		opts.Nodes = def.Nodes
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = def.StartTimeout
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = def.StopGrace
	}
	return opts
}

func newCluster(opts Options) (*Cluster, error) {
	c := &Cluster{dir: opts.Dir, grace: opts.StopGrace}
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "ferry-cluster-")
		if err != nil {
			return nil, fmt.Errorf("make cluster folder: %w", err)
		}
		c.dir, c.removeDir = dir, true
	}
	c.logDir = filepath.Join(c.dir, "logs")
	if err := os.MkdirAll(c.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("make log folder: %w", err)
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, opts Options) error {
	certs, err := newPKI(c.dir, kubernetesServiceIP)
	if err != nil {
		return err
	}
	etcdURL, err := c.startEtcd(ctx, opts.BinDir)
	if err != nil {
		return err
	}
	if err := c.startAPIServer(ctx, opts.BinDir, opts.APIServerFlags, certs, etcdURL); err != nil {
		return err
	}
	if !opts.Workloads {
		return nil
	}
	return c.startWorkloads(ctx, opts, certs)
}

// LogDir returns the folder holding one NAME.log per program.
func (c *Cluster) LogDir() string { return c.logDir }

// Dir returns the cluster's working folder.
func (c *Cluster) Dir() string { return c.dir }

// PIDs returns the process id of each program started, by program name.
func (c *Cluster) PIDs() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := make(map[string]int, len(c.procs))
	for _, p := range c.procs {
		pids[p.Name] = p.PID()
	}
	return pids
}

// Stop stops every program, last started first, and removes a temporary folder. It is safe to
// call more than once and returns an error only when the folder cannot be removed.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].Stop(c.grace)
	}
	if c.removeDir {
		if err := os.RemoveAll(c.dir); err != nil {
			return fmt.Errorf("remove %s: %w", c.dir, err)
		}
	}
	return nil
}

func (c *Cluster) run(name, bin string, args ...string) (*procgroup.Process, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, errors.New("cluster stopped")
	}
	p, err := procgroup.Start(name, exec.Command(bin, args...), c.logDir)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// waitFor polls ready every 100ms until it returns true, p exits, or ctx ends.
func waitFor(ctx context.Context, p *procgroup.Process, what string, ready func(context.Context) bool) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(ctx) {
			return nil
		}
		select {
		case <-p.Done():
			return p.Failure("exited before " + what)
		case <-ctx.Done():
			return p.Failure(fmt.Sprintf("not %s: %v", what, ctx.Err()))
		case <-tick.C:
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
