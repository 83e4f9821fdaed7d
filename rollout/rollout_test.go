package rollout

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/sync"
)

const (
	rev1 = "1111111111111111111111111111111111111111"
	rev2 = "2222222222222222222222222222222222222222"
)

// smokeAnalysis is an analysis of one webhook check, posting to url every second.
func smokeAnalysis(url string, failureLimit int) *environments.Analysis {
	return &environments.Analysis{Interval: time.Second, FailureLimit: failureLimit,
		Checks: []environments.Check{webhookCheck(url, 30*time.Second)}}
}

// ignoreAt leaves out when a check was evaluated.
var ignoreAt = cmpopts.IgnoreFields(sync.CheckState{}, "At")

// A canary whose webhook check answers 500 twice in a row halts the rollout at the canary:
// the stable ConfigMap keeps its revision, the state says why and what the check saw.
func TestWebhookCheckHaltsTheCanary(t *testing.T) {
	hook, srv := newHook(t, http.StatusInternalServerError, false)
	f := newFixture(t, environments.Stage{Soak: 5 * time.Minute, Analysis: smokeAnalysis(srv.URL+"/run?token=s3cret", 2)}, environments.Stage{})
	f.deploy("v1", rev1)
	res := f.write("v2")
	obs := &observer{}
	err := New(f.syncer, f.env, res, rev2, f.state().Progress, obs, 200*time.Millisecond).Run(t.Context())

	h, ok := IsHalt(err)
	if !ok {
		t.Fatalf("Run = %v, want a halt", err)
	}
	want := &Halt{Env: f.env.Name, Revision: rev2, Stage: "canary", Check: "smoke", Reason: "check smoke failed 2 times in a row: webhook answered 500"}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("halt (-want +got)\n%s", diff)
	}
	wantCalls := []string{"progress canary applying", "applied canary", "progress canary soaking",
		"evaluated canary smoke fail: webhook answered 500", "halted canary"}
	if diff := cmp.Diff(wantCalls, obs.lines()); diff != "" {
		t.Errorf("observed (-want +got)\n%s", diff)
	}
	if got := len(hook.got); got != 2 {
		t.Errorf("the webhook was called %d times, want 2", got)
	}
	if v1, v2 := f.version("stable"), f.version("canary"); v1 != "v1" || v2 != "v2" {
		t.Errorf("stable is at %s and canary at %s, want v1 and v2", v1, v2)
	}
	p := f.state().Progress
	if p.Phase != sync.PhaseHalted || p.HaltedRevision != rev2 || p.HaltReason != want.Reason {
		t.Errorf("progress = %+v, want halted at %s: %s", p, rev2, want.Reason)
	}
	wantState := []sync.CheckState{{Name: "smoke", Evaluations: 2, Failures: 2, Result: "fail", Message: "webhook answered 500"}}
	if diff := cmp.Diff(wantState, p.Analysis, ignoreAt); diff != "" {
		t.Errorf("saved analysis, kept after the halt (-want +got)\n%s", diff)
	}
}

// An agent that stops during the canary's analysis and starts again resumes the soak and the
// check's count of failures: the second failure, not a third, halts.
func TestResumedRolloutKeepsTheCheckCounters(t *testing.T) {
	hook, srv := newHook(t, http.StatusInternalServerError, false)
	f := newFixture(t, environments.Stage{Soak: 5 * time.Minute, Analysis: smokeAnalysis(srv.URL+"/run", 2)}, environments.Stage{})
	f.deploy("v1", rev1)
	res := f.write("v2")

	ctx, stop := context.WithCancel(t.Context())
	first := &observer{onEvaluated: func(CheckResult) { stop() }} // the agent stops after one evaluation
	err := New(f.syncer, f.env, res, rev2, f.state().Progress, first, 200*time.Millisecond).Run(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("first Run = %v, want context.Canceled", err)
	}
	saved := f.state().Progress
	wantState := []sync.CheckState{{Name: "smoke", Evaluations: 1, Failures: 1, Result: "fail", Message: "webhook answered 500"}}
	if diff := cmp.Diff(wantState, saved.Analysis, ignoreAt); diff != "" {
		t.Fatalf("analysis saved by the stopped rollout (-want +got)\n%s", diff)
	}
	if saved.Phase != sync.PhaseSoaking || saved.Revision != rev2 {
		t.Fatalf("progress saved by the stopped rollout = %+v, want soaking %s", saved, rev2)
	}

	second := &observer{}
	err = New(f.syncer, f.env, res, rev2, saved, second, 200*time.Millisecond).Run(t.Context())
	if h, ok := IsHalt(err); !ok || h.Check != "smoke" || h.Reason != "check smoke failed 2 times in a row: webhook answered 500" {
		t.Fatalf("resumed Run = %v, want a halt by smoke after 2 failures", err)
	}
	if diff := cmp.Diff([]string{"evaluated canary smoke fail: webhook answered 500", "halted canary"}, second.lines()); diff != "" {
		t.Errorf("the resumed rollout (no apply again) observed (-want +got)\n%s", diff)
	}
	if got := len(hook.got); got != 2 {
		t.Errorf("the webhook was called %d times in all, want 2", got)
	}
	p := f.state().Progress
	wantState[0].Evaluations, wantState[0].Failures = 2, 2
	if diff := cmp.Diff(wantState, p.Analysis, ignoreAt); diff != "" {
		t.Errorf("analysis after the resumed rollout (-want +got)\n%s", diff)
	}
	if !p.Since.Equal(saved.Since) {
		t.Errorf("the resumed soak began at %s, want %s (when the first one did)", p.Since, saved.Since)
	}
}

// The last stage's soak verifies the rollout after everything moved: the rollout finishes only
// after its check passed; when the check fails, it halts at the last stage, with everything at
// the new revision, and proposes the revert.
func TestLastStageVerification(t *testing.T) {
	for _, tt := range []struct {
		name string
		want []string // what is observed when the verification passes; nil: it fails
	}{
		{"passes", []string{"progress canary applying", "applied canary", "progress canary soaking",
			"evaluated canary smoke pass", "soaked canary", "progress all applying", "progress all soaking",
			"evaluated all smoke pass", "finished all"}},
		{"fails", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, okSrv := newHook(t, http.StatusOK, false)
			_, failSrv := newHook(t, http.StatusServiceUnavailable, false)
			verify := okSrv.URL
			if tt.want == nil {
				verify = failSrv.URL
			}
			f := newFixture(t, environments.Stage{Soak: 2 * time.Second, Analysis: smokeAnalysis(okSrv.URL, 1)},
				environments.Stage{Soak: 2 * time.Second, Analysis: smokeAnalysis(verify, 1)})
			f.env.Rollout.OnFailure = environments.Revert
			f.deploy("v1", rev1)
			obs := &observer{}
			err := New(f.syncer, f.env, f.write("v2"), rev2, f.state().Progress, obs, 200*time.Millisecond).Run(t.Context())
			if v1, v2 := f.version("stable"), f.version("canary"); v1 != "v2" || v2 != "v2" {
				t.Errorf("stable is at %s and canary at %s, want both at v2", v1, v2)
			}
			p := f.state().Progress
			if tt.want != nil {
				if err != nil {
					t.Fatalf("Run = %v", err)
				}
				if diff := cmp.Diff(tt.want, obs.lines()); diff != "" {
					t.Errorf("observed (-want +got)\n%s", diff)
				}
				if p.Revision != "" || p.Phase != "" {
					t.Errorf("progress after the rollout = %+v, want none", p)
				}
				return
			}
			h, ok := IsHalt(err)
			if !ok || h.Stage != "all" || h.StageIndex != 1 || h.Reason != "check smoke failed: webhook answered 503" {
				t.Fatalf("Run = %v, want a halt at all by smoke", err)
			}
			wantTail := []string{"progress all soaking", "evaluated all smoke fail: webhook answered 503", "halted all", "propose revert"}
			if got := obs.lines(); len(got) < len(wantTail) || !cmp.Equal(wantTail, got[len(got)-len(wantTail):]) {
				t.Errorf("observed %q, want it to end with %q", got, wantTail)
			}
			if p.Phase != sync.PhaseHalted || p.HaltedRevision != rev2 || p.StageIndex != 1 {
				t.Errorf("progress = %+v, want halted at stage 2 of %s", p, rev2)
			}
		})
	}
}
