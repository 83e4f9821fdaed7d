package sync

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// prunePlan is what a prune does with the objects that left an overlay.
type prunePlan struct {
	// remove is what to delete (deleteOwned checks labels and annotations again).
	remove Inventory
	// kept are objects the render still needs, Skipped with the reason: dropped from the
	// inventory, left in the cluster.
	kept ChangeSet
	// cascades says what deleting each Namespace or CRD of remove takes with it.
	cascades map[ObjectID]Cascade
	// refused are Namespaces and CRDs whose deletion would take objects that are not the
	// environment's; refusedEntries their inventory entries, kept to decide again.
	refused        []Cascade
	refusedEntries Inventory
}

// keptByRender plans the prune of removed: a Namespace that is the environment's own (ns) or
// that the render still places objects in, and a CRD (named in crds) whose kind the render
// still uses, are kept: deleting them would delete what the render applies.
func keptByRender(ns string, removed Inventory, objs []*unstructured.Unstructured, crds map[string]bool) prunePlan {
	used := map[string]bool{ns: true}
	for _, o := range objs {
		if o.GetNamespace() != "" {
			used[o.GetNamespace()] = true
		}
	}
	var plan prunePlan
	for _, e := range removed {
		switch {
		case e.Group == "" && e.Kind == "Namespace" && e.Name == ns:
			plan.kept = append(plan.kept, Change{Object: e.ObjectID, Action: Skipped,
				Reason: "not pruned: it is the environment's own namespace; dropped from the inventory, left in the cluster"})
		case e.Group == "" && e.Kind == "Namespace" && used[e.Name]:
			plan.kept = append(plan.kept, Change{Object: e.ObjectID, Action: Skipped,
				Reason: "not pruned: the render still places objects in it; dropped from the inventory, left in the cluster"})
		case e.Group == "apiextensions.k8s.io" && e.Kind == "CustomResourceDefinition" && crds[e.Name]:
			plan.kept = append(plan.kept, Change{Object: e.ObjectID, Action: Skipped,
				Reason: "not pruned: the render still has custom resources of its kind; dropped from the inventory, left in the cluster"})
		default:
			plan.remove = append(plan.remove, e)
		}
	}
	return plan
}

// crdNames returns the names of the CRDs that serve the kinds of objs (plural.group), as the
// cluster maps them now.
func (s *Syncer) crdNames(objs []*unstructured.Unstructured) map[string]bool {
	names := map[string]bool{}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group == "" {
			continue
		}
		m, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			continue // not served: no CRD of the cluster serves it
		}
		names[m.Resource.Resource+"."+m.Resource.Group] = true
	}
	return names
}

// checkCascades reads, for each Namespace and CRD that plan would delete, what the deletion
// would take with it, and moves those that would take objects outside ours (env's inventory)
// from plan.remove to plan.refused. Objects already gone, or that deleteOwned would skip
// anyway (not labelled for env, or ferry.dev/prune: disabled), are not read further.
func (s *Syncer) checkCascades(ctx context.Context, env string, plan prunePlan, ours Inventory) (prunePlan, error) {
	var remove Inventory
	for _, e := range plan.remove {
		if !cascades(e.ObjectID) {
			remove = append(remove, e)
			continue
		}
		live, err := s.liveMetadata(ctx, e)
		if err != nil {
			return plan, err
		}
		if live == nil || !ownedBy(live.Labels, env) || pruneDisabled(live.Labels, live.Annotations) {
			remove = append(remove, e)
			continue
		}
		c, err := s.cascadeOf(ctx, env, e, ours)
		if err != nil {
			return plan, err
		}
		if len(c.Foreign) > 0 {
			plan.refused, plan.refusedEntries = append(plan.refused, c), append(plan.refusedEntries, e)
			continue
		}
		if plan.cascades == nil {
			plan.cascades = map[ObjectID]Cascade{}
		}
		plan.cascades[e.ObjectID] = c
		remove = append(remove, e)
	}
	plan.remove = remove
	return plan, nil
}

// refusal is the error of a prune that refused to delete Namespaces or CRDs.
func refusal(env string, refused []Cascade) error {
	parts := make([]string, len(refused))
	for i, c := range refused {
		parts[i] = c.String()
	}
	return fmt.Errorf("%s: not pruned, because environment %s does not own everything it holds; move or delete what is not ferry's, or annotate it %s: disabled to keep it",
		strings.Join(parts, "; "), env, PruneAnnotation)
}

// withCascades adds to each pruned Namespace or CRD of done what its deletion took with it.
func withCascades(done ChangeSet, cascades map[ObjectID]Cascade) ChangeSet {
	for i, c := range done {
		if cc, ok := cascades[c.Object]; ok && c.Action == Pruned && cc.Total > 0 {
			done[i].Reason = strings.Replace(cc.String(), "would be deleted", "deleted", 1)
		}
	}
	return done
}
