package sync

import (
	"context"
	"fmt"
	gosync "sync"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/engine"
	"github.com/fluxcd/cli-utils/pkg/kstatus/polling/statusreaders"
	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/cli-utils/pkg/object"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The health wait's poller differs from kstatus' default in what it reads before each poll.
// The default lists, for every Deployment's namespace, the Deployments, every ReplicaSet and
// every Pod, and scans the lists once per object: with 2500 Deployments that is three large
// LISTs every poll interval, competing with the controllers the wait is waiting for, and a
// quadratic lookup. A Deployment's status is computed from the Deployment alone (the
// ReplicaSets only decorate the result), so here Deployments are read alone, Pods are listed
// only where a StatefulSet or ReplicaSet is waited for (their readers fail fast on a failed
// Pod), and objects are looked up by name.

var (
	deploymentKind = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	podKind        = schema.GroupKind{Kind: "Pod"}
	// podOwners are the kinds whose kstatus readers look at their Pods.
	podOwners = map[schema.GroupKind]bool{{Group: "apps", Kind: "StatefulSet"}: true, {Group: "apps", Kind: "ReplicaSet"}: true}
)

// newStatusPoller returns the health wait's kstatus poller (see above).
func newStatusPoller(c client.Reader, mapper meta.RESTMapper) *polling.StatusPoller {
	deployments := onlyKind{deploymentKind, statusreaders.NewGenericStatusReader(mapper, status.Compute)}
	return polling.NewStatusPoller(c, mapper, polling.Options{
		CustomStatusReaders:  []engine.StatusReader{deployments},
		ClusterReaderFactory: engine.ClusterReaderFactoryFunc(newIndexedReader),
	})
}

// onlyKind is a StatusReader that claims one kind only.
type onlyKind struct {
	kind schema.GroupKind
	engine.StatusReader
}

func (o onlyKind) Supports(gk schema.GroupKind) bool { return gk == o.kind }

// listKey is one LIST: a kind in a namespace ("" for cluster-scoped kinds).
type listKey struct {
	kind      schema.GroupKind
	namespace string
}

// listing is one LIST's objects by name, or the error that LIST ended with.
type listing struct {
	byName map[string]*unstructured.Unstructured
	err    error
}

// indexedReader is an engine.ClusterReader that LISTs each kind and namespace of the objects
// waited for once per poll and answers Get by name from an index.
type indexedReader struct {
	reader client.Reader
	mapper meta.RESTMapper
	keys   []listKey

	mu    gosync.RWMutex
	cache map[listKey]listing
}

func newIndexedReader(r client.Reader, mapper meta.RESTMapper, ids object.ObjMetadataSet) (engine.ClusterReader, error) {
	seen := map[listKey]bool{}
	ir := &indexedReader{reader: r, mapper: mapper}
	add := func(k listKey) {
		if !seen[k] {
			seen[k] = true
			ir.keys = append(ir.keys, k)
		}
	}
	for _, id := range ids {
		add(listKey{id.GroupKind, id.Namespace})
		if podOwners[id.GroupKind] {
			add(listKey{podKind, id.Namespace})
		}
	}
	return ir, nil
}

// Sync refreshes every listing. A kind the API server does not serve (yet: its CRD may be
// being established) is kept as that listing's error, as is any other failed LIST; only a
// cancelled context ends the poll.
func (r *indexedReader) Sync(ctx context.Context) error {
	cache := make(map[listKey]listing, len(r.keys))
	for _, k := range r.keys {
		l, err := r.list(ctx, k)
		if err != nil && ctx.Err() != nil {
			return err
		}
		cache[k] = listing{byName: l, err: err}
	}
	r.mu.Lock()
	r.cache = cache
	r.mu.Unlock()
	return nil
}

func (r *indexedReader) list(ctx context.Context, k listKey) (map[string]*unstructured.Unstructured, error) {
	mapping, err := r.mapper.RESTMapping(k.kind)
	if err != nil {
		return nil, err
	}
	var list unstructured.UnstructuredList
	list.SetGroupVersionKind(mapping.GroupVersionKind)
	var opts []client.ListOption
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		opts = append(opts, client.InNamespace(k.namespace))
	}
	if err := r.reader.List(ctx, &list, opts...); err != nil {
		return nil, fmt.Errorf("list %s in %q: %w", k.kind, k.namespace, err)
	}
	byName := make(map[string]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		byName[list.Items[i].GetName()] = &list.Items[i]
	}
	return byName, nil
}

func (r *indexedReader) listing(gk schema.GroupKind, namespace string) (listing, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	l, ok := r.cache[listKey{gk, namespace}]
	if !ok {
		return listing{}, fmt.Errorf("%s in namespace %q is not among the kinds polled", gk, namespace)
	}
	return l, l.err
}

// Get returns the object from the last Sync's listing of its kind and namespace.
func (r *indexedReader) Get(_ context.Context, key client.ObjectKey, obj *unstructured.Unstructured) error {
	gk := obj.GroupVersionKind().GroupKind()
	l, err := r.listing(gk, key.Namespace)
	if err != nil {
		return err
	}
	found, ok := l.byName[key.Name]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Group: gk.Group, Resource: gk.Kind}, key.Name)
	}
	obj.Object = found.Object // read only, as kstatus' own caching reader hands it out
	return nil
}

// ListNamespaceScoped returns the objects of the list's kind in namespace that selector matches.
func (r *indexedReader) ListNamespaceScoped(_ context.Context, list *unstructured.UnstructuredList, namespace string, selector labels.Selector) error {
	l, err := r.listing(list.GroupVersionKind().GroupKind(), namespace)
	if err != nil {
		return err
	}
	list.Items = nil
	for _, u := range l.byName {
		if selector.Matches(labels.Set(u.GetLabels())) {
			list.Items = append(list.Items, *u.DeepCopy())
		}
	}
	return nil
}

// ListClusterScoped returns the cluster-scoped objects of the list's kind that selector matches.
func (r *indexedReader) ListClusterScoped(ctx context.Context, list *unstructured.UnstructuredList, selector labels.Selector) error {
	return r.ListNamespaceScoped(ctx, list, "", selector)
}
