package rollout

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/sync"
)

// maxParallelChecks bounds how many checks of a stage are evaluated at once.
const maxParallelChecks = 4

// soak watches stage k, soaking since from, until its soak ends: objs' health every poll and,
// when the stage has an analysis, its checks every interval (the first one interval after
// from; an evaluation due before the end of the soak runs even when it is late). It returns
// the halt (its reason, object or check) when an object regressed, a check failed its limit of
// evaluations in a row, or at the end a check never passed; nil when the stage passed or ctx
// ended.
func (r *Rollout) soak(ctx context.Context, k int, objs []*unstructured.Unstructured, from time.Time) *Halt {
	st := r.env.Rollout.Stages[k]
	a := analysisOf(st)
	deadline := from.Add(st.Soak)
	health := time.NewTicker(r.poll)
	defer health.Stop()
	for {
		next := deadline
		if a != nil {
			next = NextEvaluation(from, a.Interval, r.analysis)
		}
		wake := time.NewTimer(time.Until(earlier(next, deadline)))
		select {
		case <-ctx.Done():
			wake.Stop()
			return nil
		case <-health.C:
			wake.Stop()
			if h := r.regressed(ctx, objs); h != nil {
				return h
			}
		case <-wake.C:
		}
		now := time.Now()
		if a != nil && !now.Before(next) && !next.After(deadline) {
			if h := r.evaluate(ctx, k, a); h != nil || ctx.Err() != nil {
				return h
			}
		}
		if !now.Before(deadline) {
			return r.verdict(a)
		}
	}
}

// earlier returns the earlier of two times.
func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// analysisOf returns st's analysis with its defaults made sure of, nil when it has none.
func analysisOf(st environments.Stage) *environments.Analysis {
	if st.Analysis == nil || len(st.Analysis.Checks) == 0 {
		return nil
	}
	a := *st.Analysis
	if a.Interval <= 0 {
		a.Interval = environments.DefaultInterval
	}
	return &a
}

// regressed returns the halt of a soak in which an object of objs is no longer healthy (nil
// when all are, or ctx ended).
func (r *Rollout) regressed(ctx context.Context, objs []*unstructured.Unstructured) *Halt {
	u, err := r.syncer.Unhealthy(ctx, objs)
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		return &Halt{Reason: err.Error()}
	case u != nil:
		return &Halt{Object: u.Object.String(), Reason: "regression while soaking: " + u.String()}
	}
	return nil
}

// evaluate runs every check of a, stage k's analysis, once, records and saves the results
// and reports them. It returns the halt when a check failed its limit of evaluations in a row
// (nil otherwise, and when ctx ended: nothing is recorded then).
func (r *Rollout) evaluate(ctx context.Context, k int, a *environments.Analysis) *Halt {
	st := r.env.Rollout.Stages[k]
	t := Target{Env: r.env.Name, Namespace: r.env.Namespace, Revision: r.revision, Stage: st.Name}
	results := make([]CheckResult, len(a.Checks))
	var g errgroup.Group
	g.SetLimit(maxParallelChecks)
	for i, c := range a.Checks {
		g.Go(func() error {
			results[i] = Evaluate(ctx, c, t, a.Interval)
			return nil
		})
	}
	_ = g.Wait() // the evaluations return no error: a failure is a result
	if ctx.Err() != nil {
		return nil
	}
	var h *Halt
	at := time.Now()
	for i, res := range results {
		var failed bool
		r.analysis, failed = Record(r.analysis, res, a.FailureLimit, at)
		if failed && h == nil {
			h = checkHalt(a.Checks[i], stateOf(r.analysis, res.Check), true)
		}
	}
	r.save(ctx, st, func(s *sync.State) { s.Progress.Analysis = r.analysis })
	for _, res := range results {
		r.obs.Evaluated(ctx, st, res)
	}
	return h
}

// verdict returns the halt of a soak that ended with a check of a that never passed (nil
// when every check passed at least once, or there is no analysis).
func (r *Rollout) verdict(a *environments.Analysis) *Halt {
	if a == nil {
		return nil
	}
	if c, st, ok := Unproven(a.Checks, r.analysis); ok {
		return checkHalt(c, st, false)
	}
	return nil
}

func stateOf(states []sync.CheckState, name string) sync.CheckState {
	for _, s := range states {
		if s.Name == name {
			return s
		}
	}
	return sync.CheckState{Name: name}
}
