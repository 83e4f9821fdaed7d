package agent

import (
	"context"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/sync"
)

// mislabelCanaries makes the seed's label mistake in the fixture's files (not yet committed):
// the canary Deployments say track: canary only in their selector and pod template, not in
// their own metadata.labels, so the canary stage's selector matches none of them.
func (f *fixture) mislabelCanaries() map[string]string {
	f.t.Helper()
	changed := map[string]string{}
	for _, role := range []string{"frontend", "backend"} {
		path := "components/canary/" + role + "-canary-deployment.yaml"
		// The object's own labels are indented by 4; the selector's and template's deeper.
		if !strings.Contains(f.files[path], "\n    track: canary\n") {
			f.t.Fatalf("%s has no track: canary in its own labels", path)
		}
		f.files[path] = strings.Replace(f.files[path], "\n    track: canary\n", "\n", 1)
		changed[path] = f.files[path]
	}
	return changed
}

// deployments returns each Deployment of staging as "image generation", by name: what a
// write of its spec would change (status updates change the resourceVersion, not these).
func (f *fixture) deployments(ctx context.Context) map[string]string {
	f.t.Helper()
	list, err := f.kube.AppsV1().Deployments(f.stagingNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range list.Items {
		out[d.Name] = d.Spec.Template.Spec.Containers[0].Image + " generation " + strconv.FormatInt(d.Generation, 10)
	}
	return out
}

// TestEmptyCanaryStageHaltsBeforeApplying deploys staging with the seed's label mistake: the
// canary stage selects nothing. The first deploy applies everything at once (nothing runs
// yet), as any first sync does. The next release must halt at the canary stage before
// anything is applied, with the reason naming the stage's ferry.yaml position and the
// Deployments whose pod templates match, and how to label them; the environment stays on its
// revision, every Deployment (stable and canary) unchanged, also while the halt is held.
// (Issue 16, item 1: before, the empty canary soaked nothing and the last stage moved every
// Deployment at once.)
func TestEmptyCanaryStageHaltsBeforeApplying(t *testing.T) {
	f := newFixture(t, "@every 1s")
	f.srv.Commit(t, "config", "canaries labelled only in their pod templates", f.mislabelCanaries())
	f.stageStaging()
	logs := &logBuffer{}
	opts := f.options(logs)
	f.start(opts)
	ctx := t.Context()
	good := f.srv.Head(t, "config")
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": good[:7], "health": "Healthy"}, 3*time.Minute)
	before, uids := f.deployments(ctx), f.uids(ctx, f.stagingNS)
	if len(before) != 4 {
		t.Fatalf("the first deploy applied %d Deployments, want 4: %v", len(before), before)
	}

	bad := f.commitTag("1.2.0")
	outcome := f.firstOutcome(logs, bad)
	if outcome["msg"] != "rollout halted" || outcome["stage"] != "canary" {
		t.Fatalf("the release with an empty canary stage was not halted at the canary: %v\nlog:\n%s", outcome, logs.String())
	}
	t.Logf("halted: %v", outcome)
	reason, _ := outcome["reason"].(string)
	for _, want := range []string{
		"stage canary selects no object of the render (ferry.yaml:",
		"its selector matches the pod template labels of Deployment " + f.stagingNS + "/gceme-backend-canary and Deployment " +
			f.stagingNS + "/gceme-frontend-canary but not their own metadata.labels: label the objects themselves, " +
			"e.g. kustomize labels: [{pairs: {track: canary}}] in the canary component",
	} {
		if !strings.Contains(reason, want) {
			t.Errorf("the halt's reason lacks %q: %q", want, reason)
		}
	}
	if n := len(logs.lines("stage soaked")); n != 0 {
		t.Errorf("%d stages soaked, want none", n)
	}

	// Held at the applied revision: a few held syncs, which must change nothing either.
	logs.waitLine(t, "rollout halted: holding the applied revision", map[string]any{"env": "staging", "revision": good[:7], "halted": bad[:7]}, time.Minute)
	time.Sleep(3 * time.Second)
	if after := f.deployments(ctx); !maps.Equal(before, after) {
		t.Errorf("Deployments changed although the rollout halted before applying anything:\nbefore %v\nafter  %v", before, after)
	}
	f.assertKept(ctx, uids)
	st, err := sync.NewStateStore(f.kube, f.ns).Load(ctx, "staging")
	if err != nil {
		t.Fatal(err)
	}
	if st.AppliedRevision != good || st.Progress.HaltedRevision != bad || st.Progress.HaltReason != reason {
		t.Errorf("state: applied %s, halted %s (%q); want applied %s, halted %s with the reason", st.AppliedRevision, st.Progress.HaltedRevision, st.Progress.HaltReason, good[:7], bad[:7])
	}
	f.waitEvent(ctx, "RolloutHalted", "stage canary of "+bad[:7]+": stage canary selects no object of the render")
}

// firstOutcome waits for the first line that ends a sync of revision (a halt, a failure, or
// the last stage's sync line) and returns it.
func (f *fixture) firstOutcome(logs *logBuffer, revision string) map[string]any {
	f.t.Helper()
	var found map[string]any
	err := wait.PollUntilContextTimeout(f.t.Context(), 200*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		for _, l := range logs.lines("") {
			msg := l["msg"]
			if l["revision"] == revision[:7] && (msg == "rollout halted" || msg == "sync failed" || msg == "sync finished" && l["stage"] == "all") {
				found = l
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		f.t.Fatalf("no outcome for %s; agent log:\n%s", revision[:7], logs.String())
	}
	return found
}

// waitEvent waits for an Event with reason whose message starts with prefix in ferry's
// namespace.
func (f *fixture) waitEvent(ctx context.Context, reason, prefix string) {
	f.t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		events, err := f.kube.CoreV1().Events(f.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, e := range events.Items {
			if e.Reason == reason && strings.HasPrefix(e.Message, prefix) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		f.t.Errorf("no %s Event starting with %q", reason, prefix)
	}
}
