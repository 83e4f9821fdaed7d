package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	if err := writeStatusTable(&out, states, now); err != nil {
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
		// The last apply stays what it was; the message says why the newer attempt failed.
		if got, want := rows[1][:4], []string{"staging", "worktree", "-", "Healthy"}; !slices.Equal(got, want) {
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
