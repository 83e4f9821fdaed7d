package sync

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cascade is what deleting a Namespace or a CustomResourceDefinition would take with it: the
// API server deletes every object in a Namespace, and every custom resource of a CRD.
type Cascade struct {
	// Object is the Namespace or CRD.
	Object ObjectID
	// Total counts the objects that would be deleted with it (Events left out).
	Total int
	// Foreign lists those of them that are not the environment's: neither in its inventory nor
	// labelled for it, nor created by the control plane or owned by another object. A prune
	// that would take any of them is refused.
	Foreign []ObjectID
}

// String says what the deletion would take, e.g. "Namespace alpha would be deleted with 7
// objects, 3 of them not ferry's (PersistentVolumeClaim alpha/data, …)".
func (c Cascade) String() string {
	what := "objects"
	if c.Object.Kind == "CustomResourceDefinition" {
		what = "custom resources"
	}
	s := fmt.Sprintf("%s would be deleted with %d %s", c.Object, c.Total, what)
	if len(c.Foreign) == 0 {
		return s + ", none of them another owner's"
	}
	return s + fmt.Sprintf(", %d of them not ferry's (%s)", len(c.Foreign), listIDs(c.Foreign, 5))
}

// listIDs joins up to max ids, saying how many more there are.
func listIDs(ids []ObjectID, max int) string {
	parts := make([]string, 0, max+1)
	for i, id := range ids {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(ids)-max))
			break
		}
		parts = append(parts, id.String())
	}
	return strings.Join(parts, ", ")
}

// cascades reports whether deleting e's object deletes other objects with it: a Namespace or
// a CRD.
func cascades(id ObjectID) bool {
	return (id.Group == "" && id.Kind == "Namespace") ||
		(id.Group == "apiextensions.k8s.io" && id.Kind == "CustomResourceDefinition")
}

// cascadeOf reads what deleting the Namespace or CRD of e would delete with it; ours holds
// the environment's inventory, env its name. The error names the object that could not be
// read; a cluster that cannot list everything in a Namespace is an error, never an empty list.
func (s *Syncer) cascadeOf(ctx context.Context, env string, e Entry, ours Inventory) (Cascade, error) {
	c := Cascade{Object: e.ObjectID}
	var items []metav1.PartialObjectMetadata
	var ids []ObjectID
	var err error
	if e.Kind == "Namespace" {
		items, ids, err = s.namespaceContents(ctx, e.Name)
	} else {
		items, ids, err = s.customResources(ctx, e.Name)
	}
	if err != nil {
		return c, fmt.Errorf("%s: read what deleting it would delete: %w", e.ObjectID, err)
	}
	known := ours.Index()
	for i, item := range items {
		c.Total++
		if _, listed := known[ids[i]]; listed || ownedBy(item.Labels, env) || dependent(ids[i], item) {
			continue
		}
		c.Foreign = append(c.Foreign, ids[i])
	}
	sort.Slice(c.Foreign, func(i, j int) bool { return c.Foreign[i].less(c.Foreign[j]) })
	return c, nil
}

// controlPlaneManagers are the field managers of objects the control plane creates in every
// namespace (the default ServiceAccount, the kube-root-ca.crt ConfigMap, a Service's
// Endpoints).
var controlPlaneManagers = map[string]bool{
	"kube-controller-manager": true, "kube-apiserver": true, "kube-scheduler": true,
}

// dependent reports whether item (id) lives and dies with something else: another object
// owns it (a Deployment's ReplicaSets and Pods), only the control plane wrote it, or it is the
// namespace's default ServiceAccount, which the control plane creates with no field to manage.
func dependent(id ObjectID, item metav1.PartialObjectMetadata) bool {
	if len(item.OwnerReferences) > 0 {
		return true
	}
	if id.Group == "" && id.Kind == "ServiceAccount" && id.Name == "default" && len(item.ManagedFields) == 0 {
		return true // once someone edits it, it counts as theirs
	}
	if len(item.ManagedFields) == 0 {
		return false
	}
	for _, f := range item.ManagedFields {
		if !controlPlaneManagers[f.Manager] {
			return false
		}
	}
	return true
}

// namespaceContents lists every object in namespace ns, of every kind the cluster serves that
// can be listed, Events left out.
func (s *Syncer) namespaceContents(ctx context.Context, ns string) ([]metav1.PartialObjectMetadata, []ObjectID, error) {
	lists, err := discovery.ServerPreferredNamespacedResources(s.kube.Discovery())
	if err != nil {
		return nil, nil, fmt.Errorf("discovery: %w", err)
	}
	var items []metav1.PartialObjectMetadata
	var ids []ObjectID
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range list.APIResources {
			if !listable(r) || r.Kind == "Event" {
				continue
			}
			got, err := s.allKinds.Resource(gv.WithResource(r.Name)).Namespace(ns).List(ctx, metav1.ListOptions{})
			if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("list %s in %s: %w", r.Name, ns, err)
			}
			for _, item := range got.Items {
				items = append(items, item)
				ids = append(ids, ObjectID{Group: gv.Group, Kind: r.Kind, Namespace: ns, Name: item.Name})
			}
		}
	}
	return items, ids, nil
}

func listable(r metav1.APIResource) bool {
	if strings.Contains(r.Name, "/") { // a subresource
		return false
	}
	for _, v := range r.Verbs {
		if v == "list" {
			return true
		}
	}
	return false
}

// customResources lists every custom resource of the CRD named name, in every namespace.
func (s *Syncer) customResources(ctx context.Context, name string) ([]metav1.PartialObjectMetadata, []ObjectID, error) {
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := s.mgr.Client().Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	version := servedVersion(crd)
	if version == "" {
		return nil, nil, nil // nothing served: no custom resource can be read or exists
	}
	got, err := s.meta.Resource(schema.GroupVersionResource{Group: group, Version: version, Resource: plural}).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("list %s.%s: %w", plural, group, err)
	}
	ids := make([]ObjectID, len(got.Items))
	for i, item := range got.Items {
		ids[i] = ObjectID{Group: group, Kind: kind, Namespace: item.Namespace, Name: item.Name}
	}
	return got.Items, ids, nil
}

// servedVersion returns a version the CRD serves, its storage version when served.
func servedVersion(crd *unstructured.Unstructured) string {
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	served := ""
	for _, v := range versions {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		if ok, _ := m["served"].(bool); !ok {
			continue
		}
		if storage, _ := m["storage"].(bool); storage {
			return name
		}
		if served == "" {
			served = name
		}
	}
	return served
}
