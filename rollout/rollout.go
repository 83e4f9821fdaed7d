package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// Observer is told what a rollout does, from the goroutine that runs it, with the context Run
// was given. The agent logs, counts, records Events and commit statuses and opens revert pull
// requests; the CLI logs.
type Observer interface {
	// Progress is called when stage k entered phase (applying or soaking).
	Progress(ctx context.Context, k int, stage environments.Stage, phase string)
	// NotSaved is called when the rollout's progress could not be saved in the state
	// ConfigMap (the rollout goes on; a restart would resume from the last saved progress).
	NotSaved(ctx context.Context, stage environments.Stage, err error)
	// StageApplied is called when a stage before the last applied its objects and they are
	// healthy (rep is that apply's report).
	StageApplied(ctx context.Context, stage environments.Stage, rep *sync.Report)
	// Evaluated is called after each evaluation of an analysis check of a soaking stage, once
	// its result is saved.
	Evaluated(ctx context.Context, stage environments.Stage, r CheckResult)
	// StageSoaked is called when a stage before the last soaked without a regression, and
	// every analysis check passed.
	StageSoaked(ctx context.Context, stage environments.Stage)
	// AwaitingApproval is called when stage k (approval: manual), soaked, begins to wait for
	// `ferry approve`, once its wait is saved; a restarted rollout that resumes the wait calls
	// it again.
	AwaitingApproval(ctx context.Context, k int, stage environments.Stage)
	// Approved is called when the approval a let the rollout go on past stage, once that is
	// saved (in the progress: the rollout never changes the state's Control).
	Approved(ctx context.Context, stage environments.Stage, a sync.Request)
	// Halted is called when the rollout stops at a stage, before the halt is saved.
	Halted(ctx context.Context, h *Halt)
	// ProposeRevert is called after a halt when onFailure is revert and no revert was proposed
	// for this revision yet.
	ProposeRevert(ctx context.Context)
	// Finished is called when the last stage applied everything, pruned, it is healthy, and
	// (when it has a soak) it soaked and passed its analysis.
	Finished(ctx context.Context, stage environments.Stage, rep *sync.Report)
}

// Halt is why a rollout stopped. It is the error Run returns for a halted rollout.
type Halt struct {
	Env, Revision string
	// Stage is the stage that failed, at index StageIndex.
	Stage      string
	StageIndex int
	// Object names the object that is not healthy ("" when the reason is not one object's).
	Object string
	// Check names the analysis check that failed the stage ("" when none did); Value is its
	// last value (nil without a sample), Min and Max its bounds (nil: none).
	Check    string
	Value    *float64
	Min, Max *float64
	// Reason says what failed.
	Reason string
	// BeforeApply is true when the rollout halted before applying anything.
	BeforeApply bool
}

// Error says where and why the rollout halted.
func (h *Halt) Error() string {
	return fmt.Sprintf("rollout of %s halted at stage %s: %s", h.Revision, h.Stage, h.Reason)
}

// Rollout is one staged rollout of an environment to a revision.
type Rollout struct {
	syncer   *sync.Syncer
	env      *environments.Environment
	res      render.Result
	revision string
	obs      Observer
	poll     time.Duration // how often a soaking stage is checked
	start    int           // first stage to run
	resume   bool          // the first stage is already applied and soaking since resumeAt
	resumeAt time.Time
	waiting  bool      // the first stage is already applied, soaked, and waits for approval
	stale    time.Time // when the approval was given that does not count for this wait (sync.Progress.StaleApproval)
	// analysis is the current stage's checks' states, saved in the progress after each
	// evaluation (and taken from it on resume).
	analysis []sync.CheckState
}

// New returns the rollout of res, env rendered at revision, resuming from p (the state's
// progress) when p is a rollout of the same revision: a soaking stage goes on soaking since
// it began, its analysis checks with the counts they had; a stage waiting for approval goes
// on waiting (or on, when the approval came meanwhile). A soaking stage is checked, and a
// waiting one looks for its approval, every poll.
func New(s *sync.Syncer, env *environments.Environment, res render.Result, revision string, p sync.Progress, obs Observer, poll time.Duration) *Rollout {
	r := &Rollout{syncer: s, env: env, res: res, revision: revision, obs: obs, poll: poll}
	if p.Revision == revision && p.StageIndex < len(env.Rollout.Stages) {
		r.start = p.StageIndex
		r.waiting = p.Phase == sync.PhaseWaiting
		r.resume, r.resumeAt = p.Phase == sync.PhaseSoaking || r.waiting, p.Since
		if r.resume {
			r.analysis, r.stale = p.Analysis, p.StaleApproval
		}
	}
	return r
}

// Run rolls out stage by stage until done (nil), halted (a *Halt), or cancelled (ctx's error:
// a newer revision, or the end of the process). A stage that CheckStages refuses halts the
// rollout at that stage before anything is applied.
func (r *Rollout) Run(ctx context.Context) error {
	if se, ok := AsStageError(CheckStages(r.env, r.res.Objects)); ok {
		return r.halt(ctx, se.Index, &Halt{Reason: se.Reason(), BeforeApply: true}, nil) // before applying anything: no big bang
	}
	stages := r.env.Rollout.Stages
	for k := r.start; k < len(stages); k++ {
		var err error
		if k == len(stages)-1 {
			err = r.last(ctx, k)
		} else {
			err = r.stage(ctx, k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// stage applies (unless resuming), waits for and soaks stage k (unless it soaked already),
// then waits for its approval when it needs one. It returns a *Halt when the stage failed,
// ctx's error when cancelled.
func (r *Rollout) stage(ctx context.Context, k int) error {
	st := r.env.Rollout.Stages[k]
	objs := Select(r.res.Objects, r.env.Rollout.Stages[:k+1])
	soakFrom := r.resumeAt
	if !r.resuming(k) {
		if err := r.applyStage(ctx, k, objs); err != nil {
			return err
		}
		soakFrom = time.Now()
		r.progress(ctx, k, sync.PhaseSoaking, soakFrom)
	}
	if !r.soaked(k) {
		if h := r.soak(ctx, k, objs, soakFrom); h != nil {
			return r.halt(ctx, k, h, objs)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.obs.StageSoaked(ctx, st)
	}
	return r.approval(ctx, k)
}

// applyStage applies objs, stage k's, and waits until they are healthy. It returns a *Halt
// when they did not become healthy within the stage timeout, ctx's error when cancelled.
func (r *Rollout) applyStage(ctx context.Context, k int, objs []*unstructured.Unstructured) error {
	r.progress(ctx, k, sync.PhaseApplying, time.Now())
	rep, err := r.syncer.ApplyStage(ctx, r.env, objs, r.revision)
	if err == nil {
		err = r.syncer.WaitHealthyWithin(ctx, rep, r.env.Rollout.Timeout)
	}
	if err == nil && rep.Health != sync.Healthy {
		err = r.settle(ctx, rep, objs)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return r.halt(ctx, k, &Halt{Reason: err.Error()}, objs)
	}
	r.obs.StageApplied(ctx, r.env.Rollout.Stages[k], rep)
	return nil
}

// last applies everything, prunes, and waits; then, when the last stage has a soak, it soaks
// and evaluates its analysis (a verification after everything moved), and when it has
// approval: manual, it waits for the approval; then the rollout is done. Resuming that soak
// or wait applies again (nothing changes unless the cluster drifted) for the report.
func (r *Rollout) last(ctx context.Context, k int) error {
	st := r.env.Rollout.Stages[k]
	resumed := r.resuming(k)
	if !resumed {
		r.progress(ctx, k, sync.PhaseApplying, time.Now())
	}
	rep, err := r.syncer.Apply(ctx, r.env, r.res, r.revision)
	if err == nil && !rep.NoOp {
		err = r.syncer.WaitHealthyWithin(ctx, rep, r.env.Rollout.Timeout)
	}
	if err == nil && rep.Health != sync.Healthy && !rep.NoOp {
		err = r.settle(ctx, rep, r.res.Objects)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return r.halt(ctx, k, &Halt{Reason: err.Error()}, r.res.Objects)
	}
	if st.Soak > 0 && !r.soaked(k) {
		if err := r.verify(ctx, k, resumed); err != nil {
			return err
		}
	}
	if err := r.approval(ctx, k); err != nil {
		return err
	}
	r.save(ctx, st, func(s *sync.State) {
		s.Stage, s.Progress.Revision, s.Progress.Phase = "", "", ""
		if rep.Health == sync.Healthy {
			s.Health = sync.Healthy // settle found it so
		}
	})
	r.obs.Finished(ctx, st, rep)
	return nil
}

// verify soaks the last stage k (since it was resumed, or from now): it returns a *Halt when
// an object regressed or a check failed, ctx's error when cancelled.
func (r *Rollout) verify(ctx context.Context, k int, resumed bool) error {
	soakFrom := r.resumeAt
	if !resumed {
		soakFrom = time.Now()
		r.progress(ctx, k, sync.PhaseSoaking, soakFrom)
	}
	if h := r.soak(ctx, k, r.res.Objects, soakFrom); h != nil {
		return r.halt(ctx, k, h, r.res.Objects)
	}
	return ctx.Err()
}

// resuming reports whether stage k is the one a restarted rollout resumes soaking or waiting.
func (r *Rollout) resuming(k int) bool { return k == r.start && r.resume }

// soaked reports whether stage k is the one a restarted rollout resumes waiting for approval.
func (r *Rollout) soaked(k int) bool { return k == r.start && r.waiting }

// settle waits, within the stage timeout, until objs are all Current, when the apply left
// nothing to wait for (every object unchanged) and the recorded health is not Healthy: after a
// lost state, or a halt, the recorded health says nothing about objs. It sets rep.Health to
// Healthy, or returns why not (ctx's error when cancelled).
func (r *Rollout) settle(ctx context.Context, rep *sync.Report, objs []*unstructured.Unstructured) error {
	deadline := time.Now().Add(r.env.Rollout.Timeout)
	for {
		u, err := r.syncer.Unhealthy(ctx, objs)
		if err != nil {
			return err
		}
		if u == nil {
			rep.Health = sync.Healthy
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("not healthy after %s", r.env.Rollout.Timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.poll):
		}
	}
}

// progress records that stage k entered phase since since, and tells the Observer. A stage
// that starts applying starts its analysis afresh.
func (r *Rollout) progress(ctx context.Context, k int, phase string, since time.Time) {
	r.saveProgress(ctx, k, phase, since)
	r.obs.Progress(ctx, k, r.env.Rollout.Stages[k], phase)
}

// saveProgress saves that stage k entered phase since since. Entering the wait for approval,
// it records as stale an approval of this revision and stage that is there already (see
// sync.Progress.StaleApproval).
func (r *Rollout) saveProgress(ctx context.Context, k int, phase string, since time.Time) {
	st := r.env.Rollout.Stages[k]
	if phase == sync.PhaseApplying {
		r.analysis = nil
	}
	r.stale = time.Time{}
	r.save(ctx, st, func(s *sync.State) {
		s.Stage = st.Name
		s.Progress.Revision, s.Progress.StageIndex, s.Progress.StageCount = r.revision, k, len(r.env.Rollout.Stages)
		s.Progress.Phase, s.Progress.Since, s.Progress.Soak = phase, since, st.Soak
		s.Progress.Analysis = r.analysis
		if a := s.Control.Approval; phase == sync.PhaseWaiting && sync.Approves(a, r.revision, st.Name, time.Time{}) {
			r.stale = a.At
		}
		s.Progress.StaleApproval = r.stale
	})
}

// save updates the state's progress, and tells the Observer when that failed (unless ctx
// ended: a cancelled rollout is not a failure to report).
func (r *Rollout) save(ctx context.Context, st environments.Stage, update func(*sync.State)) {
	if err := r.syncer.SaveProgress(ctx, r.env.Name, update); err != nil && ctx.Err() == nil {
		r.obs.NotSaved(ctx, st, fmt.Errorf("state of %s: %w", r.env.Name, err))
	}
}

// halt stops the rollout at stage k for h's reason (and check): later stages are not applied,
// the revision is not retried until the branch moves, and with onFailure: revert a revert pull
// request is proposed once. Unless a check failed, an object of objs that is not healthy is
// named as the reason. It returns the *Halt, complete.
func (r *Rollout) halt(ctx context.Context, k int, h *Halt, objs []*unstructured.Unstructured) error {
	st := r.env.Rollout.Stages[k]
	h.Env, h.Revision, h.Stage, h.StageIndex = r.env.Name, r.revision, st.Name, k
	if h.Check == "" {
		if u, err := r.syncer.Unhealthy(ctx, objs); err == nil && u != nil {
			h.Object, h.Reason = u.Object.String(), u.String()
		}
	}
	// The halt is saved before the Observer hears of it: whoever reads the state after the
	// halt's log line or history record finds the rollout halted, never still applying.
	proposed := false
	r.save(ctx, st, func(s *sync.State) {
		proposed = s.Progress.HaltedRevision == r.revision && s.Progress.RevertProposed
		s.Stage, s.Progress.Phase = st.Name, sync.PhaseHalted
		s.Progress.Revision, s.Progress.HaltedRevision, s.Progress.HaltReason = "", r.revision, h.Reason
		s.Progress.StageIndex, s.Progress.StageCount = k, len(r.env.Rollout.Stages)
		s.Progress.RevertProposed, s.Progress.HaltedBeforeApply = proposed, h.BeforeApply
		s.Health = sync.Degraded
	})
	r.obs.Halted(ctx, h)
	if r.env.Rollout.OnFailure == environments.Revert && !proposed {
		r.obs.ProposeRevert(ctx)
	}
	return h
}

// IsHalt reports whether err is a halted rollout, and returns it.
func IsHalt(err error) (*Halt, bool) {
	var h *Halt
	ok := errors.As(err, &h)
	return h, ok
}
