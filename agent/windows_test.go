package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/sync"
)

// denyWindow returns ferry.yaml's top-level windows: one deny window for staging that opened
// at start (a whole minute, UTC) and stays open for d.
func denyWindow(start time.Time, d time.Duration) string {
	return fmt.Sprintf("windows:\n  - deny: \"CRON_TZ=UTC %d %d * * *\"\n    duration: %s\n    environments: [staging]\n",
		start.Minute(), start.Hour(), d)
}

// tagFiles moves staging's image tag in f.files and returns the file to commit.
func (f *fixture) tagFiles(tag string) map[string]string {
	content := f.files[stagingKust]
	start := strings.Index(content, `newTag: "`) + len(`newTag: "`)
	end := start + strings.Index(content[start:], `"`)
	f.files[stagingKust] = content[:start] + tag + content[end:]
	return map[string]string{stagingKust: f.files[stagingKust]}
}

// deferral returns the deferral recorded in staging's state (nil when none).
func (f *fixture) deferral() *sync.Deferral {
	f.t.Helper()
	st, err := sync.NewStateStore(f.kube, f.ns).Load(f.t.Context(), "staging")
	if err != nil {
		f.t.Fatal(err)
	}
	return st.Deferred
}

// waitSyncs waits until n more "sync finished" lines for revision (short) are logged than
// there were when it was called.
func waitSyncs(t *testing.T, logs *logBuffer, revision string, n int) {
	t.Helper()
	want := map[string]any{"msg": "sync finished", "env": "staging", "revision": revision}
	before := len(logs.Lines(want))
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return len(logs.Lines(want)) >= before+n, nil
	})
	if err != nil {
		t.Fatalf("fewer than %d more syncs of %s within a minute; log:\n%s", n, revision, logs.String())
	}
}

// TestDenyWindowDefersNewRevisions plays a deploy window: with a deny window open now, a pushed
// commit waits (one "sync deferred" line, the state and /api/status say so) while drift is still
// corrected at the applied revision; a commit with a Ferry-Override trailer is applied at once;
// when the window closes, the revision that waits is applied.
func TestDenyWindowDefersNewRevisions(t *testing.T) {
	f := newFixture(t, "@every 2s")
	logs := &logBuffer{}
	opts := f.options(logs)
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied", "health": "Healthy"}, 2*time.Minute)

	// The window opened at the start of this minute and stays open long enough for every step
	// below; the last commit shortens it. A commit that changes nothing staging renders is no
	// new revision to hold back: the window's own commit is applied.
	start := time.Now().UTC().Truncate(time.Minute)
	base := f.files["ferry.yaml"]
	f.files["ferry.yaml"] = base + denyWindow(start, 30*time.Minute)
	windowRev := f.srv.Commit(t, "config", "staging: no deploys for half an hour", map[string]string{"ferry.yaml": f.files["ferry.yaml"]})
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": windowRev[:7]}, time.Minute)
	until := start.Add(30 * time.Minute).Format(time.RFC3339)
	window := fmt.Sprintf("deny \"CRON_TZ=UTC %d %d * * *\" for 30m0s", start.Minute(), start.Hour())

	held := f.commitTag("1.2.0")
	line := logs.waitLine(t, "sync deferred", map[string]any{"env": "staging", "revision": held[:7]}, time.Minute)
	t.Logf("deferred: %v", line)
	for key, want := range map[string]any{"level": "INFO", "window": window, "until": until, "applied": windowRev[:7]} {
		if line[key] != want {
			t.Errorf("sync deferred line: %s = %v, want %v", key, line[key], want)
		}
	}
	waitSyncs(t, logs, windowRev[:7], 3) // the schedule goes on syncing the applied revision
	if img := f.frontendImage(t.Context()); !strings.HasSuffix(img, ":1.1.0") {
		t.Errorf("frontend runs %s while the window is open, want 1.1.0", img)
	}
	if d := f.deferral(); d == nil || d.Revision != held || d.Until.Format(time.RFC3339) != until || d.Window != window {
		t.Errorf("state deferral = %+v, want %s until %s", d, held[:7], until)
	}
	var report StatusReport
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+opts.HTTPAddr+"/api/status")), &report); err != nil {
		t.Fatal(err)
	}
	if len(report.Environments) != 1 || report.Environments[0].Deferred == nil || report.Environments[0].Deferred.Revision != held {
		t.Errorf("/api/status: %+v, want staging deferred at %s", report.Environments, held[:7])
	}

	// Drift is corrected at the applied revision.
	scale := []byte(`{"spec":{"replicas":4}}`)
	if _, err := f.kube.AppsV1().Deployments(f.stagingNS).Patch(t.Context(), "gceme-backend", types.MergePatchType, scale,
		metav1.PatchOptions{FieldManager: "kubectl-scale"}, "scale"); err != nil {
		t.Fatal(err)
	}
	// The drift watch pokes a sync; a scheduled one may get there first.
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": windowRev[:7], "configured": 1.0}, time.Minute)
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := f.kube.AppsV1().Deployments(f.stagingNS).Get(ctx, "gceme-backend", metav1.GetOptions{})
		return err == nil && *d.Spec.Replicas == 1, nil
	})
	if err != nil {
		t.Errorf("replicas not restored to the overlay's 1 while the window is open: %v", err)
	}
	if img := f.frontendImage(t.Context()); !strings.HasSuffix(img, ":1.1.0") {
		t.Errorf("frontend runs %s after the drift correction, want 1.1.0", img)
	}

	// A commit with the trailer goes through.
	hotfix := f.srv.Commit(t, "config", "staging: gceme 1.3.0\n\nThe 1.1.0 frontend leaks.\n\nFerry-Override: hotfix\n", f.tagFiles("1.3.0"))
	over := logs.waitLine(t, "window overridden", map[string]any{"env": "staging", "revision": hotfix[:7]}, time.Minute)
	if over["level"] != "WARN" || over["reason"] != "hotfix" || over["window"] != window {
		t.Errorf("window overridden line: %v, want level WARN, reason hotfix, window %s", over, window)
	}
	f.waitImage("1.3.0", time.Minute)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": hotfix[:7], "result": "applied"}, time.Minute)
	if d := f.deferral(); d != nil {
		t.Errorf("state deferral after the override = %+v, want none", d)
	}

	// A last commit, which the shortened window holds back until it closes.
	end := time.Now().Add(30 * time.Second).Truncate(time.Second)
	files := f.tagFiles("1.4.0")
	files["ferry.yaml"] = base + denyWindow(start, end.Sub(start))
	last := f.srv.Commit(t, "config", "staging: gceme 1.4.0, and the window closes soon", files)
	line = logs.waitLine(t, "sync deferred", map[string]any{"env": "staging", "revision": last[:7]}, time.Minute)
	if line["until"] != end.UTC().Format(time.RFC3339) || line["applied"] != hotfix[:7] {
		t.Errorf("sync deferred line: %v, want until %s, applied %s", line, end.UTC().Format(time.RFC3339), hotfix[:7])
	}
	f.waitImage("1.4.0", time.Until(end)+2*time.Minute)
	observed := time.Since(end)
	applied := logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": last[:7], "result": "applied"}, time.Minute)
	at, _ := time.Parse(time.RFC3339Nano, applied["time"].(string))
	t.Logf("window closed at %s; the held revision's sync line %s after it (trigger=%v), the frontend observed at 1.4.0 %s after it",
		end.Format(time.RFC3339), at.Sub(end).Round(time.Millisecond), applied["trigger"], observed.Round(time.Millisecond))
	if at.Before(end) {
		t.Errorf("held revision applied at %s, before the window closed at %s", at, end)
	}
	if d := f.deferral(); d != nil {
		t.Errorf("state deferral after the window closed = %+v, want none", d)
	}

	for _, rev := range []string{held, last} {
		if n := len(logs.Lines(map[string]any{"msg": "sync deferred", "revision": rev[:7]})); n != 1 {
			t.Errorf("%d sync deferred lines for %s, want exactly one", n, rev[:7])
		}
	}
	if n := len(logs.Lines(map[string]any{"msg": "sync finished", "revision": held[:7]})); n != 0 {
		t.Errorf("%d sync lines for the held revision %s, which the override superseded; want none", n, held[:7])
	}
	events, err := f.kube.CoreV1().Events(f.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, e := range events.Items {
		if e.InvolvedObject.Name == "ferry-staging" {
			reasons[e.Reason]++
		}
	}
	if reasons["SyncDeferred"] < 2 || reasons["WindowOverridden"] < 1 {
		t.Errorf("events on ferry-staging: %v, want SyncDeferred for both held revisions and WindowOverridden", reasons)
	}
}

// TestDeferredRevisionRollsOutThroughItsStages holds a commit to a staged environment back
// with a deny window; when the window closes, the revision goes through the canary stage
// before everything, as any other.
func TestDeferredRevisionRollsOutThroughItsStages(t *testing.T) {
	f, logs, _, _ := startStagedHealthy(t)
	applied := logs.lines("sync finished")[0]["revision"].(string)

	start := time.Now().UTC().Truncate(time.Minute)
	end := time.Now().Add(30 * time.Second).Truncate(time.Second)
	files := f.tagFiles("1.2.0")
	files["ferry.yaml"] = f.files["ferry.yaml"] + denyWindow(start, end.Sub(start))
	held := f.srv.Commit(t, "config", "staging: gceme 1.2.0 in a deploy window", files)
	line := logs.waitLine(t, "sync deferred", map[string]any{"env": "staging", "revision": held[:7]}, time.Minute)
	if line["applied"] != applied || line["until"] != end.UTC().Format(time.RFC3339) {
		t.Errorf("sync deferred line: %v, want applied %s, until %s", line, applied, end.UTC().Format(time.RFC3339))
	}

	canary := logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": held[:7], "stage": "canary"}, time.Until(end)+2*time.Minute)
	all := logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": held[:7], "stage": "all"}, 2*time.Minute)
	at, _ := time.Parse(time.RFC3339Nano, canary["time"].(string))
	t.Logf("window closed at %s; canary stage applied %s after it", end.Format(time.RFC3339), at.Sub(end).Round(time.Millisecond))
	if at.Before(end) {
		t.Errorf("canary stage of %s applied at %s, before the window closed at %s", held[:7], at, end)
	}
	if all["health"] != "Healthy" {
		t.Errorf("last stage: %v, want Healthy", all)
	}
	if d := f.deferral(); d != nil {
		t.Errorf("state deferral after the rollout = %+v, want none", d)
	}
}
