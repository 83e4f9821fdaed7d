package sync

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/environments"
)

// Hold re-applies objs, the part of env's render at revision (its applied revision) that a
// halted rollout has not moved, so that drift is corrected while the halt holds the environment
// there. Like ApplyStage it never prunes and leaves the applied revision and digest alone;
// unlike it, it leaves the recorded health as it is (a halted environment is not where git
// says, whatever the held objects say). When the drift watch vouches that none of objs changed
// since ferry applied them as they are, nothing is sent; when ssa finds nothing to change,
// nothing is written: either way the report is NoOp, so that a held environment does not write
// on every sync. The error is an *Error carrying the phase.
func (s *Syncer) Hold(ctx context.Context, env *environments.Environment, objs []*unstructured.Unstructured, revision string) (*Report, error) {
	start := time.Now()
	rep := &Report{Env: env.Name, Revision: revision, Health: Unknown, started: start}
	st, err := s.state.Load(ctx, env.Name)
	if err != nil {
		return rep, &Error{Phase: PhaseState, Err: err}
	}
	rep.state, rep.Health = st, orUnknown(st.Health)
	inv, err := NewInventory(objs)
	if err != nil {
		return rep, &Error{Phase: PhaseRender, Err: err}
	}
	if len(inv) == 0 {
		rep.NoOp, rep.Duration = true, time.Since(start)
		return rep, nil // the halted rollout moved everything
	}
	if cs, ok := s.unchangedSince(env.Name, st, inv); ok {
		rep.NoOp, rep.ChangeSet, rep.Duration = true, cs, time.Since(start)
		return rep, nil
	}
	changes, err := s.apply(ctx, env, st, objs)
	if err != nil {
		s.recordFailure(ctx, st, revision, err)
		return rep, err
	}
	rep.ChangeSet, rep.written = changes, appliedObjects(objs, changes)
	if len(changes.Changed()) == 0 && recorded(st, inv) {
		rep.NoOp, rep.Duration = true, time.Since(start)
		return rep, nil
	}
	st.Inventory = merge(st.Inventory, inv)
	st.Pending = Removed(st.Pending, inv)
	st.AttemptedRevision, st.AttemptedAt, st.LastError = revision, time.Now(), ""
	if err := s.state.Save(ctx, st); err != nil {
		return rep, &Error{Phase: PhaseState, Err: err}
	}
	if s.watch != nil {
		s.watch.watchAll(env.Name, inv)
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// recorded reports whether st already says everything a hold of inv would record: each entry
// in the inventory at its hash, none pending, no error.
func recorded(st *State, inv Inventory) bool {
	if st.LastError != "" || len(Removed(inv, st.Pending)) != len(inv) {
		return false
	}
	last := st.Inventory.Index()
	for _, e := range inv {
		if l, ok := last[e.ObjectID]; !ok || l.Hash != e.Hash {
			return false
		}
	}
	return true
}

// unchangedSince returns inv as unchanged when the drift watch vouches for each of its objects
// (the objects a halted rollout moved are not asked about: a deleted canary must not make
// every held sync apply), and each is in env's inventory at the same hash and has not drifted.
func (s *Syncer) unchangedSince(env string, st *State, inv Inventory) (ChangeSet, bool) {
	if s.watch == nil || !s.watch.vouches(env, inv) {
		return nil, false
	}
	drifted := map[ObjectID]bool{}
	for _, id := range s.watch.drifted(env) {
		drifted[id] = true
	}
	last := st.Inventory.Index()
	cs := make(ChangeSet, 0, len(inv))
	for _, e := range inv {
		if l, ok := last[e.ObjectID]; !ok || l.Hash != e.Hash || drifted[e.ObjectID] {
			return nil, false
		}
		cs = append(cs, Change{Object: e.ObjectID, Action: Unchanged})
	}
	return cs, true
}
