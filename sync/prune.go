package sync

import (
	"context"
	"fmt"

	"github.com/fluxcd/pkg/ssa"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
)

// prune deletes the objects that left env's overlay. ssa reads each one first and deletes it
// only if it still carries both of ferry's labels for env and is not annotated
// ferry.dev/prune: disabled; others are reported as skipped. Nothing is pruned when the
// environment sets prune: false.
func (s *Syncer) prune(ctx context.Context, env *environments.Environment, removed Inventory) (ChangeSet, error) {
	if len(removed) == 0 {
		return nil, nil
	}
	if !env.Prune {
		out := make(ChangeSet, 0, len(removed))
		for _, e := range removed {
			out = append(out, Change{Object: e.ObjectID, Action: Skipped})
		}
		return out, nil
	}
	objs := make([]*unstructured.Unstructured, 0, len(removed))
	for _, e := range removed {
		o := &unstructured.Unstructured{}
		o.SetGroupVersionKind(e.GroupVersionKind())
		o.SetNamespace(e.Namespace)
		o.SetName(e.Name)
		objs = append(objs, o)
	}
	cs, err := s.mgr.DeleteAll(ctx, objs, ssa.DeleteOptions{
		PropagationPolicy: metav1.DeletePropagationBackground,
		Inclusions:        map[string]string{render.ManagedByLabel: render.ManagedByValue, render.EnvironmentLabel: env.Name},
		Exclusions:        map[string]string{PruneAnnotation: "disabled"},
	})
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	return fromSSA(cs), nil
}
