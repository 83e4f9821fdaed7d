package agent

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/rollout"
	"github.com/ferry-cd/ferry/sync"
)

// apply runs the apply phase and starts the health wait, or starts a staged rollout, or holds
// the environment at its applied revision while the rollout of revision is halted. It reports
// whether it wrote to the cluster (or started a rollout). ctx is the term's: the health wait
// and the rollout run with one derived from it that a newer revision cancels, and report with
// ctx.
func (w *worker) apply(ctx context.Context, trigger Trigger, env *environments.Environment, res render.Result, revision string) (wrote bool) {
	syncer := w.t.syncer
	if rollout.Staged(env) {
		st, err := syncer.State().Load(ctx, env.Name)
		if err != nil {
			w.fail(ctx, revision, trigger, &sync.Error{Phase: sync.PhaseState, Err: err})
			return false
		}
		if st.Progress.HaltedRevision == revision {
			if req := retryOf(st, revision); req != nil {
				return w.retryRollout(ctx, env, res, revision, req) // `ferry retry`
			}
			return w.hold(ctx, trigger, env, st, res, revision) // not rolled out again until the branch moves or a retry
		}
		w.setHeld("")
		deployed, err := w.deployed(ctx, st, res)
		if err != nil {
			w.fail(ctx, revision, trigger, err)
			return false
		}
		if rollout.Needed(env, st, res, deployed) {
			w.startRollout(ctx, trigger, env, res, revision, st.Progress)
			return true
		}
	}
	rep, err := syncer.Apply(ctx, env, res, revision)
	if err != nil {
		w.fail(ctx, revision, trigger, err)
		return false
	}
	if rep.NoOp {
		w.finish(ctx, trigger, rep, w.followHealth(ctx, rep, nil))
		return false
	}
	w.t.a.metrics.phase(env.Name, "apply", rep.Applied)
	w.mu.Lock()
	w.succeeded = "" // applied again: its success must be reported again
	w.mu.Unlock()
	w.setStatus(ctx, revision, "pending", "applied; waiting for health")
	w.background(ctx, revision, func(wait context.Context) {
		err := syncer.WaitHealthy(wait, rep)
		w.t.a.metrics.phase(env.Name, "health", rep.Duration-rep.Applied)
		w.finish(ctx, trigger, rep, w.followHealth(wait, rep, err))
		releaseMemory() // the wait read every applied object, every poll
	})
	return true
}

// deployed reports whether the environment runs anything yet: its state records an applied
// revision, or (the state is new or was lost) one of res's objects exists in the cluster.
func (w *worker) deployed(ctx context.Context, st *sync.State, res render.Result) (bool, error) {
	if st.AppliedRevision != "" {
		return true, nil
	}
	return w.t.syncer.AnyExists(ctx, res.Objects)
}

// followHealth evaluates the objects' health again when a sync that did not fail left it
// other than Healthy without waiting for anything (a no-op sync, or one that wrote nothing to
// wait for), so that health follows the objects and not only the last write. It sets
// rep.Health and returns the error to report (err, or the evaluation's).
func (w *worker) followHealth(ctx context.Context, rep *sync.Report, err error) error {
	if err != nil || ctx.Err() != nil || rep.Health == sync.Healthy || rep.Health == sync.Progressing && !rep.NoOp {
		return err
	}
	health, _, err := w.t.syncer.RefreshHealth(ctx, w.env)
	if ctx.Err() != nil {
		return nil
	}
	rep.Health = health
	return err
}

// hold keeps env at its applied revision while the rollout of halted is halted: the objects
// of the applied revision's render that the halted rollout did not move are applied again
// (drift corrected, nothing pruned), and the hold is logged once per change. It reports
// whether it wrote to the cluster.
func (w *worker) hold(ctx context.Context, trigger Trigger, env *environments.Environment, st *sync.State, res render.Result, halted string) bool {
	applied := st.AppliedRevision
	if w.setHeld(applied + "@" + halted) {
		w.t.a.log.Warn("rollout halted: holding the applied revision", "env", env.Name, "revision", short(applied),
			"halted", short(halted), "stage", st.Stage, "trigger", string(trigger))
		w.event(ctx, "Warning", "RolloutHeld", fmt.Sprintf("held at %s while the rollout of %s is halted at %s", orNone(short(applied)), short(halted), st.Stage))
	}
	if applied == "" {
		return false // nothing was applied before the halted rollout: nothing to hold
	}
	objs, err := w.heldObjects(ctx, env, st, res, halted)
	if err != nil {
		w.fail(ctx, applied, trigger, err)
		return false
	}
	rep, err := w.t.syncer.Hold(ctx, env, objs, applied)
	if err != nil {
		w.fail(ctx, applied, trigger, err)
		return false
	}
	// Halted: not where git says, whatever the held objects say; and the hold is no stage.
	rep.Health = sync.Degraded
	LogSync(w.t.a.log, env.Name, applied, "", trigger, rep, nil)
	result := "applied"
	if rep.NoOp {
		result = "unchanged"
	}
	w.t.a.metrics.syncs.WithLabelValues(env.Name, result).Inc()
	if !rep.NoOp {
		rec := attemptOf(trigger, "", rep, nil)
		rec.Message = "held while the rollout of " + short(halted) + " is halted"
		w.remember(ctx, rec, nil)
	}
	return !rep.NoOp
}

// heldObjects returns the objects of the applied revision's render that the rollout of
// halted (rendered as res) has not moved. Halted at the last stage, everything moved: the
// applied revision is the halted one, and all of res is held.
func (w *worker) heldObjects(ctx context.Context, env *environments.Environment, st *sync.State, res render.Result, halted string) ([]*unstructured.Unstructured, error) {
	if st.AppliedRevision == halted {
		return res.Objects, nil
	}
	prev, how, err := w.renderAt(ctx, &w.held, env, st.AppliedRevision)
	if err != nil {
		return nil, fmt.Errorf("applied revision %s: %w", short(st.AppliedRevision), err)
	}
	if how != renderSame {
		w.images.note(st.AppliedRevision, prev.Objects)
	}
	moved := map[sync.ObjectID]bool{}
	for _, o := range rollout.Moved(env, res.Objects, st.Progress) {
		moved[sync.IDOf(o)] = true
	}
	var objs []*unstructured.Unstructured
	for _, o := range prev.Objects {
		if !moved[sync.IDOf(o)] {
			objs = append(objs, o)
		}
	}
	return objs, nil
}

// setHeld records what the worker holds ("applied@halted", "" when nothing) and reports
// whether that changed.
func (w *worker) setHeld(held string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := held != w.heldAt
	w.heldAt = held
	return changed
}

func orNone(rev string) string {
	if rev == "" {
		return "nothing"
	}
	return rev
}

// background runs fn for revision in a goroutine, with a context derived from ctx that a
// newer revision cancels (endWait).
func (w *worker) background(ctx context.Context, revision string, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	hw := &healthWait{revision: revision, cancel: cancel, done: make(chan struct{})}
	w.mu.Lock()
	w.wait = hw
	w.mu.Unlock()
	go func() {
		defer close(hw.done)
		defer cancel()
		fn(ctx)
	}()
}

// fail logs a failed attempt, counts it and schedules a retry with backoff. err is recorded as
// a *sync.Error whose phase phaseOf decides.
func (w *worker) fail(ctx context.Context, revision string, trigger Trigger, err error) {
	a := w.t.a
	err = asFailure(err)
	LogSync(a.log, w.env, revision, "", trigger, nil, err, w.renderNote(revision)...)
	a.metrics.syncs.WithLabelValues(w.env, "failed").Inc()
	a.metrics.ready.WithLabelValues(w.env).Set(0)
	w.mu.Lock()
	delay := w.backoff.next()
	if w.retry != nil {
		w.retry.Stop()
	}
	w.retry = time.AfterFunc(delay, func() { w.poke(TriggerRetry) })
	changed := err.Error() != w.lastError || revision != w.lastFailed
	w.lastError, w.lastFailed = err.Error(), revision
	w.lastHealth = sync.FailedHealth(w.lastHealth) // remember records it; a recovery is an Event
	w.mu.Unlock()
	w.t.notHealthy(w.env)
	w.notifySyncFailed(ctx, revision, err)
	w.setStatus(ctx, revision, "failure", err.Error())
	if changed {
		w.event(ctx, "Warning", "SyncFailed", fmt.Sprintf("revision %s: %v", short(revision), err))
		w.remember(ctx, sync.SyncRecord{Revision: revision, Trigger: string(trigger), Result: "failed", Message: briefly(err.Error())}, err)
	}
}

// finish logs a finished attempt and records it in metrics, in the history unless it changed
// nothing, and, on change, in Events.
func (w *worker) finish(ctx context.Context, trigger Trigger, rep *sync.Report, err error) {
	LogSync(w.t.a.log, w.env, rep.Revision, "", trigger, rep, err, w.renderNote(rep.Revision)...)
	rolledOut := err == nil && (!rep.NoOp && rep.Health == sync.Healthy || w.recovered(rep))
	w.record(ctx, rep, err) // metrics and Events first: they follow the line at once
	if rolledOut {
		w.notifyRolledOut(ctx, "", rep)
	}
	if err != nil || !rep.NoOp {
		w.remember(ctx, attemptOf(trigger, "", rep, err), nil)
	}
}

// record counts a finished attempt in metrics, Events and commit statuses.
func (w *worker) record(ctx context.Context, rep *sync.Report, err error) {
	a := w.t.a
	result := "applied"
	switch {
	case err != nil:
		result = "failed"
	case rep.NoOp:
		result = "unchanged"
	}
	a.metrics.syncs.WithLabelValues(w.env, result).Inc()
	a.metrics.duration.WithLabelValues(w.env).Observe(rep.Duration.Seconds())
	ready := 0.0
	if err == nil && rep.Health == sync.Healthy {
		ready = 1
	}
	a.metrics.ready.WithLabelValues(w.env).Set(ready)
	if err != nil {
		w.mu.Lock()
		w.lastError = err.Error()
		w.mu.Unlock()
		w.t.notHealthy(w.env)
		w.notifySyncFailed(ctx, rep.Revision, err)
		w.setStatus(ctx, rep.Revision, "failure", err.Error())
		w.event(ctx, "Warning", "HealthFailed", fmt.Sprintf("revision %s: %v", short(rep.Revision), err))
		return
	}
	a.metrics.applied(w.env, rep.Revision)
	w.recordChange(ctx, rep)
	w.afterSuccess(ctx, rep)
}

// recordChange emits Events when the applied revision or the health changed.
func (w *worker) recordChange(ctx context.Context, rep *sync.Report) {
	w.mu.Lock()
	w.backoff.reset()
	revChanged := rep.Revision != w.lastRevision && !rep.NoOp
	healthChanged := rep.Health != w.lastHealth
	w.lastRevision, w.lastHealth, w.lastError = rep.Revision, rep.Health, ""
	w.mu.Unlock()
	cs := rep.ChangeSet
	if revChanged {
		w.event(ctx, "Normal", "RevisionApplied", fmt.Sprintf("applied %s: created %d, configured %d, pruned %d",
			short(rep.Revision), cs.Count(sync.Created), cs.Count(sync.Configured), cs.Count(sync.Pruned)))
	}
	if healthChanged {
		kind := "Normal"
		if rep.Health == sync.Degraded {
			kind = "Warning"
		}
		w.event(ctx, kind, "HealthChanged", fmt.Sprintf("%s at %s", rep.Health, short(rep.Revision)))
	}
}

// event records a Kubernetes Event on the environment's state ConfigMap. Failures to record
// are logged, never fatal.
func (w *worker) event(ctx context.Context, kind, reason, message string) {
	if err := w.t.a.recordEvent(ctx, w.env, kind, reason, message); err != nil {
		w.t.a.log.Warn("cannot record event", "env", w.env, "reason", reason, "error", err.Error())
	}
}

// afterSuccess reports a finished sync to the forge and lets automatic promotions from this
// environment proceed once it has been healthy long enough.
func (w *worker) afterSuccess(ctx context.Context, rep *sync.Report) {
	switch rep.Health {
	case sync.Healthy:
		if w.statusPending(rep.Revision) {
			w.setStatus(ctx, rep.Revision, "success", "healthy")
		}
		w.t.healthyAt(w.env, rep.Revision)
		w.t.maybePromote(ctx, w.env)
	case sync.Progressing:
		// pre-empted by a newer revision: that one's status follows
	default:
		w.t.notHealthy(w.env)
		w.setStatus(ctx, rep.Revision, "pending", "applied; health "+rep.Health)
	}
}

// statusPending reports whether revision has not had its success status yet in this term (a
// new apply of it resets that).
func (w *worker) statusPending(revision string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.succeeded == revision {
		return false
	}
	w.succeeded = revision
	return true
}
