package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
)

// Report is what one sync did.
type Report struct {
	Env, Revision string
	// NoOp is true when nothing had to be sent: same digest as the last apply, no drift.
	NoOp      bool
	ChangeSet ChangeSet
	// Health is Healthy, Progressing (the wait was skipped or cancelled) or Unknown.
	Health   string
	Duration time.Duration
	// Applied is the part of Duration Apply took (the rest is the health wait).
	Applied time.Duration
	// Rebuilt counts the objects found in the cluster, labelled for the environment and
	// applied by ferry, when the state ConfigMap was missing: the inventory was rebuilt from
	// them (0 when it was not).
	Rebuilt int

	started time.Time
	state   *State                       // as Apply left it, for WaitHealthy
	written []*unstructured.Unstructured // what Apply created or configured
}

// Health values.
const (
	Healthy     = "Healthy"
	Progressing = "Progressing"
	Degraded    = "Degraded"
	Unknown     = "Unknown"
)

// Sync makes the cluster match res, env rendered at revision: Apply, then WaitHealthy with the
// same ctx. The error is an *Error carrying the phase.
func (s *Syncer) Sync(ctx context.Context, env *environments.Environment, res render.Result, revision string) (*Report, error) {
	rep, err := s.Apply(ctx, env, res, revision)
	if err != nil || rep.NoOp {
		return rep, err
	}
	return rep, s.WaitHealthy(ctx, rep)
}

// Apply sends what changed (CRDs and Namespaces first), prunes what left the overlay and records
// the inventory. A failed apply prunes nothing and leaves the inventory as it was (the objects
// it may have created are recorded as pending, see State.Pending). A report with NoOp set
// wrote nothing. The error is an *Error carrying the phase.
func (s *Syncer) Apply(ctx context.Context, env *environments.Environment, res render.Result, revision string) (*Report, error) {
	start := time.Now()
	rep := &Report{Env: env.Name, Revision: revision, Health: Unknown, started: start}
	if len(res.Objects) == 0 && !env.AllowEmpty {
		// render refuses this too; checked again because pruning to nothing is irreversible.
		return rep, &Error{Phase: PhaseRender, Err: errors.New("empty render: nothing applied, nothing pruned (set allowEmpty: true to allow it)")}
	}
	st, err := s.loadState(ctx, env)
	if err != nil {
		return rep, &Error{Phase: PhaseState, Err: err}
	}
	rep.state, rep.Rebuilt = st, st.Rebuilt
	inv, err := NewInventory(res.Objects)
	if err != nil {
		return rep, &Error{Phase: PhaseRender, Err: err}
	}
	toApply, unchanged := s.plan(env.Name, st, inv, res)
	// The same render, fully applied: nothing pending, and nothing left over from a prune
	// that failed (the inventory keeps such objects until they are pruned).
	sameRender := st.AppliedDigest == res.Digest && st.AppliedRevision == revision && len(st.Pending) == 0 &&
		len(Removed(st.Inventory, inv)) == 0
	if len(toApply) == 0 && sameRender {
		rep.NoOp, rep.ChangeSet, rep.Health, rep.Duration = true, unchanged, st.Health, time.Since(start)
		return rep, nil
	}
	suspects := changedSince(st.Inventory, inv, s.Drifted(env.Name))
	changes, err := s.apply(ctx, env, st, toApply)
	if err == nil {
		changes, err = s.applyMetadataChanges(ctx, env.Name, toApply, changes, suspects)
	}
	if err != nil {
		s.recordFailure(ctx, st, revision, err)
		return rep, err
	}
	rep.ChangeSet = append(changes, unchanged...)
	removed := Removed(merge(st.Inventory, st.Pending), inv)
	if len(changes.Changed()) == 0 && len(removed) == 0 && sameRender {
		// ssa found nothing to change: record nothing either.
		rep.NoOp, rep.Health, rep.Duration = true, st.Health, time.Since(start)
		return rep, nil
	}
	ours := merge(merge(st.Inventory, st.Pending), inv)
	pruned, retry, pruneErr := s.prune(ctx, env, removed, ours, res.Objects)
	rep.ChangeSet = append(rep.ChangeSet, pruned...)
	rep.written = appliedObjects(toApply, changes)
	rep.healthyWithoutWait(st)
	if err := s.recordSuccess(ctx, st, revision, res.Digest, inv, retry, pruneErr); err != nil {
		return rep, err
	}
	if s.watch != nil {
		// From now on, drift of these objects triggers a sync; kinds that left every
		// environment's inventory are no longer watched.
		s.watch.watchOnly(env.Name, st.Inventory)
	}
	rep.Duration = time.Since(start)
	rep.Applied = rep.Duration
	if pruneErr != nil {
		return rep, &Error{Phase: PhasePrune, Err: pruneErr}
	}
	return rep, nil
}

// healthyWithoutWait records Healthy in st when every object written is of a kind that is
// healthy as soon as it exists, before st is saved, so that WaitHealthy has nothing to save.
func (rep *Report) healthyWithoutWait(st *State) {
	if len(rep.written) > 0 && !needsHealthWait(rep.written) {
		st.Health, rep.Health = Healthy, Healthy
	}
}

// WaitHealthy waits until what Apply wrote is healthy, records the health in the state and sets
// rep.Health and rep.Duration. Cancelling ctx (a newer revision pre-empts the wait) leaves the
// health Progressing and returns nil; a timeout or failure returns an *Error in the health phase.
func (s *Syncer) WaitHealthy(ctx context.Context, rep *Report) error {
	return s.WaitHealthyWithin(ctx, rep, s.opts.HealthTimeout)
}

// WaitHealthyWithin is WaitHealthy with its own timeout (a rollout stage's).
func (s *Syncer) WaitHealthyWithin(ctx context.Context, rep *Report, timeout time.Duration) error {
	if rep.state == nil {
		return nil
	}
	var err error
	rep.Health, err = s.health(ctx, rep.state, rep.written, timeout)
	rep.Duration = time.Since(rep.started)
	return err
}

// plan splits the render into the objects to send and those known to be unchanged: an object
// is skipped only when the drift watch vouches for it and its desired hash is the one last
// applied. Without a watch everything is sent (ssa then reports what really changed).
func (s *Syncer) plan(env string, st *State, inv Inventory, res render.Result) ([]*unstructured.Unstructured, ChangeSet) {
	if s.watch == nil || !s.watch.vouches(env, st.Inventory) {
		return res.Objects, nil
	}
	last, cur := st.Inventory.Index(), inv.Index()
	drifted := map[ObjectID]bool{}
	for _, id := range s.watch.drifted(env) {
		drifted[id] = true
	}
	var toApply []*unstructured.Unstructured
	var unchanged ChangeSet
	for _, o := range res.Objects {
		id := IDOf(o)
		if e, ok := last[id]; ok && e.Hash == cur[id].Hash && !drifted[id] {
			unchanged = append(unchanged, Change{Object: id, Action: Unchanged})
			continue
		}
		toApply = append(toApply, o)
	}
	return toApply, unchanged
}

// apply sends objs after checking that none would take over an object ferry does not own.
// Objects that do not exist yet are created with one server-side apply request each, in
// parallel; everything else (and CRDs, Namespaces and ClusterRoles, which must be ready first)
// goes through ssa's staged apply, which compares each object with a dry-run and reports it
// configured or unchanged. Immutable-field conflicts fail unless the object carries
// ferry.dev/force: "true".
func (s *Syncer) apply(ctx context.Context, env *environments.Environment, st *State, objs []*unstructured.Unstructured) (ChangeSet, error) {
	exists, err := s.checkOwnership(ctx, env, st, objs)
	if err != nil {
		return nil, &Error{Phase: PhaseApply, Err: err}
	}
	if err := s.recordPending(ctx, st, objs); err != nil {
		return nil, &Error{Phase: PhaseState, Err: err}
	}
	if err := s.ensureNamespace(ctx, env.Namespace); err != nil {
		return nil, &Error{Phase: PhaseApply, Err: err}
	}
	staged, creates := splitCreates(objs, exists)
	if s.watch != nil {
		s.watch.expect(env.Name, objs)
	}
	changes, err := s.applyStaged(ctx, staged)
	if err == nil {
		var created ChangeSet
		created, err = s.createAll(ctx, creates)
		changes = append(changes, created...)
	}
	if s.watch != nil {
		s.settleAfterApply(env.Name, objs, changes, err)
	}
	if err != nil {
		s.namespaces.Delete(env.Namespace) // it may be what is missing
		return nil, &Error{Phase: PhaseApply, Err: secretValues(objs).Error(err)}
	}
	return changes, nil
}

// splitCreates separates the objects known not to exist (checked by checkOwnership), which
// are not cluster definitions, from the rest.
func splitCreates(objs []*unstructured.Unstructured, exists map[ObjectID]bool) (staged, creates []*unstructured.Unstructured) {
	for _, o := range objs {
		found, checked := exists[IDOf(o)]
		if checked && !found && !utils.IsClusterDefinition(o) {
			creates = append(creates, o)
		} else {
			staged = append(staged, o)
		}
	}
	return staged, creates
}

func (s *Syncer) applyStaged(ctx context.Context, objs []*unstructured.Unstructured) (ChangeSet, error) {
	if len(objs) == 0 {
		return nil, nil
	}
	opts := ssa.DefaultApplyOptions()
	opts.ForceSelector = map[string]string{ForceAnnotation: "true"}
	opts.WaitInterval = s.opts.PollInterval
	cs, err := s.mgr.ApplyAllStaged(ctx, copies(objs), opts)
	if err != nil {
		return nil, err
	}
	return fromSSA(cs), nil
}

// createAll creates objects with server-side apply, Options.Concurrency at a time.
func (s *Syncer) createAll(ctx context.Context, objs []*unstructured.Unstructured) (ChangeSet, error) {
	out := make(ChangeSet, len(objs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Concurrency)
	for i, o := range objs {
		g.Go(func() error {
			obj := o.DeepCopy()
			err := s.mgr.Client().Patch(ctx, obj, client.Apply, client.ForceOwnership, client.FieldOwner(FieldManager))
			if err != nil {
				return fmt.Errorf("%s: create: %w", IDOf(o), err)
			}
			out[i] = Change{Object: IDOf(o), Action: Created}
			return nil
		})
	}
	return out, g.Wait()
}

// settleAfterApply tells the drift watch which objects ferry did not write after all.
func (s *Syncer) settleAfterApply(env string, objs []*unstructured.Unstructured, changes ChangeSet, err error) {
	if err != nil {
		s.watch.settle(env, idsOf(objs))
		return
	}
	var unchanged []ObjectID
	for _, c := range changes {
		if c.Action == Unchanged {
			unchanged = append(unchanged, c.Object)
		}
	}
	s.watch.settle(env, unchanged)
}

func idsOf(objs []*unstructured.Unstructured) []ObjectID {
	ids := make([]ObjectID, len(objs))
	for i, o := range objs {
		ids[i] = IDOf(o)
	}
	return ids
}

// copies returns deep copies: ssa mutates what it is given.
func copies(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out
}

func fromSSA(cs *ssa.ChangeSet) ChangeSet {
	out := make(ChangeSet, 0, len(cs.Entries))
	for _, e := range cs.Entries {
		id := ObjectID{Group: e.ObjMetadata.GroupKind.Group, Kind: e.ObjMetadata.GroupKind.Kind,
			Namespace: e.ObjMetadata.Namespace, Name: e.ObjMetadata.Name}
		action := Action(e.Action)
		if e.Action == ssa.DeletedAction {
			action = Pruned
		}
		out = append(out, Change{Object: id, Action: action})
	}
	return out
}

// recordPending adds the objects of objs that the state lists neither in its inventory nor as
// pending to st.Pending, and saves the state before any of them is written: if ferry dies
// after creating them and before recording the sync, the next sync still knows they are
// ferry's, and prunes those that have left the overlay in the meantime.
func (s *Syncer) recordPending(ctx context.Context, st *State, objs []*unstructured.Unstructured) error {
	known := merge(st.Inventory, st.Pending).Index()
	var add Inventory
	for _, o := range objs {
		if _, ok := known[IDOf(o)]; !ok {
			add = append(add, Entry{ObjectID: IDOf(o), Version: o.GroupVersionKind().Version})
		}
	}
	if len(add) == 0 {
		return nil
	}
	st.Pending = merge(st.Pending, add)
	return s.state.Save(ctx, st)
}

func (s *Syncer) recordFailure(ctx context.Context, st *State, revision string, cause error) {
	st.AttemptedRevision, st.AttemptedAt, st.LastError = revision, time.Now(), cause.Error()
	// The inventory is left as it was; a failure to record the failure changes nothing more.
	_ = s.state.Save(ctx, st)
}

// recordSuccess records an apply of inv at revision; retry lists the entries a failed prune
// keeps, so that the next sync tries again.
func (s *Syncer) recordSuccess(ctx context.Context, st *State, revision, digest string, inv, retry Inventory, pruneErr error) error {
	now := time.Now()
	if len(retry) > 0 {
		inv = merge(inv, Removed(retry, inv))
	}
	st.AppliedRevision, st.AppliedDigest, st.AppliedAt = revision, digest, now
	st.AttemptedRevision, st.AttemptedAt, st.Inventory = revision, now, inv
	st.Pending = nil // each was applied (so is in inv) or pruned (or kept in inv to retry)
	st.LastError = ""
	if pruneErr != nil {
		st.LastError = pruneErr.Error()
	}
	if err := s.state.Save(ctx, st); err != nil {
		return &Error{Phase: PhaseState, Err: err}
	}
	return nil
}

// appliedObjects returns the objects of objs that ssa created or configured.
func appliedObjects(objs []*unstructured.Unstructured, changes ChangeSet) []*unstructured.Unstructured {
	written := map[ObjectID]bool{}
	for _, c := range changes {
		if c.Action == Created || c.Action == Configured {
			written[c.Object] = true
		}
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if written[IDOf(o)] {
			out = append(out, o)
		}
	}
	return out
}
