package manifests_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ferry-cd/ferry/manifests"
)

const agentNamespace = "ferry-system"

// rbacTimeout bounds the wait for the API server's RBAC authorizer, which sees new and changed
// roles and bindings through an informer, a moment after they are written.
const rbacTimeout = 60 * time.Second

func TestDryRunApply(t *testing.T) {
	admin := kubeClient(t, cluster.Config)
	// A dry-run of a namespaced object needs its Namespace to exist for real.
	ensureNamespaces(t, admin, agentNamespace, "staging", "production")
	dryRun := manifests.DefaultInstallOptions()
	dryRun.DryRun = true
	tests := []struct {
		name   string
		render func() ([]*unstructured.Unstructured, error)
	}{
		{"base", manifests.Render},
		{"namespaced", manifests.RenderNamespaced},
		{"examples", readExamples},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := manifests.Install(t.Context(), cluster.Config, mustRender(t, tt.render), dryRun); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Nothing applies the example Secret for real, so a dry-run that persisted would show here.
	_, err := admin.CoreV1().Secrets(agentNamespace).Get(t.Context(), "ferry-git", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("Secret ferry-system/ferry-git after a dry-run: err = %v, want NotFound", err)
	}
}

// readExamples reads the example Secrets in examples/.
func readExamples() ([]*unstructured.Unstructured, error) {
	paths, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("examples/*.yaml: %d files, %v", len(paths), err)
	}
	var objs []*unstructured.Unstructured
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			obj := &unstructured.Unstructured{}
			if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			objs = append(objs, obj)
		}
	}
	return objs, nil
}

// TestRBAC checks with real requests, as the agent's ServiceAccount, what each install lets
// the agent do. The subtests run in order and share the ServiceAccount ferry-system/ferry and
// the ClusterRole ferry: the second switches the install from the base to the namespaced
// overlay, as a user would, with one apply.
func TestRBAC(t *testing.T) {
	admin := kubeClient(t, cluster.Config)
	ensureNamespaces(t, admin, agentNamespace, "staging", "production")
	cleaner := createCleanerRole(t, admin)

	t.Run("base", func(t *testing.T) {
		install(t, mustRender(t, manifests.Render))
		sa := agentClient(t, admin)
		checkAgentNamespace(t, sa)
		checkEnvironmentWrites(t, sa, "staging", cleaner)
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: unique("ferry-env")}}
		expectAllowed(t, "create a Namespace", func(ctx context.Context) error {
			_, err := sa.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
			return err
		})
		expectAllowed(t, "create a ClusterRoleBinding", func(ctx context.Context) error {
			return createClusterRoleBinding(ctx, sa.kube)
		})
		expectAllowed(t, "create a ConfigMap in kube-system", func(ctx context.Context) error {
			return createConfigMap(ctx, sa.kube, "kube-system")
		})
	})

	t.Run("namespaced", func(t *testing.T) {
		install(t, mustRender(t, manifests.RenderNamespaced))
		sa := agentClient(t, admin)
		// Refusals first: once the ClusterRole's write rights are seen gone, whatever is still
		// allowed below is allowed by the overlay's Roles.
		expectForbidden(t, "create a ClusterRoleBinding", func(ctx context.Context) error {
			return createClusterRoleBinding(ctx, sa.kube)
		})
		expectForbidden(t, "create a ConfigMap in kube-system", func(ctx context.Context) error {
			return createConfigMap(ctx, sa.kube, "kube-system")
		})
		expectForbidden(t, "read a Secret in kube-system", func(ctx context.Context) error {
			_, err := sa.kube.CoreV1().Secrets("kube-system").Get(ctx, "any", metav1.GetOptions{})
			return ignoreNotFound(err)
		})
		expectForbidden(t, "create a Namespace", func(ctx context.Context) error {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: unique("ferry-env")}}
			_, err := sa.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		})
		// The agent's drift watch lists across all namespaces; in this mode it must list per
		// environment namespace instead.
		expectForbidden(t, "list ConfigMaps in all namespaces", func(ctx context.Context) error {
			_, err := sa.kube.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{Limit: 1})
			return err
		})
		expectForbidden(t, "read a Lease other than ferry-agent", func(ctx context.Context) error {
			_, err := sa.kube.CoordinationV1().Leases(agentNamespace).Get(ctx, "other", metav1.GetOptions{})
			return ignoreNotFound(err)
		})

		checkAgentNamespace(t, sa)
		checkEnvironmentWrites(t, sa, "staging", cleaner)
		checkEnvironmentWrites(t, sa, "production", cleaner)
		expectAllowed(t, "get its environment's Namespace", func(ctx context.Context) error {
			_, err := sa.kube.CoreV1().Namespaces().Get(ctx, "staging", metav1.GetOptions{})
			return err
		})
		crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		expectAllowed(t, "list CustomResourceDefinitions", func(ctx context.Context) error {
			_, err := sa.dyn.Resource(crds).List(ctx, metav1.ListOptions{Limit: 1})
			return err
		})
	})
}

// checkAgentNamespace checks what the agent does in its own namespace: state ConfigMaps, the
// leader-election Lease and Events, in both event APIs.
func checkAgentNamespace(t *testing.T, sa agent) {
	t.Helper()
	cms := sa.kube.CoreV1().ConfigMaps(agentNamespace)
	state := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: unique("ferry-env")}, Data: map[string]string{"stage": "canary"}}
	expectAllowed(t, "create a state ConfigMap", func(ctx context.Context) error {
		_, err := cms.Create(ctx, state, metav1.CreateOptions{})
		return err
	})
	expectAllowed(t, "get and update the state ConfigMap", func(ctx context.Context) error {
		cm, err := cms.Get(ctx, state.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cm.Data["stage"] = "all"
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})

	leases := sa.kube.CoordinationV1().Leases(agentNamespace)
	expectAllowed(t, "get (or create) and renew the Lease ferry-agent", func(ctx context.Context) error {
		lease, err := leases.Get(ctx, "ferry-agent", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			lease, err = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "ferry-agent"}}, metav1.CreateOptions{})
		}
		if err != nil {
			return err
		}
		holder := unique("ferry-pod")
		now := metav1.NewMicroTime(time.Now())
		lease.Spec.HolderIdentity, lease.Spec.RenewTime = &holder, &now
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})

	regarding := corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: agentNamespace, Name: state.Name}
	expectAllowed(t, "create a core/v1 Event", func(ctx context.Context) error {
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: unique("ferry-event"), Namespace: agentNamespace},
			InvolvedObject: regarding, Reason: "Applied", Message: "test", Type: corev1.EventTypeNormal,
			Source: corev1.EventSource{Component: "ferry"},
		}
		_, err := sa.kube.CoreV1().Events(agentNamespace).Create(ctx, ev, metav1.CreateOptions{})
		return err
	})
	expectAllowed(t, "create an events.k8s.io/v1 Event", func(ctx context.Context) error {
		ev := &eventsv1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: unique("ferry-event"), Namespace: agentNamespace},
			EventTime:  metav1.NewMicroTime(time.Now()), Regarding: regarding,
			ReportingController: "ferry.dev/agent", ReportingInstance: "ferry-test",
			Action: "Sync", Reason: "Applied", Note: "test", Type: corev1.EventTypeNormal,
		}
		_, err := sa.kube.EventsV1().Events(agentNamespace).Create(ctx, ev, metav1.CreateOptions{})
		return err
	})
}

// checkEnvironmentWrites checks that the agent can apply, patch and prune in ns, and apply a
// RoleBinding to the ClusterRole role, which grants a right the agent does not hold.
func checkEnvironmentWrites(t *testing.T, sa agent, ns, role string) {
	t.Helper()
	cms := sa.kube.CoreV1().ConfigMaps(ns)
	name := unique("web")
	applyOpts := metav1.ApplyOptions{FieldManager: "ferry", Force: true}
	expectAllowed(t, "server-side apply a new ConfigMap in "+ns, func(ctx context.Context) error {
		_, err := cms.Apply(ctx, corev1ac.ConfigMap(name, ns).WithData(map[string]string{"tag": "1.0"}), applyOpts)
		return err
	})
	expectAllowed(t, "patch the ConfigMap in "+ns, func(ctx context.Context) error {
		_, err := cms.Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"labels":{"track":"canary"}}}`), metav1.PatchOptions{})
		return err
	})
	expectAllowed(t, "delete the ConfigMap in "+ns, func(ctx context.Context) error {
		return cms.Delete(ctx, name, metav1.DeleteOptions{})
	})
	binding := rbacv1ac.RoleBinding(unique("editors"), ns).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(role)).
		WithSubjects(rbacv1ac.Subject().WithKind(rbacv1.UserKind).WithAPIGroup(rbacv1.GroupName).WithName("developer"))
	expectAllowed(t, "server-side apply a RoleBinding to ClusterRole "+role+" in "+ns, func(ctx context.Context) error {
		_, err := sa.kube.RbacV1().RoleBindings(ns).Apply(ctx, binding, applyOpts)
		return err
	})
	expectAllowed(t, "delete the RoleBinding in "+ns, func(ctx context.Context) error {
		return sa.kube.RbacV1().RoleBindings(ns).Delete(ctx, *binding.Name, metav1.DeleteOptions{})
	})
}

// createCleanerRole creates, as admin, a ClusterRole granting deletecollection on ConfigMaps,
// which the agent never holds: binding it needs the agent's escalate or bind rights. (The
// built-in edit and admin are empty here: no controller-manager aggregates them.)
func createCleanerRole(t *testing.T, admin kubernetes.Interface) string {
	t.Helper()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: unique("ferry-test-cleaner")},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"deletecollection"}}},
	}
	if _, err := admin.RbacV1().ClusterRoles().Create(t.Context(), role, metav1.CreateOptions{}); err != nil {
		t.Fatalf("ClusterRole %s: %v", role.Name, err)
	}
	t.Cleanup(func() {
		_ = admin.RbacV1().ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{})
	})
	return role.Name
}

// createClusterRoleBinding dry-runs a ClusterRoleBinding to the built-in ClusterRole view.
func createClusterRoleBinding(ctx context.Context, kube kubernetes.Interface) error {
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: unique("viewers")},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "developer"}},
	}
	_, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// createConfigMap dry-runs a new ConfigMap in ns.
func createConfigMap(ctx context.Context, kube kubernetes.Interface, ns string) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: unique("web"), Namespace: ns}}
	_, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// expectAllowed runs do until it is not refused by RBAC (new grants take a moment to be seen)
// and fails the test if it then returns an error, or is still refused after rbacTimeout.
func expectAllowed(t *testing.T, what string, do func(context.Context) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, rbacTimeout, true, func(context.Context) (bool, error) {
		last = do(t.Context()) // not the poll's context: its deadline is not the answer
		return !apierrors.IsForbidden(last), nil
	})
	switch {
	case err != nil:
		t.Errorf("%s: still refused after %s: %v", what, rbacTimeout, last)
	case last != nil:
		t.Errorf("%s: %v", what, last)
	}
}

// expectForbidden runs do, which must have no lasting effect (a dry-run or a read), until RBAC
// refuses it (revoked grants take a moment to be seen), and fails the test if it returns another
// error, or is still allowed after rbacTimeout.
func expectForbidden(t *testing.T, what string, do func(context.Context) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, rbacTimeout, true, func(context.Context) (bool, error) {
		last = do(t.Context()) // not the poll's context: its deadline is not the answer
		return last != nil, nil
	})
	switch {
	case err != nil:
		t.Errorf("%s: still allowed after %s, want Forbidden", what, rbacTimeout)
	case !apierrors.IsForbidden(last):
		t.Errorf("%s: %v, want Forbidden", what, last)
	}
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// agent is a client with the identity of the agent's ServiceAccount.
type agent struct {
	kube kubernetes.Interface
	dyn  dynamic.Interface
}

// agentClient mints a token for ServiceAccount ferry-system/ferry with the TokenRequest API, as
// the kubelet does for the agent's pod, and returns clients that use it.
func agentClient(t *testing.T, admin kubernetes.Interface) agent {
	t.Helper()
	seconds := int64(3600)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds}}
	tok, err := admin.CoreV1().ServiceAccounts(agentNamespace).CreateToken(t.Context(), "ferry", req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for ServiceAccount %s/ferry: %v", agentNamespace, err)
	}
	cfg := rest.AnonymousClientConfig(cluster.Config) // the server and its CA, no client certificate
	cfg.BearerToken = tok.Status.Token
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return agent{kube: kubeClient(t, cfg), dyn: dyn}
}

func kubeClient(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kube
}

// install applies objs for real, as `ferry install` would.
func install(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	if err := manifests.Install(t.Context(), cluster.Config, objs, manifests.DefaultInstallOptions()); err != nil {
		t.Fatal(err)
	}
}

// ensureNamespaces creates the namespaces that do not exist yet. The test cluster runs no
// namespace controller, so namespaces are never deleted: tests share them and use unique names
// inside them.
func ensureNamespaces(t *testing.T, kube kubernetes.Interface, names ...string) {
	t.Helper()
	for _, name := range names {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := kube.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("namespace %s: %v", name, err)
		}
	}
}

// unique returns prefix with a random suffix, a valid DNS label.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%08x", prefix, rand.Uint32())
}
