package sync

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestWatchOfARemovedKindIsStopped syncs a CRD and one of its custom resources, then removes
// both from the overlay: once the sync pruned them, the drift watch has no informer left for
// the kind (nor for CRDs), forgets their objects, and sends the API server no more requests
// for the kind. Before, the informer kept relisting the deleted resource forever, and client-go
// logged `Failed to watch` every 30 s.
func TestWatchOfARemovedKindIsStopped(t *testing.T) {
	f := newFixture(t, true)
	f.env.ClusterScoped = []string{"CustomResourceDefinition"}
	plural := "gadgets" + f.env.Name
	kind := "Gadget" + f.env.Name
	crd := crdYAML(plural, kind)
	cr := fmt.Sprintf("apiVersion: example.ferry.dev/v1\nkind: %s\nmetadata:\n  name: first\nspec:\n  size: 3\n", kind)
	f.write(map[string]string{"crd.yaml": crd, "gadget.yaml": cr, "cm.yaml": configMap("settings", "a")})
	f.mustSync("rev1")
	f.waitVouched()
	if got := f.watchedKinds(); !strings.Contains(got, kind) || !strings.Contains(got, "CustomResourceDefinition") {
		t.Fatalf("watched after the first sync: %s; want %s and CustomResourceDefinition among them", got, kind)
	}

	f.write(map[string]string{"cm.yaml": configMap("settings", "a")})
	rep := f.mustSync("rev2")
	if got := rep.ChangeSet.Count(Pruned); got != 2 {
		t.Fatalf("pruned %d objects, want the CRD and the %s:\n%s", got, kind, rep.ChangeSet)
	}
	if got := f.watchedKinds(); strings.Contains(got, kind) || strings.Contains(got, "CustomResourceDefinition") {
		t.Errorf("still watched after the CRD and its resource were pruned: %s", got)
	}
	f.syncer.watch.mu.Lock()
	for id := range f.syncer.watch.objects[f.env.Name] {
		if id.Kind == kind || id.Kind == "CustomResourceDefinition" {
			t.Errorf("the watch still remembers %s", id)
		}
	}
	f.syncer.watch.mu.Unlock()
	// A running informer of the deleted resource lists it again within a second or two, and
	// then every 30 s at the most; a stopped one never does.
	f.counter.Reset()
	time.Sleep(5 * time.Second)
	for _, call := range f.counter.Calls() {
		if strings.Contains(call, "/"+plural) {
			t.Errorf("request for the removed kind after its watch should have stopped: %s", call)
		}
	}
	if got := f.watchedKinds(); !strings.Contains(got, "ConfigMap/"+f.env.Namespace) {
		t.Errorf("watched: %s; want ConfigMaps in %s still", got, f.env.Namespace)
	}
}

// watchedKinds lists the drift watch's informers as "Kind/namespace", sorted.
func (f *fixture) watchedKinds() string {
	w := f.syncer.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for key := range w.kinds {
		out = append(out, key.kind.Kind+"/"+key.namespace)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}
