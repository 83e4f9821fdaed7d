package rollout

import (
	"context"
	"time"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/sync"
)

// approval waits, when stage k has approval: manual, until the state's Control.Approval names
// this revision and stage k (written by `ferry approve`), reading the state every poll; then it
// records who approved in the progress and tells the Observer. A stage without approval: manual
// goes on at once. It returns nil when the rollout may go on, ctx's error when cancelled (a
// newer revision, or the end of the process). The objects are not watched while waiting: the
// agent's drift correction and the next stage's health wait see what changed meanwhile.
func (r *Rollout) approval(ctx context.Context, k int) error {
	st := r.env.Rollout.Stages[k]
	if st.Approval != environments.ApprovalManual {
		return nil
	}
	if !r.soaked(k) {
		r.saveProgress(ctx, k, sync.PhaseWaiting, time.Now())
	}
	r.obs.AwaitingApproval(ctx, k, st)
	tick := time.NewTicker(r.poll)
	defer tick.Stop()
	for {
		if a := r.approvedBy(ctx, st); a != nil {
			r.save(ctx, st, func(s *sync.State) { s.Progress.Approved = a })
			r.obs.Approved(ctx, st, *a)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// approvedBy returns the state's approval when it lets this rollout go on past st (nil when
// there is none yet, or the state cannot be read now: the next poll reads it again).
func (r *Rollout) approvedBy(ctx context.Context, st environments.Stage) *sync.Request {
	s, err := r.syncer.State().Load(ctx, r.env.Name)
	if err != nil || !sync.Approves(s.Control.Approval, r.revision, st.Name, r.stale) {
		return nil
	}
	a := *s.Control.Approval
	return &a
}
