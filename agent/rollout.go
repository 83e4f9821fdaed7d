package agent

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// rollout is one staged rollout of an environment to a revision (DESIGN.md's rollout.stages):
// stage k applies the objects the selectors of stages 1..k match, waits until they are healthy,
// and soaks; the last stage applies everything and prunes. Progress is saved in the state
// ConfigMap, so a restarted agent resumes where it was.
type rollout struct {
	w        *worker
	env      *environments.Environment
	res      render.Result
	revision string
	start    int  // first stage to run
	resume   bool // the first stage is already applied and soaking since resumeAt
	resumeAt time.Time
}

// needsRollout reports whether env rolls out in stages and res differs from what is applied.
// The first sync of an environment applies everything at once.
func needsRollout(env *environments.Environment, st *sync.State, res render.Result) bool {
	return env.Rollout != nil && len(env.Rollout.Stages) > 1 && st.AppliedRevision != "" && st.AppliedDigest != res.Digest
}

func newRollout(w *worker, env *environments.Environment, res render.Result, revision string, p sync.Progress) *rollout {
	r := &rollout{w: w, env: env, res: res, revision: revision}
	if p.Revision == revision && p.StageIndex < len(env.Rollout.Stages) {
		r.start = p.StageIndex
		r.resume, r.resumeAt = p.Phase == sync.PhaseSoaking, p.Since
	}
	return r
}

// run rolls out stage by stage until done, halted, or cancelled (a newer revision).
func (r *rollout) run(ctx context.Context) {
	defer releaseMemory()
	stages := r.env.Rollout.Stages
	for k := r.start; k < len(stages); k++ {
		if k == len(stages)-1 {
			r.last(ctx, k)
			return
		}
		if !r.stage(ctx, k) {
			return
		}
	}
}

// stage applies (unless resuming), waits for and soaks stage k. It returns false when the
// rollout must stop (halted or cancelled).
func (r *rollout) stage(ctx context.Context, k int) bool {
	st := r.env.Rollout.Stages[k]
	objs := selectStage(r.res.Objects, r.env.Rollout.Stages[:k+1])
	soakFrom := r.resumeAt
	if !(k == r.start && r.resume) {
		r.progress(ctx, k, sync.PhaseApplying, time.Now())
		rep, err := r.w.t.syncer.ApplyStage(ctx, r.env, objs, r.revision)
		if err == nil {
			err = r.w.t.syncer.WaitHealthyWithin(ctx, rep, r.env.Rollout.Timeout)
		}
		if ctx.Err() != nil {
			return false
		}
		if err == nil && rep.Health != sync.Healthy {
			err = fmt.Errorf("not healthy after %s", r.env.Rollout.Timeout)
		}
		if err != nil {
			r.halt(ctx, k, err.Error(), objs)
			return false
		}
		LogSync(r.w.t.a.log, r.env.Name, r.revision, st.Name, rep, nil)
		soakFrom = time.Now()
		r.progress(ctx, k, sync.PhaseSoaking, soakFrom)
	}
	if reason := r.soak(ctx, objs, soakFrom.Add(st.Soak)); reason != "" {
		r.halt(ctx, k, reason, objs)
		return false
	}
	if ctx.Err() != nil {
		return false
	}
	r.w.t.a.log.Info("stage soaked", "env", r.env.Name, "revision", short(r.revision), "stage", st.Name, "soak", st.Soak.String())
	return true
}

// last applies everything, prunes, and waits; then the rollout is done.
func (r *rollout) last(ctx context.Context, k int) {
	r.progress(ctx, k, sync.PhaseApplying, time.Now())
	syncer := r.w.t.syncer
	rep, err := syncer.Apply(ctx, r.env, r.res, r.revision)
	if err == nil && !rep.NoOp {
		err = syncer.WaitHealthyWithin(ctx, rep, r.env.Rollout.Timeout)
	}
	if ctx.Err() != nil {
		return
	}
	if err == nil && rep.Health != sync.Healthy && !rep.NoOp {
		err = fmt.Errorf("not healthy after %s", r.env.Rollout.Timeout)
	}
	if err != nil {
		r.halt(ctx, k, err.Error(), r.res.Objects)
		return
	}
	_ = syncer.SaveProgress(ctx, r.env.Name, func(s *sync.State) { s.Stage, s.Progress.Revision, s.Progress.Phase = "", "", "" })
	LogSync(r.w.t.a.log, r.env.Name, r.revision, r.env.Rollout.Stages[k].Name, rep, nil)
	r.w.record(rep, nil)
}

// soak watches objs until deadline and returns why one of them regressed ("" when none did or
// ctx ended).
func (r *rollout) soak(ctx context.Context, objs []*unstructured.Unstructured, deadline time.Time) string {
	tick := time.NewTicker(r.w.t.a.opts.Sync.PollInterval)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ""
		case <-tick.C:
		}
		reason, err := r.w.t.syncer.Unhealthy(ctx, objs)
		if err != nil && ctx.Err() == nil {
			return err.Error()
		}
		if reason != "" {
			return "regression while soaking: " + reason
		}
	}
	return ""
}

func (r *rollout) progress(ctx context.Context, k int, phase string, since time.Time) {
	st := r.env.Rollout.Stages[k]
	err := r.w.t.syncer.SaveProgress(ctx, r.env.Name, func(s *sync.State) {
		s.Stage = st.Name
		s.Progress.Revision, s.Progress.StageIndex, s.Progress.StageCount = r.revision, k, len(r.env.Rollout.Stages)
		s.Progress.Phase, s.Progress.Since, s.Progress.Soak = phase, since, st.Soak
	})
	if err != nil && ctx.Err() == nil {
		r.w.t.a.log.Warn("cannot record rollout progress", "env", r.env.Name, "error", err.Error())
	}
	r.w.event("Normal", "StageStarted", fmt.Sprintf("%s %s at %s", st.Name, phase, short(r.revision)))
}

// halt stops the rollout at stage k: later stages are not applied, the revision is not retried
// until the branch moves, and with onFailure: revert a revert pull request is opened once.
func (r *rollout) halt(ctx context.Context, k int, reason string, objs []*unstructured.Unstructured) {
	a, st := r.w.t.a, r.env.Rollout.Stages[k]
	object := ""
	if why, err := r.w.t.syncer.Unhealthy(ctx, objs); err == nil && why != "" {
		object, reason = objectOf(why), why
	}
	a.log.Error("rollout halted", "env", r.env.Name, "revision", short(r.revision), "stage", st.Name, "object", object, "reason", reason)
	a.metrics.halted.WithLabelValues(r.env.Name, st.Name).Inc()
	r.w.event("Warning", "RolloutHalted", fmt.Sprintf("stage %s of %s: %s", st.Name, short(r.revision), reason))
	r.w.setStatus(r.revision, "failure", "rollout halted at "+st.Name+": "+reason)
	proposed := false
	_ = r.w.t.syncer.SaveProgress(ctx, r.env.Name, func(s *sync.State) {
		proposed = s.Progress.HaltedRevision == r.revision && s.Progress.RevertProposed
		s.Stage, s.Progress.Phase = st.Name, sync.PhaseHalted
		s.Progress.Revision, s.Progress.HaltedRevision, s.Progress.HaltReason = "", r.revision, reason
		s.Progress.RevertProposed = proposed
		s.Health = sync.Degraded
	})
	if r.env.Rollout.OnFailure == environments.Revert && !proposed {
		r.proposeRevert(ctx)
	}
}

// proposeRevert opens the pull request that reverts the environment's last overlay change.
func (r *rollout) proposeRevert(ctx context.Context) {
	a := r.w.t.a
	if a.opts.Forge == nil {
		a.log.Warn("onFailure is revert but no forge is configured: no revert pull request", "env", r.env.Name)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	src := a.opts.Source
	repo, err := promote.Clone(ctx, src.URL, src.Branch, src.Auth.Username, src.Auth.Password)
	var res *promote.Result
	if err == nil {
		res, err = promote.Rollback(ctx, repo, a.opts.Forge, r.env.Name, "", false)
	}
	if err != nil {
		a.log.Error("revert failed", "env", r.env.Name, "revision", short(r.revision), "error", err.Error())
		return
	}
	a.log.Info("revert proposed", "env", r.env.Name, "revision", short(r.revision), "url", res.URL)
	_ = r.w.t.syncer.SaveProgress(ctx, r.env.Name, func(s *sync.State) { s.Progress.RevertProposed = true })
}

// selectStage returns the objects matched by any of the stages' selectors (a stage without a
// selector matches nothing here: only the last stage has none, and it applies everything).
func selectStage(objs []*unstructured.Unstructured, stages []environments.Stage) []*unstructured.Unstructured {
	var sels []labels.Selector
	for _, st := range stages {
		if st.Selector == nil {
			continue
		}
		if sel, err := metav1.LabelSelectorAsSelector(st.Selector); err == nil {
			sels = append(sels, sel)
		}
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		for _, sel := range sels {
			if sel.Matches(labels.Set(o.GetLabels())) {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

// objectOf extracts "Kind ns/name" from an Unhealthy reason ("Kind ns/name is …").
func objectOf(reason string) string {
	for i := 0; i+4 <= len(reason); i++ {
		if reason[i:i+4] == " is " {
			return reason[:i]
		}
	}
	return ""
}
