// Package promtest runs a real Prometheus (internal/localprom) for tests, scraping a Traffic
// server the test controls: its functions fail the test on error, and both stop when the test
// ends. It is test infrastructure: only tests import it.
package promtest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-cd/ferry/internal/localprom"
)

// Prometheus is a running Prometheus that scrapes Traffic every second.
type Prometheus struct {
	*localprom.Server
	Traffic *localprom.Traffic
}

// Start runs a Traffic server and a Prometheus scraping it every second, and stops both in
// t.Cleanup. It fails the test when the binary is not built or the server does not start.
func Start(t testing.TB) *Prometheus {
	t.Helper()
	tr, err := localprom.StartTraffic()
	if err != nil {
		t.Fatalf("promtest: traffic: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	opts := localprom.DefaultOptions()
	opts.Targets = []string{tr.Addr}
	s, err := localprom.Start(context.WithoutCancel(t.Context()), opts)
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.Kill() // keeps the folder for the logs
			t.Logf("promtest: Prometheus log: %s", s.LogDir)
			return
		}
		if err := s.Stop(); err != nil {
			t.Errorf("promtest: %v", err)
		}
	})
	t.Logf("Prometheus %s at %s ready in %s", localprom.Version, s.URL, s.StartTime.Round(time.Millisecond))
	return &Prometheus{Server: s, Traffic: tr}
}
