package agent

import (
	"context"
	"errors"
	"runtime/debug"
	gosync "sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
)

// worker syncs one environment: at most one sync of it runs at a time, none while an operator
// suspended it. Triggers (schedule, webhook, drift, retry, resume) coalesce: a trigger that
// arrives during a sync causes one more sync, logged with the first of them.
type worker struct {
	t     *term
	env   string
	pokes chan Trigger
	done  chan struct{}
	once  gosync.Once

	mu      gosync.Mutex
	entry   cron.EntryID
	spec    string
	retry   *time.Timer
	backoff *backoff
	wait    *healthWait
	renders renderMemo // used by syncOnce only, which never runs concurrently with itself
	reused  string     // the revision whose sync reused an earlier revision's render (noteReuse)
	held    renderMemo // the applied revision's render while a halted rollout holds the environment there
	heldAt  string     // "applied@halted" while held, to log a hold once per change
	images  imageBook  // the images of recent renders, for the status page
	gate    windowGate // the deploy windows' deferral; used by syncOnce only

	// last seen, to emit Events on change only
	lastRevision, lastHealth, lastError string
	lastFailed                          string // revision of the last failure recorded
	succeeded                           string // revision whose success status was set
}

// healthWait is a health wait running after an apply; a newer revision cancels it.
type healthWait struct {
	revision string
	cancel   context.CancelFunc
	done     chan struct{}
}

func newWorker(t *term, env string) *worker {
	return &worker{t: t, env: env, pokes: make(chan Trigger, 1), done: make(chan struct{}),
		backoff: newBackoff(t.a.opts.MinBackoff, t.a.opts.MaxBackoff)}
}

// poke asks for a sync; it never blocks. A poke while another waits is dropped: the sync
// it asks for is the waiting one's.
func (w *worker) poke(trigger Trigger) {
	select {
	case w.pokes <- trigger:
	default:
	}
}

// schedule (re)registers the environment's cron schedule, jittered (see jittered), when it
// changed, and returns its interval (0 when the spec does not parse).
func (w *worker) schedule(spec string) time.Duration {
	sched, interval, err := jittered(spec, w.env)
	if err != nil { // ferry.yaml validation parses schedules, so this is not expected
		w.t.a.log.Error("bad schedule", "env", w.env, "schedule", spec, "error", err.Error())
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if spec == w.spec {
		return interval
	}
	if w.spec != "" {
		w.t.cron.Remove(w.entry)
	}
	w.entry = w.t.cron.Schedule(sched, cron.FuncJob(func() { w.poke(TriggerSchedule) }))
	w.spec = spec
	return interval
}

func (w *worker) stop() {
	w.once.Do(func() {
		close(w.done)
		w.mu.Lock()
		w.t.cron.Remove(w.entry)
		w.mu.Unlock()
	})
}

// run syncs the environment at each poke until ctx, the term's, ends or the worker stops.
func (w *worker) run(ctx context.Context) {
	defer w.endWait(nil)
	skipped := false // a poke was skipped while suspended: the next sync is the resume's
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.done:
			return
		case trigger := <-w.pokes:
			if w.suspended() {
				skipped = true
				continue // `ferry resume` pokes it
			}
			if skipped {
				trigger, skipped = TriggerResume, false
			}
			w.syncOnce(ctx, trigger)
			if w.suspended() { // suspended while the sync ran: stop what it started
				w.endWait(errSuspended)
			}
		}
	}
}

// syncOnce brings the environment to the branch head (or its pin), or, while a deploy window
// holds that back, syncs it at the revision it is at (admit): fetch, ferry.yaml, render,
// apply, then a health wait in the background that a newer revision may cancel. Every line it
// causes, those of the health wait and of a staged rollout included, says trigger. ctx is the
// term's.
func (w *worker) syncOnce(ctx context.Context, trigger Trigger) {
	start := time.Now()
	rev, err := w.t.fetch(ctx)
	fetched := time.Since(start)
	if err != nil {
		w.fail(ctx, rev, trigger, err)
		return
	}
	pipeline, err := w.t.pipelineAt(ctx, rev)
	if err != nil {
		w.fail(ctx, rev, trigger, err)
		return
	}
	env, ok := pipeline.Environment(w.env)
	if !ok {
		return // reconcile stops this worker (and forgets its series)
	}
	w.t.a.metrics.phase(w.env, "fetch", fetched)
	target := rev
	if env.Pin != "" {
		target = env.Pin
	}
	if w.waitingFor(target) {
		return // this revision is applied and its health wait is still running
	}
	res, how, err := w.renderAt(ctx, &w.renders, env, target)
	w.noteReuse(target, how)
	if err != nil {
		w.endWait(errPreempted)
		w.fail(ctx, target, trigger, err)
		return
	}
	if how != renderSame {
		w.images.note(target, res.Objects)
	}
	revision, res, ok := w.admit(ctx, trigger, pipeline, env, target, res)
	if !ok || revision != target && w.waitingFor(revision) {
		return // held back with nothing to sync instead, or the revision it is at is still waiting for health
	}
	w.endWait(errPreempted)
	if wrote := w.apply(ctx, trigger, env, res, revision); how == renderRendered || wrote {
		releaseMemory()
	}
}

// renderAt renders env at revision through memo (see renderMemo.render) and counts a render
// that ran kustomize or reused another revision's in ferry_renders_total.
func (w *worker) renderAt(ctx context.Context, memo *renderMemo, env *environments.Environment, revision string) (render.Result, renderOutcome, error) {
	tree, err := w.t.a.src.Tree(ctx, revision)
	if err != nil {
		return render.Result{}, renderSame, err
	}
	start := time.Now()
	res, how, err := memo.render(ctx, tree, env, revision)
	if how == renderRendered {
		w.t.a.metrics.phase(env.Name, "render", time.Since(start))
	}
	if how != renderSame {
		w.t.a.metrics.renders.WithLabelValues(env.Name, string(how)).Inc()
	}
	return res, how, err
}

// releaseMemory hands the heap a render or an apply left behind back to the operating system.
// The Go runtime keeps freed heap up to the goal its last collection set, and a render or an
// apply of thousands of objects sets it at hundreds of MiB; an idle agent allocates almost
// nothing, so no collection lowers it until the runtime's two-minute forced one, and the
// scavenger returns it slowly after that. One forced collection (tens of milliseconds at
// 10,000 objects) keeps the idle agent at its live heap. It runs at most once per
// releaseInterval: a call within the interval is folded into one at its end, so that syncs in
// quick succession (drift fought over by another controller) do not each force a collection.
func releaseMemory() { memory.release(time.Now()) }

const releaseInterval = 30 * time.Second

var memory = &releaser{free: debug.FreeOSMemory}

type releaser struct {
	free func()

	mu        gosync.Mutex
	last      time.Time
	scheduled bool
}

func (r *releaser) release(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	wait := r.last.Add(releaseInterval).Sub(now)
	switch {
	case wait <= 0:
		r.last = now
		r.free()
	case !r.scheduled:
		r.scheduled = true
		time.AfterFunc(wait, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.scheduled, r.last = false, time.Now()
			r.free()
		})
	}
}

var errPreempted = errors.New("a newer revision arrived")

func (w *worker) waitingFor(revision string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wait == nil {
		return false
	}
	select {
	case <-w.wait.done:
		w.wait = nil
		return false
	default:
		return w.wait.revision == revision
	}
}

// endWait cancels a health wait in progress and waits for it to end.
func (w *worker) endWait(cause error) {
	w.mu.Lock()
	hw := w.wait
	w.wait = nil
	w.mu.Unlock()
	if hw == nil {
		return
	}
	hw.cancel()
	select {
	case <-hw.done:
	case <-time.After(w.t.a.opts.ShutdownGrace):
	}
}
