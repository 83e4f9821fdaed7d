package agent

import (
	"context"
	"regexp"
	"time"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/sync"
)

// forgeTimeout bounds each call to the forge; a slow forge never holds a sync up for longer.
const forgeTimeout = 15 * time.Second

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// setStatus sets the commit status ferry/<env> on revision when a forge is configured. Failures
// are logged, never fatal: the sync has happened whatever the forge says.
func (w *worker) setStatus(ctx context.Context, revision, state, description string) {
	forge := w.t.a.opts.Forge
	if forge == nil || !fullSHA.MatchString(revision) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, forgeTimeout)
	defer cancel()
	err := forge.SetStatus(ctx, revision, promote.Status{Context: "ferry/" + w.env, State: state, Description: description})
	if err != nil {
		w.t.a.log.Warn("cannot set commit status", "env", w.env, "revision", short(revision), "error", err.Error())
	}
}

// healthyAt records that env is healthy at revision, keeping the time it first was.
func (t *term) healthyAt(env, revision string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.healthy[env]; h.revision == revision {
		return
	}
	t.healthy[env] = healthMark{revision: revision, since: time.Now()}
}

func (t *term) notHealthy(env string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.healthy, env)
}

type healthMark struct {
	revision string
	since    time.Time
}

// maybePromote opens or updates the promotion pull request of every environment that promotes
// automatically from env, once env has been healthy at its revision for promotion.after; at
// most once per revision of env.
func (t *term) maybePromote(ctx context.Context, env string) {
	if t.a.opts.Forge == nil {
		return
	}
	for _, target := range t.autoTargets(env) {
		if !t.due(env, target) {
			continue
		}
		t.propose(ctx, env, target)
	}
}

// autoTargets lists the environments with promotion.auto from env.
func (t *term) autoTargets(env string) []*environments.Environment {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*environments.Environment
	if t.pipeline == nil {
		return nil
	}
	for i := range t.pipeline.Environments {
		e := &t.pipeline.Environments[i]
		if e.Promotion != nil && e.Promotion.Auto && e.Promotion.From == env {
			out = append(out, e)
		}
	}
	return out
}

// due reports whether env has been healthy long enough for target and was not proposed yet.
func (t *term) due(env string, target *environments.Environment) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.healthy[env]
	key := target.Name + "@" + h.revision
	return ok && time.Since(h.since) >= target.Promotion.After && !t.proposed[key]
}

// propose opens or updates the promotion pull request from from to to, within two minutes of
// ctx. A failure is logged.
func (t *term) propose(ctx context.Context, from string, to *environments.Environment) {
	t.mu.Lock()
	h := t.healthy[from]
	t.proposed[to.Name+"@"+h.revision] = true
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	src := t.a.opts.Source
	repo, err := promote.Clone(ctx, src.URL, src.Branch, src.Auth.Username, src.Auth.Password)
	if err == nil {
		var res *promote.Result
		// The agent syncs from itself, so its own record is the evidence: in mode revision the
		// pin moves to exactly the revision this agent saw healthy for promotion.after.
		health := &promote.SourceHealth{Env: from, Revision: h.revision, Health: sync.Healthy, AppliedAt: h.since, From: "this agent's own sync of " + from + " (" + promote.FromCluster + ")"}
		res, err = promote.Promote(ctx, repo, t.a.opts.Forge, promote.Options{From: from, To: to.Name, Source: health})
		if err == nil && !res.NothingToDo {
			t.mu.Lock()
			t.prs[to.Name] = res.URL
			t.mu.Unlock()
			t.a.log.Info("promotion proposed", "from", from, "to", to.Name, "revision", short(h.revision), "url", res.URL, "created", res.Created)
			t.notifyPromotion(ctx, from, to.Name, h.revision, res)
		}
	}
	if err != nil {
		t.a.log.Error("promotion failed", "from", from, "to", to.Name, "revision", short(h.revision), "error", err.Error())
	}
}
