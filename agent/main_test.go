package agent

import (
	"context"
	"flag"
	"os"
	"testing"

	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// cluster is the local control plane with workloads this package's tests share.
var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	if fuzzingOnly() {
		os.Exit(m.Run())
	}
	os.Exit(testutil.RunWithCluster(context.Background(), m, true, func(c *localcluster.Cluster) { cluster = c }))
}

// fuzzingOnly reports whether this process runs a fuzz target and no test: a fuzz worker, or
// `make fuzz`'s `-run '^$' -fuzz …`. The fuzz targets need no control plane, and every worker
// process runs TestMain: starting one in each would swamp the machine.
func fuzzingOnly() bool {
	value := func(name string) string {
		if f := flag.Lookup(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	return value("test.fuzzworker") == "true" || (value("test.fuzz") != "" && value("test.run") == "^$")
}
