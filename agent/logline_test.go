package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
	"github.com/ferry-cd/ferry/sync/source"
)

// repositoryErrors returns the errors of a real Source whose remote is a closed port: its
// ls-remote, its fetch, and the tree of a commit that was never fetched.
func repositoryErrors(t *testing.T) (head, fetch, tree error) {
	t.Helper()
	src, err := source.New(source.Options{URL: "http://127.0.0.1:" + freePort(t) + "/config.git", CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, head = src.Head(t.Context())
	_, fetch = src.Fetch(t.Context())
	_, tree = src.Tree(t.Context(), strings.Repeat("ab", 20))
	for _, err := range []error{head, fetch, tree} {
		if err == nil {
			t.Fatal("a Source on a closed port did not fail")
		}
	}
	return head, fetch, tree
}

// TestPhaseOf checks the one place that decides a failure's phase, with the errors the agent's
// steps really return: the repository's (source), ferry.yaml's and the render's (render),
// sync's own (their phase) and the rest (apply).
func TestPhaseOf(t *testing.T) {
	head, fetch, tree := repositoryErrors(t)
	_, parse := environments.Parse([]byte("apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments:\n- name: staging\n  prunne: true\n"))
	_, rendering := render.Render(t.Context(), fstest.MapFS{}, &environments.Environment{Name: "staging", Path: "environments/staging", Namespace: "staging"})
	_, missing := environments.Load(fstest.MapFS{})
	if parse == nil || rendering == nil || missing == nil {
		t.Fatalf("want a parse, a render and a missing file error, got %v, %v and %v", parse, rendering, missing)
	}
	rev := strings.Repeat("c", 40)
	for _, tc := range []struct {
		name string
		err  error
		want sync.Phase
	}{
		{"ls-remote of a server that is down", head, sync.PhaseSource},
		{"fetch of a server that is down", fetch, sync.PhaseSource},
		{"tree of a commit not in the cache", tree, sync.PhaseSource},
		{"tree of the held revision, wrapped", fmt.Errorf("applied revision %s: %w", short(rev), tree), sync.PhaseSource},
		{"ferry.yaml that does not parse", &configError{revision: rev, err: parse}, sync.PhaseRender},
		{"ferry.yaml missing", &configError{revision: rev, err: missing}, sync.PhaseRender},
		{"render", rendering, sync.PhaseRender},
		{"render of the held revision, wrapped", fmt.Errorf("applied revision %s: %w", short(rev), rendering), sync.PhaseRender},
		{"sync's own prune failure", &sync.Error{Phase: sync.PhasePrune, Err: errors.New("ConfigMap a/b: delete: forbidden")}, sync.PhasePrune},
		{"the state ConfigMap", &sync.Error{Phase: sync.PhaseState, Err: errors.New("state ConfigMap ferry-system/ferry-staging: forbidden")}, sync.PhaseState},
		{"sync's own health failure, wrapped", fmt.Errorf("staging: %w", &sync.Error{Phase: sync.PhaseHealth, Err: errors.New("timed out")}), sync.PhaseHealth},
		{"an explicit phase wins over a source error inside", &sync.Error{Phase: sync.PhaseApply, Err: tree}, sync.PhaseApply},
		{"a lookup in the cluster", errors.New("Deployment staging/gceme-frontend: get: connection refused"), sync.PhaseApply},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, phaseOf(tc.err)); diff != "" {
				t.Errorf("phaseOf(%v) (-want +got):\n%s", tc.err, diff)
			}
			recorded := asFailure(tc.err)
			if diff := cmp.Diff(tc.want, phaseOf(recorded)); diff != "" {
				t.Errorf("phaseOf(asFailure(%v)) (-want +got):\n%s", tc.err, diff)
			}
			// What the state records starts with the phase, as sync's own errors do.
			var phased *sync.Error
			if !errors.As(tc.err, &phased) && !strings.HasPrefix(recorded.Error(), string(tc.want)+": ") {
				t.Errorf("asFailure(%v) = %q, want it to start with %q", tc.err, recorded, tc.want)
			}
		})
	}
}

// TestLogSyncSaysTriggerAndPhase checks the sync lines' trigger= and phase= fields.
func TestLogSyncSaysTriggerAndPhase(t *testing.T) {
	head, _, _ := repositoryErrors(t)
	var buf strings.Builder
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	rev := strings.Repeat("d", 40)
	LogSync(log, "staging", rev, "", TriggerRetry, nil, asFailure(head))
	LogSync(log, "staging", rev, "canary", TriggerWebhook, &sync.Report{Revision: rev, Health: sync.Healthy}, nil)
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		got = append(got, map[string]any{"msg": m["msg"], "trigger": m["trigger"], "phase": m["phase"], "stage": m["stage"]})
	}
	want := []map[string]any{
		{"msg": "sync failed", "trigger": "retry", "phase": "source", "stage": nil},
		{"msg": "sync finished", "trigger": "webhook", "phase": nil, "stage": "canary"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sync lines (-want +got):\n%s", diff)
	}
	if !strings.Contains(buf.String(), `"error":"source: http://127.0.0.1:`) {
		t.Errorf("the failure's error does not start with its phase and the repository: %s", buf.String())
	}
}

// TestLogSyncSaysRenderReused checks the text sync lines of a sync that reused an earlier
// revision's render: DESIGN.md's fields in their order, then render=reused; a line without
// notes has no render field.
func TestLogSyncSaysRenderReused(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	rev := "3f2a1c9" + strings.Repeat("0", 33)
	reused := []slog.Attr{slog.String("render", string(renderReused))}
	rep := &sync.Report{Revision: rev, Health: sync.Healthy, Duration: 1420 * time.Millisecond}
	LogSync(log, "production", rev, "", TriggerSchedule, rep, nil, reused...)
	LogSync(log, "production", rev, "", TriggerSchedule, rep, nil)
	LogSync(log, "production", rev, "", TriggerWebhook, nil, &sync.Error{Phase: sync.PhaseApply, Err: errors.New("ConfigMap production/a: forbidden")}, reused...)
	want := `level=INFO msg="sync finished" env=production revision=3f2a1c9 stage="" trigger=schedule result=applied created=0 configured=0 unchanged=0 pruned=0 health=Healthy duration=1.42s render=reused
level=INFO msg="sync finished" env=production revision=3f2a1c9 stage="" trigger=schedule result=applied created=0 configured=0 unchanged=0 pruned=0 health=Healthy duration=1.42s
level=ERROR msg="sync failed" env=production revision=3f2a1c9 trigger=webhook phase=apply error="apply: ConfigMap production/a: forbidden" render=reused
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("sync lines (-want +got):\n%s", diff)
	}
}
