package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	// Progress is called when stage k entered phase (applying or soaking); err is set when the
	// progress could not be saved in the state ConfigMap (the rollout goes on).
	Progress(ctx context.Context, k int, stage environments.Stage, phase string, err error)
	// StageApplied is called when a stage before the last applied its objects and they are
	// healthy (rep is that apply's report).
	StageApplied(ctx context.Context, stage environments.Stage, rep *sync.Report)
	// StageSoaked is called when a stage before the last soaked without a regression.
	StageSoaked(ctx context.Context, stage environments.Stage)
	// Halted is called when the rollout stops at a stage, before the halt is saved.
	Halted(ctx context.Context, h *Halt)
	// ProposeRevert is called after a halt when onFailure is revert and no revert was proposed
	// for this revision yet.
	ProposeRevert(ctx context.Context)
	// Finished is called when the last stage applied everything, pruned, and it is healthy.
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
	// Reason says what failed.
	Reason string
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
}

// New returns the rollout of res, env rendered at revision, resuming from p (the state's
// progress) when p is a rollout of the same revision. A soaking stage is checked every poll.
func New(s *sync.Syncer, env *environments.Environment, res render.Result, revision string, p sync.Progress, obs Observer, poll time.Duration) *Rollout {
	r := &Rollout{syncer: s, env: env, res: res, revision: revision, obs: obs, poll: poll}
	if p.Revision == revision && p.StageIndex < len(env.Rollout.Stages) {
		r.start = p.StageIndex
		r.resume, r.resumeAt = p.Phase == sync.PhaseSoaking, p.Since
	}
	return r
}

// Run rolls out stage by stage until done (nil), halted (a *Halt), or cancelled (ctx's error:
// a newer revision, or the end of the process).
func (r *Rollout) Run(ctx context.Context) error {
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

// stage applies (unless resuming), waits for and soaks stage k. It returns a *Halt when the
// stage failed, ctx's error when cancelled.
func (r *Rollout) stage(ctx context.Context, k int) error {
	st := r.env.Rollout.Stages[k]
	objs := Select(r.res.Objects, r.env.Rollout.Stages[:k+1])
	soakFrom := r.resumeAt
	if !(k == r.start && r.resume) {
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
			return r.halt(ctx, k, err.Error(), objs)
		}
		r.obs.StageApplied(ctx, st, rep)
		soakFrom = time.Now()
		r.progress(ctx, k, sync.PhaseSoaking, soakFrom)
	}
	if reason := r.soak(ctx, objs, soakFrom.Add(st.Soak)); reason != "" {
		return r.halt(ctx, k, reason, objs)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.obs.StageSoaked(ctx, st)
	return nil
}

// last applies everything, prunes, and waits; then the rollout is done.
func (r *Rollout) last(ctx context.Context, k int) error {
	r.progress(ctx, k, sync.PhaseApplying, time.Now())
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
		return r.halt(ctx, k, err.Error(), r.res.Objects)
	}
	_ = r.syncer.SaveProgress(ctx, r.env.Name, func(s *sync.State) {
		s.Stage, s.Progress.Revision, s.Progress.Phase = "", "", ""
		if rep.Health == sync.Healthy {
			s.Health = sync.Healthy // settle found it so
		}
	})
	r.obs.Finished(ctx, r.env.Rollout.Stages[k], rep)
	return nil
}

// settle waits, within the stage timeout, until objs are all Current, when the apply left
// nothing to wait for (every object unchanged) and the recorded health is not Healthy: after a
// lost state, or a halt, the recorded health says nothing about objs. It sets rep.Health to
// Healthy, or returns why not (ctx's error when cancelled).
func (r *Rollout) settle(ctx context.Context, rep *sync.Report, objs []*unstructured.Unstructured) error {
	deadline := time.Now().Add(r.env.Rollout.Timeout)
	for {
		reason, err := r.syncer.Unhealthy(ctx, objs)
		if err != nil {
			return err
		}
		if reason == "" {
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

// soak watches objs until deadline and returns why one of them regressed ("" when none did or
// ctx ended).
func (r *Rollout) soak(ctx context.Context, objs []*unstructured.Unstructured, deadline time.Time) string {
	tick := time.NewTicker(r.poll)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ""
		case <-tick.C:
		}
		reason, err := r.syncer.Unhealthy(ctx, objs)
		if err != nil && ctx.Err() == nil {
			return err.Error()
		}
		if reason != "" {
			return "regression while soaking: " + reason
		}
	}
	return ""
}

func (r *Rollout) progress(ctx context.Context, k int, phase string, since time.Time) {
	st := r.env.Rollout.Stages[k]
	err := r.syncer.SaveProgress(ctx, r.env.Name, func(s *sync.State) {
		s.Stage = st.Name
		s.Progress.Revision, s.Progress.StageIndex, s.Progress.StageCount = r.revision, k, len(r.env.Rollout.Stages)
		s.Progress.Phase, s.Progress.Since, s.Progress.Soak = phase, since, st.Soak
	})
	if ctx.Err() != nil {
		err = nil
	}
	r.obs.Progress(ctx, k, st, phase, err)
}

// halt stops the rollout at stage k: later stages are not applied, the revision is not retried
// until the branch moves, and with onFailure: revert a revert pull request is proposed once.
// It returns the *Halt.
func (r *Rollout) halt(ctx context.Context, k int, reason string, objs []*unstructured.Unstructured) error {
	st := r.env.Rollout.Stages[k]
	h := &Halt{Env: r.env.Name, Revision: r.revision, Stage: st.Name, StageIndex: k, Reason: reason}
	if why, err := r.syncer.Unhealthy(ctx, objs); err == nil && why != "" {
		h.Object, h.Reason = objectOf(why), why
	}
	r.obs.Halted(ctx, h)
	proposed := false
	_ = r.syncer.SaveProgress(ctx, r.env.Name, func(s *sync.State) {
		proposed = s.Progress.HaltedRevision == r.revision && s.Progress.RevertProposed
		s.Stage, s.Progress.Phase = st.Name, sync.PhaseHalted
		s.Progress.Revision, s.Progress.HaltedRevision, s.Progress.HaltReason = "", r.revision, h.Reason
		s.Progress.StageIndex, s.Progress.StageCount = k, len(r.env.Rollout.Stages)
		s.Progress.RevertProposed = proposed
		s.Health = sync.Degraded
	})
	if r.env.Rollout.OnFailure == environments.Revert && !proposed {
		r.obs.ProposeRevert(ctx)
	}
	return h
}

// objectOf extracts "Kind ns/name" from an Unhealthy reason ("Kind ns/name is …").
func objectOf(reason string) string {
	if i := strings.Index(reason, " is "); i >= 0 {
		return reason[:i]
	}
	return ""
}

// IsHalt reports whether err is a halted rollout, and returns it.
func IsHalt(err error) (*Halt, bool) {
	var h *Halt
	ok := errors.As(err, &h)
	return h, ok
}
