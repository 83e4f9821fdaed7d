package agent

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/sync"
)

const (
	stagingKust   = "environments/staging/kustomization.yaml"
	gcemeImage    = "gcr.io/cloud-solutions-images/gceme"
	stagedRollout = `    rollout:
      stages:
        - name: canary
          selector: {matchLabels: {track: canary}}
          soak: 2s
        - name: all
      timeout: 20s
`
)

// stageStaging gives the fixture's staging the canary Deployments and a canary stage (2s soak,
// 20s per stage), in a commit before the agent starts.
func (f *fixture) stageStaging() {
	f.t.Helper()
	y := f.files["ferry.yaml"]
	i := strings.Index(y, "    prune: true")
	i += strings.Index(y[i:], "\n") + 1
	f.files["ferry.yaml"] = y[:i] + stagedRollout + y[i:]
	f.files[stagingKust] = strings.Replace(f.files[stagingKust], "images:\n", "components:\n- ../../components/canary\nimages:\n", 1)
	f.srv.Commit(f.t, "config", "staging: a canary stage", map[string]string{"ferry.yaml": f.files["ferry.yaml"], stagingKust: f.files[stagingKust]})
}

// commitFailingRelease moves staging to tag with pods that never become ready.
func (f *fixture) commitFailingRelease(tag string) string {
	f.t.Helper()
	content := strings.Replace(f.files[stagingKust], `newTag: "1.1.0"`, `newTag: "`+tag+`"`, 1) + `patches:
- target:
    kind: Deployment
  patch: |-
    - op: add
      path: /spec/template/metadata/labels/` + localcluster.FailingPodLabel + `
      value: "true"
`
	return f.srv.Commit(f.t, "config", "staging: gceme "+tag+", which never becomes ready", map[string]string{stagingKust: content})
}

// uids returns the UID of every Deployment, Service and ConfigMap in namespace, by kind/name.
func (f *fixture) uids(ctx context.Context, namespace string) map[string]types.UID {
	f.t.Helper()
	out := map[string]types.UID{}
	deps, err := f.kube.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range deps.Items {
		out["Deployment/"+o.Name] = o.UID
	}
	svcs, err := f.kube.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range svcs.Items {
		out["Service/"+o.Name] = o.UID
	}
	cms, err := f.kube.CoreV1().ConfigMaps(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range cms.Items {
		out["ConfigMap/"+o.Name] = o.UID
	}
	return out
}

// assertKept fails for every object of before (but those in gone) whose UID changed or that
// is missing now.
func (f *fixture) assertKept(ctx context.Context, before map[string]types.UID, gone ...string) {
	f.t.Helper()
	now := f.uids(ctx, f.stagingNS)
	for name, uid := range before {
		if now[name] != uid && !contains(gone, name) {
			f.t.Errorf("%s was deleted (UID %s before, %q now)", name, uid, now[name])
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// images returns the image tag of each Deployment of staging.
func (f *fixture) images(ctx context.Context) map[string]string {
	f.t.Helper()
	list, err := f.kube.AppsV1().Deployments(f.stagingNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range list.Items {
		out[d.Name] = strings.TrimPrefix(d.Spec.Template.Spec.Containers[0].Image, gcemeImage+":")
	}
	return out
}

// TestHaltedRolloutHoldsTheAppliedRevision halts a canary of a release that never becomes
// ready, then deletes a Service: the agent, held at the applied revision, re-creates it (and
// says once that it holds), leaves the halted canary as it is, and deletes nothing else.
// (Issue 15, item 6: before, drift was never corrected while halted, and nothing was logged.)
// Then the state ConfigMap is deleted and the agent restarted: the next sync must go through
// the canary stage again, not apply the bad release everywhere (item 5).
func TestHaltedRolloutHoldsTheAppliedRevision(t *testing.T) {
	f, logs, opts, stop := startStagedHealthy(t)
	ctx := t.Context()
	good := f.srv.Head(t, "config")
	bad := f.commitFailingRelease("1.3.0")
	logs.waitLine(t, "rollout halted", map[string]any{"env": "staging", "revision": bad[:7], "stage": "canary"}, 3*time.Minute)
	before := f.uids(ctx, f.stagingNS)

	t.Run("drift corrected while held", func(t *testing.T) {
		if err := f.kube.CoreV1().Services(f.stagingNS).Delete(ctx, "gceme-frontend", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := f.kube.CoreV1().Services(f.stagingNS).Get(ctx, "gceme-frontend", metav1.GetOptions{})
			return err == nil, nil
		})
		if err != nil {
			t.Fatalf("the deleted Service was not re-created while the rollout is halted; agent log:\n%s", logs.String())
		}
		line := logs.waitLine(t, "rollout halted: holding the applied revision", map[string]any{"env": "staging", "revision": good[:7], "halted": bad[:7]}, time.Minute)
		t.Logf("hold: %v", line)
		if trigger := line["trigger"]; trigger != "schedule" && trigger != "drift" {
			t.Errorf("hold line %v, want the trigger of the sync that held (schedule or drift)", line)
		}
		logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": good[:7], "created": 1.0}, time.Minute)
		time.Sleep(3 * time.Second) // a few more held syncs
		if n := len(logs.lines("rollout halted: holding the applied revision")); n != 1 {
			t.Errorf("%d hold lines, want one per change", n)
		}
		imgs := f.images(ctx)
		if imgs["gceme-frontend"] != "1.1.0" || imgs["gceme-backend"] != "1.1.0" {
			t.Errorf("the main Deployments left the applied revision: %v", imgs)
		}
		if imgs["gceme-frontend-canary"] != "1.3.0" {
			t.Errorf("the hold moved the halted canary: %v", imgs)
		}
		f.assertKept(ctx, before, "Service/gceme-frontend")
	})

	t.Run("held syncs write nothing", func(t *testing.T) {
		// The halted canary is left to the halted rollout; deleting it must not make every
		// held sync apply and write the state (the watch can no longer vouch for it).
		if err := f.kube.AppsV1().Deployments(f.stagingNS).Delete(ctx, "gceme-frontend-canary", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		held := func() []map[string]any {
			var out []map[string]any
			for _, l := range logs.lines("sync finished") {
				if l["revision"] == good[:7] {
					out = append(out, l)
				}
			}
			return out
		}
		waitHeld := func(n int) {
			t.Helper()
			err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
				return len(held()) >= n, nil
			})
			if err != nil {
				t.Fatalf("fewer than %d held syncs; agent log:\n%s", n, logs.String())
			}
		}
		n0 := len(held())
		waitHeld(n0 + 1)
		rv := func() string {
			cm, err := f.kube.CoreV1().ConfigMaps(f.ns).Get(ctx, "ferry-staging", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return cm.ResourceVersion
		}
		rv1 := rv()
		waitHeld(n0 + 4)
		if rv2 := rv(); rv2 != rv1 {
			t.Errorf("the state ConfigMap was written while held with nothing to correct (resourceVersion %s, then %s)", rv1, rv2)
		}
		for _, l := range held()[n0:] {
			if l["result"] != "unchanged" {
				t.Errorf("a held sync with nothing to correct: %v", l)
			}
		}
	})

	t.Run("a lost state keeps the stages", func(t *testing.T) {
		stop()
		before := f.uids(ctx, f.stagingNS)
		outcome, _ := f.restartWithoutState(t, opts, bad, func(l map[string]any) bool {
			return l["msg"] == "rollout halted" || l["msg"] == "sync finished" || l["msg"] == "sync failed"
		})
		if outcome["msg"] != "rollout halted" || outcome["stage"] != "canary" {
			t.Errorf("after the state was lost, the bad release was not stopped at the canary: %v", outcome)
		}
		if imgs := f.images(ctx); imgs["gceme-frontend"] != "1.1.0" || imgs["gceme-backend"] != "1.1.0" {
			t.Errorf("the main Deployments took the halted release after the state was lost: %v", imgs)
		}
		f.assertKept(ctx, before)
	})
}

// TestLostStateAtAHealthyRevisionFinishesTheStages deletes the state ConfigMap of a staged
// environment that is healthy at the branch head, and restarts the agent: its objects exist, so
// the sync goes through the stages (item 5), which write nothing; they must find the objects
// healthy and finish, not halt a healthy release for want of something to wait for.
func TestLostStateAtAHealthyRevisionFinishesTheStages(t *testing.T) {
	f, _, opts, stop := startStagedHealthy(t)
	ctx := t.Context()
	head := f.srv.Head(t, "config")
	stop()
	before := f.uids(ctx, f.stagingNS)
	outcome, logs2 := f.restartWithoutState(t, opts, head, func(l map[string]any) bool {
		return l["msg"] == "rollout halted" || l["msg"] == "sync failed" || l["msg"] == "sync finished" && l["stage"] == "all"
	})
	if outcome["msg"] != "sync finished" || outcome["health"] != "Healthy" {
		t.Errorf("after the state was lost, the healthy release did not finish its stages: %v\nlog:\n%s", outcome, logs2.String())
	}
	if len(logs2.lines("stage soaked")) == 0 {
		t.Errorf("the canary stage did not run after the state was lost; log:\n%s", logs2.String())
	}
	// The restarted agent's first sync started the rollout: each stage's line says so.
	lines := logs2.lines("sync finished")
	stages := append(filterLines(lines, map[string]any{"stage": "canary"}), filterLines(lines, map[string]any{"stage": "all"})...)
	if len(stages) < 2 {
		t.Errorf("want a sync line per stage, got %v", stages)
	}
	for _, l := range stages {
		if l["trigger"] != "startup" {
			t.Errorf("stage line %v, want trigger=startup", l)
		}
	}
	f.assertKept(ctx, before)
}

// restartWithoutState deletes staging's state ConfigMap, starts the agent again with a new log
// and an empty git cache, and returns the first line about revision that outcome accepts, with
// the new log.
func (f *fixture) restartWithoutState(t *testing.T, opts Options, revision string, outcome func(map[string]any) bool) (map[string]any, *logBuffer) {
	t.Helper()
	ctx := t.Context()
	if err := sync.NewStateStore(f.kube, f.ns).Delete(ctx, "staging"); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	opts.Logger = logs.logger()
	opts.Source.CacheDir = t.TempDir()
	f.start(opts)
	var found map[string]any
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		for _, l := range logs.lines("") {
			if l["revision"] == revision[:7] && outcome(l) {
				found = l
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no outcome for %s after the state was lost; log:\n%s", revision[:7], logs.String())
	}
	return found, logs
}

// startStagedHealthy starts an agent, polling every second, for a fixture whose staging has a
// canary stage, and waits until staging is applied and healthy.
func startStagedHealthy(t *testing.T) (*fixture, *logBuffer, Options, func()) {
	t.Helper()
	f := newFixture(t, "@every 1s")
	f.stageStaging()
	logs := &logBuffer{}
	opts := f.options(logs)
	stop := f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied", "health": "Healthy"}, 3*time.Minute)
	return f, logs, opts, stop
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(b, nil)) }

// TestHealthFollowsTheObjects applies a Deployment whose pods cannot be scheduled: the health
// wait times out (Degraded). Once a node matches, the next sync, which changes nothing, must
// find it Healthy (state, metric, Event, sync line); before, it stayed Degraded until the next
// write. Then a commit that does not render: the state and the metric must not claim Healthy
// while the sync fails. (Issue 15, item 7.)
func TestHealthFollowsTheObjects(t *testing.T) {
	f := newFixture(t, "@every 1s")
	key := "ferry-test-" + strings.TrimPrefix(f.ns, "ferry-")
	f.files[stagingKust] += `patches:
- target:
    kind: Deployment
    name: gceme-frontend
  patch: |-
    - op: add
      path: /spec/template/spec/nodeSelector
      value: {` + key + `: "yes"}
`
	f.srv.Commit(t, "config", "staging: frontend only on a labelled node", map[string]string{stagingKust: f.files[stagingKust]})
	logs := &logBuffer{}
	opts := f.options(logs)
	opts.Sync.HealthTimeout = 5 * time.Second
	f.start(opts)
	ctx := t.Context()
	logs.waitLine(t, "sync failed", map[string]any{"env": "staging", "phase": "health"}, 3*time.Minute)
	store := sync.NewStateStore(f.kube, f.ns)
	if st, err := store.Load(ctx, "staging"); err != nil || st.Health != sync.Degraded {
		t.Fatalf("state after the timeout: %v %v, want Degraded", st.Health, err)
	}

	nodes, err := f.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	node := nodes.Items[0].Name
	label := func(value string) {
		patch := `{"metadata":{"labels":{"` + key + `":` + value + `}}}`
		if _, err := f.kube.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	label(`"yes"`)
	t.Cleanup(func() { label("null") })
	line := logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "unchanged", "health": "Healthy"}, 3*time.Minute)
	t.Logf("re-evaluated: %v", line)
	if st, err := store.Load(ctx, "staging"); err != nil || st.Health != sync.Healthy {
		t.Errorf("state once the Deployment is available: %v %v, want Healthy", st.Health, err)
	}
	if m := httpGet(t, "http://"+opts.MetricsAddr+"/metrics"); !strings.Contains(m, `ferry_environment_ready{env="staging"} 1`) {
		t.Errorf("ferry_environment_ready is not 1 once Healthy:\n%s", grepLines(m, "ferry_environment_ready"))
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		events, err := f.kube.CoreV1().Events(f.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, e := range events.Items {
			if e.Reason == "HealthChanged" && strings.HasPrefix(e.Message, "Healthy") {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Errorf("no HealthChanged Event to Healthy")
	}

	broken := f.srv.Commit(t, "config", "staging: a resource that is not there", map[string]string{
		stagingKust: strings.Replace(f.files[stagingKust], "resources:\n", "resources:\n- missing.yaml\n", 1)})
	logs.waitLine(t, "sync failed", map[string]any{"env": "staging", "revision": broken[:7], "phase": "render"}, 2*time.Minute)
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		st, err := store.Load(ctx, "staging")
		return err == nil && st.LastError != "", nil
	})
	if err != nil {
		t.Fatalf("the failure was not recorded in the state")
	}
	if st, _ := store.Load(ctx, "staging"); st.Health == sync.Healthy {
		t.Errorf("state says Healthy while every sync fails (last error %q)", st.LastError)
	}
	if m := httpGet(t, "http://"+opts.MetricsAddr+"/metrics"); !strings.Contains(m, `ferry_environment_ready{env="staging"} 0`) {
		t.Errorf("ferry_environment_ready is not 0 while syncs fail:\n%s", grepLines(m, "ferry_environment_ready"))
	}
}

func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
