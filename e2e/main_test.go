package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ferry-cd/ferry/internal/localcluster"
)

// cluster is the local control plane (API server only) the tests of this package share.
var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := localcluster.Start(ctx, localcluster.DefaultOptions())
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
