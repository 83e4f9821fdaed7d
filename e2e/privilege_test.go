package e2e

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/manifests"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// TestNamespacedInstallRefusesBeforeApplyAndRBACAgrees installs the namespace-restricted
// overlay of manifests/ for real and runs agents with the ferry ServiceAccount's token (see
// TestAgentWithTheRightsOfItsManifests, which also covers a ClusterRoleBinding that
// ferry.yaml allows). Overlays of the environment "production" that reach for an object in
// another namespace, or for a ClusterRoleBinding to cluster-admin, fail before anything is
// applied (not even the harmless ConfigMap beside them), with an error naming the object; the
// same requests made directly with the token are refused by the API server's RBAC; and an
// object in another namespace handed to the sync engine directly, past the renderer, is
// refused before any write too.
func TestNamespacedInstallRefusesBeforeApplyAndRBACAgrees(t *testing.T) {
	id := strings.ToLower(rand.String(5))
	other := "other-" + id // a namespace outside the install
	kube := adminCreatesNamespaces(t, "staging", "production", other)
	installManifests(t, manifests.Render, manifests.RenderNamespaced)
	kubeconfig := serviceAccountKubeconfig(t, "ferry-system", "ferry")
	saConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(saConfig)
	if err != nil {
		t.Fatal(err)
	}

	escape := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: escape-%s\n  namespace: %s\ndata:\n  k: v\n", id, other)
	admin := fmt.Sprintf("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: escalate-%s\n"+
		"roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\n"+
		"subjects:\n- kind: ServiceAccount\n  name: default\n  namespace: production\n", id)
	probe := func(env string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe-%s\ndata:\n  k: v\n", env)
	}
	escapeEnv, adminEnv := "escape-"+id, "admin-"+id
	// One repository per environment: both land in namespace production, the only one the
	// install may write to, and one ferry.yaml may not give two environments one namespace.
	repo := func(env, extra, extraName string) map[string]string {
		return map[string]string{
			"ferry.yaml":                "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments:\n- name: " + env + "\n  path: " + env + "\n  namespace: production\n",
			env + "/kustomization.yaml": "resources:\n- probe.yaml\n- " + extraName + "\n",
			env + "/probe.yaml":         probe(env),
			env + "/" + extraName:       extra,
		}
	}
	srv := gitserver.Start(t, gitserver.Options{})
	srv.NewRepo(t, escapeEnv, repo(escapeEnv, escape, "escape.yaml"))
	srv.NewRepo(t, adminEnv, repo(adminEnv, admin, "admin.yaml"))
	for env, want := range map[string][]string{
		escapeEnv: {"ConfigMap " + other + "/escape-" + id, `namespace "` + other + `" is not allowed`, "writes only to namespace \"production\""},
		adminEnv:  {"ClusterRoleBinding escalate-" + id, "cluster-scoped kind ClusterRoleBinding is not allowed"},
	} {
		logs := runAgent(t, kubeconfig, srv.RepoURL(env), env)
		line := waitLog(t, logs, map[string]any{"msg": "sync failed", "env": env})
		msg, _ := line["error"].(string)
		t.Logf("%s refused: phase=%v error=%s", env, line["phase"], msg)
		if line["phase"] != "render" {
			t.Errorf("%s failed in phase %v, want render (before apply)", env, line["phase"])
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: refusal %q does not mention %q", env, msg, w)
			}
		}
		if _, err := kube.CoreV1().ConfigMaps("production").Get(t.Context(), "probe-"+env, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s: the ConfigMap beside the refused object was applied (%v): the refusal came too late", env, err)
		}
	}

	// The API server agrees: the token may write in production, not elsewhere.
	cm := func(ns, name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string]string{"k": "v"}}
	}
	if _, err := sa.CoreV1().ConfigMaps("production").Create(t.Context(), cm("production", "allowed-"+id), metav1.CreateOptions{}); err != nil {
		t.Fatalf("the token may not even write in production: %v", err)
	}
	_ = kube.CoreV1().ConfigMaps("production").Delete(t.Context(), "allowed-"+id, metav1.DeleteOptions{})
	_, err = sa.CoreV1().ConfigMaps(other).Create(t.Context(), cm(other, "escape-"+id), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("ConfigMap in %s created with ferry's token: %v, want forbidden", other, err)
	}
	t.Logf("API server, ConfigMap in %s: %v", other, err)
	var crb rbacv1.ClusterRoleBinding
	if err := yaml.Unmarshal([]byte(admin), &crb); err != nil {
		t.Fatal(err)
	}
	_, err = sa.RbacV1().ClusterRoleBindings().Create(t.Context(), &crb, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("ClusterRoleBinding created with ferry's token: %v, want forbidden", err)
	}
	t.Logf("API server, ClusterRoleBinding: %v", err)

	// Past the renderer (as if it had a bug), the sync engine refuses before writing: it may not
	// even read ConfigMaps in that namespace, so it cannot check who owns the object.
	s, err := sync.New(saConfig, sync.Options{Namespace: "ferry-system"})
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(escape), &obj.Object); err != nil {
		t.Fatal(err)
	}
	obj.SetLabels(map[string]string{render.ManagedByLabel: render.ManagedByValue, render.EnvironmentLabel: "bypass-" + id})
	env := &environments.Environment{Name: "bypass-" + id, Namespace: "production", Prune: true}
	_, err = s.Apply(t.Context(), env, render.Result{Objects: []*unstructured.Unstructured{obj}, Digest: "sha256:bypass"}, "rev1")
	t.Logf("sync engine, past the renderer: %v", err)
	if err == nil || !strings.Contains(err.Error(), "ConfigMap "+other+"/escape-"+id) || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("Apply of a ConfigMap in %s with ferry's token: %v, want a refusal naming it", other, err)
	}
	for _, err := range []error{
		errOf(kube.CoreV1().ConfigMaps(other).Get(t.Context(), "escape-"+id, metav1.GetOptions{})),
		errOf(kube.RbacV1().ClusterRoleBindings().Get(t.Context(), "escalate-"+id, metav1.GetOptions{})),
	} {
		if !apierrors.IsNotFound(err) {
			t.Errorf("a refused object exists: %v", err)
		}
	}
}

// errOf returns the error of a call that also returns a value.
func errOf[T any](_ T, err error) error { return err }
