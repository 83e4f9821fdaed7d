package testutil

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ferry-cd/ferry/internal/localcluster"
)

// RunWithCluster is a TestMain body: it starts a local control plane (with kube-controller-
// manager, kube-scheduler and kwok when workloads is true) within ctx, hands it to set, runs the
// tests, prints the log folder when they fail, stops the cluster and returns the exit code.
func RunWithCluster(ctx context.Context, m *testing.M, workloads bool, set func(*localcluster.Cluster)) int {
	ctrllog.SetLogger(logr.Discard()) // controller-runtime's client warns once without a logger
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	opts := localcluster.DefaultOptions()
	opts.Workloads = workloads
	c, err := localcluster.Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start local control plane:", err)
		return 1
	}
	set(c)
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "control-plane logs:", c.LogDir())
	}
	_ = c.Stop()
	return code
}
