package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/sync"
)

// TestRetryOf: a `ferry retry` request is honoured once, for the revision it names.
func TestRetryOf(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	req := &sync.Request{By: "alice", At: at, Revision: "bad"}
	tests := []struct {
		name     string
		st       sync.State
		revision string
		want     bool
	}{
		{"no request", sync.State{}, "bad", false},
		{"new request", sync.State{Control: sync.Control{Retry: req}}, "bad", true},
		{"another revision", sync.State{Control: sync.Control{Retry: req}}, "newer", false},
		{"honoured", sync.State{Control: sync.Control{Retry: req}, Progress: sync.Progress{RetriedAt: at}}, "bad", false},
		{"a later request", sync.State{Control: sync.Control{Retry: req}, Progress: sync.Progress{RetriedAt: at.Add(-time.Hour)}}, "bad", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryOf(&tt.st, tt.revision) != nil; got != tt.want {
				t.Errorf("retryOf = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSuspendStopsARolloutWhereItIs suspends staging (as `ferry suspend` does: StateStore.Update
// of its controls) while a new release's canary soaks: the rollout stops there, for longer
// than the soak, with its progress kept; the stable Deployments stay on the old tag. Resumed,
// it goes on at once from where it stopped (the soak is over), with trigger=resume.
func TestSuspendStopsARolloutWhereItIs(t *testing.T) {
	f := newFixture(t, "@every 1s")
	y := f.files["ferry.yaml"]
	i := strings.Index(y, "    prune: true")
	i += strings.Index(y[i:], "\n") + 1
	f.files["ferry.yaml"] = y[:i] + strings.Replace(stagedRollout, "soak: 2s", "soak: 15s", 1) + y[i:]
	f.files[stagingKust] = strings.Replace(f.files[stagingKust], "images:\n", "components:\n- ../../components/canary\nimages:\n", 1)
	f.srv.Commit(t, "config", "staging: a canary stage", map[string]string{"ferry.yaml": f.files["ferry.yaml"], stagingKust: f.files[stagingKust]})
	logs := &logBuffer{}
	opts := f.options(logs)
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied", "health": "Healthy"}, 3*time.Minute)
	ctx := t.Context()
	store := sync.NewStateStore(f.kube, f.ns)

	rev := f.commitTag("1.3.0")
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": rev[:7], "stage": "canary"}, 2*time.Minute)
	// The canary's soak is recorded just after its line: suspend once it is, in the soak.
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		st, err := store.Load(ctx, "staging")
		return err == nil && st.Progress.Revision == rev && st.Progress.Phase == sync.PhaseSoaking, nil
	})
	if err != nil {
		t.Fatalf("the canary of %s never recorded its soak", rev[:7])
	}
	at := time.Now().UTC()
	err = store.Update(ctx, "staging", func(st *sync.State) error {
		st.Control.Suspended = &sync.Request{By: "alice", At: at, Reason: "incident 42"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	line := logs.waitLine(t, "environment suspended", map[string]any{"env": "staging", "by": "alice", "reason": "incident 42"}, time.Minute)
	t.Logf("suspended %s after the write: %v", logTime(line).Sub(at).Round(time.Millisecond), line)
	time.Sleep(20 * time.Second) // longer than the soak
	if n := len(filterLines(logs.lines("stage soaked"), map[string]any{"revision": rev[:7]})); n > 0 {
		t.Errorf("the canary's soak finished while suspended; log:\n%s", logs.String())
	}
	if imgs := f.images(ctx); imgs["gceme-frontend"] != "1.1.0" || imgs["gceme-frontend-canary"] != "1.3.0" {
		t.Errorf("while suspended: %v; want the canary on 1.3.0 and the rest on 1.1.0", imgs)
	}
	st, err := store.Load(ctx, "staging")
	if err != nil || st.Progress.Revision != rev || st.Stage != "canary" || st.Progress.Phase != sync.PhaseSoaking {
		t.Errorf("progress while suspended: %+v at %q (%v); want the canary soaking %s", st.Progress, st.Stage, err, rev[:7])
	}
	if m := httpGet(t, "http://"+opts.MetricsAddr+"/metrics"); !strings.Contains(m, `ferry_environment_suspended{env="staging"} 1`) {
		t.Errorf("ferry_environment_suspended:\n%s", grepLines(m, "ferry_environment_suspended"))
	}

	resumed := time.Now()
	err = store.Update(ctx, "staging", func(st *sync.State) error {
		st.Control.Suspended, st.Control.Resumed = nil, &sync.Request{By: "bob", At: time.Now().UTC()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	logs.waitLine(t, "environment resumed", map[string]any{"env": "staging", "by": "bob"}, time.Minute)
	line = logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": rev[:7], "stage": "all", "trigger": "resume"}, 2*time.Minute)
	t.Logf("resumed: the last stage's line %s after the write: %v", logTime(line).Sub(resumed).Round(time.Millisecond), line)
	if imgs := f.images(ctx); imgs["gceme-frontend"] != "1.3.0" {
		t.Errorf("after resume: %v; want 1.3.0 everywhere", imgs)
	}
}

// logTime returns the time of a JSON log line.
func logTime(line map[string]any) time.Time {
	s, _ := line["time"].(string)
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// TestWatchSeesChangesOfExistingControls starts the controls' watch when the state ConfigMap
// exists already and holds a suspension (an agent restarted while suspended): the watch reports
// it, then the resume written afterwards.
func TestWatchSeesChangesOfExistingControls(t *testing.T) {
	f := newFixture(t, "@every 1h")
	ctx := t.Context()
	store := sync.NewStateStore(f.kube, f.ns)
	st := &sync.State{Env: "staging", AppliedRevision: "abc", Control: sync.Control{Suspended: &sync.Request{By: "alice", At: time.Now().UTC()}}}
	if err := store.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	a, err := New(cluster.Config, f.options(logs))
	if err != nil {
		t.Fatal(err)
	}
	tm := &term{a: a, workers: map[string]*worker{}, ctl: controls{byEnv: map[string]sync.Control{}}}
	if !tm.watchControls(ctx) {
		t.Fatal("the watch did not sync")
	}
	logs.waitLine(t, "environment suspended", map[string]any{"env": "staging", "by": "alice"}, 10*time.Second)
	err = store.Update(ctx, "staging", func(st *sync.State) error {
		st.Control.Suspended, st.Control.Resumed = nil, &sync.Request{By: "bob", At: time.Now().UTC()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	logs.waitLine(t, "environment resumed", map[string]any{"env": "staging", "by": "bob"}, 30*time.Second)
}
