package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/ferry-cd/ferry/sync"
)

// apiStatus returns /api/status's answer code and, on 200, the report by environment name.
func apiStatus(t *testing.T, addr string) (int, map[string]EnvStatus, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, string(body)
	}
	var rep StatusReport
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("/api/status: %v\n%s", err, body)
	}
	byName := map[string]EnvStatus{}
	for _, es := range rep.Environments {
		byName[es.Name] = es
	}
	return resp.StatusCode, byName, string(body)
}

// TestStatusAPIShowsABrokenStateBesideTheOthers corrupts staging's state ConfigMap (its
// inventory is no longer JSON) next to a second, readable state: /api/status still answers
// 200 with both, staging with its error and the recovery.
func TestStatusAPIShowsABrokenStateBesideTheOthers(t *testing.T) {
	f := newFixture(t, "@every 1h") // one sync at start, then none that could touch the state
	logs := &logBuffer{}
	opts := f.options(logs)
	opts.Environments = []string{"staging", "qa"} // qa: a state only, not in ferry.yaml
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied", "health": "Healthy"}, 2*time.Minute)
	store := sync.NewStateStore(f.kube, f.ns)
	qa := &sync.State{Env: "qa", AppliedRevision: "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345", Health: sync.Healthy}
	if err := store.Save(t.Context(), qa); err != nil {
		t.Fatal(err)
	}
	// The agent records the sync in the state just after its line: read, break and write
	// again when that write came in between.
	cms := f.kube.CoreV1().ConfigMaps(f.ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := cms.Get(t.Context(), "ferry-staging", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cm.Data["inventory.json"] = "[{not json"
		_, err = cms.Update(t.Context(), cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	code, envs, body := apiStatus(t, opts.HTTPAddr)
	t.Logf("/api/status with a broken state: %d\n%s", code, body)
	if code != http.StatusOK {
		t.Fatalf("/api/status answered %d, want 200:\n%s", code, body)
	}
	staging, ok := envs["staging"]
	if !ok || !strings.Contains(staging.StateError, "state ConfigMap ferry-staging: inventory: invalid character") ||
		!strings.Contains(staging.Action, "kubectl -n "+f.ns+" delete configmap ferry-staging") ||
		!strings.Contains(staging.Action, "rebuilds the inventory") || staging.Removed || len(staging.Revision) != 40 {
		t.Errorf("staging = %+v, want its revision, the decode error and the recovery", staging)
	}
	if other, ok := envs["qa"]; !ok || other.StateError != "" || other.Revision != qa.AppliedRevision {
		t.Errorf("qa = %+v (listed: %t), want it shown as it is", other, ok)
	}
}

// TestRenamedEnvironmentIsMarkedRemoved renames staging to stage2 in ferry.yaml. The agent
// stops syncing staging and deletes its metric series; its state ConfigMap is marked removed
// at the new revision, which /api/status (and `ferry status`, which reads the mark) shows with
// what to do; stage2, whose overlay holds staging's objects, fails with advice to prune
// staging or relabel, not to drop the objects from an overlay of staging. Renaming it back
// brings staging's series back, unmarks its state and marks stage2's.
func TestRenamedEnvironmentIsMarkedRemoved(t *testing.T) {
	f := newFixture(t, "@every 2s")
	logs := &logBuffer{}
	opts := f.options(logs)
	opts.Environments = []string{"staging", "stage2"}
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied", "health": "Healthy"}, 2*time.Minute)
	metrics := func() string { return httpGet(t, "http://"+opts.MetricsAddr+"/metrics") }
	if body := metrics(); !strings.Contains(body, `ferry_environment_ready{env="staging"} 1`) {
		t.Fatalf("/metrics lacks staging's ready series:\n%s", body)
	}

	good := f.files["ferry.yaml"]
	renamed := strings.Replace(strings.Replace(good, "- name: staging ", "- name: stage2  ", 1), "from: staging ", "from: stage2  ", 1)
	if renamed == good || !strings.Contains(renamed, "from: stage2 ") {
		t.Fatalf("rename did not take:\n%s", renamed)
	}
	rev := f.srv.Commit(t, "config", "rename staging to stage2", map[string]string{"ferry.yaml": renamed})
	logs.waitLine(t, "environment left ferry.yaml: no longer synced, nothing pruned", map[string]any{"env": "staging", "revision": rev[:7]}, time.Minute)

	// stage2 is refused staging's objects, with advice that fits a renamed environment.
	var refusal string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		for _, l := range logs.lines("sync failed") {
			if msg, _ := l["error"].(string); l["env"] == "stage2" && strings.Contains(msg, "which left ferry.yaml at "+rev[:7]) {
				refusal = msg
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no sync of stage2 refused with the removal advice: %v\n%s", err, logs.String())
	}
	t.Logf("stage2 refused: %s", refusal)
	for _, want := range []string{"labelled ferry.dev/environment=staging", "run `ferry prune staging`", "relabel the object ferry.dev/environment=stage2"} {
		if !strings.Contains(refusal, want) {
			t.Errorf("refusal lacks %q", want)
		}
	}
	if strings.Contains(refusal, "overlay") {
		t.Errorf("refusal advises editing an overlay of staging, which left ferry.yaml: %s", refusal)
	}

	// staging's series are gone; its state is marked, and the status API says so.
	waitMetrics(t, metrics, `env="staging"`, false)
	if body := metrics(); !strings.Contains(body, `ferry_sync_total{env="stage2",result="failed"}`) {
		t.Errorf("/metrics lacks stage2's failed syncs")
	}
	store := sync.NewStateStore(f.kube, f.ns)
	waitRemovedAt(t, store, "staging", rev)
	code, envs, body := apiStatus(t, opts.HTTPAddr)
	if code != http.StatusOK {
		t.Fatalf("/api/status answered %d:\n%s", code, body)
	}
	if st := envs["staging"]; !st.Removed || st.RemovedAt != rev || !strings.Contains(st.Action, "Not in ferry.yaml at "+rev[:7]) ||
		!strings.Contains(st.Action, "run `ferry prune staging`") || !strings.Contains(st.Action, "relabel") {
		t.Errorf("/api/status staging = %+v, want removed at %s with what to do", st, rev[:7])
	}
	if st := envs["stage2"]; st.Removed || st.LastError == "" {
		t.Errorf("/api/status stage2 = %+v, want synced (and failing)", st)
	}

	// Back again: staging is synced, unmarked and measured; stage2 is the removed one.
	back := f.srv.Commit(t, "config", "rename stage2 back to staging", map[string]string{"ferry.yaml": good})
	logs.waitLine(t, "environment left ferry.yaml: no longer synced, nothing pruned", map[string]any{"env": "stage2", "revision": back[:7]}, time.Minute)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": back[:7]}, time.Minute)
	waitMetrics(t, metrics, `ferry_environment_ready{env="staging"} 1`, true)
	waitMetrics(t, metrics, `env="stage2"`, false)
	waitRemovedAt(t, store, "staging", "")
	waitRemovedAt(t, store, "stage2", back)
}

// waitMetrics waits until /metrics contains s (want) or no longer does (!want).
func waitMetrics(t *testing.T, metrics func() string, s string, want bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return strings.Contains(metrics(), s) == want, nil
	})
	if err != nil {
		t.Fatalf("/metrics contains %s: %t after a minute, want %t:\n%s", s, !want, want, metrics())
	}
}

// waitRemovedAt waits until env's state, as `ferry status` lists it, is marked removed at
// revision ("": not marked).
func waitRemovedAt(t *testing.T, store *sync.StateStore, env, revision string) {
	t.Helper()
	var got string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		states, err := store.List(ctx)
		if err != nil {
			return false, err
		}
		for _, st := range states {
			if st.Env == env {
				got = st.RemovedAt
				return got == revision, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("state of %s marked removed at %q, want %q: %v", env, got, revision, err)
	}
}
