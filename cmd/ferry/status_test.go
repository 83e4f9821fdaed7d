package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/sync"
)

func TestStatusAge(t *testing.T) {
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{0, "0s"},
		{-500 * time.Millisecond, "0s"}, // the agent's clock a little ahead
		{-time.Minute, "<invalid>"},
		{5*time.Second + 900*time.Millisecond, "5s"},
		{59 * time.Second, "59s"},
		{time.Minute, "1m"},
		{3*time.Minute + 59*time.Second, "3m"},
		{59 * time.Minute, "59m"},
		{time.Hour, "1h"},
		{2*time.Hour + 30*time.Minute, "2h"},
		{23 * time.Hour, "23h"},
		{24 * time.Hour, "1d"},
		{4*24*time.Hour + 23*time.Hour, "4d"},
		{364 * 24 * time.Hour, "364d"},
		{365 * 24 * time.Hour, "1y"},
		{3 * 365 * 24 * time.Hour, "3y"},
	} {
		if got := age(now, now.Add(-tc.ago)); got != tc.want {
			t.Errorf("age of %v = %q, want %q", tc.ago, got, tc.want)
		}
	}
	if got := age(now, time.Time{}); got != "-" {
		t.Errorf("age of the zero time = %q, want -", got)
	}
}

// TestStatusTable checks the table for states the agent can leave behind, without a cluster.
func TestStatusTable(t *testing.T) {
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	longErr := "apply: Deployment production/web: create: admission webhook \"policy.example.com\" denied the request: image must be signed\n\tat line 2"
	states := []*sync.State{
		{Env: "dev", AttemptedRevision: "worktree", AttemptedAt: now.Add(-10 * time.Second), LastError: "render: environments/dev: no such file"},
		{Env: "empty"},
		{
			Env: "production", AppliedRevision: "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345", AppliedAt: now.Add(-49 * time.Hour),
			AttemptedRevision: "77aa00b1c2d3e4f5061728394a5b6c7d8e9f0a1b", AttemptedAt: now.Add(-2 * time.Minute),
			Stage: "canary", Health: sync.Healthy, LastError: longErr,
		},
		{Env: "qa", AppliedRevision: "9b1d2e4", AttemptedRevision: "9b1d2e4", AttemptedAt: now.Add(-3 * time.Hour), Health: sync.Degraded},
		{Env: "staging", AppliedRevision: "worktree", AttemptedRevision: "worktree", AttemptedAt: now.Add(-5 * time.Second), Health: sync.Healthy},
	}
	var out bytes.Buffer
	if err := writeStatusTable(&out, states, "ferry-system", now); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"ENV          REVISION   STAGE    HEALTH     LAST SYNC   MESSAGE",
		"dev          -          -        Unknown    10s         worktree: render: environments/dev: no such file",
		"empty        -          -        Unknown    -           never applied",
		`production   3f2a1c9    canary   Healthy    2m          77aa00b: apply: Deployment production/web: create: admission webhook "policy.ex…`,
		"qa           9b1d2e4    -        Degraded   3h          objects did not become healthy after the last apply; see the sync log",
		"staging      worktree   -        Healthy    5s          ",
		"",
	}, "\n")
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("status table (-want +got):\n%s", diff)
	}
}

// TestStatusTableNotes checks the notes under the table for a state that cannot be read and
// an environment that left ferry.yaml, without a cluster.
func TestStatusTableNotes(t *testing.T) {
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	states := []*sync.State{
		{Env: "beta", AppliedRevision: "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345", AttemptedAt: now.Add(-time.Minute), Health: sync.Healthy,
			Err: errors.New("state ConfigMap ferry-beta: inventory: invalid character 'x' looking for beginning of value")},
		{Env: "old", AppliedRevision: "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345", AttemptedAt: now.Add(-3 * time.Hour), Health: sync.Healthy,
			RemovedAt: "77aa00b1c2d3e4f5061728394a5b6c7d8e9f0a1b"},
		{Env: "staging", AppliedRevision: "worktree", AttemptedAt: now.Add(-5 * time.Second), Health: sync.Healthy},
	}
	var out bytes.Buffer
	if err := writeStatusTable(&out, states, "ferry-system", now); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"ENV       REVISION   STAGE   HEALTH    LAST SYNC   MESSAGE",
		"beta      3f2a1c9    -       Healthy   1m          state ConfigMap unreadable: see below",
		"old       3f2a1c9    -       Healthy   3h          not in ferry.yaml at 77aa00b: see below",
		"staging   worktree   -       Healthy   5s          ",
		"",
		"beta: state ConfigMap ferry-beta: inventory: invalid character 'x' looking for beginning of value",
		"  Delete it with `kubectl -n ferry-system delete configmap ferry-beta`: that is safe, because at its next sync ferry rebuilds the inventory from the cluster's objects labelled ferry.dev/environment=beta.",
		"old: not in ferry.yaml at 77aa00b, so the agent no longer syncs it.",
		"  Its objects stay in the cluster, no longer synced: run `ferry prune old` to list what ferry applied for it (with --confirm, delete that and its state), or, if it was renamed, first relabel the objects the new environment should take over (kubectl label … ferry.dev/environment=NEW --overwrite).",
		"",
	}, "\n")
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("status table (-want +got):\n%s", diff)
	}

	// Both at once: the recovery for a synced environment (the next sync) does not apply.
	both := &sync.State{Env: "zombie", RemovedAt: "77aa00b", Err: errors.New("state ConfigMap ferry-zombie: inventory: unexpected EOF")}
	out.Reset()
	if err := writeStatusTable(&out, []*sync.State{both}, "ferry-system", now); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"zombie: state ConfigMap ferry-zombie: inventory: unexpected EOF\n", "zombie: not in ferry.yaml at 77aa00b",
		"`ferry prune zombie` cannot read its inventory: delete them by label (kubectl delete … -l ferry.dev/environment=zombie,app.kubernetes.io/managed-by=ferry)",
		"kubectl -n ferry-system delete configmap ferry-zombie"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("status of a removed environment with a broken state lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "next sync") {
		t.Errorf("status promises a sync of a removed environment:\n%s", out.String())
	}
}

// TestStatusUnknownOutput is bad usage (exit 2), reported before any cluster is needed.
func TestStatusUnknownOutput(t *testing.T) {
	res := runFerry(t, t.Context(), "status", "-o", "yaml", "--kubeconfig", filepath.Join(t.TempDir(), "missing"))
	if res.code != 2 || !strings.Contains(res.stderr, `unknown output format "yaml"`) {
		t.Errorf("status -o yaml: exit %d, want 2:\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// TestStatusExample syncs examples/gceme's staging with the CLI and reads it back with
// `ferry status`: as a table, as JSON, next to a second environment in the middle of a rollout,
// and after a sync that failed.
func TestStatusExample(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	repo := testutil.CopyTree(t, "../../examples/gceme")
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ferry := func(args ...string) result {
		t.Helper()
		return runFerry(t, ctx, append(args, "--kubeconfig", c.KubeconfigPath)...)
	}
	if res := ferry("sync", "staging", "--once", "--health-timeout", "2m", "--repo", repo); res.code != 0 {
		t.Fatalf("sync exited %d:\n%s%s", res.code, res.stdout, res.stderr)
	}

	t.Run("nothing synced", func(t *testing.T) {
		res := ferry("status", "--namespace", "ferry-elsewhere")
		if res.code != 0 || res.stdout != "no environments synced in namespace ferry-elsewhere\n" {
			t.Errorf("status in an empty namespace: exit %d:\n%s%s", res.code, res.stdout, res.stderr)
		}
		res = ferry("status", "--namespace", "ferry-elsewhere", "-o", "json")
		if res.code != 0 || res.stdout != "[]\n" {
			t.Errorf("status -o json in an empty namespace: exit %d:\n%s%s", res.code, res.stdout, res.stderr)
		}
	})

	t.Run("table", func(t *testing.T) {
		res := ferry("status")
		if res.code != 0 {
			t.Fatalf("status exited %d:\n%s%s", res.code, res.stdout, res.stderr)
		}
		t.Logf("ferry status:\n%s", res.stdout)
		rows := tableRows(t, res.stdout)
		if len(rows) != 1 {
			t.Fatalf("status has %d rows, want 1 (staging):\n%s", len(rows), res.stdout)
		}
		got := rows[0]
		if got[0] != "staging" || got[1] != "worktree" || got[2] != "-" || got[3] != "Healthy" || len(got) != 5 {
			t.Errorf("staging row = %q, want staging worktree - Healthy AGE and no message", got)
		}
		if !regexp.MustCompile(`^([0-9]|[1-5][0-9])s$|^[1-4]m$`).MatchString(got[4]) {
			t.Errorf("staging LAST SYNC = %q, want a few seconds or minutes", got[4])
		}
	})

	// An environment in the middle of a rollout, as the agent records it: the CLI cannot sync
	// stages yet, so the state is written with the same StateStore the agent uses.
	rollout := &sync.State{
		Env: "qa", AppliedRevision: "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345", AppliedAt: time.Now().Add(-3 * time.Hour),
		AttemptedRevision: "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345", AttemptedAt: time.Now().Add(-3 * time.Hour),
		Stage: "canary", Health: sync.Progressing,
	}
	if err := sync.NewStateStore(kube, "ferry-system").Save(ctx, rollout); err != nil {
		t.Fatal(err)
	}

	t.Run("json", func(t *testing.T) {
		res := ferry("status", "-o", "json")
		if res.code != 0 {
			t.Fatalf("status -o json exited %d:\n%s%s", res.code, res.stdout, res.stderr)
		}
		var fields []map[string]any
		if err := json.Unmarshal([]byte(res.stdout), &fields); err != nil {
			t.Fatalf("status -o json is not a JSON array: %v\n%s", err, res.stdout)
		}
		wantKeys := []string{"appliedAt", "attemptedAt", "attemptedRevision", "env", "health", "lastError", "objects", "revision", "stage"}
		for _, f := range fields {
			keys := make([]string, 0, len(f))
			for k := range f {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if diff := cmp.Diff(wantKeys, keys); diff != "" {
				t.Errorf("fields of %v (-want +got):\n%s", f["env"], diff)
			}
		}
		var got []envStatus
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Env != "qa" || got[1].Env != "staging" {
			t.Fatalf("status -o json lists %+v, want qa and staging in that order", got)
		}
		qa, staging := got[0], got[1]
		if qa.Revision != rollout.AppliedRevision || qa.Stage != "canary" || qa.Health != sync.Progressing || qa.Objects != 0 {
			t.Errorf("qa = %+v, want the full revision, stage canary, Progressing, no objects", qa)
		}
		if staging.Revision != "worktree" || staging.AttemptedRevision != "worktree" || staging.Health != sync.Healthy ||
			staging.Stage != "" || staging.LastError != "" || staging.Objects != 5 {
			t.Errorf("staging = %+v, want worktree, Healthy, no stage, no error, 5 objects", staging)
		}
		for name, at := range map[string]*time.Time{"appliedAt": staging.AppliedAt, "attemptedAt": staging.AttemptedAt} {
			if at == nil || time.Since(*at) > 5*time.Minute || time.Since(*at) < -time.Minute {
				t.Errorf("staging %s = %v, want a moment ago", name, at)
			}
		}
	})

	t.Run("failed sync", func(t *testing.T) {
		// A ConfigMap made by hand, without ferry's labels, that the overlay now also declares:
		// ferry refuses to take it over, so the sync fails in the apply phase.
		hand := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "feature-flags", Namespace: "staging"},
			Data:       map[string]string{"beta": "true"},
		}
		if _, err := kube.CoreV1().ConfigMaps("staging").Create(ctx, hand, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		staging := filepath.Join(repo, "environments", "staging")
		flags := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: feature-flags\ndata:\n  beta: \"false\"\n"
		if err := os.WriteFile(filepath.Join(staging, "feature-flags.yaml"), []byte(flags), 0o644); err != nil {
			t.Fatal(err)
		}
		editFile(t, filepath.Join(staging, "kustomization.yaml"), "resources:\n", "resources:\n- feature-flags.yaml\n")
		res := ferry("sync", "staging", "--once", "--repo", repo)
		if res.code != 1 || !strings.Contains(res.stderr, "phase=apply") {
			t.Fatalf("sync over a hand-made ConfigMap: exit %d, want 1 in phase apply:\n%s%s", res.code, res.stdout, res.stderr)
		}

		res = ferry("status")
		if res.code != 0 {
			t.Fatalf("status exited %d:\n%s%s", res.code, res.stdout, res.stderr)
		}
		t.Logf("ferry status:\n%s", res.stdout)
		rows := tableRows(t, res.stdout)
		if len(rows) != 2 || rows[0][0] != "qa" || rows[1][0] != "staging" {
			t.Fatalf("status rows %q, want qa and staging", rows)
		}
		if got, want := rows[0][:5], []string{"qa", "3f2a1c9", "canary", "Progressing", "3h"}; !slices.Equal(got, want) {
			t.Errorf("qa row = %q, want %q", got, want)
		}
		// The last apply stays what it was; the health no longer claims Healthy after a failed
		// sync (issue 15, item 7), and the message says why the newer attempt failed.
		if got, want := rows[1][:4], []string{"staging", "worktree", "-", "Unknown"}; !slices.Equal(got, want) {
			t.Errorf("staging row = %q, want %q", got, want)
		}
		line := strings.Split(res.stdout, "\n")[2]
		if !strings.Contains(line, "apply: ConfigMap staging/feature-flags: exists in the cluster") {
			t.Errorf("staging row lacks the apply error in MESSAGE:\n%s", res.stdout)
		}

		res = ferry("status", "-o", "json")
		var got []envStatus
		if err := json.Unmarshal([]byte(res.stdout), &got); err != nil || len(got) != 2 {
			t.Fatalf("status -o json: %v\n%s", err, res.stdout)
		}
		if !strings.Contains(got[1].LastError, "ferry will not take it over") || got[1].Objects != 5 {
			t.Errorf("staging after the failed sync = %+v, want the full error and the 5 objects of the last apply", got[1])
		}
	})
}

// tableRows returns the rows of a status table after its header, split into fields.
func tableRows(t *testing.T, table string) [][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "ENV ") {
		t.Fatalf("status output has no table header:\n%s", table)
	}
	var rows [][]string
	for _, l := range lines[1:] {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

// TestStatusShowsBrokenAndRemovedStates corrupts two of three state ConfigMaps (an inventory
// that is not JSON, and one that is not gzip) and marks the third removed, as the agent does
// when its environment leaves ferry.yaml: `ferry status` still lists all three, each broken one
// with its error and the recovery, the removed one with what to do, as a table and as JSON.
func TestStatusShowsBrokenAndRemovedStates(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	store := sync.NewStateStore(kube, "ferry-system")
	rev := "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345"
	inv := sync.Inventory{{ObjectID: sync.ObjectID{Kind: "ConfigMap", Namespace: "app", Name: "config"}, Version: "v1", Hash: "h"}}
	for _, env := range []string{"alpha", "beta", "gamma"} {
		st := &sync.State{Env: env, AppliedRevision: rev, AttemptedRevision: rev, AppliedAt: time.Now(), AttemptedAt: time.Now(),
			Health: sync.Healthy, Inventory: inv}
		if err := store.Save(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	corrupt := func(env string, edit func(cm *corev1.ConfigMap)) {
		cms := kube.CoreV1().ConfigMaps("ferry-system")
		cm, err := cms.Get(ctx, sync.StateConfigMapName(env), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		edit(cm)
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	corrupt("beta", func(cm *corev1.ConfigMap) { cm.Data["inventory.json"] = "[{not json" })
	corrupt("gamma", func(cm *corev1.ConfigMap) {
		delete(cm.Data, "inventory.json")
		cm.BinaryData = map[string][]byte{"inventory.json.gz": []byte("not gzip")}
	})
	removedAt := "77aa00b1c2d3e4f5061728394a5b6c7d8e9f0a1b"
	if err := store.MarkRemoved(ctx, "alpha", removedAt); err != nil {
		t.Fatal(err)
	}
	ferry := func(args ...string) result {
		t.Helper()
		res := runFerry(t, ctx, append(args, "--kubeconfig", c.KubeconfigPath)...)
		if res.code != 0 {
			t.Fatalf("ferry %v exited %d:\n%s%s", args, res.code, res.stdout, res.stderr)
		}
		return res
	}

	res := ferry("status")
	t.Logf("ferry status:\n%s", res.stdout)
	table, notes, _ := strings.Cut(res.stdout, "\n\n")
	rows := tableRows(t, table+"\n")
	if len(rows) != 3 || rows[0][0] != "alpha" || rows[1][0] != "beta" || rows[2][0] != "gamma" {
		t.Fatalf("status rows %q, want alpha, beta and gamma", rows)
	}
	for _, w := range []string{
		"alpha   3f2a1c9 ", "not in ferry.yaml at 77aa00b: see below",
		"beta    3f2a1c9 ", "gamma   3f2a1c9 ", "state ConfigMap unreadable: see below",
		"alpha: not in ferry.yaml at 77aa00b, so the agent no longer syncs it.",
		"run `ferry prune alpha`", "relabel the objects",
		"beta: state ConfigMap ferry-beta: inventory: invalid character 'n'",
		"Delete it with `kubectl -n ferry-system delete configmap ferry-beta`: that is safe, because at its next sync ferry rebuilds the inventory",
		"gamma: state ConfigMap ferry-gamma: inventory: unexpected EOF", // "not gzip" is shorter than a gzip header
		"kubectl -n ferry-system delete configmap ferry-gamma",
	} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("status lacks %q", w)
		}
	}
	if strings.Count(notes, "\n  ") != 3 {
		t.Errorf("status notes: want one action each for alpha, beta and gamma:\n%s", notes)
	}

	res = ferry("status", "-o", "json")
	var got []envStatus
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil || len(got) != 3 {
		t.Fatalf("status -o json: %v\n%s", err, res.stdout)
	}
	alpha, beta, gamma := got[0], got[1], got[2]
	if !alpha.Removed || alpha.RemovedAt != removedAt || alpha.StateError != "" || alpha.Objects != 1 || !strings.Contains(alpha.Action, "ferry prune alpha") {
		t.Errorf("alpha = %+v, want removed at %s, readable, 1 object, and the prune advice", alpha, removedAt)
	}
	for _, es := range []envStatus{beta, gamma} {
		if es.Removed || es.Revision != rev || es.Health != sync.Healthy || !strings.Contains(es.StateError, "inventory") ||
			!strings.Contains(es.Action, "delete configmap ferry-"+es.Env) {
			t.Errorf("%s = %+v, want its revision and health, the inventory error and the recovery", es.Env, es)
		}
	}

	// The recovery as documented: delete the broken ConfigMap.
	if err := kube.CoreV1().ConfigMaps("ferry-system").Delete(ctx, "ferry-beta", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	res = ferry("status")
	if strings.Contains(res.stdout, "beta") || !strings.Contains(res.stdout, "gamma: state ConfigMap") {
		t.Errorf("status after deleting ferry-beta:\n%s", res.stdout)
	}
}

// TestStatusTableChecks checks the CHECKS column, shown once a stage has analysis checks:
// each check's last value and result, and why it failed.
func TestStatusTableChecks(t *testing.T) {
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	v, bad := 0.012, 0.31
	states := []*sync.State{
		{Env: "production", AppliedRevision: "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345", AttemptedAt: now.Add(-time.Minute),
			Stage: "canary", Health: sync.Progressing, Progress: sync.Progress{Revision: "77aa00b1c2d3e4f5061728394a5b6c7d8e9f0a1b",
				StageIndex: 0, StageCount: 2, Phase: sync.PhaseSoaking, Since: now.Add(-70 * time.Second), Soak: 2 * time.Minute,
				Analysis: []sync.CheckState{{Name: "error-rate", Result: "pass", Value: &v}, {Name: "smoke"}}}},
		{Env: "qa", AppliedRevision: "9b1d2e4", AttemptedAt: now.Add(-3 * time.Hour), Stage: "canary", Health: sync.Degraded,
			Progress: sync.Progress{HaltedRevision: "9b1d2e4", StageCount: 2, Phase: sync.PhaseHalted, HaltReason: "check error-rate: 0.31 is above max 0.05",
				Analysis: []sync.CheckState{{Name: "error-rate", Result: "fail", Value: &bad, Message: "0.31 is above max 0.05"}}}},
		{Env: "staging", AppliedRevision: "worktree", AttemptedAt: now.Add(-5 * time.Second), Health: sync.Healthy},
	}
	var out bytes.Buffer
	if err := writeStatusTable(&out, states, "ferry-system", now); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"ENV          REVISION   STAGE                              HEALTH        CHECKS                                         LAST SYNC   MESSAGE",
		"production   3f2a1c9    canary 1/2 soaking 1m10s of 2m0s   Progressing   error-rate=0.012 pass, smoke pending           1m          ",
		"qa           9b1d2e4    canary 1/2 halted                  Degraded      error-rate=0.31 fail: 0.31 is above max 0.05   3h          rollout of 9b1d2e4 halted: check error-rate: 0.31 is above max 0.05",
		"staging      worktree   -                                  Healthy       -                                              5s          ",
		"",
	}, "\n")
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("status table (-want +got):\n%s", diff)
	}
}
