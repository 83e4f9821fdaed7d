package sync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/metadata"

	"github.com/fluxcd/pkg/ssa"

	"github.com/ferry-cd/ferry/environments"
)

// prune deletes the objects that left env's overlay (removed), as planPrune decides:
// deleteOwned reads each one first and deletes it only if it still carries both of ferry's
// labels for env and is not annotated ferry.dev/prune: disabled; others are reported as
// skipped. Nothing is pruned when the environment sets prune: false. It returns the entries
// to keep in the inventory and try again at the next sync (those it could not prune) with an
// error naming them.
func (s *Syncer) prune(ctx context.Context, env *environments.Environment, removed, ours Inventory, objs []*unstructured.Unstructured) (ChangeSet, Inventory, error) {
	if len(removed) == 0 {
		return nil, nil, nil
	}
	if !env.Prune {
		out := make(ChangeSet, 0, len(removed))
		for _, e := range removed {
			out = append(out, Change{Object: e.ObjectID, Action: Skipped, Reason: "prune: false"})
		}
		return out, nil, nil
	}
	plan, err := s.checkCascades(ctx, env.Name, keptByRender(env.Namespace, removed, objs, s.crdNames(objs)), ours)
	if err != nil {
		return plan.kept, removed, err
	}
	done, err := s.deleteOwned(ctx, env.Name, plan.remove)
	done = append(plan.kept, withCascades(done, plan.cascades)...)
	if err == nil && len(plan.refused) > 0 {
		err = refusal(env.Name, plan.refused)
	}
	if err != nil {
		return done, append(plan.remove, plan.refusedEntries...), err
	}
	return done, nil, nil
}

// deleteOwned deletes the objects of entries that still carry both of ferry's labels for env
// and are not marked ferry.dev/prune: disabled; the others are reported as skipped, and those
// already gone are left out. Kinds go in the reverse of apply order, as ssa's DeleteAll does
// (webhook configurations first; Namespaces and CRDs last), the objects of one kind
// Options.Concurrency at a time. Each delete is conditional on the UID just read, so that an
// object re-created in between is not deleted: that fails the prune (naming the object), and
// the inventory keeps it for the next sync to decide again.
func (s *Syncer) deleteOwned(ctx context.Context, env string, entries Inventory) (ChangeSet, error) {
	var out ChangeSet
	var errs []error
	for _, wave := range deleteWaves(entries) {
		actions := make([]Change, len(wave))
		waveErrs := make([]error, len(wave))
		var g errgroup.Group
		g.SetLimit(s.opts.Concurrency)
		for i, e := range wave {
			g.Go(func() error {
				actions[i], waveErrs[i] = s.deleteIfOwned(ctx, env, e)
				return nil
			})
		}
		_ = g.Wait()
		for _, c := range actions {
			if c.Action != "" {
				out = append(out, c)
			}
		}
		errs = append(errs, waveErrs...)
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("prune: %w", err)
	}
	return out, nil
}

// deleteWaves orders entries as ssa deletes (the reverse of its apply order) and splits them
// into one wave per kind.
func deleteWaves(entries Inventory) [][]Entry {
	objs := make([]*unstructured.Unstructured, len(entries))
	byObj := make(map[*unstructured.Unstructured]Entry, len(entries))
	for i, e := range entries {
		o := &unstructured.Unstructured{}
		o.SetGroupVersionKind(e.GroupVersionKind())
		o.SetNamespace(e.Namespace)
		o.SetName(e.Name)
		objs[i], byObj[o] = o, e
	}
	sort.Sort(sort.Reverse(ssa.SortableUnstructureds(objs)))
	var waves [][]Entry
	for i, o := range objs {
		if i == 0 || o.GroupVersionKind().GroupKind() != objs[i-1].GroupVersionKind().GroupKind() {
			waves = append(waves, nil)
		}
		waves[len(waves)-1] = append(waves[len(waves)-1], byObj[o])
	}
	return waves
}

// pruneDisabled reports whether labels or annotations hold ferry.dev/prune: disabled (in any
// case, as ssa and Flux read it).
func pruneDisabled(labels, annotations map[string]string) bool {
	return strings.EqualFold(labels[PruneAnnotation], "disabled") || strings.EqualFold(annotations[PruneAnnotation], "disabled")
}

// deleteIfOwned deletes e's object if it is env's and not protected from pruning: Pruned,
// Terminating (finalizers hold it), Skipped, or no action when it is gone already.
func (s *Syncer) deleteIfOwned(ctx context.Context, env string, e Entry) (Change, error) {
	res, err := s.metaResource(e)
	if res == nil || err != nil {
		return Change{}, err
	}
	live, err := res.Get(ctx, e.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Change{}, nil
	}
	if err != nil {
		return Change{}, fmt.Errorf("%s: %w", e.ObjectID, err)
	}
	if !ownedBy(live.Labels, env) || pruneDisabled(live.Labels, live.Annotations) {
		return Change{Object: e.ObjectID, Action: Skipped, Reason: "not labelled for " + env + " any more, or annotated " + PruneAnnotation + ": disabled"}, nil
	}
	a, err := deleteExactly(ctx, res, e, live)
	if a == "" || err != nil {
		return Change{}, err
	}
	c := Change{Object: e.ObjectID, Action: a}
	if a == Terminating {
		c.Reason = "deleted, held by finalizers " + strings.Join(live.Finalizers, ", ") + " until their controller removes them"
	}
	return c, nil
}

// deleteExactly deletes e's object if it is still the one read as live (the same UID):
// Pruned, or Terminating when finalizers keep it until their controllers remove them. The
// resourceVersion is not a precondition: a controller's status update in between must not
// fail the prune.
func deleteExactly(ctx context.Context, res metadata.ResourceInterface, e Entry, live *metav1.PartialObjectMetadata) (Action, error) {
	background := metav1.DeletePropagationBackground
	err := res.Delete(ctx, e.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &live.UID},
		PropagationPolicy: &background,
	})
	switch {
	case err == nil && len(live.Finalizers) > 0:
		return Terminating, nil
	case err == nil:
		return Pruned, nil
	case apierrors.IsNotFound(err):
		return "", nil
	case apierrors.IsConflict(err):
		return "", fmt.Errorf("%s: re-created while being pruned; not deleted, decided again at the next sync", e.ObjectID)
	}
	return "", fmt.Errorf("%s: delete: %w", e.ObjectID, err)
}

// PruneEnvironment removes what ferry applied for env, an environment it no longer syncs
// (removed from ferry.yaml, where removing it prunes nothing): it deletes every object of
// env's inventory and pending list that still carries both of ferry's labels for env and is
// not annotated ferry.dev/prune: disabled, then env's state ConfigMap. With dryRun it changes
// nothing. The ChangeSet lists each object that exists as Pruned (deleted, or to be deleted)
// or Skipped (kept); objects already gone are left out; a Namespace or CRD says in its Reason
// what its deletion takes with it. It returns an error when env has no state ConfigMap; when a
// Namespace or CRD to delete holds objects that are not env's (then nothing is deleted, even
// with dryRun false); and, keeping the state ConfigMap so that a second run retries them, when
// objects could not be read or deleted; the error names them.
func (s *Syncer) PruneEnvironment(ctx context.Context, env string, dryRun bool) (ChangeSet, error) {
	st, err := s.state.Load(ctx, env)
	if err != nil {
		return nil, err
	}
	if st.resourceVersion == "" {
		return nil, fmt.Errorf("environment %s: no state ConfigMap %s/%s: ferry has not synced it into this cluster, or it was pruned already",
			env, s.opts.Namespace, StateConfigMapName(env))
	}
	all := merge(st.Inventory, st.Pending)
	var present Inventory
	var plan ChangeSet
	var refused []Cascade
	cascaded := map[ObjectID]Cascade{}
	for _, e := range all {
		live, err := s.liveMetadata(ctx, e)
		if err != nil {
			return nil, err
		}
		if live == nil {
			continue
		}
		present = append(present, e)
		c := Change{Object: e.ObjectID, Action: Pruned}
		switch {
		case !ownedBy(live.Labels, env) || pruneDisabled(live.Labels, live.Annotations):
			c.Action, c.Reason = Skipped, "not labelled for "+env+" any more, or annotated "+PruneAnnotation+": disabled"
		case cascades(e.ObjectID):
			cc, err := s.cascadeOf(ctx, env, e, all)
			if err != nil {
				return nil, err
			}
			c.Reason, cascaded[e.ObjectID] = cc.String(), cc
			if len(cc.Foreign) > 0 {
				refused = append(refused, cc)
			}
		}
		plan = append(plan, c)
	}
	if len(refused) > 0 {
		// Nothing is deleted: half an environment pruned is worse than none.
		return plan, fmt.Errorf("environment %s: nothing deleted: %w", env, refusal(env, refused))
	}
	if dryRun {
		return plan, nil
	}
	// deleteOwned checks the labels again right before each delete.
	done, err := s.deleteOwned(ctx, env, present)
	done = withCascades(done, cascaded)
	if err != nil {
		return done, err
	}
	return done, s.state.Delete(ctx, env)
}

// liveMetadata reads the metadata of e's object; nil when it, or its kind, no longer exists.
func (s *Syncer) liveMetadata(ctx context.Context, e Entry) (*metav1.PartialObjectMetadata, error) {
	res, err := s.metaResource(e)
	if res == nil || err != nil {
		return nil, err
	}
	obj, err := res.Get(ctx, e.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.ObjectID, err)
	}
	return obj, nil
}

// metaResource returns the metadata client of e's kind, in e's namespace for a namespaced
// kind, at e's version or, when the cluster no longer serves that one, at its preferred
// version (metadata is the same in every version); nil when it no longer serves the kind.
func (s *Syncer) metaResource(e Entry) (metadata.ResourceInterface, error) {
	gk := e.GroupVersionKind().GroupKind()
	mapping, err := s.mapper.RESTMapping(gk, e.Version)
	if meta.IsNoMatchError(err) {
		mapping, err = s.mapper.RESTMapping(gk)
	}
	if meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.ObjectID, err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return s.meta.Resource(mapping.Resource).Namespace(e.Namespace), nil
	}
	return s.meta.Resource(mapping.Resource), nil
}
