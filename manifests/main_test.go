package manifests_test

import (
	"context"
	"os"
	"testing"

	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// cluster is the local control plane (API server only: nothing here needs pods to run) the
// tests of this package share.
var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithCluster(context.Background(), m, false, func(c *localcluster.Cluster) { cluster = c }))
}
