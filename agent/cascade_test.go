package agent

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/metadata"

	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// addResource lists file (a path relative to staging's overlay) in its resources with content.
func (f *fixture) addResource(file, content string) {
	f.t.Helper()
	f.files[stagingKustomization] = addResource(f.t, f.files[stagingKustomization], file)
	f.files["environments/staging/"+file] = content
}

// TestOwnNamespaceLeavingTheOverlayIsKept: staging's overlay lists its own Namespace in
// namespace.yaml; a commit removes that file. Deleting the Namespace would delete everything
// in it, a Secret made by hand included, and fail every later sync; the agent keeps it
// instead: every object keeps its UID, the log says why the Namespace was not pruned, it
// leaves the inventory, and the next commit syncs as usual.
func TestOwnNamespaceLeavingTheOverlayIsKept(t *testing.T) {
	f := newFixture(t, "@every 2s")
	f.addResource("namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+f.stagingNS+"\n")
	f.srv.Commit(t, "config", "staging: its own namespace", f.files)
	// Registered before the agent starts, so run after it stopped: the kept Namespace still
	// carries ferry's labels for staging, and every test here names its environment staging;
	// a later test's first sync would rebuild its inventory with it (it is cluster-scoped).
	t.Cleanup(func() { f.forgetNamespace() })
	logs := &logBuffer{}
	f.start(f.options(logs))
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": f.srv.Head(t, "config")[:7],
		"result": "applied", "health": "Healthy"}, 2*time.Minute)
	states := sync.NewStateStore(f.kube, f.ns)
	nsID := "Namespace " + f.stagingNS
	if st, err := states.Load(t.Context(), "staging"); err != nil || !inInventory(st, nsID) {
		t.Fatalf("the Namespace is not in the inventory after the first sync (%v): %+v", err, st)
	}
	handmade := corev1ac.Secret("handmade", f.stagingNS).WithStringData(map[string]string{"token": "not-ferrys"})
	if _, err := f.kube.CoreV1().Secrets(f.stagingNS).Apply(t.Context(), handmade, metav1.ApplyOptions{FieldManager: "kubectl"}); err != nil {
		t.Fatal(err)
	}
	before := f.stagingUIDs(t.Context())
	if before["Secret/handmade"] == "" || before["Namespace/"+f.stagingNS] == "" {
		t.Fatalf("snapshot lacks the Namespace or the hand-made Secret: %v", before)
	}

	kust := strings.Replace(f.files[stagingKustomization], "- namespace.yaml\n", "", 1)
	f.files[stagingKustomization] = kust
	delete(f.files, "environments/staging/namespace.yaml")
	removed := f.srv.Commit(t, "config", "staging: namespace.yaml left the overlay",
		map[string]string{stagingKustomization: kust}, "environments/staging/namespace.yaml")
	note := logs.waitLine(t, "not pruned", map[string]any{"env": "staging", "revision": removed[:7], "object": nsID}, 2*time.Minute)
	if reason, _ := note["reason"].(string); !strings.Contains(reason, "environment's own namespace") || !strings.Contains(reason, "left in the cluster") {
		t.Errorf("not-pruned line gives no reason: %v", note)
	}
	line := logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": removed[:7], "result": "applied"}, time.Minute)
	t.Logf("namespace.yaml removed: %v / %v", note, line)
	if line["pruned"] != 0.0 {
		t.Errorf("sync line counts pruned objects: %v", line)
	}
	f.checkUIDs(before)
	if st, err := states.Load(t.Context(), "staging"); err != nil || inInventory(st, nsID) {
		t.Errorf("the kept Namespace is still in the inventory (%v): %+v", err, st)
	}

	sha := f.commitTag("1.2.0")
	f.waitImage("1.2.0", 2*time.Minute)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": sha[:7], "result": "applied", "health": "Healthy"}, 2*time.Minute)
	if failed := logs.lines("sync failed"); len(failed) > 0 {
		t.Errorf("syncs failed after the Namespace left the overlay: %v", failed)
	}
	if n := len(filterLines(logs.lines("not pruned"), map[string]any{"object": nsID})); n != 1 {
		t.Errorf("%d not-pruned lines for the Namespace, want one: the later syncs have nothing to decide", n)
	}
	f.checkUIDs(before)
}

// TestLostStateIsRebuiltFromTheCluster: the state ConfigMap is deleted, then a commit drops one
// of staging's ConfigMaps. The agent rebuilds the inventory from the cluster (objects labelled
// for staging and applied by ferry), says so in the log, prunes the dropped ConfigMap, and
// every other object keeps its UID.
func TestLostStateIsRebuiltFromTheCluster(t *testing.T) {
	f := newFixture(t, "@every 1h") // only the start and the webhook trigger syncs
	extra := func(names ...string) string {
		var docs []string
		for _, n := range names {
			docs = append(docs, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "+n+"\ndata:\n  value: v1\n")
		}
		return strings.Join(docs, "---\n")
	}
	f.addResource("extra.yaml", extra("extra-a", "extra-b"))
	f.srv.Commit(t, "config", "staging: two more ConfigMaps", f.files)
	logs := &logBuffer{}
	opts := f.options(logs)
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": f.srv.Head(t, "config")[:7],
		"result": "applied", "health": "Healthy"}, 2*time.Minute)
	before := f.stagingUIDs(t.Context())
	if before["ConfigMap/extra-b"] == "" {
		t.Fatalf("extra-b missing after the first sync: %v", before)
	}
	first, err := sync.NewStateStore(f.kube, f.ns).Load(t.Context(), "staging")
	if err != nil {
		t.Fatal(err)
	}

	if err := f.kube.CoreV1().ConfigMaps(f.ns).Delete(t.Context(), sync.StateConfigMapName("staging"), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	dropped := f.srv.Commit(t, "config", "staging: drop extra-b", map[string]string{"environments/staging/extra.yaml": extra("extra-a")})
	if code := postHook(t, opts.HTTPAddr, "github", "refs/heads/main"); code != http.StatusAccepted {
		t.Fatalf("webhook answered %d, want 202", code)
	}
	rebuilt := logs.waitLine(t, "inventory rebuilt from the cluster", map[string]any{"env": "staging", "revision": dropped[:7]}, 2*time.Minute)
	line := logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": dropped[:7]}, time.Minute)
	t.Logf("after the state was lost: %v / %v", rebuilt, line)
	if rebuilt["level"] != "WARN" || rebuilt["objects"] != float64(len(first.Inventory)) {
		t.Errorf("rebuilt line: %v, want level WARN and objects=%d, the inventory lost", rebuilt, len(first.Inventory))
	}
	if line["pruned"] != 1.0 || line["result"] != "applied" {
		t.Errorf("sync line %v, want result=applied pruned=1", line)
	}
	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := f.kube.CoreV1().ConfigMaps(f.stagingNS).Get(ctx, "extra-b", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("extra-b, dropped while the state was lost, was not pruned: %v", err)
	}
	delete(before, "ConfigMap/extra-b")
	f.checkUIDs(before)
	if st, err := sync.NewStateStore(f.kube, f.ns).Load(t.Context(), "staging"); err != nil || st.AppliedRevision != dropped || inInventory(st, "ConfigMap "+f.stagingNS+"/extra-b") {
		t.Errorf("state after the rebuild (%v): %+v", err, st)
	}
}

// forgetNamespace takes ferry's labels off staging's Namespace and deletes it.
func (f *fixture) forgetNamespace() {
	ctx := context.Background() // the test's context has ended
	labels := `{"metadata":{"labels":{"` + render.ManagedByLabel + `":null,"` + render.EnvironmentLabel + `":null}}}`
	if _, err := f.kube.CoreV1().Namespaces().Patch(ctx, f.stagingNS, types.MergePatchType, []byte(labels), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		f.t.Errorf("namespace %s: remove ferry's labels: %v", f.stagingNS, err)
	}
	if err := f.kube.CoreV1().Namespaces().Delete(ctx, f.stagingNS, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		f.t.Errorf("namespace %s: delete: %v", f.stagingNS, err)
	}
}

func inInventory(st *sync.State, id string) bool {
	for _, e := range st.Inventory {
		if e.ObjectID.String() == id {
			return true
		}
	}
	return false
}

// stagingUIDs returns the UID of staging's Namespace and of each Deployment, Service, ConfigMap,
// Secret and ServiceAccount in it, by "Kind/name"; a Namespace being deleted is left out, and
// so is the ConfigMap the control plane makes in each namespace (kube-root-ca.crt).
func (f *fixture) stagingUIDs(ctx context.Context) map[string]types.UID {
	f.t.Helper()
	out := map[string]types.UID{}
	ns, err := f.kube.CoreV1().Namespaces().Get(ctx, f.stagingNS, metav1.GetOptions{})
	if err != nil || ns.DeletionTimestamp != nil {
		return out
	}
	out["Namespace/"+f.stagingNS] = ns.UID
	meta, err := metadata.NewForConfig(cluster.Config)
	if err != nil {
		f.t.Fatal(err)
	}
	for kind, gvr := range map[string]schema.GroupVersionResource{
		"Deployment":     {Group: "apps", Version: "v1", Resource: "deployments"},
		"Service":        {Version: "v1", Resource: "services"},
		"ConfigMap":      {Version: "v1", Resource: "configmaps"},
		"Secret":         {Version: "v1", Resource: "secrets"},
		"ServiceAccount": {Version: "v1", Resource: "serviceaccounts"},
	} {
		list, err := meta.Resource(gvr).Namespace(f.stagingNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			f.t.Fatalf("list %s: %v", gvr.Resource, err)
		}
		for _, o := range list.Items {
			if o.Name != "kube-root-ca.crt" {
				out[kind+"/"+o.Name] = o.UID
			}
		}
	}
	return out
}

// checkUIDs fails the test when an object of before is gone or was recreated.
func (f *fixture) checkUIDs(before map[string]types.UID) {
	f.t.Helper()
	after := f.stagingUIDs(f.t.Context())
	for id, uid := range before {
		if after[id] != uid {
			f.t.Errorf("%s was deleted or recreated (UID %s, now %q)", id, uid, after[id])
		}
	}
}
