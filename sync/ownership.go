package sync

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
)

// checkOwnership refuses to apply an object that is not in env's inventory but already exists
// in the cluster without ferry's labels for env: it belongs to someone else (created by hand,
// by another tool, or by another environment) and must not be taken over silently. To adopt
// it, label it app.kubernetes.io/managed-by=ferry and ferry.dev/environment=ENV first. It
// lists metadata once per kind and namespace of the new objects, not once per object, and
// returns which of them exist already (owned by env but missing from its inventory).
func (s *Syncer) checkOwnership(ctx context.Context, env *environments.Environment, st *State, objs []*unstructured.Unstructured) (map[ObjectID]bool, error) {
	known := st.Inventory.Index()
	groups := map[groupKey][]*unstructured.Unstructured{}
	for _, o := range objs {
		if _, ok := known[IDOf(o)]; ok {
			continue
		}
		k := groupKey{gvk: o.GroupVersionKind(), namespace: o.GetNamespace()}
		groups[k] = append(groups[k], o)
	}
	var errs []error
	exists := map[ObjectID]bool{}
	for k, group := range groups {
		existing, err := s.listNames(ctx, k)
		if apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("%s: ferry's service account may not read (so may not manage) this kind here; grant it in ferry's RBAC or drop the object from the overlay: %w", IDOf(group[0]), err)
		}
		if err != nil {
			return nil, err
		}
		for _, o := range group {
			labels, found := existing[o.GetName()]
			exists[IDOf(o)] = found
			if found && !ownedBy(labels, env.Name) {
				errs = append(errs, fmt.Errorf("%s: exists in the cluster and is not managed by ferry environment %s (labels %v); ferry will not take it over: delete it, or label it %s=%s and %s=%s to adopt it",
					IDOf(o), env.Name, labels, render.ManagedByLabel, render.ManagedByValue, render.EnvironmentLabel, env.Name))
			}
		}
	}
	return exists, errors.Join(errs...)
}

type groupKey struct {
	gvk       schema.GroupVersionKind
	namespace string
}

// listNames returns the labels of every object of one kind in one namespace, by name. A kind
// the cluster does not serve yet (a CRD in the same render) has no objects.
func (s *Syncer) listNames(ctx context.Context, k groupKey) (map[string]map[string]string, error) {
	mapping, err := s.mapper.RESTMapping(k.gvk.GroupKind(), k.gvk.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", k.gvk, err)
	}
	var list *metav1.PartialObjectMetadataList
	if mapping.Scope.Name() == "namespace" {
		list, err = s.meta.Resource(mapping.Resource).Namespace(k.namespace).List(ctx, metav1.ListOptions{})
	} else {
		list, err = s.meta.Resource(mapping.Resource).List(ctx, metav1.ListOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s in %q: %w", mapping.Resource, k.namespace, err)
	}
	out := make(map[string]map[string]string, len(list.Items))
	for _, item := range list.Items {
		out[item.Name] = item.Labels
	}
	return out, nil
}

func ownedBy(labels map[string]string, env string) bool {
	return labels[render.ManagedByLabel] == render.ManagedByValue && labels[render.EnvironmentLabel] == env
}

// ensureNamespace creates the environment's namespace when it is missing. It is not part of
// the inventory, so ferry never prunes it.
func (s *Syncer) ensureNamespace(ctx context.Context, name string) error {
	_, err := s.kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err = s.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: create: %w", name, err)
	}
	return nil
}
