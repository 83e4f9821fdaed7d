package manifests_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/manifests"
)

// refs names each object as "Kind namespace/name", sorted; the generated ConfigMap's content
// hash is replaced by HASH.
func refs(objs []*unstructured.Unstructured) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		name := o.GetName()
		if o.GetKind() == "ConfigMap" && strings.HasPrefix(name, "ferry-config-") {
			name = "ferry-config-HASH"
		}
		out = append(out, o.GetKind()+" "+o.GetNamespace()+"/"+name)
	}
	slices.Sort(out)
	return out
}

func mustRender(t *testing.T, render func() ([]*unstructured.Unstructured, error)) []*unstructured.Unstructured {
	t.Helper()
	objs, err := render()
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestRenderObjects(t *testing.T) {
	base := []string{
		"ClusterRole /ferry",
		"ClusterRoleBinding /ferry",
		"ConfigMap ferry-system/ferry-config-HASH",
		"Deployment ferry-system/ferry",
		"Namespace /ferry-system",
		"PodDisruptionBudget ferry-system/ferry",
		"Role ferry-system/ferry",
		"Role ferry-system/ferry-operator",
		"RoleBinding ferry-system/ferry",
		"Service ferry-system/ferry",
		"ServiceAccount ferry-system/ferry",
	}
	namespaced := slices.Concat(base, []string{
		"Role production/ferry", "Role staging/ferry",
		"RoleBinding production/ferry", "RoleBinding staging/ferry",
	})
	slices.Sort(namespaced)
	tests := []struct {
		name   string
		render func() ([]*unstructured.Unstructured, error)
		want   []string
	}{
		{"base", manifests.Render, base},
		{"namespaced", manifests.RenderNamespaced, namespaced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := mustRender(t, tt.render)
			if diff := cmp.Diff(tt.want, refs(objs)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if got := image(t, objs); got != "ghcr.io/ferry-cd/ferry:latest" {
				t.Errorf("agent image = %q, want ghcr.io/ferry-cd/ferry:latest", got)
			}
		})
	}
}

// image returns the agent container's image.
func image(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		if len(containers) == 1 {
			img, _, _ := unstructured.NestedString(containers[0].(map[string]any), "image")
			return img
		}
	}
	t.Fatal("no Deployment with one container")
	return ""
}

// TestNamespacedGrantsOnlyReadsClusterWide checks the namespaced overlay's promise on paper;
// TestRBAC checks it against the API server.
func TestNamespacedGrantsOnlyReadsClusterWide(t *testing.T) {
	reads := []any{"get", "list", "watch"}
	for _, o := range mustRender(t, manifests.RenderNamespaced) {
		if o.GetKind() != "ClusterRole" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
		for _, r := range rules {
			verbs, _ := r.(map[string]any)["verbs"].([]any)
			for _, v := range verbs {
				if !slices.Contains(reads, v) {
					t.Errorf("ClusterRole %s grants %q cluster-wide in rule %v", o.GetName(), v, r)
				}
			}
		}
	}
}

// TestAgentSOPSKeys checks that the agent reads its age identities from the Secret ferry-sops,
// mounted read-only and optional, through SOPS_AGE_KEY_FILE.
func TestAgentSOPSKeys(t *testing.T) {
	objs := mustRender(t, manifests.Render)
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		spec, _, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
		c := spec["containers"].([]any)[0].(map[string]any)
		var env, mount, volume map[string]any
		for _, e := range c["env"].([]any) {
			if e.(map[string]any)["name"] == "SOPS_AGE_KEY_FILE" {
				env = e.(map[string]any)
			}
		}
		for _, m := range c["volumeMounts"].([]any) {
			if m.(map[string]any)["name"] == "sops-keys" {
				mount = m.(map[string]any)
			}
		}
		for _, v := range spec["volumes"].([]any) {
			if v.(map[string]any)["name"] == "sops-keys" {
				volume = v.(map[string]any)["secret"].(map[string]any)
			}
		}
		want := []any{"/etc/ferry/sops/keys.txt", "/etc/ferry/sops", true, "ferry-sops", true}
		got := []any{env["value"], mount["mountPath"], mount["readOnly"], volume["secretName"], volume["optional"]}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("SOPS_AGE_KEY_FILE, mount path, readOnly, Secret, optional (-want +got):\n%s", diff)
		}
		return
	}
	t.Fatal("no Deployment")
}

// TestAgentNotificationURLs checks that every key of the Secret ferry-notify reaches the agent
// as an environment variable (ferry.yaml's urlFrom names one), and that the Secret is optional.
func TestAgentNotificationURLs(t *testing.T) {
	for _, o := range mustRender(t, manifests.Render) {
		if o.GetKind() != "Deployment" {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		envFrom, _ := containers[0].(map[string]any)["envFrom"].([]any)
		want := []any{map[string]any{"secretRef": map[string]any{"name": "ferry-notify", "optional": true}}}
		if diff := cmp.Diff(want, envFrom); diff != "" {
			t.Errorf("envFrom (-want +got):\n%s", diff)
		}
		return
	}
	t.Fatal("no Deployment")
}
