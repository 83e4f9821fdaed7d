package sync

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
)

// loadState returns env's state. When its ConfigMap is missing (a first sync, or the state was
// deleted), the inventory is rebuilt from the cluster (see rebuildInventory), so that objects
// ferry applied before the state was lost are pruned by the usual rules when they have left the
// overlay, instead of being forgotten; st.Rebuilt then counts them.
func (s *Syncer) loadState(ctx context.Context, env *environments.Environment) (*State, error) {
	st, err := s.state.Load(ctx, env.Name)
	if err != nil || st.resourceVersion != "" {
		return st, err
	}
	inv, err := s.rebuildInventory(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("state ConfigMap %s/%s is missing, and the inventory could not be rebuilt from the cluster: %w",
			s.opts.Namespace, StateConfigMapName(env.Name), err)
	}
	st.Inventory, st.Rebuilt, st.Health = inv, len(inv), Unknown
	return st, nil
}

// rebuildInventory finds the objects ferry applied for env: those of every kind the cluster
// serves, in env's namespace or cluster-scoped, that carry both of ferry's labels for env and
// whose fields ferry's field manager owns by server-side apply. Their entries carry no hash,
// so the next apply sends each of them again. Kinds ferry may not list (a namespace-restricted
// install) are left out: ferry cannot have applied them there.
func (s *Syncer) rebuildInventory(ctx context.Context, env *environments.Environment) (Inventory, error) {
	lists, err := discovery.ServerPreferredResources(s.kube.Discovery())
	if err != nil && !(discovery.IsGroupDiscoveryFailedError(err) && len(lists) > 0) {
		// An API group that cannot be discovered (an aggregated API that is down) is left
		// out; nothing else may be.
		return nil, fmt.Errorf("discovery: %w", err)
	}
	sel := labels.Set{render.ManagedByLabel: render.ManagedByValue, render.EnvironmentLabel: env.Name}.String()
	var inv Inventory
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			return nil, err
		}
		for _, r := range list.APIResources {
			if !listable(r) {
				continue
			}
			ns := ""
			if r.Namespaced {
				ns = env.Namespace
			}
			got, err := s.allKinds.Resource(gv.WithResource(r.Name)).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
			if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", gv.WithResource(r.Name), err)
			}
			for _, item := range got.Items {
				if ferryFields(item.ManagedFields) == "" {
					continue // labelled by hand, never applied by ferry
				}
				inv = append(inv, Entry{ObjectID: ObjectID{Group: gv.Group, Kind: r.Kind, Namespace: item.Namespace, Name: item.Name}, Version: gv.Version})
			}
		}
	}
	inv.sort()
	return inv, nil
}
