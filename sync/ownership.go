package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
)

// checkOwnership refuses to apply an object that exists in the cluster but is not env's, and
// returns which of objs exist. An existing object is env's when it carries ferry's labels for
// env; or when env's inventory (or pending list) holds it, no other environment's label is on
// it and ferry's field manager still owns fields of it: someone removed or changed ferry's
// labels, which is drift, corrected by the apply. Anything else belongs to someone else and is
// never taken over silently: an object created by hand or by another tool (also one re-created
// under the name of a deleted ferry object), and one labelled for another environment, even
// when env's inventory holds it (someone moved it there by relabelling it). To adopt an
// object, label it app.kubernetes.io/managed-by=ferry and ferry.dev/environment=ENV first. It
// lists metadata once per kind and namespace of objs, not once per object, and not at all for
// inventory objects the drift watch has seen as env's, unchanged since ferry applied them.
func (s *Syncer) checkOwnership(ctx context.Context, env *environments.Environment, st *State, objs []*unstructured.Unstructured) (map[ObjectID]bool, error) {
	known := merge(st.Inventory, st.Pending).Index()
	exists := map[ObjectID]bool{}
	groups := map[groupKey][]*unstructured.Unstructured{}
	for _, o := range objs {
		id := IDOf(o)
		if _, listed := known[id]; listed && s.watch != nil && s.watch.owns(env.Name, id) {
			exists[id] = true // mayApply: listed, labelled for env, ferry's fields
			continue
		}
		k := groupKey{gvk: o.GroupVersionKind(), namespace: o.GetNamespace()}
		groups[k] = append(groups[k], o)
	}
	var errs []error
	removed := map[string]string{} // other environment -> revision it left ferry.yaml at
	for k, group := range groups {
		existing, err := s.listLive(ctx, k)
		if apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("%s: ferry's service account may not read (so may not manage) this kind here; grant it in ferry's RBAC or drop the object from the overlay: %w", IDOf(group[0]), err)
		}
		if err != nil {
			return nil, err
		}
		for _, o := range group {
			live, found := existing[o.GetName()]
			exists[IDOf(o)] = found
			if !found {
				continue
			}
			_, listed := known[IDOf(o)]
			if err := mayApply(live, env.Name, listed); err != nil {
				s.adviseOnOtherEnvironment(ctx, err, removed) // before the wrapping formats it
				errs = append(errs, fmt.Errorf("%s: %w", IDOf(o), err))
			}
		}
	}
	return exists, errors.Join(errs...)
}

// otherEnvironmentError refuses an object labelled for another environment. What to do
// depends on whether that environment is still in ferry.yaml, which checkOwnership looks up
// in its state ConfigMap (the agent marks an environment that left ferry.yaml, see
// StateStore.MarkRemoved).
type otherEnvironmentError struct {
	env, other string
	removedAt  string // revision at which other left ferry.yaml; "" when not known to have left
}

func (e *otherEnvironmentError) Error() string {
	msg := fmt.Sprintf("exists in the cluster labelled %s=%s; environment %s will not take it from that environment",
		render.EnvironmentLabel, e.other, e.env)
	relabel := fmt.Sprintf("relabel the object %s=%s (kubectl label … --overwrite) to hand it to %s", render.EnvironmentLabel, e.env, e.env)
	if e.removedAt != "" {
		return fmt.Sprintf("%s, which left ferry.yaml at %s: run `ferry prune %s` to delete what %s applied (then %s creates the object), or %s",
			msg, shortRev(e.removedAt), e.other, e.other, e.env, relabel)
	}
	return fmt.Sprintf("%s: if %s is still in ferry.yaml, drop the object from one of the two overlays; if %s was renamed or removed, "+
		"run `ferry prune %s` to delete what it applied, or %s", msg, e.other, e.other, e.other, relabel)
}

// adviseOnOtherEnvironment completes err, when it is an otherEnvironmentError, with whether
// its other environment left ferry.yaml, read from that environment's state once per check
// (removed caches it). A state that cannot be read leaves the advice general.
func (s *Syncer) adviseOnOtherEnvironment(ctx context.Context, err error, removed map[string]string) {
	var oe *otherEnvironmentError
	if !errors.As(err, &oe) {
		return
	}
	rev, seen := removed[oe.other]
	if !seen {
		rev, _, _ = s.state.removedAt(ctx, oe.other)
		removed[oe.other] = rev
	}
	oe.removedAt = rev
}

// shortRev returns the first 7 characters of a commit SHA, other revisions as they are.
func shortRev(rev string) string {
	if len(rev) == 40 {
		return rev[:7]
	}
	return rev
}

// liveObject is what the ownership check reads of an existing object.
type liveObject struct {
	labels map[string]string
	// ferryFields is true when ferry's field manager owns fields of the object.
	ferryFields bool
	// deleting is true when the object is being deleted; finalizers hold it.
	deleting   bool
	finalizers []string
}

// mayApply returns why env may not apply to the existing object live, or nil when it may (see
// checkOwnership); listed says whether env's inventory or pending list holds the object.
func mayApply(live liveObject, env string, listed bool) error {
	other := live.labels[render.EnvironmentLabel]
	switch {
	case live.deleting:
		// An apply would find it unchanged and the API server would then finish deleting it.
		return fmt.Errorf("is being deleted (finalizers: %s); ferry creates it again once it is gone", strings.Join(live.finalizers, ", "))
	case ownedBy(live.labels, env):
		return nil
	case other != "" && other != env:
		return &otherEnvironmentError{env: env, other: other}
	case listed && live.ferryFields:
		return nil
	}
	return fmt.Errorf("exists in the cluster and is not managed by ferry environment %s (labels %v); ferry will not take it over: delete it, or label it %s=%s and %s=%s to adopt it",
		env, live.labels, render.ManagedByLabel, render.ManagedByValue, render.EnvironmentLabel, env)
}

type groupKey struct {
	gvk       schema.GroupVersionKind
	namespace string
}

// listLive returns what the ownership check needs of every object of one kind in one
// namespace, by name. A kind the cluster does not serve yet (a CRD in the same render) has no
// objects.
func (s *Syncer) listLive(ctx context.Context, k groupKey) (map[string]liveObject, error) {
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
	out := make(map[string]liveObject, len(list.Items))
	for _, item := range list.Items {
		live := liveObject{labels: item.Labels, deleting: item.DeletionTimestamp != nil, finalizers: item.Finalizers}
		for _, f := range item.ManagedFields {
			live.ferryFields = live.ferryFields || f.Manager == FieldManager
		}
		out[item.Name] = live
	}
	return out, nil
}

func ownedBy(labels map[string]string, env string) bool {
	return labels[render.ManagedByLabel] == render.ManagedByValue && labels[render.EnvironmentLabel] == env
}

// ensureNamespace creates the environment's namespace when it is missing. It is not part of
// the inventory, so ferry never prunes it.
func (s *Syncer) ensureNamespace(ctx context.Context, name string) error {
	if _, ok := s.namespaces.Load(name); ok {
		return nil
	}
	_, err := s.kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		s.namespaces.Store(name, true)
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
	s.namespaces.Store(name, true)
	return nil
}
