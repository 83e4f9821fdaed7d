package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/internal/gitserver"
)

// TestEnvironmentsShareTheirHeadReads runs an agent with 20 environments of one repository
// on one schedule against a real git server, and counts the ls-remotes the server receives
// while the environments idle through a few ticks: one per tick window, not one per
// environment and tick.
func TestEnvironmentsShareTheirHeadReads(t *testing.T) {
	const envs, ticks = 20, 3
	id := strings.ToLower(rand.String(5))
	files := map[string]string{}
	pipeline := "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments:\n"
	var names []string
	for i := range envs {
		name := fmt.Sprintf("e%s-%02d", id, i)
		names = append(names, name)
		pipeline += fmt.Sprintf("- name: %[1]s\n  path: %[1]s\n  namespace: %[1]s\n  schedule: \"@every 5s\"\n", name)
		files[name+"/kustomization.yaml"] = "resources:\n- cm.yaml\n"
		files[name+"/cm.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  env: " + name + "\n"
	}
	files["ferry.yaml"] = pipeline
	srv := gitserver.Start(t, gitserver.Options{})
	srv.NewRepo(t, "config", files)

	logs := &logBuffer{}
	opts := DefaultOptions()
	opts.Source.URL = srv.RepoURL("config")
	opts.Source.CacheDir = t.TempDir()
	opts.Namespace = "ferry-" + id
	opts.LeaderElection = false
	opts.Sync.PollInterval = 500 * time.Millisecond
	opts.MinBackoff, opts.MaxBackoff = 500*time.Millisecond, 2*time.Second
	opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	(&fixture{t: t}).start(opts)

	for _, name := range names {
		logs.waitLine(t, "sync finished", map[string]any{"env": name, "result": "applied"}, 5*time.Minute)
	}
	// Idle from here: every sync line is a scheduled tick of one environment.
	before := syncLines(logs)
	srv.ResetRequests()
	var after map[string]int
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 5*time.Minute, true, func(context.Context) (bool, error) {
		after = syncLines(logs)
		for _, name := range names {
			if after[name]-before[name] < ticks {
				return false, nil
			}
		}
		return true, nil
	})
	reads := srv.Requests()
	if err != nil {
		t.Fatalf("the environments did not tick %d times each: lines before %v, after %v", ticks, before, after)
	}
	// Sync lines are logged after the reads they follow: the windows counted are those of
	// the most active environment, plus the one in progress at either end.
	windows, total := 0, 0
	for _, name := range names {
		windows = max(windows, after[name]-before[name])
		total += after[name] - before[name]
	}
	t.Logf("%d scheduled syncs of %d environments in %d tick windows: git requests %v", total, envs, windows, reads)
	// One read per window, and as many again for windows that a loaded machine stretched
	// beyond the reuse window; unshared, there would be one per sync (total).
	if got, limit := reads[gitserver.ListRefs], 2*windows+2; got > limit {
		t.Errorf("%d ls-remotes for %d scheduled syncs in %d tick windows, want at most %d (one per window)", got, total, windows, limit)
	}
	if reads[gitserver.UploadPack] != 0 {
		t.Errorf("%d fetches while the branch stood still, want none", reads[gitserver.UploadPack])
	}
}

// syncLines counts the "sync finished" lines of each environment.
func syncLines(logs *logBuffer) map[string]int {
	out := map[string]int{}
	for _, l := range logs.lines("sync finished") {
		if env, _ := l["env"].(string); env != "" {
			out[env]++
		}
	}
	return out
}
