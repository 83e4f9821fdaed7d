package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

func TestCRDAndCustomResourceInOneSync(t *testing.T) {
	f := newFixture(t, true)
	f.env.ClusterScoped = []string{"CustomResourceDefinition"}
	plural := "widgets" + f.env.Name
	crd := crdYAML(plural, "Widget"+f.env.Name)
	cr := fmt.Sprintf("apiVersion: example.ferry.dev/v1\nkind: Widget%s\nmetadata:\n  name: first\nspec:\n  size: 3\n", f.env.Name)
	f.write(map[string]string{"crd.yaml": crd, "widget.yaml": cr})
	rep := f.mustSync("rev1")
	if got := rep.ChangeSet.Count(Created); got != 2 {
		t.Fatalf("created %d objects, want the CRD and the Widget:\n%s", got, rep.ChangeSet)
	}
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: "example.ferry.dev", Version: "v1", Resource: plural}
	w, err := dyn.Resource(gvr).Namespace(f.env.Namespace).Get(t.Context(), "first", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if size, _, _ := unstructured.NestedInt64(w.Object, "spec", "size"); size != 3 {
		t.Errorf("widget spec.size = %d, want 3", size)
	}
}

// denyPolicy makes the API server reject creates and updates of ConfigMaps named "rejected" in
// the environment's namespace (with deletes true: their deletes instead), with a
// ValidatingAdmissionPolicy and its binding. It waits until the policy is in force.
func denyPolicy(t *testing.T, f *fixture, deletes bool) (remove func()) {
	t.Helper()
	name := "deny-" + f.env.Name
	operations, subject := `["CREATE", "UPDATE"]`, "object"
	if deletes {
		operations, subject = `["DELETE"]`, "oldObject"
	}
	policy := fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: %[1]s}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: %[3]s
      resources: ["configmaps"]
  validations:
  - expression: "%[4]s.metadata.name != 'rejected'"
    message: "ConfigMaps named rejected are refused by policy %[1]s"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: %[1]s}
spec:
  policyName: %[1]s
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: %[2]s}
`, name, f.env.Namespace, operations, subject)
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	gvrs := []schema.GroupVersionResource{
		{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"},
		{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"},
	}
	for i, doc := range strings.Split(policy, "---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatal(err)
		}
		if _, err := dyn.Resource(gvrs[i]).Create(t.Context(), obj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Policies take effect asynchronously: probe with a dry-run create (or delete of the
	// existing object) until it is refused.
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "rejected", Namespace: f.env.Namespace}}
	err = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		cms := f.kube.CoreV1().ConfigMaps(f.env.Namespace)
		var err error
		if deletes {
			err = cms.Delete(ctx, "rejected", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		} else {
			_, err = cms.Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		}
		return apierrors.IsInvalid(err) || apierrors.IsForbidden(err), nil
	})
	if err != nil {
		t.Fatalf("policy %s never took effect: %v", name, err)
	}
	return func() {
		for _, gvr := range gvrs {
			if err := dyn.Resource(gvr).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
				t.Errorf("delete %s %s: %v", gvr.Resource, name, err)
			}
		}
	}
}

func TestFailedApplyPrunesNothingAndKeepsInventory(t *testing.T) {
	f := newFixture(t, true)
	f.write(map[string]string{"config.yaml": configMap("config", "one"), "old.yaml": configMap("old", "x")})
	f.mustSync("rev1")
	before, err := f.syncer.state.Load(t.Context(), f.env.Name)
	if err != nil {
		t.Fatal(err)
	}
	removePolicy := denyPolicy(t, f, false)

	// rev2 drops "old" and adds an object the API server refuses.
	f.write(map[string]string{"config.yaml": configMap("config", "two"), "rejected.yaml": configMap("rejected", "no")})
	_, err = f.sync("rev2")
	var serr *Error
	if !errors.As(err, &serr) || serr.Phase != PhaseApply || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("sync against the policy: %v, want an apply error naming the rejected ConfigMap", err)
	}
	t.Logf("refused as: %v", err)
	if _, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(t.Context(), "old", metav1.GetOptions{}); err != nil {
		t.Errorf("old was pruned although the apply failed: %v", err)
	}
	after, err := f.syncer.state.Load(t.Context(), f.env.Name)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after.Inventory) != fmt.Sprint(before.Inventory) || after.AppliedRevision != "rev1" {
		t.Errorf("inventory or applied revision changed by a failed apply:\nbefore %v %s\nafter  %v %s", before.Inventory, before.AppliedRevision, after.Inventory, after.AppliedRevision)
	}
	if after.AttemptedRevision != "rev2" || !strings.Contains(after.LastError, "rejected") {
		t.Errorf("failed attempt not recorded: attempted %q, error %q", after.AttemptedRevision, after.LastError)
	}

	removePolicy()
	err = wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		_, err := f.sync("rev2")
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("sync did not converge after the policy was removed: %v", err)
	}
	if _, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(t.Context(), "old", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("old not pruned after convergence: %v", err)
	}
	if _, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(t.Context(), "rejected", metav1.GetOptions{}); err != nil {
		t.Errorf("rejected not created after convergence: %v", err)
	}
}

// TestFailedPruneIsRetriedWithTheSameRender: a prune the API server refuses fails the sync in
// the prune phase and keeps the object in the inventory; a later sync of the same revision
// (nothing to apply, the drift watch vouching for the rest) still prunes it.
func TestFailedPruneIsRetriedWithTheSameRender(t *testing.T) {
	f := newFixture(t, true)
	f.write(map[string]string{"config.yaml": configMap("config", "one"), "rejected.yaml": configMap("rejected", "x")})
	f.mustSync("rev1")
	removePolicy := denyPolicy(t, f, true)

	f.write(map[string]string{"config.yaml": configMap("config", "one")})
	_, err := f.sync("rev2")
	var serr *Error
	if !errors.As(err, &serr) || serr.Phase != PhasePrune || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("sync whose prune is refused: %v, want a prune error naming the ConfigMap", err)
	}
	st, err := f.syncer.state.Load(t.Context(), f.env.Name)
	if err != nil || !strings.Contains(fmt.Sprint(st.Inventory), "rejected") {
		t.Fatalf("inventory after the refused prune: %v %v, want it to keep rejected", st.Inventory, err)
	}
	f.waitVouched()
	removePolicy()
	err = wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		rep, err := f.sync("rev2")
		if err != nil {
			return false, nil
		}
		return rep.ChangeSet.Count(Pruned) == 1, nil
	})
	if err != nil {
		t.Fatalf("the same revision never pruned rejected after the policy went: %v", err)
	}
	if _, err := f.kube.CoreV1().ConfigMaps(f.env.Namespace).Get(t.Context(), "rejected", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("rejected still exists: %v", err)
	}
}

func TestImmutableChangeFailsUnlessForced(t *testing.T) {
	f := newFixture(t, true)
	f.write(map[string]string{"deployment.yaml": deploymentYAML("imm", 1)})
	f.mustSync("rev1")
	before, err := f.kube.AppsV1().Deployments(f.env.Namespace).Get(t.Context(), "imm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A new selector label: spec.selector is immutable.
	changed := strings.ReplaceAll(deploymentYAML("imm", 1), "{app: imm}", "{app: imm, tier: web}")
	f.write(map[string]string{"deployment.yaml": changed})
	_, err = f.sync("rev2")
	if err == nil || !strings.Contains(err.Error(), "imm") || !strings.Contains(strings.ToLower(err.Error()), "immutable") {
		t.Fatalf("sync of an immutable change: %v, want an error naming the Deployment and the immutable field", err)
	}
	forced := strings.Replace(changed, "metadata:\n  name: imm\n", "metadata:\n  name: imm\n  annotations:\n    ferry.dev/force: \"true\"\n", 1)
	f.write(map[string]string{"deployment.yaml": forced})
	f.mustSync("rev3")
	after, err := f.kube.AppsV1().Deployments(f.env.Namespace).Get(t.Context(), "imm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.UID == before.UID || after.Spec.Selector.MatchLabels["tier"] != "web" {
		t.Errorf("forced change did not recreate the Deployment: uid %s → %s, selector %v", before.UID, after.UID, after.Spec.Selector.MatchLabels)
	}
}
