package agent

import (
	"context"
	"fmt"
	"log/slog"
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
	started  time.Time // when the rollout started, for the history's duration
}

// startRollout runs the staged rollout of res in the background, with a context derived from
// ctx that a newer revision cancels.
func (w *worker) startRollout(ctx context.Context, trigger Trigger, env *environments.Environment, res render.Result, revision string, p sync.Progress) {
	obs := &rolloutObserver{w: w, env: env, revision: revision, trigger: trigger, started: time.Now()}
	r := rollout.New(w.t.syncer, env, res, revision, p, obs, w.t.a.opts.Sync.PollInterval)
	w.setStatus(ctx, revision, "pending", fmt.Sprintf("rolling out in %d stages", len(env.Rollout.Stages)))
	w.background(ctx, revision, func(ctx context.Context) {
		defer releaseMemory()
		_ = r.Run(ctx) // the observer reported the outcome
	})
}

// Progress records a stage's new phase as an Event and a running commit status.
func (o *rolloutObserver) Progress(ctx context.Context, k int, st environments.Stage, phase string) {
	o.w.event(ctx, "Normal", "StageStarted", fmt.Sprintf("%s %s at %s", st.Name, phase, short(o.revision)))
	o.w.setStatus(ctx, o.revision, "running", fmt.Sprintf("stage %s (%d/%d): %s", st.Name, k+1, len(o.env.Rollout.Stages), phase))
}

// StageApplied logs the stage's sync line.
func (o *rolloutObserver) StageApplied(_ context.Context, st environments.Stage, rep *sync.Report) {
	LogSync(o.w.t.a.log, o.env.Name, o.revision, st.Name, o.trigger, rep, nil, o.w.renderNote(o.revision)...)
}

// NotSaved logs that the rollout's progress could not be saved.
func (o *rolloutObserver) NotSaved(_ context.Context, st environments.Stage, err error) {
	o.w.t.a.log.Warn("cannot record rollout progress", "env", o.env.Name, "stage", st.Name, "error", err.Error())
}

// Evaluated logs and counts an analysis check's evaluation, and records a failed one as a
// Warning Event.
func (o *rolloutObserver) Evaluated(ctx context.Context, st environments.Stage, r rollout.CheckResult) {
	a := o.w.t.a
	LogEvaluation(a.log, o.env.Name, o.revision, st.Name, r)
	result := "pass"
	if !r.Pass {
		result = "fail"
		o.w.event(ctx, "Warning", "AnalysisFailed", fmt.Sprintf("stage %s of %s: check %s: %s", st.Name, short(o.revision), r.Check, r.Reason))
	}
	a.metrics.analysis.WithLabelValues(o.env.Name, st.Name, r.Check, result).Inc()
}

// StageSoaked logs the end of a soak.
func (o *rolloutObserver) StageSoaked(_ context.Context, st environments.Stage) {
	o.w.t.a.log.Info("stage soaked", "env", o.env.Name, "revision", short(o.revision), "stage", st.Name, "soak", st.Soak.String())
}

// Finished logs the last stage's sync line and records the sync, in the history too.
func (o *rolloutObserver) Finished(ctx context.Context, st environments.Stage, rep *sync.Report) {
	LogSync(o.w.t.a.log, o.env.Name, o.revision, st.Name, o.trigger, rep, nil, o.w.renderNote(o.revision)...)
	o.w.record(ctx, rep, nil) // metrics and Events first: they follow the line at once
	o.w.notifyRolledOut(ctx, st.Name, rep)
	rec := attemptOf(o.trigger, st.Name, rep, nil)
	rec.Duration = time.Since(o.started)
	o.w.remember(ctx, rec, nil)
}

// Halted logs the halt, counts it, and records an Event and a failure commit status.
func (o *rolloutObserver) Halted(ctx context.Context, h *rollout.Halt) {
	a := o.w.t.a
	LogHalt(a.log, h)
	o.notifyHalt(ctx, h)
	a.metrics.halted.WithLabelValues(h.Env, h.Stage).Inc()
	a.metrics.ready.WithLabelValues(h.Env).Set(0)
	o.w.t.notHealthy(h.Env)
	o.w.event(ctx, "Warning", "RolloutHalted", fmt.Sprintf("stage %s of %s: %s", h.Stage, short(h.Revision), h.Reason))
	o.w.setStatus(ctx, h.Revision, "failure", "rollout halted at "+h.Stage+": "+h.Reason)
	o.w.remember(ctx, sync.SyncRecord{Revision: h.Revision, Trigger: string(o.trigger), Stage: h.Stage, Result: resultHalted,
		Duration: time.Since(o.started), Message: briefly(h.Reason)}, nil)
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
	o.notifyRevert(ctx, res.URL)
	if err := o.w.t.syncer.SaveProgress(ctx, o.env.Name, func(s *sync.State) { s.Progress.RevertProposed = true }); err != nil {
		// The next halt of this revision would propose the revert again.
		a.log.Warn("cannot record the proposed revert", "env", o.env.Name, "revision", short(o.revision), "error", err.Error())
	}
}

// LogHalt logs a halted rollout: `msg="rollout halted" env=… revision=… stage=…`, then, when a
// check failed it, check= value= (when it had a sample) min= max= (the bounds it has), when an
// object is not healthy object=, and reason=.
func LogHalt(log *slog.Logger, h *rollout.Halt) {
	args := []any{"env", h.Env, "revision", short(h.Revision), "stage", h.Stage}
	if h.Check != "" {
		args = append(args, "check", h.Check)
		args = appendValues(args, h.Value, h.Min, h.Max)
	}
	if h.Object != "" {
		args = append(args, "object", h.Object)
	}
	log.Error("rollout halted", append(args, "reason", h.Reason)...)
}

// LogEvaluation logs one evaluation of an analysis check: `msg="analysis" env=… revision=…
// stage=… check=… result=pass|fail`, value= when there was a sample, and reason= on failure.
func LogEvaluation(log *slog.Logger, env, revision, stage string, r rollout.CheckResult) {
	args := []any{"env", env, "revision", short(revision), "stage", stage, "check", r.Check}
	if r.Pass {
		log.Info("analysis", appendValues(append(args, "result", "pass"), r.Value, nil, nil)...)
		return
	}
	args = appendValues(append(args, "result", "fail"), r.Value, r.Min, r.Max)
	log.Warn("analysis", append(args, "reason", r.Reason)...)
}

// appendValues appends value=, min= and max= for those that are set.
func appendValues(args []any, value, lo, hi *float64) []any {
	for _, kv := range []struct {
		key string
		v   *float64
	}{{"value", value}, {"min", lo}, {"max", hi}} {
		if kv.v != nil {
			args = append(args, kv.key, *kv.v)
		}
	}
	return args
}
