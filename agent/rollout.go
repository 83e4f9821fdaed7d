package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/rollout"
	"github.com/ferry-cd/ferry/sync"
)

// rolloutObserver turns what a rollout.Rollout does into the agent's log lines, metrics,
// Events, commit statuses and revert pull requests. Its sync lines say the trigger of the sync
// that started the rollout.
type rolloutObserver struct {
	w        *worker
	env      *environments.Environment
	revision string
	trigger  Trigger
}

// startRollout runs the staged rollout of res in the background, with a context derived from
// ctx that a newer revision cancels.
func (w *worker) startRollout(ctx context.Context, trigger Trigger, env *environments.Environment, res render.Result, revision string, p sync.Progress) {
	obs := &rolloutObserver{w: w, env: env, revision: revision, trigger: trigger}
	r := rollout.New(w.t.syncer, env, res, revision, p, obs, w.t.a.opts.Sync.PollInterval)
	w.background(ctx, revision, func(ctx context.Context) {
		defer releaseMemory()
		_ = r.Run(ctx) // the observer reported the outcome
	})
}

// Progress records a stage's new phase as an Event.
func (o *rolloutObserver) Progress(ctx context.Context, _ int, st environments.Stage, phase string, err error) {
	if err != nil {
		o.w.t.a.log.Warn("cannot record rollout progress", "env", o.env.Name, "error", err.Error())
	}
	o.w.event(ctx, "Normal", "StageStarted", fmt.Sprintf("%s %s at %s", st.Name, phase, short(o.revision)))
}

// StageApplied logs the stage's sync line.
func (o *rolloutObserver) StageApplied(_ context.Context, st environments.Stage, rep *sync.Report) {
	LogSync(o.w.t.a.log, o.env.Name, o.revision, st.Name, o.trigger, rep, nil)
}

// StageSoaked logs the end of a soak.
func (o *rolloutObserver) StageSoaked(_ context.Context, st environments.Stage) {
	o.w.t.a.log.Info("stage soaked", "env", o.env.Name, "revision", short(o.revision), "stage", st.Name, "soak", st.Soak.String())
}

// Finished logs the last stage's sync line and records the sync.
func (o *rolloutObserver) Finished(ctx context.Context, st environments.Stage, rep *sync.Report) {
	LogSync(o.w.t.a.log, o.env.Name, o.revision, st.Name, o.trigger, rep, nil)
	o.w.record(ctx, rep, nil)
}

// Halted logs the halt, counts it, and records an Event and a failure commit status.
func (o *rolloutObserver) Halted(ctx context.Context, h *rollout.Halt) {
	a := o.w.t.a
	a.log.Error("rollout halted", "env", h.Env, "revision", short(h.Revision), "stage", h.Stage, "object", h.Object, "reason", h.Reason)
	a.metrics.halted.WithLabelValues(h.Env, h.Stage).Inc()
	a.metrics.ready.WithLabelValues(h.Env).Set(0)
	o.w.t.notHealthy(h.Env)
	o.w.event(ctx, "Warning", "RolloutHalted", fmt.Sprintf("stage %s of %s: %s", h.Stage, short(h.Revision), h.Reason))
	o.w.setStatus(ctx, h.Revision, "failure", "rollout halted at "+h.Stage+": "+h.Reason)
}

// ProposeRevert opens the pull request that reverts the environment's last overlay change.
func (o *rolloutObserver) ProposeRevert(ctx context.Context) {
	a := o.w.t.a
	if a.opts.Forge == nil {
		a.log.Warn("onFailure is revert but no forge is configured: no revert pull request", "env", o.env.Name)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	src := a.opts.Source
	repo, err := promote.Clone(ctx, src.URL, src.Branch, src.Auth.Username, src.Auth.Password)
	var res *promote.Result
	if err == nil {
		res, err = promote.Rollback(ctx, repo, a.opts.Forge, o.env.Name, "", false)
	}
	if err != nil {
		a.log.Error("revert failed", "env", o.env.Name, "revision", short(o.revision), "error", err.Error())
		return
	}
	a.log.Info("revert proposed", "env", o.env.Name, "revision", short(o.revision), "url", res.URL)
	_ = o.w.t.syncer.SaveProgress(ctx, o.env.Name, func(s *sync.State) { s.Progress.RevertProposed = true })
}
