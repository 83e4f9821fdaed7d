package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/ferry-cd/ferry/render"
)

// These tests extend TestForeignObjectIsNeitherAdoptedNorPruned (an object created by hand
// before ferry ever applied it): objects of other field managers, objects re-created under the
// name of a deleted ferry object, and objects relabelled for another environment.

// TestMayApply is the ownership rule as a table: whether an environment may apply to an
// object that already exists, from its labels, whether ferry's field manager owns fields of
// it, and whether the environment's inventory lists it.
func TestMayApply(t *testing.T) {
	ferry := func(env string) map[string]string {
		return map[string]string{render.ManagedByLabel: render.ManagedByValue, render.EnvironmentLabel: env}
	}
	for _, tc := range []struct {
		name        string
		labels      map[string]string
		ferryFields bool
		listed      bool
		refusal     string // "" when the environment may apply
	}{
		{name: "ferry's for env", labels: ferry("a"), ferryFields: true, listed: true},
		{name: "ferry's for env, not listed (adopted, or created by a killed sync)", labels: ferry("a")},
		{name: "created by hand", labels: nil, refusal: "is not managed by ferry environment a"},
		{name: "another tool's", labels: map[string]string{render.ManagedByLabel: "Helm"}, refusal: "is not managed by ferry environment a"},
		{name: "listed, labels removed by hand", labels: nil, ferryFields: true, listed: true},
		{name: "listed, re-created by someone else", labels: nil, listed: true, refusal: "is not managed by ferry environment a"},
		{name: "listed, relabelled for b", labels: ferry("b"), ferryFields: true, listed: true, refusal: "labelled ferry.dev/environment=b"},
		{name: "labelled for b only", labels: map[string]string{render.EnvironmentLabel: "b"}, refusal: "labelled ferry.dev/environment=b"},
		{name: "labelled for b, not listed", labels: ferry("b"), ferryFields: true, refusal: "will not take it from that environment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mayApply(liveObject{labels: tc.labels, ferryFields: tc.ferryFields}, "a", tc.listed)
			switch {
			case tc.refusal == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.refusal != "" && (err == nil || !strings.Contains(err.Error(), tc.refusal)):
				t.Errorf("mayApply = %v, want a refusal saying %q", err, tc.refusal)
			}
		})
	}
}

// TestOtherEnvironmentAdvice: an object labelled for another environment is refused with
// advice that depends on whether that environment left ferry.yaml (its state is marked
// removed): never to drop the object from an overlay of an environment that is gone.
func TestOtherEnvironmentAdvice(t *testing.T) {
	for _, tc := range []struct {
		name      string
		removedAt string
		want      []string
		not       string
	}{
		{name: "other may still be in ferry.yaml", want: []string{
			"exists in the cluster labelled ferry.dev/environment=old; environment new will not take it from that environment: ",
			"if old is still in ferry.yaml, drop the object from one of the two overlays; ",
			"if old was renamed or removed, run `ferry prune old` to delete what it applied, or relabel the object ferry.dev/environment=new",
		}},
		{name: "other left ferry.yaml", removedAt: "77aa00b1c2d3e4f5061728394a5b6c7d8e9f0a1b", want: []string{
			"exists in the cluster labelled ferry.dev/environment=old; environment new will not take it from that environment, which left ferry.yaml at 77aa00b: ",
			"run `ferry prune old` to delete what old applied (then new creates the object), or relabel the object ferry.dev/environment=new",
		}, not: "overlay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := (&otherEnvironmentError{env: "new", other: "old", removedAt: tc.removedAt}).Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("advice lacks %q:\n%s", w, msg)
				}
			}
			if tc.not != "" && strings.Contains(msg, tc.not) {
				t.Errorf("advice mentions %q:\n%s", tc.not, msg)
			}
		})
	}
}

// TestOtherFieldManagersObjectIsNotTakenOver: a ConfigMap that another tool server-side
// applied (its own field manager, its own labels) under a name the overlay then uses is
// refused, left as it was, and not pruned when the overlay drops it again.
func TestOtherFieldManagersObjectIsNotTakenOver(t *testing.T) {
	f := newFixture(t, true)
	f.write(map[string]string{"config.yaml": configMap("config", "one")})
	f.mustSync("rev1")
	helm := corev1ac.ConfigMap("release", f.env.Namespace).
		WithLabels(map[string]string{render.ManagedByLabel: "Helm"}).WithData(map[string]string{"key": "helm's"})
	if _, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Apply(t.Context(), helm, metav1.ApplyOptions{FieldManager: "helm", Force: true}); err != nil {
		t.Fatal(err)
	}
	f.write(map[string]string{"config.yaml": configMap("config", "one"), "release.yaml": configMap("release", "ferry's")})
	_, err := f.sync("rev2")
	var serr *Error
	if !errors.As(err, &serr) || serr.Phase != PhaseApply || !strings.Contains(err.Error(), "ConfigMap "+f.env.Namespace+"/release: exists in the cluster") {
		t.Fatalf("sync over another manager's object: %v, want an apply error naming it", err)
	}
	t.Logf("refused as: %v", err)
	f.assertUntouched("release", "helm's", "helm")

	f.write(map[string]string{"config.yaml": configMap("config", "one")})
	rep := f.mustSync("rev3")
	if n := rep.ChangeSet.Count(Pruned); n != 0 {
		t.Errorf("pruned %d objects:\n%s", n, rep.ChangeSet)
	}
	f.assertUntouched("release", "helm's", "helm")
}

// TestRecreatedObjectIsNotTakenOver: someone deletes an object ferry applied and creates their
// own under the same name. The inventory still lists the name, but the object is not ferry's
// any more (no labels, no fields of ferry's field manager): the sync refuses it, and when the
// overlay drops it the prune leaves it alone. Labels removed from ferry's own object, in
// contrast, are drift: the next sync puts them back.
//
// It runs on the CLI's path (no drift watch: every object is listed) and on the agent's (the
// watch vouches for unchanged objects, and its delete event takes "mine" out of them).
func TestRecreatedObjectIsNotTakenOver(t *testing.T) {
	for _, watch := range []bool{false, true} {
		t.Run(fmt.Sprintf("watch=%v", watch), func(t *testing.T) { testRecreatedObject(t, watch) })
	}
}

func testRecreatedObject(t *testing.T, watch bool) {
	f := newFixture(t, watch)
	f.write(map[string]string{"config.yaml": configMap("config", "one"), "mine.yaml": configMap("mine", "ferry's")})
	f.mustSync("rev1")
	if watch {
		f.waitVouched()
	}
	cms := f.kube.CoreV1().ConfigMaps(f.env.Namespace)
	if err := cms.Delete(t.Context(), "mine", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	handmade := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mine", Namespace: f.env.Namespace}, Data: map[string]string{"key": "hand-made"}}
	if _, err := cms.Create(t.Context(), handmade, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
		t.Fatal(err)
	}
	// ferry's own "config" loses its labels, as `kubectl label` would do it.
	unlabel := []byte(`{"metadata":{"labels":{"` + render.ManagedByLabel + `":null,"` + render.EnvironmentLabel + `":null}}}`)
	if _, err := cms.Patch(t.Context(), "config", types.MergePatchType, unlabel, metav1.PatchOptions{FieldManager: "kubectl-label"}); err != nil {
		t.Fatal(err)
	}

	if watch {
		err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return len(f.syncer.Drifted(f.env.Name)) == 2, nil
		})
		if err != nil {
			t.Fatalf("the drift watch did not notice the deletion and the unlabelling: %v", f.syncer.Drifted(f.env.Name))
		}
	}
	_, err := f.sync("rev1")
	if err == nil || !strings.Contains(err.Error(), "ConfigMap "+f.env.Namespace+"/mine: exists in the cluster and is not managed by ferry") || strings.Contains(err.Error(), "/config") {
		t.Fatalf("sync over a re-created object: %v, want a refusal naming mine only", err)
	}
	f.assertUntouched("mine", "hand-made", "kubectl-create")

	f.write(map[string]string{"config.yaml": configMap("config", "one")})
	rep := f.mustSync("rev2")
	if n := rep.ChangeSet.Count(Pruned); n != 0 {
		t.Errorf("pruned %d objects:\n%s", n, rep.ChangeSet)
	}
	f.assertUntouched("mine", "hand-made", "kubectl-create")
	config, err := cms.Get(t.Context(), "config", metav1.GetOptions{})
	if err != nil || config.Labels[render.EnvironmentLabel] != f.env.Name {
		t.Errorf("ferry's labels not restored on config: %v %v", config.Labels, err)
	}
}

// TestRelabelledObjectIsNotFollowed: two environments share a namespace; someone relabels an
// object of a to b (ferry.dev/environment: b). a's drift watch notices; a's syncs refuse the
// object, naming b, and change nothing; b does not touch it while its overlay does not hold
// it. When a's overlay drops it, a forgets it without pruning it (it is b's label now); when
// b's overlay adds it, b adopts it, and a never takes it back.
func TestRelabelledObjectIsNotFollowed(t *testing.T) {
	a := newFixture(t, true)
	b := newFixture(t, true)
	b.env.Namespace = a.env.Namespace
	cms := a.kube.CoreV1().ConfigMaps(a.env.Namespace)
	a.write(map[string]string{"moved.yaml": configMap("moved", "a's"), "only-a.yaml": configMap("only-a", "a's")})
	a.mustSync("rev1")
	b.write(map[string]string{"only-b.yaml": configMap("only-b", "b's")})
	b.mustSync("rev1")
	a.waitVouched()

	relabel := []byte(`{"metadata":{"labels":{"` + render.EnvironmentLabel + `":"` + b.env.Name + `"}}}`)
	if _, err := cms.Patch(t.Context(), "moved", types.MergePatchType, relabel, metav1.PatchOptions{FieldManager: "kubectl-label"}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return len(a.syncer.Drifted(a.env.Name)) > 0, nil
	})
	if err != nil {
		t.Fatalf("a's drift watch did not notice the relabelling: %v", err)
	}
	before, err := a.syncer.state.Load(t.Context(), a.env.Name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.sync("rev1")
	want := "ConfigMap " + a.env.Namespace + "/moved: exists in the cluster labelled ferry.dev/environment=" + b.env.Name
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a's sync of a relabelled object: %v, want a refusal with %q", err, want)
	}
	t.Logf("refused as: %v", err)
	after, err := a.syncer.state.Load(t.Context(), a.env.Name)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before.Inventory, after.Inventory); diff != "" {
		t.Errorf("a's inventory changed by the refused sync (-before +after):\n%s", diff)
	}
	b.mustSync("rev2")
	assertLabelled(t, a, "moved", "a's", b.env.Name)

	a.write(map[string]string{"only-a.yaml": configMap("only-a", "a's")})
	rep := a.mustSync("rev2")
	moved := Change{Object: ObjectID{Kind: "ConfigMap", Namespace: a.env.Namespace, Name: "moved"}, Action: Skipped,
		Reason: "not labelled for " + a.env.Name + " any more, or annotated ferry.dev/prune: disabled"}
	if diff := cmp.Diff(ChangeSet{moved}, rep.ChangeSet.Changed()); diff != "" {
		t.Errorf("a dropping the object: changes (-want +got):\n%s", diff)
	}
	assertLabelled(t, a, "moved", "a's", b.env.Name)
	if st, _ := a.syncer.state.Load(t.Context(), a.env.Name); len(st.Inventory) != 1 || st.Inventory[0].Name != "only-a" {
		t.Errorf("a's inventory after dropping the object: %v", st.Inventory)
	}

	b.write(map[string]string{"only-b.yaml": configMap("only-b", "b's"), "moved.yaml": configMap("moved", "b's")})
	b.mustSync("rev3")
	assertLabelled(t, a, "moved", "b's", b.env.Name)
	a.mustSync("rev3")
	assertLabelled(t, a, "moved", "b's", b.env.Name)
}

// assertUntouched fails the test when ConfigMap name lost its data value or gained a field of
// ferry's field manager or a ferry label.
func (f *fixture) assertUntouched(name, value, manager string) {
	f.t.Helper()
	cm, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(f.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatalf("%s is gone: %v", name, err)
	}
	if cm.Data["key"] != value || cm.Labels[render.EnvironmentLabel] != "" {
		f.t.Errorf("%s was changed: data %v, labels %v", name, cm.Data, cm.Labels)
	}
	for _, m := range cm.ManagedFields {
		if m.Manager != manager {
			f.t.Errorf("%s has fields of %s", name, m.Manager)
		}
	}
}

// assertLabelled fails the test when ConfigMap name is gone, holds another value, or is not
// labelled for env.
func assertLabelled(t *testing.T, f *fixture, name, value, env string) {
	t.Helper()
	cm, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s is gone: %v", name, err)
	}
	if cm.Data["key"] != value || cm.Labels[render.EnvironmentLabel] != env {
		t.Errorf("%s: data %v, labels %v; want %q labelled for %s", name, cm.Data, cm.Labels, value, env)
	}
}

// TestPruneDeletesOnlyTheObjectItRead: an object ferry read for pruning, then deleted and
// re-created by someone (same name, same labels, another UID) before ferry's delete, is not
// deleted; the prune fails naming it, so that the inventory keeps it for the next sync.
func TestPruneDeletesOnlyTheObjectItRead(t *testing.T) {
	f := newFixture(t, false)
	f.write(map[string]string{"config.yaml": configMap("config", "one")})
	f.mustSync("rev1")
	e := Entry{ObjectID: ObjectID{Kind: "ConfigMap", Namespace: f.env.Namespace, Name: "config"}, Version: "v1"}
	res, err := f.syncer.metaResource(e)
	if err != nil {
		t.Fatal(err)
	}
	read, err := res.Get(t.Context(), "config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cms := f.kube.CoreV1().ConfigMaps(f.env.Namespace)
	if err := cms.Delete(t.Context(), "config", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "config", Namespace: f.env.Namespace, Labels: read.Labels}, Data: map[string]string{"key": "someone's"}}
	if _, err := cms.Create(t.Context(), again, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
		t.Fatal(err)
	}
	action, err := deleteExactly(t.Context(), res, e, read)
	if err == nil || action != "" || !strings.Contains(err.Error(), "ConfigMap "+f.env.Namespace+"/config: re-created while being pruned") {
		t.Fatalf("delete of a replaced object: %q, %v; want a refusal naming it", action, err)
	}
	live, err := cms.Get(t.Context(), "config", metav1.GetOptions{})
	if err != nil || live.UID == read.UID || live.Data["key"] != "someone's" {
		t.Errorf("the re-created object was not kept: %v %v", live, err)
	}
}
