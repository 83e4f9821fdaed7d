package agent

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/sync"
)

// latencySlack is added to the bound ("within one schedule period plus a second") so
// that the test holds on a loaded 2-core machine; the measured latency is logged and is
// normally well inside the bound itself.
const latencySlack = 2 * time.Second

func TestPollingAppliesACommitWithinOnePeriod(t *testing.T) {
	f := newFixture(t, "@every 2s")
	logs := &logBuffer{}
	opts := f.options(logs)
	f.start(opts)
	first := logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied", "health": "Healthy"}, 2*time.Minute)
	for key, want := range map[string]any{"created": 5.0, "configured": 0.0, "unchanged": 0.0, "pruned": 0.0, "stage": "", "level": "INFO",
		"trigger": "startup"} {
		if first[key] != want {
			t.Errorf("first sync line: %s = %v, want %v (line %v)", key, first[key], want, first)
		}
	}
	if rev, _ := first["revision"].(string); len(rev) != 7 {
		t.Errorf("revision %q is not a short SHA", first["revision"])
	}
	if _, ok := first["duration"].(string); !ok {
		t.Errorf("no duration in %v", first)
	}

	sha := f.commitTag("1.2.0")
	latency := f.waitImage("1.2.0", time.Minute)
	t.Logf("commit → applied with a 2s schedule: %s", latency.Round(time.Millisecond))
	if latency > 2*time.Second+time.Second+latencySlack {
		t.Errorf("commit applied after %s, want within the 2s period plus a second", latency)
	}
	// Nothing but the schedule syncs after the start: no webhook is sent, nothing drifts.
	logs.waitLine(t, "sync finished", map[string]any{"revision": sha[:7], "result": "applied", "configured": 2.0, "trigger": "schedule"}, time.Minute)
	if n := len(filterLines(logs.lines("sync finished"), map[string]any{"revision": sha[:7], "result": "applied"})); n != 1 {
		t.Errorf("%d applied lines for %s, want exactly one", n, sha[:7])
	}

	// The metrics and Events are recorded just after the line: poll for them a moment.
	wantMetrics := []string{`ferry_sync_total{env="staging",result="applied"}`, `ferry_environment_ready{env="staging"} 1`,
		`ferry_applied_revision_info{env="staging",revision="` + sha + `"} 1`, "ferry_sync_duration_seconds_bucket",
		`ferry_sync_phase_seconds_count{env="staging",phase="fetch"}`, `ferry_sync_phase_seconds_count{env="staging",phase="render"}`,
		`ferry_sync_phase_seconds_count{env="staging",phase="apply"}`, `ferry_sync_phase_seconds_count{env="staging",phase="health"}`}
	var missing []string
	reasons := map[string]int{}
	_ = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		body := httpGet(t, "http://"+opts.MetricsAddr+"/metrics")
		missing = nil
		for _, want := range wantMetrics {
			if !strings.Contains(body, want) {
				missing = append(missing, want)
			}
		}
		events, err := f.kube.CoreV1().Events(f.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		reasons = map[string]int{}
		for _, e := range events.Items {
			if e.InvolvedObject.Name == "ferry-staging" {
				reasons[e.Reason]++
			}
		}
		return len(missing) == 0 && reasons["RevisionApplied"] >= 2 && reasons["HealthChanged"] >= 1, nil
	})
	for _, m := range missing {
		t.Errorf("/metrics lacks %s", m)
	}
	if reasons["RevisionApplied"] < 2 || reasons["HealthChanged"] < 1 {
		t.Errorf("events on ferry-staging: %v, want RevisionApplied for both revisions and HealthChanged", reasons)
	}
	if got := httpGet(t, "http://"+opts.HTTPAddr+"/readyz"); strings.TrimSpace(got) != "ok" {
		t.Errorf("/readyz = %q", got)
	}
}

func filterLines(lines []map[string]any, want map[string]any) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if testutil.Matches(l, want) {
			out = append(out, l)
		}
	}
	return out
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// postHook sends a push webhook signed in the given style ("github", "gitea", or "bad").
func postHook(t *testing.T, addr, style, ref string) int {
	t.Helper()
	body := []byte(`{"ref":"` + ref + `","after":"0000000000000000000000000000000000000000"}`)
	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write(body)
	sig := hex.EncodeToString(mac.Sum(nil))
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/git", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	switch style {
	case "github":
		req.Header.Set("X-Hub-Signature-256", "sha256="+sig)
	case "gitea":
		req.Header.Set("X-Gitea-Signature", sig)
	case "bad":
		req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestWebhookTriggersASync(t *testing.T) {
	f := newFixture(t, "@every 1h") // only the start and the webhook trigger syncs
	logs := &logBuffer{}
	opts := f.options(logs)
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied", "trigger": "startup"}, 2*time.Minute)

	sha := f.commitTag("1.3.0")
	if code := postHook(t, opts.HTTPAddr, "bad", "refs/heads/main"); code != http.StatusUnauthorized {
		t.Errorf("badly signed webhook answered %d, want 401", code)
	}
	if code := postHook(t, opts.HTTPAddr, "none", "refs/heads/main"); code != http.StatusUnauthorized {
		t.Errorf("unsigned webhook answered %d, want 401", code)
	}
	logs.waitLine(t, "webhook refused", map[string]any{"status": 401.0}, 10*time.Second)
	if code := postHook(t, opts.HTTPAddr, "github", "refs/heads/other"); code != http.StatusOK {
		t.Errorf("webhook for another branch answered %d, want 200 (ignored)", code)
	}
	time.Sleep(2 * time.Second)
	if img := f.frontendImage(t.Context()); !strings.HasSuffix(img, ":1.1.0") {
		t.Fatalf("a refused or ignored webhook caused a sync: frontend runs %s", img)
	}

	start := time.Now()
	if code := postHook(t, opts.HTTPAddr, "github", "refs/heads/main"); code != http.StatusAccepted {
		t.Fatalf("signed webhook answered %d, want 202", code)
	}
	f.waitImage("1.3.0", time.Minute)
	t.Logf("webhook → applied: %s", time.Since(start).Round(time.Millisecond))
	if d := time.Since(start); d > time.Second+latencySlack {
		t.Errorf("webhook applied after %s, want within about a second", d)
	}
	logs.waitLine(t, "sync finished", map[string]any{"revision": sha[:7], "result": "applied", "trigger": "webhook"}, time.Minute)

	f.commitTag("1.4.0")
	start = time.Now()
	if code := postHook(t, opts.HTTPAddr, "gitea", "refs/heads/main"); code != http.StatusAccepted {
		t.Fatalf("Gitea-signed webhook answered %d, want 202", code)
	}
	f.waitImage("1.4.0", time.Minute)
	t.Logf("Gitea webhook → applied: %s", time.Since(start).Round(time.Millisecond))
}

func TestBrokenFerryYAMLKeepsTheClusterAndRecovers(t *testing.T) {
	f := newFixture(t, "@every 1s")
	logs := &logBuffer{}
	opts := f.options(logs)
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied"}, 2*time.Minute)

	good := f.files["ferry.yaml"]
	broken := strings.Replace(good, "    prune: true", "    prune: true\n    prunne: false", 1)
	f.srv.Commit(t, "config", "break ferry.yaml", map[string]string{"ferry.yaml": broken})
	f.commitTag("1.5.0")
	logs.waitLine(t, "sync failed", map[string]any{"env": "staging", "phase": "render", "level": "ERROR"}, time.Minute)
	time.Sleep(3 * time.Second) // several attempts, each logged
	failures := filterLines(logs.lines("sync failed"), map[string]any{"phase": "render"})
	if len(failures) < 2 || !strings.Contains(failures[0]["error"].(string), "ferry.yaml:") || !strings.Contains(failures[0]["error"].(string), "prunne") {
		t.Errorf("want repeated render failures naming ferry.yaml and the field, got %v", failures)
	}
	if img := f.frontendImage(t.Context()); !strings.HasSuffix(img, ":1.1.0") {
		t.Errorf("cluster changed while ferry.yaml was broken: %s", img)
	}
	if got := httpGet(t, "http://"+opts.HTTPAddr+"/healthz"); strings.TrimSpace(got) != "ok" {
		t.Errorf("/healthz = %q while ferry.yaml is broken", got)
	}
	// The state ConfigMap, which `ferry status` and the status page read, says it too.
	states := sync.NewStateStore(f.kube, f.ns)
	if st, err := states.Load(t.Context(), "staging"); err != nil || !strings.Contains(st.LastError, "prunne") {
		t.Errorf("state's lastError while ferry.yaml is broken = %q (%v), want the parse error", st.LastError, err)
	}

	f.srv.Commit(t, "config", "fix ferry.yaml", map[string]string{"ferry.yaml": good})
	f.waitImage("1.5.0", time.Minute)
	// The state is saved just after the apply that moved the image.
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		st, err := states.Load(ctx, "staging")
		return err == nil && st.LastError == "", nil
	})
	if err != nil {
		t.Errorf("state's lastError is still set after the fix: %v", err)
	}
}

func TestOnlyTheLeaderSyncsAndAFollowerTakesOver(t *testing.T) {
	f := newFixture(t, "@every 1s")
	lease := "ferry-agent-" + f.ns
	logsA, logsB := &logBuffer{}, &logBuffer{}
	elect := func(logs *logBuffer, id string) Options {
		opts := f.options(logs)
		opts.LeaderElection, opts.Identity, opts.LeaseName = true, id, lease
		opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod = 4*time.Second, 3*time.Second, 500*time.Millisecond
		return opts
	}
	stopA := f.start(elect(logsA, "agent-a"))
	logsA.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied"}, 2*time.Minute)
	f.start(elect(logsB, "agent-b"))
	time.Sleep(3 * time.Second) // b campaigns and must lose: a holds the lease
	if n := len(logsB.lines("leading")) + len(logsB.lines("sync finished")); n != 0 {
		t.Fatalf("the follower led or synced while the leader runs:\n%s", logsB.String())
	}
	logsB.waitLine(t, "following", map[string]any{"leader": "agent-a"}, 10*time.Second)

	stopA()
	sha := f.commitTag("1.6.0")
	logsB.waitLine(t, "leading", map[string]any{"identity": "agent-b"}, 30*time.Second)
	f.waitImage("1.6.0", time.Minute)
	logsB.waitLine(t, "sync finished", map[string]any{"revision": sha[:7], "result": "applied"}, time.Minute)
	// The new leader's first sync is its term's start, whatever revision it found.
	if first := logsB.lines("sync finished")[0]; first["trigger"] != "startup" {
		t.Errorf("the new leader's first sync line %v, want trigger=startup", first)
	}
	if n := len(filterLines(logsA.lines("sync finished"), map[string]any{"revision": sha[:7]})); n != 0 {
		t.Errorf("the stopped leader synced %s", sha[:7])
	}
}

func TestDriftTriggersASync(t *testing.T) {
	f := newFixture(t, "@every 1h") // only the start and drift trigger syncs
	logs := &logBuffer{}
	f.start(f.options(logs))
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied", "health": "Healthy"}, 2*time.Minute)
	time.Sleep(time.Second) // let the drift watch see ferry's own writes

	scale := []byte(`{"spec":{"replicas":4}}`)
	_, err := f.kube.AppsV1().Deployments(f.stagingNS).Patch(t.Context(), "gceme-backend", types.MergePatchType, scale,
		metav1.PatchOptions{FieldManager: "kubectl-scale"}, "scale")
	if err != nil {
		t.Fatal(err)
	}
	line := logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "configured": 1.0, "trigger": "drift"}, time.Minute)
	t.Logf("drift corrected: %v", line)
	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := f.kube.AppsV1().Deployments(f.stagingNS).Get(ctx, "gceme-backend", metav1.GetOptions{})
		return err == nil && *d.Spec.Replicas == 1, nil
	})
	if err != nil {
		t.Errorf("replicas not restored to the overlay's 1: %v", err)
	}
}
