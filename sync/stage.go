package sync

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferry-cd/ferry/environments"
)

// ApplyStage applies objs, the part of a render that a rollout stage covers, at revision. It
// never prunes and leaves the applied revision and digest alone (the last stage's Apply records
// them); the inventory gains objs' entries, so that what a halted rollout created stays owned.
// WaitHealthy on the report waits for what it wrote. The error is an *Error in the apply phase.
func (s *Syncer) ApplyStage(ctx context.Context, env *environments.Environment, objs []*unstructured.Unstructured, revision string) (*Report, error) {
	start := time.Now()
	rep := &Report{Env: env.Name, Revision: revision, Health: Unknown, started: start}
	st, err := s.loadState(ctx, env)
	if err != nil {
		return rep, &Error{Phase: PhaseState, Err: err}
	}
	rep.state, rep.Rebuilt = st, st.Rebuilt
	stageInv, err := NewInventory(objs)
	if err != nil {
		return rep, &Error{Phase: PhaseRender, Err: err}
	}
	changes, err := s.apply(ctx, env, st, objs)
	if err != nil {
		s.recordFailure(ctx, st, revision, err)
		return rep, err
	}
	rep.ChangeSet, rep.written = changes, appliedObjects(objs, changes)
	rep.healthyWithoutWait(st)
	st.Inventory = merge(st.Inventory, stageInv)
	st.Pending = Removed(st.Pending, stageInv)
	st.AttemptedRevision, st.AttemptedAt, st.LastError = revision, time.Now(), ""
	if err := s.state.Save(ctx, st); err != nil {
		return rep, &Error{Phase: PhaseState, Err: err}
	}
	if s.watch != nil {
		s.watch.watchAll(env.Name, stageInv)
	}
	rep.Duration = time.Since(start)
	return rep, nil
}

// merge returns old with the entries of add replacing or joining it.
func merge(old, add Inventory) Inventory {
	idx := add.Index()
	out := make(Inventory, 0, len(old)+len(add))
	for _, e := range old {
		if _, ok := idx[e.ObjectID]; !ok {
			out = append(out, e)
		}
	}
	out = append(out, add...)
	out.sort()
	return out
}

// Unhealthy is an object that kstatus does not find Current, and why.
type Unhealthy struct {
	Object ObjectID
	// Status is kstatus' status (InProgress, Failed, Terminating, NotFound, Unknown) and
	// Message its message.
	Status  string
	Message string
}

// String says which object is not healthy and why: "Kind ns/name is Status: Message".
func (u *Unhealthy) String() string {
	return fmt.Sprintf("%s is %s: %s", u.Object, u.Status, u.Message)
}

// Unhealthy reads objs once and returns the first of them that kstatus does not find Current
// (nil when all are): what a soaking stage watches for a regression. The error names the object
// that could not be read.
func (s *Syncer) Unhealthy(ctx context.Context, objs []*unstructured.Unstructured) (*Unhealthy, error) {
	for _, o := range objs {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		if err := s.mgr.Client().Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
			return nil, fmt.Errorf("%s: %w", IDOf(o), err)
		}
		res, err := status.Compute(live)
		if err != nil {
			return nil, fmt.Errorf("%s: status: %w", IDOf(o), err)
		}
		if res.Status != status.CurrentStatus {
			return &Unhealthy{Object: IDOf(o), Status: res.Status.String(), Message: res.Message}, nil
		}
	}
	return nil, nil
}
