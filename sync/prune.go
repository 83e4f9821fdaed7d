package sync

import (
	"context"
	"fmt"

	"github.com/fluxcd/pkg/ssa"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
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
	return s.deleteOwned(ctx, env.Name, removed)
}

// deleteOwned deletes the objects of entries that still carry both of ferry's labels for env
// and are not annotated ferry.dev/prune: disabled (ssa reads each one first); the others are
// reported as skipped.
func (s *Syncer) deleteOwned(ctx context.Context, env string, entries Inventory) (ChangeSet, error) {
	objs := make([]*unstructured.Unstructured, 0, len(entries))
	for _, e := range entries {
		objs = append(objs, stub(e))
	}
	cs, err := s.mgr.DeleteAll(ctx, objs, ssa.DeleteOptions{
		PropagationPolicy: metav1.DeletePropagationBackground,
		Inclusions:        map[string]string{render.ManagedByLabel: render.ManagedByValue, render.EnvironmentLabel: env},
		Exclusions:        map[string]string{PruneAnnotation: "disabled"},
	})
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	return fromSSA(cs), nil
}

// stub returns an object with only the kind, namespace and name of e.
func stub(e Entry) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetGroupVersionKind(e.GroupVersionKind())
	o.SetNamespace(e.Namespace)
	o.SetName(e.Name)
	return o
}

// PruneEnvironment removes what ferry applied for env, an environment it no longer syncs
// (removed from ferry.yaml, where removing it prunes nothing): it deletes every object of
// env's inventory and pending list that still carries both of ferry's labels for env and is
// not annotated ferry.dev/prune: disabled, then env's state ConfigMap. With dryRun it changes
// nothing. The ChangeSet lists each object that exists as Pruned (deleted, or to be deleted)
// or Skipped (kept); objects already gone are left out. It returns an error when env has no
// state ConfigMap, and, keeping the state ConfigMap so that a second run retries them, when
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
	var present Inventory
	var plan ChangeSet
	for _, e := range merge(st.Inventory, st.Pending) {
		live, err := s.liveMetadata(ctx, e)
		if err != nil {
			return nil, err
		}
		if live == nil {
			continue
		}
		present = append(present, e)
		action := Pruned
		if !ownedBy(live.Labels, env) || live.Annotations[PruneAnnotation] == "disabled" {
			action = Skipped
		}
		plan = append(plan, Change{Object: e.ObjectID, Action: action})
	}
	if dryRun {
		return plan, nil
	}
	// ssa checks the labels again right before each delete.
	done, err := s.deleteOwned(ctx, env, present)
	if err != nil {
		return done, err
	}
	return done, s.state.Delete(ctx, env)
}

// liveMetadata reads the metadata of e's object; nil when it, or its kind, no longer exists.
func (s *Syncer) liveMetadata(ctx context.Context, e Entry) (*metav1.PartialObjectMetadata, error) {
	mapping, err := s.mapper.RESTMapping(e.GroupVersionKind().GroupKind(), e.Version)
	if meta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.ObjectID, err)
	}
	var obj *metav1.PartialObjectMetadata
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		obj, err = s.meta.Resource(mapping.Resource).Namespace(e.Namespace).Get(ctx, e.Name, metav1.GetOptions{})
	} else {
		obj, err = s.meta.Resource(mapping.Resource).Get(ctx, e.Name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.ObjectID, err)
	}
	return obj, nil
}
