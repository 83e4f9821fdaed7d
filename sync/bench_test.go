package sync

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/render"
)

// BenchmarkSync measures a first sync (into a fresh namespace) and a no-op sync (same render,
// drift watch running) of examples/gceme's staging and of a generated environment of 1000
// objects (400 ConfigMaps, 200 Secrets, 200 Services, 200 Deployments with 0 replicas), with
// API requests and writes per sync as extra metrics. Health waits are on.
func BenchmarkSync(b *testing.B) {
	gen := b.TempDir()
	writeGenerated(b, gen, 1000)
	cases := []struct {
		name, repo, path string
	}{
		{"gceme-staging", filepath.Join("..", "examples", "gceme"), "environments/staging"},
		{"generated-1000", gen, "env"},
	}
	for _, c := range cases {
		b.Run(c.name+"/first", func(b *testing.B) {
			var requests, writes, runs int
			for b.Loop() {
				b.StopTimer()
				s, counter, env, res := benchSetup(b, c.repo, c.path)
				b.StartTimer()
				if _, err := s.Sync(b.Context(), env, res, "rev1"); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				requests += counter.Total() - counter.Counts()["WATCH"]
				writes += counter.Writes()
				runs++
				b.StartTimer()
			}
			b.ReportMetric(float64(requests)/float64(runs), "requests/op")
			b.ReportMetric(float64(writes)/float64(runs), "writes/op")
		})
		b.Run(c.name+"/noop", func(b *testing.B) {
			s, counter, env, res := benchSetup(b, c.repo, c.path)
			if _, err := s.Sync(b.Context(), env, res, "rev1"); err != nil {
				b.Fatal(err)
			}
			waitVouched(b, s, env.Name)
			counter.Reset()
			runs := 0
			for b.Loop() {
				rep, err := s.Sync(b.Context(), env, res, "rev1")
				if err != nil || !rep.NoOp {
					b.Fatalf("no-op sync: %v, NoOp=%v", err, rep != nil && rep.NoOp)
				}
				runs++
			}
			b.ReportMetric(float64(counter.Total()-counter.Counts()["WATCH"])/float64(runs), "requests/op")
			b.ReportMetric(float64(counter.Writes())/float64(runs), "writes/op")
		})
	}
}

func benchSetup(b *testing.B, repo, path string) (*Syncer, *testutil.RequestCounter, *environments.Environment, render.Result) {
	b.Helper()
	name := "b" + strings.ToLower(rand.String(6))
	env := &environments.Environment{Name: name, Path: path, Namespace: name, Prune: true}
	res, err := render.Render(b.Context(), os.DirFS(repo), env)
	if err != nil {
		b.Fatal(err)
	}
	cfg, counter := testutil.CountRequests(cluster.Config)
	opts := DefaultOptions()
	opts.PollInterval = 500 * time.Millisecond
	s, err := New(cfg, opts)
	if err != nil {
		b.Fatal(err)
	}
	s.EnableDriftWatch(b.Context())
	return s, counter, env, res
}

func waitVouched(b *testing.B, s *Syncer, env string) {
	err := wait.PollUntilContextTimeout(b.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		st, err := s.state.Load(ctx, env)
		return err == nil && s.watch.vouches(env, st.Inventory), nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// writeGenerated writes env/ with n objects in the mix of ../shared/FACTS.md's baseline.
func writeGenerated(b *testing.B, repo string, n int) {
	dir := filepath.Join(repo, "env")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	var docs []string
	for i := range n {
		switch {
		case i < n*4/10:
			docs = append(docs, configMap(fmt.Sprintf("cm-%d", i), "v"))
		case i < n*6/10:
			docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s-%d\nstringData:\n  k: v\n", i))
		case i < n*8/10:
			docs = append(docs, strings.ReplaceAll(serviceYAML, "name: web", fmt.Sprintf("name: svc-%d", i)))
		default:
			docs = append(docs, deploymentYAML(fmt.Sprintf("d-%d", i), 0))
		}
	}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "objects.yaml"), []byte(strings.Join(docs, "---\n")), 0o644))
	must(os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("resources:\n- objects.yaml\n"), 0o644))
}
