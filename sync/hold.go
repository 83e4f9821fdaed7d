package sync

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/environments"
)

// Hold re-applies objs, the part of env's render at revision (its applied revision) that a
// halted rollout has not moved, so that drift is corrected while the halt holds the environment
// there. Like ApplyStage it never prunes and leaves the applied revision and digest alone. When
// the drift watch vouches that none of objs changed since ferry applied them as they are,
// nothing is sent or written and the report is NoOp. The error is an *Error carrying the phase.
func (s *Syncer) Hold(ctx context.Context, env *environments.Environment, objs []*unstructured.Unstructured, revision string) (*Report, error) {
	start := time.Now()
	st, err := s.state.Load(ctx, env.Name)
	if err != nil {
		return &Report{Env: env.Name, Revision: revision, Health: Unknown}, &Error{Phase: PhaseState, Err: err}
	}
	if cs, ok := s.unchangedSince(env.Name, st, objs); ok {
		return &Report{Env: env.Name, Revision: revision, NoOp: true, ChangeSet: cs, Health: st.Health, Duration: time.Since(start)}, nil
	}
	return s.ApplyStage(ctx, env, objs, revision)
}

// unchangedSince returns objs as unchanged when the drift watch vouches for env's inventory, and
// every one of objs is in it at the same hash and has not drifted.
func (s *Syncer) unchangedSince(env string, st *State, objs []*unstructured.Unstructured) (ChangeSet, bool) {
	if s.watch == nil || !s.watch.vouches(env, st.Inventory) {
		return nil, false
	}
	inv, err := NewInventory(objs)
	if err != nil {
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
