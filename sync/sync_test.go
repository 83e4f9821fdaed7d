package sync

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/render"
)

func gceLike() map[string]string {
	return map[string]string{
		"config.yaml":     configMap("config", "one"),
		"service.yaml":    serviceYAML,
		"deployment.yaml": deploymentYAML("web", 1),
	}
}

// resourceVersions returns the resourceVersion of each object of the environment by name.
func (f *fixture) resourceVersions() map[string]string {
	f.t.Helper()
	ctx, ns := f.t.Context(), f.env.Namespace
	out := map[string]string{}
	cm, err := f.kube.CoreV1().ConfigMaps(ns).Get(ctx, "config", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out["config"] = cm.ResourceVersion
	svc, err := f.kube.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out["service"] = svc.ResourceVersion
	d, err := f.kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	out["deployment"] = d.ResourceVersion
	return out
}

func TestFirstSyncThenNoOp(t *testing.T) {
	f := newFixture(t, true)
	f.write(gceLike())
	rep := f.mustSync("rev1")
	if got := rep.ChangeSet.Count(Created); got != 3 {
		t.Fatalf("first sync created %d objects, want 3:\n%s", got, rep.ChangeSet)
	}
	if rep.Health != Healthy {
		t.Errorf("health after first sync = %s, want Healthy", rep.Health)
	}
	f.waitVouched()
	before := f.resourceVersions()

	f.counter.Reset()
	rep = f.mustSync("rev1")
	if !rep.NoOp || rep.ChangeSet.Count(Unchanged) != 3 {
		t.Errorf("second sync: NoOp=%v, changes:\n%s", rep.NoOp, rep.ChangeSet)
	}
	if w, n := f.counter.Writes(), f.counter.Total(); w != 0 || n > 2 {
		t.Errorf("no-op sync made %d writes and %d requests (%v), want 0 writes and at most 2 requests", w, n, f.counter.Counts())
	}
	if after := f.resourceVersions(); after["config"] != before["config"] || after["service"] != before["service"] || after["deployment"] != before["deployment"] {
		t.Errorf("resourceVersions changed in a no-op sync: before %v, after %v", before, after)
	}
	t.Logf("no-op sync: %v, %s", f.counter.Counts(), rep.Duration)
}

// TestSyncWithoutWatchMakesNoWrites is the CLI's path (`ferry sync --once`): no drift watch,
// so every object is compared by ssa's dry-run, and nothing unchanged is written.
func TestSyncWithoutWatchMakesNoWrites(t *testing.T) {
	f := newFixture(t, false)
	f.write(gceLike())
	f.mustSync("rev1")
	f.counter.Reset()
	rep := f.mustSync("rev1")
	if rep.ChangeSet.Count(Unchanged) != 3 || f.counter.Writes() != 0 {
		t.Errorf("second sync without watch: %d writes (%v), changes:\n%s", f.counter.Writes(), f.counter.Counts(), rep.ChangeSet)
	}
}

func TestChangedObjectConfiguredAndRemovedObjectPruned(t *testing.T) {
	f := newFixture(t, true)
	files := gceLike()
	files["extra.yaml"] = configMap("extra", "x")
	f.write(files)
	f.mustSync("rev1")
	f.waitVouched()

	files["config.yaml"] = configMap("config", "two")
	delete(files, "extra.yaml")
	f.write(files)
	f.counter.Reset()
	rep := f.mustSync("rev2")
	changed := rep.ChangeSet.Changed()
	want := ChangeSet{{Object: ObjectID{Kind: "ConfigMap", Namespace: f.env.Namespace, Name: "config"}, Action: Configured},
		{Object: ObjectID{Kind: "ConfigMap", Namespace: f.env.Namespace, Name: "extra"}, Action: Pruned}}
	if changed.String() != want.String() {
		t.Errorf("changes (-want +got):\n-%s\n+%s", want, changed)
	}
	t.Logf("one changed and one removed object: %v", f.counter.Counts())
	cm, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(t.Context(), "config", metav1.GetOptions{})
	if err != nil || cm.Data["key"] != "two" {
		t.Errorf("config not updated: %v %v", cm.Data, err)
	}
	if _, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(t.Context(), "extra", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("extra was not pruned: %v", err)
	}
}

// syncOneChange syncs gceLike at rev1, waits until the drift watch vouches for it, then
// replaces one file and syncs rev2 with the request counter reset: rev2's report.
func (f *fixture) syncOneChange(file, content string) *Report {
	f.t.Helper()
	files := gceLike()
	f.write(files)
	f.mustSync("rev1")
	f.waitVouched()
	files[file] = content
	f.write(files)
	f.counter.Reset()
	return f.mustSync("rev2")
}

// TestOneChangedObjectRequests is issue 9's budget: one changed ConfigMap costs at most 5
// requests (state read, ssa's read, dry-run and apply, state write) and exactly one write to it.
func TestOneChangedObjectRequests(t *testing.T) {
	f := newFixture(t, true)
	rep := f.syncOneChange("config.yaml", configMap("config", "two"))
	want := ChangeSet{{Object: ObjectID{Kind: "ConfigMap", Namespace: f.env.Namespace, Name: "config"}, Action: Configured}}
	if got := rep.ChangeSet.Changed(); got.String() != want.String() {
		t.Errorf("changes (-want +got):\n-%s\n+%s", want, got)
	}
	if n, w := f.counter.Total()-f.counter.Counts()["WATCH"], f.counter.Writes(); n > 5 || w != 2 {
		t.Errorf("one changed ConfigMap made %d requests and %d writes, want at most 5 and 2 (the object, the state):\n%s", n, w, strings.Join(f.counter.Calls(), "\n"))
	}
	t.Logf("one changed object: %v\n%s", f.counter.Counts(), strings.Join(f.counter.Calls(), "\n"))
	if rep.Health != Healthy {
		t.Errorf("health = %s, want Healthy", rep.Health)
	}
	st, err := f.syncer.State().Load(t.Context(), f.env.Name)
	if err != nil || st.Health != Healthy || st.AppliedRevision != "rev2" {
		t.Errorf("state after the change: health %q, revision %q, err %v", st.Health, st.AppliedRevision, err)
	}
}

// TestChangedDeploymentRequests: a new image in a Deployment of a healthy environment costs
// the same five requests plus the health wait's reads; the state is written once, since the
// environment was healthy and stays so.
func TestChangedDeploymentRequests(t *testing.T) {
	f := newFixture(t, true)
	rep := f.syncOneChange("deployment.yaml", strings.Replace(deploymentYAML("web", 1), "gceme:1.0.0", "gceme:2.0.0", 1))
	if got := rep.ChangeSet.Changed().String(); !strings.Contains(got, "Deployment") || rep.ChangeSet.Count(Configured) != 1 {
		t.Errorf("changes: %s", got)
	}
	calls := f.counter.Calls()
	t.Logf("one changed Deployment:\n%s", strings.Join(calls, "\n"))
	// The apply: up to the state write; then the health wait's reads (kstatus lists the
	// Deployments, ReplicaSets and Pods of the namespace per poll), and no second state write.
	applied := slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, "PUT ") })
	if applied < 0 || applied+1 > 5 || f.counter.Writes() != 2 || rep.Health != Healthy {
		t.Errorf("one changed Deployment: apply in %d requests, %d writes in all, health %s; want at most 5, and 2 writes (it, the state)", applied+1, f.counter.Writes(), rep.Health)
	}
}

func TestForeignObjectIsNeitherAdoptedNorPruned(t *testing.T) {
	f := newFixture(t, true)
	f.write(map[string]string{"config.yaml": configMap("config", "one")})
	f.mustSync("rev1")
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "handmade", Namespace: f.env.Namespace}, Data: map[string]string{"mine": "yes"}}
	if _, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Create(t.Context(), foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.write(map[string]string{"config.yaml": configMap("config", "one"), "handmade.yaml": configMap("handmade", "ferry's")})
	_, err := f.sync("rev2")
	var serr *Error
	if !errors.As(err, &serr) || serr.Phase != PhaseApply || !strings.Contains(err.Error(), "ConfigMap "+f.env.Namespace+"/handmade") || !strings.Contains(err.Error(), "will not take it over") {
		t.Fatalf("sync over a hand-made object: %v, want an apply error naming it", err)
	}
	got, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(t.Context(), "handmade", metav1.GetOptions{})
	if err != nil || got.Data["mine"] != "yes" || got.Labels[render.EnvironmentLabel] != "" {
		t.Errorf("hand-made object was touched: %+v %v", got, err)
	}
	// Dropping it from the overlay again must not prune it either: it was never ferry's.
	f.write(map[string]string{"config.yaml": configMap("config", "one")})
	f.mustSync("rev3")
	if _, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(t.Context(), "handmade", metav1.GetOptions{}); err != nil {
		t.Errorf("hand-made object is gone: %v", err)
	}
}

func TestEmptyRenderPrunesNothing(t *testing.T) {
	f := newFixture(t, true)
	f.write(gceLike())
	f.mustSync("rev1")
	_, err := f.syncer.Sync(t.Context(), f.env, render.Result{}, "rev2")
	var serr *Error
	if !errors.As(err, &serr) || serr.Phase != PhaseRender {
		t.Fatalf("sync of an empty render: %v, want a render-phase error", err)
	}
	f.resourceVersions() // fails the test if any object is gone
	st, err := f.syncer.state.Load(t.Context(), f.env.Name)
	if err != nil || len(st.Inventory) != 3 || st.AppliedRevision != "rev1" {
		t.Errorf("state after a refused empty render: %+v %v", st, err)
	}
}

func TestDriftIsCorrectedAlone(t *testing.T) {
	f := newFixture(t, true)
	f.write(gceLike())
	f.mustSync("rev1")
	f.waitVouched()

	// Someone scales the Deployment by hand, as `kubectl scale` does.
	scale := []byte(`{"spec":{"replicas":3}}`)
	_, err := f.kube.AppsV1().Deployments(f.env.Namespace).Patch(t.Context(), "web", types.MergePatchType, scale,
		metav1.PatchOptions{FieldManager: "kubectl-scale"}, "scale")
	if err != nil {
		t.Fatal(err)
	}
	var drifted []ObjectID
	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		drifted = f.syncer.Drifted(f.env.Name)
		return len(drifted) > 0, nil
	})
	if err != nil || len(drifted) != 1 || drifted[0].Name != "web" || drifted[0].Kind != "Deployment" {
		t.Fatalf("drift watch reported %v (%v), want the web Deployment", drifted, err)
	}

	f.counter.Reset()
	rep := f.mustSync("rev1")
	if changed := rep.ChangeSet.Changed(); len(changed) != 1 || changed[0].Action != Configured || changed[0].Object.Kind != "Deployment" {
		t.Errorf("drift sync changes:\n%s", rep.ChangeSet)
	}
	if dry := f.counter.Counts()["DRYRUN"]; dry > 1 {
		t.Errorf("drift sync dry-ran %d objects, want only the drifted one", dry)
	}
	d, err := f.kube.AppsV1().Deployments(f.env.Namespace).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas not restored to 1: %v %v", d.Spec.Replicas, err)
	}
	t.Logf("drift correction: %v", f.counter.Counts())
}
