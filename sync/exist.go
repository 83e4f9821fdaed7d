package sync

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// AnyExists reports whether any of objs exists in the cluster, whoever manages it: whether an
// environment whose state is missing already runs something, so that its sync must not count
// as a first one. Namespaces are left out (ferry creates the environment's own before any
// object, and an empty namespace runs nothing). It lists metadata once per kind and namespace
// of objs, stopping at the first object found. The error names the kind that could not be read.
func (s *Syncer) AnyExists(ctx context.Context, objs []*unstructured.Unstructured) (bool, error) {
	groups := map[groupKey][]string{}
	var order []groupKey
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		if gvk.Group == "" && gvk.Kind == "Namespace" {
			continue
		}
		k := groupKey{gvk: gvk, namespace: o.GetNamespace()}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], o.GetName())
	}
	for _, k := range order {
		live, err := s.listLive(ctx, k)
		if err != nil {
			return false, err
		}
		for _, name := range groups[k] {
			if _, ok := live[name]; ok {
				return true, nil
			}
		}
	}
	return false, nil
}
