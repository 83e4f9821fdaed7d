package sync

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"

	"github.com/ferry-cd/ferry/environments"
)

// prune deletes the objects that left env's overlay: deleteOwned reads each one first and
// deletes it only if it still carries both of ferry's labels for env and is not annotated
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

// deleteOwned deletes, Options.Concurrency at a time, the objects of entries that still carry
// both of ferry's labels for env and are not annotated ferry.dev/prune: disabled; the others are
// reported as skipped, and those already gone are left out. Each delete is conditional on the
// UID and resourceVersion just read, so that an object re-created or relabelled in between is
// not deleted: that fails the prune (naming the object), and the inventory keeps it for the
// next sync to decide again.
func (s *Syncer) deleteOwned(ctx context.Context, env string, entries Inventory) (ChangeSet, error) {
	actions := make([]Action, len(entries))
	errs := make([]error, len(entries))
	var g errgroup.Group
	g.SetLimit(s.opts.Concurrency)
	for i, e := range entries {
		g.Go(func() error {
			actions[i], errs[i] = s.deleteIfOwned(ctx, env, e)
			return nil
		})
	}
	_ = g.Wait()
	var out ChangeSet
	for i, a := range actions {
		if a != "" {
			out = append(out, Change{Object: entries[i].ObjectID, Action: a})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("prune: %w", err)
	}
	return out, nil
}

// deleteIfOwned deletes e's object if it is env's and not protected from pruning: Pruned,
// Skipped, or "" when it is gone already.
func (s *Syncer) deleteIfOwned(ctx context.Context, env string, e Entry) (Action, error) {
	res, err := s.metaResource(e)
	if res == nil || err != nil {
		return "", err
	}
	live, err := res.Get(ctx, e.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", e.ObjectID, err)
	}
	if !ownedBy(live.Labels, env) || live.Annotations[PruneAnnotation] == "disabled" {
		return Skipped, nil
	}
	return deleteExactly(ctx, res, e, live)
}

// deleteExactly deletes e's object if it is still live: the same UID and resourceVersion.
func deleteExactly(ctx context.Context, res metadata.ResourceInterface, e Entry, live *metav1.PartialObjectMetadata) (Action, error) {
	background := metav1.DeletePropagationBackground
	err := res.Delete(ctx, e.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &live.UID, ResourceVersion: &live.ResourceVersion},
		PropagationPolicy: &background,
	})
	switch {
	case err == nil:
		return Pruned, nil
	case apierrors.IsNotFound(err):
		return "", nil
	case apierrors.IsConflict(err):
		return "", fmt.Errorf("%s: changed while being pruned (re-created or relabelled); not deleted, decided again at the next sync", e.ObjectID)
	}
	return "", fmt.Errorf("%s: delete: %w", e.ObjectID, err)
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
	// deleteOwned checks the labels again right before each delete.
	done, err := s.deleteOwned(ctx, env, present)
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
// kind; nil when the cluster no longer serves the kind.
func (s *Syncer) metaResource(e Entry) (metadata.ResourceInterface, error) {
	mapping, err := s.mapper.RESTMapping(e.GroupVersionKind().GroupKind(), e.Version)
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
