package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	gosync "sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/ferry-cd/ferry/render"
)

// Watch finds drift in the objects ferry owns without reading or dry-running them: one
// metadata-only informer per kind, filtered by the ferry.dev/environment label, reports every
// change. An object has drifted when the fields ferry's server-side apply owns (its managedFields
// entry) change without ferry applying it: another writer took fields over (kubectl edit,
// scale or patch) or the object was deleted. Changes by controllers to fields ferry does not
// own (status, a revision annotation) are not drift.
//
// Limits: a change made between ferry's apply and the watch event of that apply is taken as
// ferry's own; the next change to the object is still seen. A sync trusts the watch for the
// objects it vouches for (they are neither dry-run nor listed for the ownership check), so an
// object deleted and re-created by hand in the instant before a sync, before its delete event
// has arrived (milliseconds on a healthy API server), is applied over; once the event is in,
// the sync refuses it.
type Watch struct {
	ctx    context.Context
	meta   metadata.Interface
	mapper meta.RESTMapper

	mu      gosync.Mutex
	kinds   map[watchKey]*kindWatch
	uses    map[string]map[watchKey]bool     // the informers each environment's objects need
	objects map[string]map[ObjectID]*watched // by environment
	changes chan string
}

// watchKey is one informer's scope: a kind in one namespace ("" for cluster-scoped kinds), so
// that an agent allowed only into its environments' namespaces can still watch them.
type watchKey struct {
	kind      schema.GroupKind
	namespace string
}

type kindWatch struct {
	gvk      schema.GroupVersionKind
	informer cache.SharedIndexInformer
	stop     context.CancelFunc // ends this informer alone
}

// watched is what the watch knows of one owned object.
type watched struct {
	fields  string // hash of ferry's managed fields as last applied
	seen    bool   // fields is set
	expect  bool   // ferry is applying it: the next event sets fields
	drifted bool
}

func newWatch(ctx context.Context, md metadata.Interface, mapper meta.RESTMapper) *Watch {
	return &Watch{
		ctx: ctx, meta: md, mapper: mapper,
		kinds:   map[watchKey]*kindWatch{},
		uses:    map[string]map[watchKey]bool{},
		objects: map[string]map[ObjectID]*watched{},
		changes: make(chan string, 64),
	}
}

// Changes delivers the name of an environment each time one of its objects drifts. A slow
// reader misses notifications, never drift: Drifted still lists every drifted object.
func (w *Watch) Changes() <-chan string { return w.changes }

// vouches reports whether the watch has seen every object of inv as ferry left it and is
// watching every kind of inv. It starts watches for kinds not watched yet (and then does not
// vouch until they have synced).
func (w *Watch) vouches(env string, inv Inventory) bool {
	if len(inv) == 0 {
		return false
	}
	ready := true
	for _, e := range inv {
		if !w.watching(env, e.GroupVersionKind(), e.Namespace) {
			ready = false
		}
	}
	if !ready {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range inv {
		if st := w.objects[env][e.ObjectID]; st == nil || !st.seen {
			return false
		}
	}
	return true
}

// watchAll starts watching the kinds and namespaces of inv, objects of env (a stage of a
// rollout: env's other objects stay watched too).
func (w *Watch) watchAll(env string, inv Inventory) {
	for _, e := range inv {
		w.watching(env, e.GroupVersionKind(), e.Namespace)
	}
}

// watchOnly makes inv, env's whole inventory after a successful sync, what the watch keeps
// for env: it starts watching inv's kinds and namespaces, and stops the informers that no
// environment needs any more, forgetting their objects. Without that, the informer of a kind
// whose CRD was pruned with its last object would fail to list it every 30 s forever.
// An environment that left ferry.yaml keeps its informers until the agent's next term.
func (w *Watch) watchOnly(env string, inv Inventory) {
	keys := map[watchKey]bool{}
	for _, e := range inv {
		keys[watchKey{kind: e.GroupVersionKind().GroupKind(), namespace: e.Namespace}] = true
	}
	w.mu.Lock()
	w.uses[env] = keys
	w.mu.Unlock()
	w.watchAll(env, inv)
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, kw := range w.kinds {
		if !w.used(key) {
			kw.stop()
			delete(w.kinds, key)
			w.forget(key)
		}
	}
}

// used reports whether an environment needs the informer of key. Called with w.mu held.
func (w *Watch) used(key watchKey) bool {
	for _, keys := range w.uses {
		if keys[key] {
			return true
		}
	}
	return false
}

// forget drops what the watch knows of the objects of key. Called with w.mu held.
func (w *Watch) forget(key watchKey) {
	for _, objs := range w.objects {
		for id := range objs {
			if id.Group == key.kind.Group && id.Kind == key.kind.Kind && id.Namespace == key.namespace {
				delete(objs, id)
			}
		}
	}
}

// watching starts the informer for gvk's kind in namespace when needed, for env, and reports
// whether it has synced.
func (w *Watch) watching(env string, gvk schema.GroupVersionKind, namespace string) bool {
	key := watchKey{kind: gvk.GroupKind(), namespace: namespace}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.uses[env] == nil {
		w.uses[env] = map[watchKey]bool{}
	}
	w.uses[env][key] = true
	if kw, ok := w.kinds[key]; ok {
		return kw.informer.HasSynced()
	}
	mapping, err := w.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return false
	}
	var kw *kindWatch
	kw = &kindWatch{gvk: gvk, informer: metadatainformer.NewFilteredMetadataInformer(w.meta, mapping.Resource, namespace, 0,
		cache.Indexers{}, func(o *metav1.ListOptions) { o.LabelSelector = render.EnvironmentLabel }).Informer()}
	_, _ = kw.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) { w.observe(kw.gvk, o, false) },
		UpdateFunc: func(old, o any) {
			if environmentOf(old) != environmentOf(o) {
				// Relabelled for another environment: gone, from the first one's point of
				// view, which must notice (its next sync refuses the object, see checkOwnership).
				w.observe(kw.gvk, old, true)
			}
			w.observe(kw.gvk, o, false)
		},
		DeleteFunc: func(o any) { w.observe(kw.gvk, o, true) },
	})
	ctx, stop := context.WithCancel(w.ctx)
	kw.stop = stop
	w.kinds[key] = kw
	go kw.informer.Run(ctx.Done())
	return false
}

// observe records one event for an owned object.
func (w *Watch) observe(gvk schema.GroupVersionKind, o any, deleted bool) {
	if tomb, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o, deleted = tomb.Obj, true
	}
	obj, ok := o.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	env := obj.Labels[render.EnvironmentLabel]
	id := ObjectID{Group: gvk.Group, Kind: gvk.Kind, Namespace: obj.Namespace, Name: obj.Name}
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.state(env, id)
	fields := ferryFields(obj.ManagedFields)
	switch {
	case deleted || obj.DeletionTimestamp != nil:
		// Being deleted counts as deleted: an apply would find it unchanged while the API
		// server finishes deleting it, so the next sync must read it (see mayApply).
		st.drifted, st.seen = true, false
	case st.expect || !st.seen:
		st.fields, st.seen, st.expect = fields, true, false
		return
	case fields != st.fields:
		st.drifted = true
	default:
		return
	}
	select {
	case w.changes <- env:
	default:
	}
}

// environmentOf returns the ferry.dev/environment label of an informer's object.
func environmentOf(o any) string {
	if obj, ok := o.(*metav1.PartialObjectMetadata); ok {
		return obj.Labels[render.EnvironmentLabel]
	}
	return ""
}

func (w *Watch) state(env string, id ObjectID) *watched {
	if w.objects[env] == nil {
		w.objects[env] = map[ObjectID]*watched{}
	}
	st := w.objects[env][id]
	if st == nil {
		st = &watched{}
		w.objects[env][id] = st
	}
	return st
}

// expect marks objects ferry is about to apply: their next event is ferry's own write.
func (w *Watch) expect(env string, objs []*unstructured.Unstructured) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, o := range objs {
		st := w.state(env, IDOf(o))
		st.expect, st.drifted = true, false
	}
}

// owns reports whether the watch has seen id labelled for env, with fields owned by ferry's
// apply, and unchanged by anyone else since ferry applied it.
func (w *Watch) owns(env string, id ObjectID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.objects[env][id]
	return st != nil && st.seen && !st.expect && !st.drifted && st.fields != ""
}

// drifted lists env's drifted objects.
func (w *Watch) drifted(env string) []ObjectID {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []ObjectID
	for id, st := range w.objects[env] {
		if st.drifted {
			out = append(out, id)
		}
	}
	return out
}

// ferryFields hashes the fields ferry's apply owns on the main resource ("" when none).
func ferryFields(entries []metav1.ManagedFieldsEntry) string {
	for _, e := range entries {
		if e.Manager == FieldManager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" && e.FieldsV1 != nil {
			sum := sha256.Sum256(e.FieldsV1.Raw)
			return hex.EncodeToString(sum[:8])
		}
	}
	return ""
}

// settle ends the expectation for objects ferry did not write after all: those ssa found
// unchanged, or all of them after a failed apply. Their next event is then compared with what
// ferry last applied.
func (w *Watch) settle(env string, ids []ObjectID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if st := w.objects[env][id]; st != nil {
			st.expect = false
		}
	}
}
