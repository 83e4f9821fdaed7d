package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

func TestKeptByRender(t *testing.T) {
	ns := func(name string) Entry {
		return Entry{ObjectID: ObjectID{Kind: "Namespace", Name: name}, Version: "v1"}
	}
	crd := func(name string) Entry {
		return Entry{ObjectID: ObjectID{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: name}, Version: "v1"}
	}
	cm := Entry{ObjectID: ObjectID{Kind: "ConfigMap", Namespace: "app", Name: "c"}, Version: "v1"}
	inApp := &unstructured.Unstructured{}
	inApp.SetAPIVersion("v1")
	inApp.SetKind("Secret")
	inApp.SetNamespace("used")
	inApp.SetName("s")
	removed := Inventory{ns("app"), ns("used"), ns("other"), crd("widgets.x.dev"), crd("gadgets.x.dev"), cm}
	plan := keptByRender("app", removed, []*unstructured.Unstructured{inApp}, map[string]bool{"widgets.x.dev": true})
	var kept []string
	for _, c := range plan.kept {
		kept = append(kept, c.Object.String())
		if c.Action != Skipped || !strings.HasPrefix(c.Reason, "not pruned: ") {
			t.Errorf("%s: %s %q, want skipped with the reason", c.Object, c.Action, c.Reason)
		}
	}
	if diff := cmp.Diff([]string{"Namespace app", "Namespace used", "CustomResourceDefinition.apiextensions.k8s.io widgets.x.dev"}, kept); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Inventory{ns("other"), crd("gadgets.x.dev"), cm}, plan.remove); diff != "" {
		t.Errorf("to prune (-want +got):\n%s", diff)
	}
}

func TestCascadeString(t *testing.T) {
	id := func(kind, name string) ObjectID { return ObjectID{Kind: kind, Namespace: "alpha", Name: name} }
	c := Cascade{Object: ObjectID{Kind: "Namespace", Name: "alpha"}, Total: 7,
		Foreign: []ObjectID{id("PersistentVolumeClaim", "data"), id("Secret", "hand"), id("ConfigMap", "x")}}
	want := "Namespace alpha would be deleted with 7 objects, 3 of them not ferry's (PersistentVolumeClaim alpha/data, Secret alpha/hand, ConfigMap alpha/x)"
	if got := c.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	c = Cascade{Object: ObjectID{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition", Name: "w.x.dev"}, Total: 2}
	if got := c.String(); !strings.HasPrefix(got, "CustomResourceDefinition.apiextensions.k8s.io w.x.dev would be deleted with 2 custom resources, none of them") {
		t.Errorf("got %q", got)
	}
}

func TestDependent(t *testing.T) {
	mf := func(managers ...string) []metav1.ManagedFieldsEntry {
		var out []metav1.ManagedFieldsEntry
		for _, m := range managers {
			out = append(out, metav1.ManagedFieldsEntry{Manager: m})
		}
		return out
	}
	cases := []struct {
		name string
		id   ObjectID
		meta metav1.ObjectMeta
		want bool
	}{
		{"default ServiceAccount", ObjectID{Kind: "ServiceAccount", Namespace: "ns", Name: "default"}, metav1.ObjectMeta{}, true},
		{"another ServiceAccount", ObjectID{Kind: "ServiceAccount", Namespace: "ns", Name: "app"}, metav1.ObjectMeta{}, false},
		{"owned", ObjectID{Kind: "ConfigMap"}, metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Name: "rs"}}}, true},
		{"control plane", ObjectID{Kind: "ConfigMap"}, metav1.ObjectMeta{ManagedFields: mf("kube-controller-manager")}, true},
		{"by hand", ObjectID{Kind: "ConfigMap"}, metav1.ObjectMeta{ManagedFields: mf("kubectl-client-side-apply")}, false},
		{"control plane and a person", ObjectID{Kind: "ConfigMap"}, metav1.ObjectMeta{ManagedFields: mf("kube-controller-manager", "kubectl-edit")}, false},
		{"nobody", ObjectID{Kind: "ConfigMap"}, metav1.ObjectMeta{}, false},
	}
	for _, c := range cases {
		if got := dependent(c.id, metav1.PartialObjectMetadata{ObjectMeta: c.meta}); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// uids returns the UID of every ConfigMap, Secret, Service and Deployment in namespace ns.
func (f *fixture) uids(ns string) map[string]types.UID {
	f.t.Helper()
	ctx := f.t.Context()
	out := map[string]types.UID{}
	cms, err := f.kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range cms.Items {
		out["ConfigMap/"+o.Name] = o.UID
	}
	secrets, err := f.kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range secrets.Items {
		out["Secret/"+o.Name] = o.UID
	}
	svcs, err := f.kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range svcs.Items {
		out["Service/"+o.Name] = o.UID
	}
	ds, err := f.kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range ds.Items {
		out["Deployment/"+o.Name] = o.UID
	}
	nsObj, err := f.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil && nsObj.DeletionTimestamp == nil {
		out["Namespace/"+ns] = nsObj.UID
	}
	return out
}

func (f *fixture) assertSameUIDs(before map[string]types.UID, ns string, gone ...string) {
	f.t.Helper()
	after := f.uids(ns)
	for _, g := range gone {
		delete(before, g)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		f.t.Errorf("objects in %s deleted or re-created (-before +after):\n%s", ns, diff)
	}
}

func namespaceYAML(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", name)
}

// handSecret creates a Secret in ns as a person would, outside any environment.
func (f *fixture) handSecret(ns, name string) {
	f.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: map[string]string{"k": "v"}}
	if _, err := f.kube.CoreV1().Secrets(ns).Create(f.t.Context(), s, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
		f.t.Fatal(err)
	}
}

// TestOwnNamespaceLeavingTheOverlayIsKept is issue 15's first finding: an overlay that lists
// its own Namespace drops namespace.yaml; the Namespace is not pruned (it would take every
// object in it, ferry's and others'), it leaves the inventory, and the reason is reported.
func TestOwnNamespaceLeavingTheOverlayIsKept(t *testing.T) {
	f := newFixture(t, true)
	files := gceLike()
	files["namespace.yaml"] = namespaceYAML(f.env.Namespace)
	f.write(files)
	f.mustSync("rev1")
	f.handSecret(f.env.Namespace, "hand-made")
	before := f.uids(f.env.Namespace)

	delete(files, "namespace.yaml")
	f.write(files)
	rep := f.mustSync("rev2")
	if n := rep.ChangeSet.Count(Pruned); n != 0 {
		t.Errorf("pruned %d objects, want none:\n%s", n, rep.ChangeSet)
	}
	kept := rep.ChangeSet.Explained()
	if len(kept) != 1 || kept[0].Object.Kind != "Namespace" || !strings.Contains(kept[0].Reason, "environment's own namespace") {
		t.Errorf("want the Namespace reported as kept with its reason, got:\n%s", kept)
	}
	st, err := f.syncer.state.Load(t.Context(), f.env.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range st.Inventory {
		if e.Kind == "Namespace" {
			t.Errorf("the inventory still holds %s", e.ObjectID)
		}
	}
	f.mustSync("rev3") // and later syncs neither fail nor prune
	f.assertSameUIDs(before, f.env.Namespace)
}

// TestNamespaceWithForeignObjectsIsNotPruned: a second Namespace the overlay created, which the
// render no longer uses, is pruned only once it holds nothing but the environment's objects:
// with a hand-made Secret in it the sync fails naming the Secret, and `ferry diff` says what
// the deletion would take.
func TestNamespaceWithForeignObjectsIsNotPruned(t *testing.T) {
	f := newFixture(t, true)
	f.env.ClusterScoped = []string{"Namespace"}
	extra := f.env.Name + "-extra"
	files := gceLike()
	files["extra.yaml"] = namespaceYAML(extra)
	f.write(files)
	f.mustSync("rev1")
	t.Cleanup(func() { _ = f.kube.CoreV1().Namespaces().Delete(context.Background(), extra, metav1.DeleteOptions{}) })
	f.handSecret(extra, "precious")
	before, beforeExtra := f.uids(f.env.Namespace), f.uids(extra)

	delete(files, "extra.yaml")
	f.write(files)
	diffs, err := f.syncer.Diff(t.Context(), f.env, f.render())
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 1 || !strings.Contains(diffs[0].Unified, "Namespace "+extra+" would be deleted with") ||
		!strings.Contains(diffs[0].Unified, "1 of them not ferry's (Secret "+extra+"/precious)") {
		t.Errorf("ferry diff does not say what the deletion would take: %+v", diffs)
	}
	_, err = f.sync("rev2")
	var se *Error
	if !errors.As(err, &se) || se.Phase != PhasePrune || !strings.Contains(err.Error(), "Secret "+extra+"/precious") {
		t.Fatalf("sync error = %v, want a prune error naming the hand-made Secret", err)
	}
	f.assertSameUIDs(before, f.env.Namespace)
	f.assertSameUIDs(beforeExtra, extra)

	// Once the Secret is gone, the Namespace holds only what the control plane made: pruned.
	if err := f.kube.CoreV1().Secrets(extra).Delete(t.Context(), "precious", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rep := f.mustSync("rev2")
	if rep.ChangeSet.Count(Pruned) != 1 {
		t.Errorf("want the Namespace pruned once empty:\n%s", rep.ChangeSet)
	}
	f.assertSameUIDs(before, f.env.Namespace)
}

// crdYAML is a namespaced CRD of group example.ferry.dev, version v1, that keeps any field.
func crdYAML(plural, kind string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %[1]s.example.ferry.dev
spec:
  group: example.ferry.dev
  names: {kind: %[2]s, plural: %[1]s}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`, plural, kind)
}

func (f *fixture) widgetCRD() (crd, plural, kind string) {
	plural, kind = "gadgets"+f.env.Name, "Gadget"+f.env.Name
	return crdYAML(plural, kind), plural, kind
}

// TestCRDStillUsedOrHoldingOthersIsNotPruned: a CRD removed while its custom resources stay in
// the overlay is kept; removed with them while someone else's custom resource exists, the
// prune is refused naming it; nothing of it is deleted either way.
func TestCRDStillUsedOrHoldingOthersIsNotPruned(t *testing.T) {
	f := newFixture(t, true)
	f.env.ClusterScoped = []string{"CustomResourceDefinition"}
	crd, plural, kind := f.widgetCRD()
	cr := fmt.Sprintf("apiVersion: example.ferry.dev/v1\nkind: %s\nmetadata:\n  name: mine\n", kind)
	f.write(map[string]string{"crd.yaml": crd, "cr.yaml": cr, "config.yaml": configMap("config", "one")})
	f.mustSync("rev1")
	t.Cleanup(func() {
		_ = f.syncer.mgr.Client().Delete(context.Background(), &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": map[string]any{"name": plural + ".example.ferry.dev"}}})
	})
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "example.ferry.dev", Version: "v1", Resource: plural}
	crUID := func(name string) types.UID {
		o, err := dyn.Resource(gvr).Namespace(f.env.Namespace).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s %s: %v", kind, name, err)
		}
		return o.GetUID()
	}
	mine := crUID("mine")

	// 1. The CRD leaves the overlay, its custom resource stays: kept.
	f.write(map[string]string{"cr.yaml": cr, "config.yaml": configMap("config", "one")})
	rep := f.mustSync("rev2")
	if kept := rep.ChangeSet.Explained(); len(kept) != 1 || !strings.Contains(kept[0].Reason, "custom resources of its kind") {
		t.Errorf("want the CRD kept with the reason, got:\n%s", rep.ChangeSet)
	}
	if crUID("mine") != mine {
		t.Error("the custom resource was re-created")
	}

	// 2. Back in the overlay, then someone else's custom resource appears and both leave it.
	f.write(map[string]string{"crd.yaml": crd, "cr.yaml": cr, "config.yaml": configMap("config", "one")})
	f.mustSync("rev3")
	other := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.ferry.dev/v1", "kind": kind,
		"metadata": map[string]any{"name": "theirs"}}}
	if _, err := dyn.Resource(gvr).Namespace(f.env.Namespace).Create(t.Context(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	theirs := crUID("theirs")
	f.write(map[string]string{"config.yaml": configMap("config", "one")})
	_, err = f.sync("rev4")
	if err == nil || !strings.Contains(err.Error(), kind+".example.ferry.dev "+f.env.Namespace+"/theirs") {
		t.Fatalf("sync error = %v, want the prune refused naming the other custom resource", err)
	}
	if crUID("theirs") != theirs {
		t.Error("someone else's custom resource was deleted")
	}
	if _, err := dyn.Resource(gvr).Namespace(f.env.Namespace).Get(t.Context(), "mine", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the environment's own custom resource should be pruned: %v", err)
	}
}

// TestPruneEnvironmentSparesAnotherEnvironmentsNamespace is issue 15's second finding: with two
// environments in one namespace (which validation now refuses, but a cluster may hold), `ferry
// prune delta --confirm` deleted Namespace shared and with it epsilon's objects. Now nothing is
// deleted, and the dry run says what the Namespace holds.
func TestPruneEnvironmentSparesAnotherEnvironmentsNamespace(t *testing.T) {
	delta := newFixture(t, false)
	epsilon := newFixture(t, false)
	epsilon.env.Namespace = delta.env.Namespace
	delta.write(map[string]string{"namespace.yaml": namespaceYAML(delta.env.Namespace), "config.yaml": configMap("delta", "d")})
	delta.mustSync("rev1")
	t.Cleanup(func() {
		_ = delta.kube.CoreV1().Namespaces().Delete(t.Context(), delta.env.Namespace, metav1.DeleteOptions{})
	})
	epsilon.write(map[string]string{"config.yaml": configMap("epsilon", "e")})
	epsilon.mustSync("rev1")
	before := delta.uids(delta.env.Namespace)

	for _, dryRun := range []bool{true, false} {
		cs, err := delta.syncer.PruneEnvironment(t.Context(), delta.env.Name, dryRun)
		if err == nil || !strings.Contains(err.Error(), "nothing deleted") || !strings.Contains(err.Error(), "ConfigMap "+delta.env.Namespace+"/epsilon") {
			t.Errorf("dry run %v: error = %v, want a refusal naming epsilon's ConfigMap", dryRun, err)
		}
		var ns *Change
		for i := range cs {
			if cs[i].Object.Kind == "Namespace" {
				ns = &cs[i]
			}
		}
		if ns == nil || !strings.Contains(ns.Reason, "would be deleted with") {
			t.Errorf("dry run %v: the plan does not say what the Namespace holds:\n%s", dryRun, cs)
		}
	}
	delta.assertSameUIDs(before, delta.env.Namespace)
	if st, err := delta.syncer.state.Load(t.Context(), delta.env.Name); err != nil || st.resourceVersion == "" {
		t.Errorf("delta's state ConfigMap is gone (%v), want it kept by the refused prune", err)
	}
}
