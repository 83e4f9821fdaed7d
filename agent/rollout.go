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
// Events, commit statuses and revert pull requests.
type rolloutObserver struct {
	w        *worker
	env      *environments.Environment
	revision string
}

// startRollout runs the staged rollout of res in the background; a newer revision cancels it.
func (w *worker) startRollout(env *environments.Environment, res render.Result, revision string, p sync.Progress) {
	obs := &rolloutObserver{w: w, env: env, revision: revision}
	r := rollout.New(w.t.syncer, env, res, revision, p, obs, w.t.a.opts.Sync.PollInterval)
	w.background(revision, func(ctx context.Context) {
		defer releaseMemory()
		_ = r.Run(ctx) // the observer reported the outcome
	})
}

// Progress records a stage's new phase as an Event.
func (o *rolloutObserver) Progress(_ int, st environments.Stage, phase string, err error) {
	if err != nil {
		o.w.t.a.log.Warn("cannot record rollout progress", "env", o.env.Name, "error", err.Error())
	}
	o.w.event("Normal", "StageStarted", fmt.Sprintf("%s %s at %s", st.Name, phase, short(o.revision)))
}

// StageApplied logs the stage's sync line.
func (o *rolloutObserver) StageApplied(st environments.Stage, rep *sync.Report) {
	LogSync(o.w.t.a.log, o.env.Name, o.revision, st.Name, rep, nil)
}

// StageSoaked logs the end of a soak.
func (o *rolloutObserver) StageSoaked(st environments.Stage) {
	o.w.t.a.log.Info("stage soaked", "env", o.env.Name, "revision", short(o.revision), "stage", st.Name, "soak", st.Soak.String())
}

// Finished logs the last stage's sync line and records the sync.
func (o *rolloutObserver) Finished(st environments.Stage, rep *sync.Report) {
	LogSync(o.w.t.a.log, o.env.Name, o.revision, st.Name, rep, nil)
	o.w.record(rep, nil)
}

// Halted logs the halt, counts it, and records an Event and a failure commit status.
func (o *rolloutObserver) Halted(h *rollout.Halt) {
	a := o.w.t.a
	a.log.Error("rollout halted", "env", h.Env, "revision", short(h.Revision), "stage", h.Stage, "object", h.Object, "reason", h.Reason)
	a.metrics.halted.WithLabelValues(h.Env, h.Stage).Inc()
	a.metrics.ready.WithLabelValues(h.Env).Set(0)
	o.w.t.notHealthy(h.Env)
	o.w.event("Warning", "RolloutHalted", fmt.Sprintf("stage %s of %s: %s", h.Stage, short(h.Revision), h.Reason))
	o.w.setStatus(h.Revision, "failure", "rollout halted at "+h.Stage+": "+h.Reason)
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
