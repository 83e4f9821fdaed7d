package e2e

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

// cluster is the local control plane with workloads the tests of this package share.
var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard()) // controller-runtime's client warns once without a logger
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	opts := localcluster.DefaultOptions()
	opts.Workloads = true
	c, err := localcluster.Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start local control plane:", err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "control-plane logs:", c.LogDir())
	}
	_ = c.Stop()
	os.Exit(code)
}
