package rollout

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/sync"
)

// approve writes an approval of revision at stage into the state, as `ferry approve` does.
func (f *fixture) approve(by, revision, stage string) sync.Request {
	f.t.Helper()
	a := sync.Request{By: by, At: time.Now().UTC(), Revision: revision, Stage: stage}
	err := f.syncer.State().Update(f.t.Context(), f.env.Name, func(st *sync.State) error {
		st.Control.Approval = &a
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// runAsync runs the rollout in the background and returns its result's channel.
func runAsync(ctx context.Context, r *Rollout) <-chan error {
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return done
}

// awaiting returns an observer that closes the returned channel when a wait for approval begins.
func awaiting() (*observer, <-chan struct{}) {
	ch := make(chan struct{})
	obs := &observer{}
	obs.onAwaiting = func() {
		select {
		case <-ch:
		default:
			close(ch)
		}
	}
	return obs, ch
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(2 * time.Minute):
		t.Fatalf("no %s within 2m", what)
	}
}

// A canary with approval: manual soaks, then waits: the stable ConfigMap stays at v1 for as
// long as the test waits (3 × the soak and more) and the state says so; an approval of another
// revision or stage does not let it go on; the approval of this one does, and who approved is
// recorded in the progress.
func TestApprovalHoldsTheRolloutAfterTheSoak(t *testing.T) {
	f := newFixture(t, environments.Stage{Soak: time.Second, Approval: environments.ApprovalManual}, environments.Stage{})
	f.deploy("v1", rev1)
	obs, waiting := awaiting()
	done := runAsync(t.Context(), New(f.syncer, f.env, f.write("v2"), rev2, f.state().Progress, obs, 200*time.Millisecond))
	waitFor(t, waiting, "wait for approval")

	st := f.state()
	if got, want := st.Progress.Describe(st.Stage, time.Now()), "canary 1/2 waiting for approval"; got != want {
		t.Errorf("progress %q, want %q", got, want)
	}
	f.approve("mallory", rev1, "canary")
	f.approve("mallory", rev2, "all")
	time.Sleep(4 * time.Second) // 4 × the soak
	select {
	case err := <-done:
		t.Fatalf("the rollout ended without its approval: %v", err)
	default:
	}
	if v1, v2 := f.version("stable"), f.version("canary"); v1 != "v1" || v2 != "v2" {
		t.Errorf("while waiting, stable is at %s and canary at %s, want v1 and v2", v1, v2)
	}

	a := f.approve("alice", rev2, "canary")
	if err := <-done; err != nil {
		t.Fatalf("Run = %v after the approval", err)
	}
	if v := f.version("stable"); v != "v2" {
		t.Errorf("after the approval stable is at %s, want v2", v)
	}
	want := []string{"progress canary applying", "applied canary", "progress canary soaking", "soaked canary",
		"awaiting approval canary", "approved canary by alice", "progress all applying", "finished all"}
	if diff := cmp.Diff(want, obs.lines()); diff != "" {
		t.Errorf("observed (-want +got)\n%s", diff)
	}
	st = f.state()
	if st.Progress.Approved == nil || !st.Progress.Approved.At.Equal(a.At) || st.Progress.Approved.By != "alice" {
		t.Errorf("recorded approval %+v, want %+v", st.Progress.Approved, a)
	}
	if diff := cmp.Diff(&a, st.Control.Approval); diff != "" {
		t.Errorf("the rollout changed the operator's control (-want +got)\n%s", diff)
	}
	if got := sync.ApprovalOf(st); got == nil || got.By != "alice" || got.Waiting {
		t.Errorf("ApprovalOf the finished rollout = %+v, want approved by alice", got)
	}
}

// A rollout stopped while it waits (an agent restart) waits again when it resumes, without
// applying or soaking the canary again; once approved while it was stopped, it goes on at
// once.
func TestResumedRolloutWaitsForApproval(t *testing.T) {
	f := newFixture(t, environments.Stage{Soak: time.Second, Approval: environments.ApprovalManual}, environments.Stage{})
	f.deploy("v1", rev1)
	res := f.write("v2")
	ctx, stop := context.WithCancel(t.Context())
	obs, waiting := awaiting()
	done := runAsync(ctx, New(f.syncer, f.env, res, rev2, f.state().Progress, obs, 200*time.Millisecond))
	waitFor(t, waiting, "wait for approval")
	stop()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}

	ctx, stop = context.WithCancel(t.Context())
	second, waiting := awaiting()
	done = runAsync(ctx, New(f.syncer, f.env, res, rev2, f.state().Progress, second, 200*time.Millisecond))
	waitFor(t, waiting, "resumed wait for approval")
	time.Sleep(2 * time.Second)
	stop()
	if err := <-done; err != context.Canceled {
		t.Fatalf("resumed Run = %v, want context.Canceled (still waiting)", err)
	}
	if diff := cmp.Diff([]string{"awaiting approval canary"}, second.lines()); diff != "" {
		t.Errorf("resumed (-want +got)\n%s", diff)
	}
	if v := f.version("stable"); v != "v1" {
		t.Errorf("stable moved to %s without an approval", v)
	}

	f.approve("alice", rev2, "canary") // while no rollout runs
	third := &observer{}
	if err := New(f.syncer, f.env, res, rev2, f.state().Progress, third, 200*time.Millisecond).Run(t.Context()); err != nil {
		t.Fatalf("Run after the approval = %v", err)
	}
	want := []string{"awaiting approval canary", "approved canary by alice", "progress all applying", "finished all"}
	if diff := cmp.Diff(want, third.lines()); diff != "" {
		t.Errorf("resumed after the approval (-want +got)\n%s", diff)
	}
	if v := f.version("stable"); v != "v2" {
		t.Errorf("stable is at %s after the approval, want v2", v)
	}
}

// An approval of this revision and stage that is in the state before the wait begins was for
// an earlier rollout of the same revision (a pin moved back, a retry): it does not approve
// the new one.
func TestStaleApprovalDoesNotApprove(t *testing.T) {
	f := newFixture(t, environments.Stage{Soak: time.Second, Approval: environments.ApprovalManual}, environments.Stage{})
	f.deploy("v1", rev1)
	f.approve("alice", rev2, "canary")
	obs, waiting := awaiting()
	done := runAsync(t.Context(), New(f.syncer, f.env, f.write("v2"), rev2, f.state().Progress, obs, 200*time.Millisecond))
	waitFor(t, waiting, "wait for approval")
	time.Sleep(2 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("an earlier approval let the rollout go on: Run = %v; observed %v", err, obs.lines())
	default:
	}
	f.approve("bob", rev2, "canary")
	if err := <-done; err != nil {
		t.Fatalf("Run = %v after the new approval", err)
	}
	if p := f.state().Progress; p.Approved == nil || p.Approved.By != "bob" {
		t.Errorf("recorded approval %+v, want bob's", p.Approved)
	}
}

// approval: manual on the last stage waits after everything is applied (and its verification
// soak): the rollout finishes, and the state stops showing a stage, only once approved.
func TestLastStageApprovalDelaysTheSuccess(t *testing.T) {
	f := newFixture(t, environments.Stage{Soak: time.Second}, environments.Stage{Soak: time.Second, Approval: environments.ApprovalManual})
	f.deploy("v1", rev1)
	obs, waiting := awaiting()
	done := runAsync(t.Context(), New(f.syncer, f.env, f.write("v2"), rev2, f.state().Progress, obs, 200*time.Millisecond))
	waitFor(t, waiting, "wait for approval")
	if v := f.version("stable"); v != "v2" {
		t.Errorf("stable is at %s while the last stage waits, want v2 (everything applied)", v)
	}
	st := f.state()
	if got, want := st.Progress.Describe(st.Stage, time.Now()), "all 2/2 waiting for approval"; got != want {
		t.Errorf("progress %q, want %q", got, want)
	}
	if st.AppliedRevision != rev2 {
		t.Errorf("applied revision %s, want %s", st.AppliedRevision, rev2)
	}
	f.approve("alice", rev2, "all")
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	want := []string{"progress canary applying", "applied canary", "progress canary soaking", "soaked canary",
		"progress all applying", "progress all soaking", "awaiting approval all", "approved all by alice", "finished all"}
	if diff := cmp.Diff(want, obs.lines()); diff != "" {
		t.Errorf("observed (-want +got)\n%s", diff)
	}
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return f.state().Progress.Revision == "", nil
	})
	if err != nil {
		t.Errorf("the state still shows a rollout: %+v", f.state().Progress)
	}
}
