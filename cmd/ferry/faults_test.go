package main

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// TestAgentSurvivesFaults runs `ferry agent` in a child process against a real control plane
// and a real git server, and breaks things under it: the agent is SIGKILLed mid-sync, the
// API server restarts, the git server goes away, a webhook flood arrives. After each fault
// the cluster must converge to the branch head with nothing lost, nothing wrongly pruned and
// an inventory that lists exactly what is there. The subtests share one control plane and
// each use environments and namespaces of their own.
func TestAgentSurvivesFaults(t *testing.T) {
	c := startCluster(t)
	t.Run("killed mid-sync 20 times", func(t *testing.T) { testKilledMidSync(t, newFaultEnv(t, c, "kill", "@every 5s")) })
	t.Run("kube-apiserver restarted mid-sync", func(t *testing.T) { testAPIServerRestart(t, c, newFaultEnv(t, c, "apiserver", "@every 5s")) })
	// Only the webhook and retries trigger syncs here, so that the retries' backoff shows.
	t.Run("git server down", func(t *testing.T) { testGitServerDown(t, newFaultEnv(t, c, "gitdown", "@every 1h")) })
	t.Run("webhook flood", func(t *testing.T) { testWebhookFlood(t, newFaultEnv(t, c, "flood", "@every 1h")) })
}

// faultsSeed makes the random kills, delays and overlay changes the same in every run.
const faultsSeed = 10

// baseOverlay is the objects every fault test starts from: 20 ConfigMaps that stay in the
// overlay (their values change), 10 that come and go, 3 Deployments and 2 Services.
func baseOverlay() overlay {
	o := overlay{}
	for i := range 20 {
		o[fmt.Sprintf("cm-keep-%02d", i)] = object{kind: "ConfigMap", value: "v0"}
	}
	for i := range 10 {
		o[fmt.Sprintf("cm-0-%d", i)] = object{kind: "ConfigMap", value: "v0"}
	}
	for i := range 3 {
		o[fmt.Sprintf("deploy-web-%d", i)] = object{kind: "Deployment", value: "1.0.0"}
	}
	for i := range 2 {
		o[fmt.Sprintf("svc-web-%d", i)] = object{kind: "Service"}
	}
	return o
}

// newFaultEnv is a testEnv named prefix-RANDOM holding baseOverlay.
func newFaultEnv(t *testing.T, c *localcluster.Cluster, prefix, schedule string) *testEnv {
	return newTestEnv(t, c, prefix+"-"+strings.ToLower(utilrand.String(5)), schedule, baseOverlay())
}

// evolve returns the overlay of commit i (≥1) after prev: the ephemeral ConfigMap of commit
// i-1 leaves and one of its own arrives (an object that lives for one commit only, the one an
// interrupted sync most easily leaves behind), five coming-and-going ConfigMaps leave and
// five arrive, five kept ConfigMaps change value, and every third commit moves one
// Deployment's image tag (a rollout to wait for).
func evolve(rng *rand.Rand, prev overlay, i int) overlay {
	next := maps.Clone(prev)
	delete(next, fmt.Sprintf("cm-eph-%d", i-1))
	next[fmt.Sprintf("cm-eph-%d", i)] = object{kind: "ConfigMap", value: fmt.Sprint(i)}
	var transient []string
	for name := range next {
		if strings.HasPrefix(name, "cm-") && !strings.HasPrefix(name, "cm-keep-") && !strings.HasPrefix(name, "cm-eph-") {
			transient = append(transient, name)
		}
	}
	slices.Sort(transient)
	for _, k := range rng.Perm(len(transient))[:min(5, len(transient))] {
		delete(next, transient[k])
	}
	for k := range 5 {
		next[fmt.Sprintf("cm-%d-%d", i, k)] = object{kind: "ConfigMap", value: "v0"}
	}
	for _, k := range rng.Perm(20)[:5] {
		next[fmt.Sprintf("cm-keep-%02d", k)] = object{kind: "ConfigMap", value: fmt.Sprintf("v%d", i)}
	}
	if i%3 == 0 {
		next[fmt.Sprintf("deploy-web-%d", rng.IntN(3))] = object{kind: "Deployment", value: fmt.Sprintf("1.0.%d", i)}
	}
	return next
}

// changed reports whether an object was created, deleted or written between two listings. A
// Deployment counts as written when its generation moved: its controller keeps writing its
// status.
func changed(before, after map[string]metav1.Object) bool {
	if len(before) != len(after) {
		return true
	}
	mark := func(o metav1.Object) string {
		if o.GetGeneration() != 0 {
			return fmt.Sprint(o.GetGeneration())
		}
		return o.GetResourceVersion()
	}
	for id, o := range after {
		if b, ok := before[id]; !ok || mark(b) != mark(o) {
			return true
		}
	}
	return false
}

// testKilledMidSync commits a change, starts the agent and SIGKILLs it at a random point of
// its sync, 20 times; then lets it run and checks that it converged. Three runs in four are
// killed within 250ms of their first write to the environment's ConfigMaps (seen by a watch),
// so that most kills land while it applies, prunes or waits for health, however fast or slow
// the machine is; every fourth run is killed within 500ms of logging "leading", while it
// fetches, renders and dry-runs. After every kill it
// checks that no object that is in every commit (the kept ConfigMaps, the Deployments and
// Services) was ever deleted or recreated: a wrong prune would show.
func testKilledMidSync(t *testing.T, e *testEnv) {
	rng := rand.New(rand.NewPCG(faultsSeed, 1))
	stable := map[string]types.UID{} // objects in every commit, by Kind/name, once created
	kinds := map[string]int{}
	start := time.Now()
	var head string
	before, err := e.present(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		head = e.commit(fmt.Sprintf("change %d", i), evolve(rng, e.desired, i))
		writes := e.firstWrite()
		p := e.startAgent()
		var anchor time.Time
		var delay time.Duration
		if i%4 == 0 { // before its first write: while it starts, fetches, renders and dry-runs
			anchor = logTime(p.logs.WaitLine(t, map[string]any{"msg": "leading"}, time.Minute))
			delay = time.Duration(rng.Int64N(int64(500 * time.Millisecond)))
		} else {
			select {
			case anchor = <-writes:
			case <-time.After(time.Minute):
				t.Fatalf("run %d wrote nothing within a minute; log:\n%s", i, p.logs.String())
			}
			delay = time.Duration(rng.Int64N(int64(250 * time.Millisecond)))
		}
		time.Sleep(time.Until(anchor.Add(delay)))
		p.kill()

		objs, err := e.present(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		kind := "before any write"
		switch {
		case len(p.logs.Lines(map[string]any{"msg": "sync finished", "revision": head[:7]})) > 0:
			kind = "after the sync finished"
		case changed(before, objs):
			kind = "mid-sync (applying, pruning or waiting for health)"
		}
		kinds[kind]++
		before = objs
		after := "its first write"
		if i%4 == 0 {
			after = "leading"
		}
		t.Logf("kill %2d %4dms after %s: %s; %d objects present", i, delay.Milliseconds(), after, kind, len(objs))
		for id, o := range objs {
			name := o.GetName()
			if !strings.HasPrefix(name, "cm-keep-") && !strings.HasPrefix(name, "deploy-") && !strings.HasPrefix(name, "svc-") {
				continue
			}
			if uid, seen := stable[id]; seen && uid != o.GetUID() {
				t.Errorf("kill %d: %s was deleted and recreated (uid %s → %s)", i, id, uid, o.GetUID())
			}
			stable[id] = o.GetUID()
		}
		for id := range stable {
			if _, ok := objs[id]; !ok {
				t.Errorf("kill %d: %s, in every commit, is gone", i, id)
			}
		}
	}
	t.Logf("20 kills in %s: %v", time.Since(start).Round(time.Second), kinds)

	p := e.startAgent()
	converge := time.Now()
	p.logs.WaitLine(t, map[string]any{"msg": "sync finished", "revision": head[:7]}, 3*time.Minute)
	st := e.waitApplied(p, head, 3*time.Minute)
	t.Logf("converged to %s %s after the last restart: %d objects", head[:7], time.Since(converge).Round(100*time.Millisecond), len(st.Inventory))
	if code := p.stop(); code != 0 {
		t.Errorf("agent exited %d after SIGTERM", code)
	}
	e.checkConverged(st)
	objs := e.snapshot()
	for id, uid := range stable {
		if o, ok := objs[id]; !ok || o.GetUID() != uid {
			t.Errorf("%s was deleted or recreated", id)
		}
	}
}

// snapshot returns the objects present; it fails the test when they cannot be listed.
func (e *testEnv) snapshot() map[string]metav1.Object {
	e.t.Helper()
	objs, err := e.present(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return objs
}

// checkUIDs fails the test when an object of before is gone or was recreated.
func checkUIDs(t *testing.T, before, after map[string]metav1.Object) {
	t.Helper()
	for id, o := range before {
		if a, ok := after[id]; !ok || a.GetUID() != o.GetUID() {
			t.Errorf("%s was deleted or recreated", id)
		}
	}
}

// testAPIServerRestart lets the agent sync, then commits 40 more ConfigMaps and a new image for
// every Deployment, triggers a sync with the webhook and restarts kube-apiserver as soon as
// the first new ConfigMap exists, that is in the middle of the sync's creates (or of its
// health wait, on a fast machine). The agent must converge once the API server is back,
// without deleting any object that stayed in the overlay.
func testAPIServerRestart(t *testing.T, c *localcluster.Cluster, e *testEnv) {
	p := e.startAgent()
	e.waitApplied(p, e.srv.Head(t, "config"), 2*time.Minute)
	before := e.snapshot()
	next := maps.Clone(e.desired)
	for i := range 40 {
		next[fmt.Sprintf("cm-new-%02d", i)] = object{kind: "ConfigMap", value: "new"}
	}
	for i := range 3 {
		next[fmt.Sprintf("deploy-web-%d", i)] = object{kind: "Deployment", value: "1.1.0"}
	}
	head := e.commit("40 more ConfigMaps and gceme 1.1.0", next)
	if code, err := postWebhook(http.DefaultClient, e.addr); err != nil || code != http.StatusAccepted {
		t.Fatalf("webhook: %d %v", code, err)
	}
	created := 0
	sel := metav1.ListOptions{LabelSelector: render.EnvironmentLabel + "=" + e.name}
	err := wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		cms, err := e.kube.CoreV1().ConfigMaps(e.name).List(ctx, sel)
		if err != nil {
			return false, err
		}
		created = 0
		for _, cm := range cms.Items {
			if strings.HasPrefix(cm.Name, "cm-new-") {
				created++
			}
		}
		return created > 0, nil
	})
	if err != nil {
		t.Fatalf("the sync never started creating: %v; agent log:\n%s", err, p.logs.String())
	}
	restart := time.Now()
	if err := c.RestartAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	st := e.waitApplied(p, head, 3*time.Minute)
	t.Logf("kube-apiserver restarted with %d of 40 new ConfigMaps created; down and back in %s; converged %s later",
		created, back.Sub(restart).Round(100*time.Millisecond), time.Since(back).Round(100*time.Millisecond))
	for _, l := range p.logs.Lines(map[string]any{"msg": "sync failed"}) {
		t.Logf("while it was down: phase=%v error=%.160v", l["phase"], l["error"])
	}
	t.Logf("leadership lost %d times", len(p.logs.Lines(map[string]any{"msg": "stopped leading"})))
	e.checkConverged(st)
	checkUIDs(t, before, e.snapshot())
}

// testGitServerDown lets the agent sync, takes the git server down, commits a change that
// removes and changes objects and sends the webhook; then SIGKILLs the agent and restarts it
// while the server is still down. Every attempt must fail with a logged error, the retries
// must back off, nothing in the cluster or in the state may change, and once the server is
// back the agent must apply the new commit.
func testGitServerDown(t *testing.T, e *testEnv) {
	p := e.startAgent()
	first := e.waitApplied(p, e.srv.Head(t, "config"), 2*time.Minute)
	before := e.snapshot()

	e.srv.Stop()
	down := time.Now()
	next := maps.Clone(e.desired)
	for _, name := range []string{"cm-0-0", "cm-0-1", "cm-0-2", "cm-0-3", "cm-0-4"} {
		delete(next, name)
	}
	next["cm-keep-00"] = object{kind: "ConfigMap", value: "while down"}
	next["cm-down-0"] = object{kind: "ConfigMap", value: "new"}
	head := e.commit("remove five, change one, add one", next)
	if code, err := postWebhook(http.DefaultClient, e.addr); err != nil || code != http.StatusAccepted {
		t.Fatalf("webhook: %d %v", code, err)
	}
	running := waitLines(t, p.logs, map[string]any{"msg": "sync failed", "env": e.name}, 4)
	e.checkUnchanged(first, before)

	p.kill()
	p = e.startAgent()
	restarted := waitLines(t, p.logs, map[string]any{"msg": "sync failed", "env": "*"}, 4)
	e.checkUnchanged(first, before)
	for name, lines := range map[string][]map[string]any{"running agent": running, "restarted agent": restarted} {
		gaps := gapsOf(lines)
		t.Logf("%s: %d failures, %v apart; first error: %v", name, len(lines), gaps, lines[0]["error"])
		if msg, _ := lines[0]["error"].(string); !strings.Contains(msg, "connection refused") || lines[0]["phase"] != "source" {
			t.Errorf("%s: failure line %v does not say the repository is unreachable", name, lines[0])
		}
		// Retries back off from 1s doubling: the third gap is about four times the first.
		if gaps[2] < 2*gaps[0] {
			t.Errorf("%s: retries %v apart do not back off", name, gaps)
		}
	}

	e.srv.Restart(t)
	up := time.Now()
	st := e.waitApplied(p, head, 2*time.Minute)
	t.Logf("git server down %s; the agent applied the commit made meanwhile %s after it came back",
		up.Sub(down).Round(100*time.Millisecond), time.Since(up).Round(100*time.Millisecond))
	e.checkConverged(st)
}

// checkUnchanged fails the test when the state moved from st or an object of before was
// created, deleted or written.
func (e *testEnv) checkUnchanged(st *sync.State, before map[string]metav1.Object) {
	e.t.Helper()
	now, err := e.state(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	if now.AppliedRevision != st.AppliedRevision || !slices.Equal(now.Inventory, st.Inventory) {
		e.t.Errorf("state changed while git was down: revision %s → %s, inventory of %d → %d",
			st.AppliedRevision, now.AppliedRevision, len(st.Inventory), len(now.Inventory))
	}
	if after := e.snapshot(); changed(before, after) {
		e.t.Errorf("objects changed while git was down: %d before, %d after", len(before), len(after))
	}
}

// waitLines waits up to a minute for n log lines matching want and returns them.
func waitLines(t *testing.T, logs *testutil.LogBuffer, want map[string]any, n int) []map[string]any {
	t.Helper()
	var lines []map[string]any
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		lines = logs.Lines(want)
		return len(lines) >= n, nil
	})
	if err != nil {
		t.Fatalf("%d lines with %v, want %d; log:\n%s", len(lines), want, n, logs.String())
	}
	return lines
}

// gapsOf returns the time between consecutive log lines.
func gapsOf(lines []map[string]any) []time.Duration {
	var gaps []time.Duration
	for i := 1; i < len(lines); i++ {
		gaps = append(gaps, logTime(lines[i]).Sub(logTime(lines[i-1])).Round(10*time.Millisecond))
	}
	return gaps
}

// testWebhookFlood commits a change, sends 200 signed push webhooks from 20 goroutines (each
// pausing 20ms between its requests) and commits another change in the middle of the flood,
// while polling /healthz until the agent has applied the second commit. The agent must answer
// every webhook, keep /healthz responsive, run at most one sync of the environment at a time
// (the "sync finished" lines, each ending at its time and lasting its duration, never overlap)
// and apply each commit at most once, the last one exactly once.
func testWebhookFlood(t *testing.T, e *testEnv) {
	p := e.startAgent()
	e.waitApplied(p, e.srv.Head(t, "config"), 2*time.Minute)
	next := maps.Clone(e.desired)
	next["deploy-web-0"] = object{kind: "Deployment", value: "1.2.0"}
	for i := range 5 {
		next[fmt.Sprintf("cm-keep-%02d", i)] = object{kind: "ConfigMap", value: "flood"}
	}
	first := e.commit("gceme 1.2.0 for web-0, five values", next)

	var mu gosync.Mutex
	statuses := map[int]int{}
	var latencies []time.Duration
	polling, polled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(polled)
		client := &http.Client{Timeout: 30 * time.Second}
		for {
			start := time.Now()
			resp, err := client.Get("http://" + e.addr + "/healthz")
			if err != nil {
				t.Errorf("/healthz: %v", err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			latencies = append(latencies, time.Since(start))
			mu.Unlock()
			select {
			case <-polling:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	var wg gosync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for range 20 {
		wg.Go(func() {
			for range 10 {
				code, err := postWebhook(client, e.addr)
				if err != nil {
					t.Errorf("webhook: %v", err)
					return
				}
				mu.Lock()
				statuses[code]++
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	next = maps.Clone(next)
	next["deploy-web-1"] = object{kind: "Deployment", value: "1.2.0"}
	head := e.commit("gceme 1.2.0 for web-1", next)
	wg.Wait()
	flood := time.Since(start)
	st := e.waitApplied(p, head, 2*time.Minute)
	close(polling)
	<-polled

	// The state records the apply; the sync's line follows its health wait.
	p.logs.WaitLine(t, map[string]any{"msg": "sync finished", "env": e.name, "revision": head[:7], "result": "applied"}, 2*time.Minute)
	lines := settledLines(p.logs, map[string]any{"msg": "sync finished", "env": e.name})
	if statuses[http.StatusAccepted] != 200 {
		t.Errorf("webhook answers %v, want 200 × 202", statuses)
	}
	slices.Sort(latencies)
	t.Logf("200 webhooks in %s; /healthz answered %d times until %s was applied, median %s, max %s",
		flood.Round(time.Millisecond), len(latencies), head[:7], latencies[len(latencies)/2].Round(time.Millisecond),
		latencies[len(latencies)-1].Round(time.Millisecond))
	// A loose bound: the handler does no I/O, but the machine is loaded.
	if worst := latencies[len(latencies)-1]; worst > 5*time.Second {
		t.Errorf("/healthz took %s during the flood", worst)
	}
	var prevEnd time.Time
	applied := map[any]int{}
	var summary []string
	for _, l := range lines {
		d, err := time.ParseDuration(l["duration"].(string))
		if err != nil {
			t.Fatal(err)
		}
		end := logTime(l)
		if begin := end.Add(-d); begin.Before(prevEnd.Add(-20 * time.Millisecond)) {
			t.Errorf("a sync began at %s, before the previous one ended at %s", begin.Format(time.StampMilli), prevEnd.Format(time.StampMilli))
		}
		prevEnd = end
		if l["result"] == "applied" {
			applied[l["revision"]]++
		}
		summary = append(summary, fmt.Sprintf("%v %v %v %v", l["revision"], l["result"], l["health"], l["duration"]))
	}
	t.Logf("%d syncs, one after the other: %s", len(lines), strings.Join(summary, "; "))
	if applied[head[:7]] != 1 || applied[first[:7]] > 1 {
		t.Errorf("applied %v, want %s once and %s at most once", applied, head[:7], first[:7])
	}
	e.checkConverged(st)
}

// settledLines waits until no new line matching want has been logged for two seconds and
// returns the lines.
func settledLines(logs *testutil.LogBuffer, want map[string]any) []map[string]any {
	n := -1
	for {
		lines := logs.Lines(want)
		if len(lines) == n {
			return lines
		}
		n = len(lines)
		time.Sleep(2 * time.Second)
	}
}

// firstWrite returns a channel that receives the time at which a ConfigMap of the environment
// is next created, changed or deleted.
func (e *testEnv) firstWrite() <-chan time.Time {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.t.Context())
	list, err := e.kube.CoreV1().ConfigMaps(e.name).List(ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := e.kube.CoreV1().ConfigMaps(e.name).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		e.t.Fatal(err)
	}
	at := make(chan time.Time, 1)
	go func() {
		defer cancel()
		defer w.Stop()
		if _, ok := <-w.ResultChan(); ok {
			at <- time.Now()
		}
	}()
	return at
}
