package agent

import (
	"context"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/sync"
)

// term is one period of leadership (or the whole run without election): a Syncer with its
// drift watch, a worker per environment and their schedules. It ends with the context lead
// runs it with; that context is handed down to every call that does I/O, and its workers run
// until it ends.
type term struct {
	a      *Agent
	syncer *sync.Syncer
	cron   *cron.Cron
	heads  *heads // the branch head, shared by the environments

	mu       gosync.Mutex
	workers  map[string]*worker
	pipeline *environments.Pipeline
	rev      string // revision the pipeline was read at
	wg       gosync.WaitGroup
	healthy  map[string]healthMark // environments healthy at a revision, since when
	proposed map[string]bool       // "target@revision" promotions already proposed
	prs      map[string]string     // target environment → its open promotion PR, as proposed
	ctl      controls              // the operators' controls, as watchControls sees them
	// receivers are ferry.yaml's notifications at rev whose URL the agent has.
	receivers []receiver

	marking  gosync.Mutex // one markRemoved pass at a time
	markedAt string       // the environment names of ferry.yaml that the last markRemoved pass was started for
}

// lead runs a term until ctx ends, then waits for its workers.
func (a *Agent) lead(ctx context.Context) {
	syncer, err := sync.New(a.cfg, a.opts.Sync)
	if err != nil {
		a.log.Error("cannot start syncing", "error", err.Error())
		return
	}
	syncer.EnableDriftWatch(ctx)
	t := &term{a: a, syncer: syncer, cron: cron.New(), heads: newHeads(a.src), workers: map[string]*worker{},
		healthy: map[string]healthMark{}, proposed: map[string]bool{}, prs: map[string]string{},
		ctl: controls{byEnv: map[string]sync.Control{}}}
	a.setTerm(t)
	defer a.setTerm(nil)
	t.cron.Start()
	defer t.cron.Stop()
	go t.forwardDrift(ctx)
	if t.watchControls(ctx) { // a suspended environment is not synced, not even at startup
		t.configureUntilReady(ctx)
	}
	<-ctx.Done()
	t.wg.Wait()
}

// configureUntilReady reads ferry.yaml at the branch head and starts the workers, retrying with
// backoff while the repository or ferry.yaml is broken (each failure is logged, for every
// environment: env=*). The workers run until ctx, the term's, ends.
func (t *term) configureUntilReady(ctx context.Context) {
	backoff := newBackoff(t.a.opts.MinBackoff, t.a.opts.MaxBackoff)
	for trigger := TriggerStartup; ctx.Err() == nil; trigger = TriggerRetry {
		rev, err := t.fetch(ctx)
		if err == nil {
			_, err = t.pipelineAt(ctx, rev)
		}
		if err == nil {
			t.triggerAll(TriggerStartup)
			return
		}
		LogSync(t.a.log, "*", rev, "", trigger, nil, asFailure(err))
		select {
		case <-ctx.Done():
		case <-time.After(backoff.next()):
		}
	}
}

// fetch asks the remote for the branch head and fetches it when it moved. Every environment
// calls it on each of its ticks; heads shares the calls among them.
func (t *term) fetch(ctx context.Context) (string, error) {
	head, err := t.heads.Head(ctx)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	known := t.rev == head
	t.mu.Unlock()
	if known {
		return head, nil
	}
	return t.heads.Fetch(ctx, head)
}

// pipelineAt returns ferry.yaml at rev, reading it only when rev changed, and reconciles the
// workers and schedules with it; ctx is the term's, which the workers it starts run until. A
// broken ferry.yaml is a *configError and changes nothing.
func (t *term) pipelineAt(ctx context.Context, rev string) (*environments.Pipeline, error) {
	t.mu.Lock()
	if t.rev == rev && t.pipeline != nil {
		defer t.mu.Unlock()
		return t.pipeline, nil
	}
	t.mu.Unlock()
	tree, err := t.a.src.Tree(ctx, rev)
	if err != nil {
		return nil, err
	}
	p, err := environments.Load(tree)
	if err != nil {
		return nil, &configError{revision: rev, err: err}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rev, t.pipeline = rev, p
	t.receivers = t.a.receiversOf(p, rev)
	t.reconcile(ctx, p)
	return p, nil
}

// reconcile starts a worker and a schedule for every selected environment of p and stops
// those of environments that left it; once a stopped worker's last sync has ended, its metric
// series are deleted (retire). In the background, it marks the state ConfigMaps of
// environments not in p as removed, and unmarks those back in it (markRemoved). The workers
// and the pass run until ctx, the term's, ends. Called with t.mu held.
func (t *term) reconcile(ctx context.Context, p *environments.Pipeline) {
	seen := map[string]bool{}
	shortest := time.Duration(0)
	for i := range p.Environments {
		env := &p.Environments[i]
		if !t.a.selected(env.Name) {
			continue
		}
		seen[env.Name] = true
		w := t.workers[env.Name]
		if w == nil {
			w = newWorker(t, env.Name)
			t.workers[env.Name] = w
			t.wg.Add(1)
			go func() { defer t.wg.Done(); w.run(ctx); t.retire(ctx, w) }()
			t.a.metrics.setSuspended(env.Name, t.controlOf(env.Name).Suspended != nil)
		}
		if interval := w.schedule(env.Schedule); interval > 0 && (shortest == 0 || interval < shortest) {
			shortest = interval
		}
	}
	if shortest > 0 {
		t.heads.setReuse(headReuse(shortest))
	}
	for name, w := range t.workers {
		if !seen[name] {
			w.stop()
			delete(t.workers, name)
			t.a.log.Info("environment left ferry.yaml: no longer synced, nothing pruned", "env", name, "revision", short(t.rev),
				"hint", sync.RemovedAdvice(name))
		}
	}
	// Only when the set of environments changed: a pass lists every state ConfigMap.
	if names := envNames(p); names != t.markedAt {
		t.markedAt = names
		t.wg.Add(1)
		go func() { defer t.wg.Done(); t.markRemoved(ctx) }()
	}
}

// envNames returns the names of p's environments, sorted and joined.
func envNames(p *environments.Pipeline) string {
	names := make([]string, 0, len(p.Environments))
	for _, e := range p.Environments {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// retire runs when w's loop has ended. When w was stopped because its environment left
// ferry.yaml, not because the term ended, and no new worker took the environment over, it
// deletes the environment's metric series, then marks its state removed once more: a sync
// that was still running when the environment left may have saved the state, and a save
// drops the mark.
func (t *term) retire(ctx context.Context, w *worker) {
	select {
	case <-w.done:
	default:
		return
	}
	if ctx.Err() != nil {
		return
	}
	t.mu.Lock()
	back := t.workers[w.env] != nil
	if !back {
		t.a.metrics.forget(w.env)
	}
	t.mu.Unlock()
	if !back {
		t.markRemoved(ctx)
	}
}

// markRemoved brings the removed marks of the state ConfigMaps in ferry's namespace in line
// with ferry.yaml at the term's revision: a state whose environment is not in ferry.yaml is
// marked removed at that revision, so that `ferry status` (which has no repository) and the
// status page say so; a marked one whose environment is back is unmarked. Each decision is
// taken against the pipeline of the moment, one pass at a time. Failures are logged: a mark
// only informs, and the next change of ferry.yaml tries again.
func (t *term) markRemoved(ctx context.Context) {
	t.marking.Lock()
	defer t.marking.Unlock()
	store := t.syncer.State()
	states, err := store.List(ctx)
	if err != nil {
		t.a.log.Warn("cannot mark environments that left ferry.yaml", "error", err.Error())
		t.mu.Lock()
		t.markedAt = "" // try again at the next revision
		t.mu.Unlock()
		return
	}
	for _, st := range states {
		t.mu.Lock()
		_, in := t.pipeline.Environment(st.Env)
		rev := t.rev
		t.mu.Unlock()
		switch {
		case in && st.RemovedAt != "":
			err = store.ClearRemoved(ctx, st.Env)
		case !in && st.RemovedAt == "":
			err = store.MarkRemoved(ctx, st.Env, rev)
			if err == nil {
				t.a.log.Info("environment not in ferry.yaml: state marked removed", "env", st.Env, "revision", short(rev),
					"hint", sync.RemovedAdvice(st.Env))
			}
		}
		if err != nil && ctx.Err() == nil {
			t.a.log.Warn("cannot mark environments that left ferry.yaml", "env", st.Env, "error", err.Error())
		}
		err = nil
	}
}

// triggerAll asks every worker to sync now, at the branch head as the remote has it now (a
// push webhook must not be answered by a head read before the push).
func (t *term) triggerAll(trigger Trigger) {
	t.heads.forget()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.workers {
		w.poke(trigger)
	}
}

// forwardDrift turns drift notifications into syncs of the drifted environment until ctx ends.
func (t *term) forwardDrift(ctx context.Context) {
	changes := t.syncer.DriftChanges()
	for {
		select {
		case <-ctx.Done():
			return
		case env := <-changes:
			t.mu.Lock()
			if w := t.workers[env]; w != nil {
				w.poke(TriggerDrift)
				// Only for a synced environment: one that left ferry.yaml has no series.
				t.a.metrics.drift.WithLabelValues(env).Set(float64(len(t.syncer.Drifted(env))))
			}
			t.mu.Unlock()
		}
	}
}

func short(rev string) string {
	if len(rev) == 40 {
		return rev[:7]
	}
	return rev
}

// backoff doubles a delay from min to max.
type backoff struct{ cur, min, max time.Duration }

func newBackoff(min, max time.Duration) *backoff { return &backoff{min: min, max: max} }

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }
