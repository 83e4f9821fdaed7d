package e2e

import (
	"context"
	"os"
	"testing"

	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// cluster is the local control plane with workloads the tests of this package share.
var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithCluster(context.Background(), m, true, func(c *localcluster.Cluster) { cluster = c }))
}
