package sync

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// serverMetadata are the metadata fields the API server sets; every other metadata field of an
// applied object (finalizers, ownerReferences, labels, annotations) is the applier's.
var serverMetadata = []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp",
	"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}

// metadataChanged dry-runs the apply of o and reports whether it would change o's metadata,
// returning the live object and the dry-run result (nil when o does not exist). ssa compares
// only the labels and annotations of metadata, so that a change that git makes to the
// finalizers or ownerReferences ferry applies would otherwise pass as unchanged and never be
// applied. The error names o.
func (s *Syncer) metadataChanged(ctx context.Context, o *unstructured.Unstructured) (live, dry *unstructured.Unstructured, changed bool, err error) {
	live = &unstructured.Unstructured{}
	live.SetGroupVersionKind(o.GroupVersionKind())
	if err := s.mgr.Client().Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
		return nil, nil, false, fmt.Errorf("%s: %w", IDOf(o), client.IgnoreNotFound(err))
	}
	dry = o.DeepCopy()
	err = s.mgr.Client().Patch(ctx, dry, client.Apply, client.ForceOwnership, client.FieldOwner(FieldManager), client.DryRunAll)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%s: dry-run: %w", IDOf(o), err)
	}
	return live, dry, !equality.Semantic.DeepEqual(userMetadata(live), userMetadata(dry)), nil
}

// userMetadata returns o's metadata without the fields the server sets.
func userMetadata(o *unstructured.Unstructured) map[string]any {
	m, _, _ := unstructured.NestedMap(o.Object, "metadata")
	for _, f := range serverMetadata {
		delete(m, f)
	}
	return m
}

// applyMetadataChanges applies for real those of objs that ssa found unchanged but whose
// metadata would change (see metadataChanged), and returns changes with them Configured.
// suspects names the objects to check: those whose desired state changed since ferry last
// applied them, or that drifted; checking every unchanged object would cost two requests each.
func (s *Syncer) applyMetadataChanges(ctx context.Context, env string, objs []*unstructured.Unstructured, changes ChangeSet, suspects map[ObjectID]bool) (ChangeSet, error) {
	if len(suspects) == 0 {
		return changes, nil
	}
	byID := make(map[ObjectID]*unstructured.Unstructured, len(objs))
	for _, o := range objs {
		byID[IDOf(o)] = o
	}
	for i, c := range changes {
		o := byID[c.Object]
		if c.Action != Unchanged || !suspects[c.Object] || o == nil {
			continue
		}
		_, _, changed, err := s.metadataChanged(ctx, o)
		if err != nil {
			return changes, &Error{Phase: PhaseApply, Err: err}
		}
		if !changed {
			continue
		}
		if s.watch != nil {
			s.watch.expect(env, []*unstructured.Unstructured{o}) // ferry's own write, not drift
		}
		if err := s.mgr.Client().Patch(ctx, o.DeepCopy(), client.Apply, client.ForceOwnership, client.FieldOwner(FieldManager)); err != nil {
			return changes, &Error{Phase: PhaseApply, Err: fmt.Errorf("%s: apply: %w", c.Object, err)}
		}
		changes[i].Action = Configured
	}
	return changes, nil
}

// changedSince returns the objects of objs whose desired hash differs from the one inv
// recorded (objects inv records without a hash, or not at all, are left out), and those of
// drifted.
func changedSince(inv Inventory, objs Inventory, drifted []ObjectID) map[ObjectID]bool {
	last := inv.Index()
	out := map[ObjectID]bool{}
	for _, e := range objs {
		if l, ok := last[e.ObjectID]; ok && l.Hash != "" && l.Hash != e.Hash {
			out[e.ObjectID] = true
		}
	}
	for _, id := range drifted {
		out[id] = true
	}
	return out
}
