package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
	"github.com/ferry-cd/ferry/sync/source"
)

// OverrideTrailer is the git trailer whose commit is applied even while a deploy window holds
// new revisions back; its value is the reason, logged.
const OverrideTrailer = "Ferry-Override"

// windowGate is what a worker remembers of the deploy windows between syncs.
type windowGate struct {
	logged     string      // "revision@window" of the deferral last logged ("" when none waits)
	overridden string      // the revision whose override was logged last
	wake       *time.Timer // pokes the worker when the window holding a revision back ends
	wakeAt     time.Time
	renders    renderMemo // the render of the revision the environment is at while another waits
	// clean is true once the state was seen without a deferral and none was saved since: with
	// no window configured, a sync then need not read the state to clear one.
	clean bool
}

// windowDecision is what the deploy windows make of a sync of an environment at one revision to
// another (its pin or the branch head).
type windowDecision int

const (
	// proceed: sync to the target, because it is what is applied, or the windows permit it.
	proceed windowDecision = iota
	// deferred: the target waits; the environment is synced at the revision it is at.
	deferred
	// overridden: sync to the target although a window holds it back (Ferry-Override).
	overridden
)

// decide returns what verdict, the deploy windows' verdict now, makes of syncing an environment
// at current to target; reason is the target commit's Ferry-Override trailer ("" when none).
func decide(verdict environments.Verdict, target, current, reason string) windowDecision {
	switch {
	case target == current || verdict.Permitted:
		return proceed
	case reason != "":
		return overridden
	}
	return deferred
}

// atRevision returns the revision env is at: the one whose rollout is in progress or halted,
// else the applied one ("" when nothing was applied). Syncing it brings nothing new: it goes on
// with that rollout, holds the halted one, or corrects drift.
func atRevision(st *sync.State) string {
	switch {
	case st.Progress.Revision != "":
		return st.Progress.Revision
	case st.Progress.Phase == sync.PhaseHalted:
		return st.Progress.HaltedRevision
	}
	return st.AppliedRevision
}

// admit returns the revision to sync env to, and its render: target and res (target's render),
// unless a deploy window holds target back; then the revision env is at, so that drift is still
// corrected, and the deferral is logged, recorded and shown. A target whose render is the one
// applied brings nothing new, and no window holds it back. It reports false when there is
// nothing to sync: target waits and nothing was applied yet, or the state could not be read or
// the revision env is at could not be rendered (reported as a failed sync).
func (w *worker) admit(ctx context.Context, trigger Trigger, p *environments.Pipeline, env *environments.Environment, target string, res render.Result) (string, render.Result, bool) {
	windows := p.WindowsOf(env.Name)
	if len(windows) == 0 && w.gate.clean {
		return target, res, true
	}
	st, err := w.t.syncer.State().Load(ctx, env.Name)
	if err != nil {
		w.fail(ctx, target, trigger, &sync.Error{Phase: sync.PhaseState, Err: err})
		return "", res, false
	}
	now := time.Now()
	current := atRevision(st)
	if res.Digest == st.AppliedDigest {
		current = target // nothing new to apply: the windows have nothing to hold back
	}
	verdict := environments.CheckWindows(windows, now)
	reason := ""
	if !verdict.Permitted && target != current {
		reason = w.overrideReason(ctx, target)
	}
	switch decide(verdict, target, current, reason) {
	case deferred:
		w.deferTo(ctx, trigger, st, target, current, verdict, now)
		return w.atCurrent(ctx, trigger, env, current)
	case overridden:
		w.logOverride(ctx, target, verdict.Window, reason)
	}
	w.endDeferral(ctx, st)
	return target, res, true
}

// atCurrent returns current and its render, to sync env there while a newer revision waits;
// false when nothing was applied yet, or the render failed (reported as a failed sync).
func (w *worker) atCurrent(ctx context.Context, trigger Trigger, env *environments.Environment, current string) (string, render.Result, bool) {
	if current == "" {
		return "", render.Result{}, false
	}
	res, _, err := w.renderAt(ctx, &w.gate.renders, env, current)
	if err != nil {
		w.fail(ctx, current, trigger, err)
		return "", res, false
	}
	return current, res, true
}

// overrideReason returns the Ferry-Override trailer of revision's commit message ("" when it
// has none, or the message cannot be read: then the window holds).
func (w *worker) overrideReason(ctx context.Context, revision string) string {
	msg, err := w.t.a.src.Message(ctx, revision)
	if err != nil {
		w.t.a.log.Warn("cannot read the commit message for a Ferry-Override trailer", "env", w.env, "revision", short(revision), "error", err.Error())
		return ""
	}
	reason, _ := source.Trailer(msg, OverrideTrailer)
	if r := []rune(reason); len(r) > maxReason {
		reason = string(r[:maxReason-1]) + "…"
	}
	return reason
}

// maxReason bounds the override reason in the log line and the Event, in runes.
const maxReason = 200

// deferTo records that target waits for verdict's window while env stays at current: in the
// state (Deferred, for status), and, when the deferral starts or its revision or window
// changes, in one log line, an Event and target's commit status. The worker is poked when the
// window ends.
func (w *worker) deferTo(ctx context.Context, trigger Trigger, st *sync.State, target, current string, verdict environments.Verdict, now time.Time) {
	d := &sync.Deferral{Revision: target, Window: verdict.Window.String(), Until: verdict.Until.UTC(), Since: now.UTC().Truncate(time.Second)}
	if old := st.Deferred; old != nil && old.Revision == d.Revision && old.Window == d.Window {
		d.Since = old.Since
	}
	w.saveDeferral(ctx, st, d)
	w.wakeUpAt(d.Until)
	key := d.Revision + "@" + d.Window
	if w.gate.logged == key {
		return
	}
	w.gate.logged, w.gate.overridden = key, ""
	until := d.Until.Format(time.RFC3339)
	w.t.a.log.Info("sync deferred", "env", w.env, "revision", short(target), "window", d.Window, "until", until,
		"applied", orNone(short(current)), "trigger", string(trigger))
	w.event(ctx, "Normal", "SyncDeferred", fmt.Sprintf("%s waits for %s until %s; %s stays applied", short(target), d.Window, until, orNone(short(current))))
	w.setStatus(ctx, target, "pending", "deferred until "+until)
}

// logOverride logs and records as an Event, once per revision, that revision is applied
// although window holds new revisions back.
func (w *worker) logOverride(ctx context.Context, revision string, window environments.Window, reason string) {
	if w.gate.overridden == revision {
		return
	}
	w.gate.overridden, w.gate.logged = revision, ""
	w.t.a.log.Warn("window overridden", "env", w.env, "revision", short(revision), "window", window.String(), "reason", reason)
	w.event(ctx, "Warning", "WindowOverridden", fmt.Sprintf("%s applied inside %s: %s: %s", short(revision), window, OverrideTrailer, reason))
}

// endDeferral clears a deferral recorded in the state: its revision is applied now, or another
// (an override, or a commit that went back to what is applied) took its place.
func (w *worker) endDeferral(ctx context.Context, st *sync.State) {
	w.gate.logged, w.gate.renders = "", renderMemo{}
	w.saveDeferral(ctx, st, nil)
}

// saveDeferral records d (nil: none) in env's state when st says otherwise. A failure is
// logged; the next sync tries again.
func (w *worker) saveDeferral(ctx context.Context, st *sync.State, d *sync.Deferral) {
	if sameDeferral(st.Deferred, d) {
		w.gate.clean = d == nil
		return
	}
	err := w.t.syncer.SaveProgress(ctx, w.env, func(s *sync.State) { s.Deferred = d })
	if err != nil {
		w.t.a.log.Warn("cannot record the deferral in the state ConfigMap", "env", w.env, "error", err.Error())
	}
	w.gate.clean = err == nil && d == nil
}

func sameDeferral(a, b *sync.Deferral) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Revision == b.Revision && a.Window == b.Window && a.Until.Equal(b.Until) && a.Since.Equal(b.Since)
}

// wakeUpAt pokes the worker just after at, when the window that holds a revision back ends,
// so that the revision is applied then and not at the next tick of the schedule.
func (w *worker) wakeUpAt(at time.Time) {
	if w.gate.wake != nil && w.gate.wakeAt.Equal(at) {
		return
	}
	if w.gate.wake != nil {
		w.gate.wake.Stop()
	}
	// A little after: CheckWindows at the very end instant may still see the window open on
	// a clock that reads a hair early.
	w.gate.wake = time.AfterFunc(time.Until(at)+100*time.Millisecond, func() { w.poke(TriggerSchedule) })
	w.gate.wakeAt = at
}
