package localcluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// shared is the control plane with workloads that this package's tests share; each test works
// in its own namespace.
var shared *Cluster

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelper() // never returns
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	opts := DefaultOptions()
	opts.Workloads = true
	opts.Nodes = 2
	start := time.Now()
	c, err := Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start local control plane:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "local control plane with workloads ready in %s\n", time.Since(start).Round(time.Millisecond))
	shared = c
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "control-plane logs were in", c.LogDir(), "(copied to", keepLogs(c), ")")
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// keepLogs copies the cluster's logs out of its temporary folder, which Stop removes, so that
// a failed run can be read afterwards. It returns the copy's folder.
func keepLogs(c *Cluster) string {
	dst, err := os.MkdirTemp("", "ferry-cluster-logs-")
	if err != nil {
		return err.Error()
	}
	if err := os.CopyFS(dst, os.DirFS(c.LogDir())); err != nil {
		return err.Error()
	}
	return dst
}
