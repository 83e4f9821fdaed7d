package sync

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestLostStateRebuildsInventory is issue 15's third finding: after the state ConfigMap is
// lost, an object that left the overlay is still pruned, because the inventory is rebuilt from
// the objects labelled for the environment that ferry applied; a hand-labelled object that
// ferry never applied is left alone.
func TestLostStateRebuildsInventory(t *testing.T) {
	f := newFixture(t, true)
	files := gceLike()
	files["old.yaml"] = configMap("old", "x")
	f.write(files)
	f.mustSync("rev1")
	// A ConfigMap labelled for the environment by hand, never applied by ferry.
	f.handConfigMap("labelled-by-hand", map[string]string{"app.kubernetes.io/managed-by": "ferry", "ferry.dev/environment": f.env.Name})
	if err := f.syncer.state.Delete(t.Context(), f.env.Name); err != nil {
		t.Fatal(err)
	}
	before := f.uids(f.env.Namespace)

	delete(files, "old.yaml")
	f.write(files)
	rep := f.mustSync("rev2")
	if rep.Rebuilt != 4 {
		t.Errorf("rebuilt %d entries, want the 4 objects ferry applied", rep.Rebuilt)
	}
	if n := rep.ChangeSet.Count(Pruned); n != 1 {
		t.Errorf("pruned %d, want the one ConfigMap that left the overlay:\n%s", n, rep.ChangeSet)
	}
	if _, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(t.Context(), "old", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap old still exists: %v", err)
	}
	f.assertSameUIDs(before, f.env.Namespace, "ConfigMap/old")
}

func (f *fixture) handConfigMap(name string, labels map[string]string) {
	f.t.Helper()
	c := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if _, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Create(f.t.Context(), c, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
		f.t.Fatal(err)
	}
}

// waitGone waits until ConfigMap name no longer exists.
func (f *fixture) waitGone(name string) {
	f.t.Helper()
	err := wait.PollUntilContextTimeout(f.t.Context(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		f.t.Fatalf("ConfigMap %s never went: %v", name, err)
	}
}

const heldConfigMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: held
  finalizers: [example.ferry.dev/hold]
data:
  key: "1"
`

// releaseFinalizers removes the finalizers of ConfigMap name, as its controller would.
func (f *fixture) releaseFinalizers(name string) {
	f.t.Helper()
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	ctx := context.WithoutCancel(f.t.Context()) // also called from t.Cleanup, once the test's context has ended
	_, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		f.t.Fatal(err)
	}
}

// TestPrunedObjectHeldByFinalizer is issue 15's tenth finding: a pruned object that a finalizer
// holds is reported as terminating, naming the finalizer; put back in the overlay while it is
// terminating, the sync fails saying so (instead of "unchanged"), and creates it once it is gone.
func TestPrunedObjectHeldByFinalizer(t *testing.T) {
	f := newFixture(t, true)
	files := gceLike()
	files["held.yaml"] = heldConfigMap
	f.write(files)
	f.mustSync("rev1")
	t.Cleanup(func() { f.releaseFinalizers("held") })

	delete(files, "held.yaml")
	f.write(files)
	rep := f.mustSync("rev2")
	if rep.ChangeSet.Count(Pruned) != 0 || rep.ChangeSet.Count(Terminating) != 1 {
		t.Fatalf("want the ConfigMap reported terminating, not pruned:\n%s", rep.ChangeSet)
	}
	if r := rep.ChangeSet.Explained(); len(r) != 1 || !strings.Contains(r[0].Reason, "example.ferry.dev/hold") {
		t.Errorf("the report does not name the finalizer:\n%s", rep.ChangeSet)
	}

	files["held.yaml"] = heldConfigMap
	f.write(files)
	_, err := f.sync("rev3")
	if err == nil || !strings.Contains(err.Error(), "ConfigMap "+f.env.Namespace+"/held: is being deleted (finalizers: example.ferry.dev/hold)") {
		t.Fatalf("sync while it terminates: %v, want an error naming the object and its finalizer", err)
	}
	old, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(t.Context(), "held", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.releaseFinalizers("held")
	f.waitGone("held")
	rep = f.mustSync("rev3")
	if rep.ChangeSet.Count(Created) != 1 {
		t.Errorf("want the ConfigMap created again once gone:\n%s", rep.ChangeSet)
	}
	now, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(t.Context(), "held", metav1.GetOptions{})
	if err != nil || now.UID == old.UID || now.DeletionTimestamp != nil {
		t.Errorf("ConfigMap held after the sync: %v, %v", now, err)
	}
}

// TestFinalizerChangeInGitIsApplied is issue 15's eleventh finding: a change to
// metadata.finalizers in git is applied (and shown by diff), though ssa's comparison looks at
// no metadata but labels and annotations.
func TestFinalizerChangeInGitIsApplied(t *testing.T) {
	for _, watch := range []bool{false, true} {
		t.Run(map[bool]string{false: "cli", true: "agent"}[watch], func(t *testing.T) {
			f := newFixture(t, watch)
			files := gceLike()
			files["held.yaml"] = strings.Replace(heldConfigMap, "  finalizers: [example.ferry.dev/hold]\n", "", 1)
			f.write(files)
			f.mustSync("rev1")
			t.Cleanup(func() { f.releaseFinalizers("held") })

			files["held.yaml"] = heldConfigMap
			f.write(files)
			diffs, err := f.syncer.Diff(t.Context(), f.env, f.render())
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) != 1 || diffs[0].Action != Configured || !strings.Contains(diffs[0].Unified, "+  - example.ferry.dev/hold") {
				t.Errorf("diff = %+v, want the finalizer added", diffs)
			}
			rep := f.mustSync("rev2")
			if rep.ChangeSet.Count(Configured) != 1 {
				t.Errorf("want the ConfigMap configured:\n%s", rep.ChangeSet)
			}
			if got := f.finalizers("held"); len(got) != 1 {
				t.Errorf("finalizers after adding one in git: %v", got)
			}

			files["held.yaml"] = strings.Replace(heldConfigMap, "  finalizers: [example.ferry.dev/hold]\n", "", 1)
			f.write(files)
			rep = f.mustSync("rev3")
			if rep.ChangeSet.Count(Configured) != 1 {
				t.Errorf("want the ConfigMap configured:\n%s", rep.ChangeSet)
			}
			if got := f.finalizers("held"); len(got) != 0 {
				t.Errorf("finalizers after removing it in git: %v", got)
			}
		})
	}
}

func (f *fixture) finalizers(name string) []string {
	f.t.Helper()
	cm, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(f.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return cm.Finalizers
}
