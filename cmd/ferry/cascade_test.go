package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/sync"
)

// TestPruneNeverCascadesCLI: deleting a Namespace deletes everything in it, so the CLI must
// neither prune nor `ferry prune` a Namespace that holds objects the environment does not own,
// and must say so before anything happens.
//
// Environment alpha lists its own Namespace and a second one (extra) in namespace.yaml;
// someone puts a Secret in extra by hand; namespace.yaml then leaves the overlay. `ferry diff
// alpha` says its own Namespace is kept and what deleting extra would take, the hand-made
// Secret named; `ferry sync alpha --once` logs the kept one and exits 1 naming extra's Secret
// in phase prune, deleting nothing, twice (extra stays in the inventory to be decided again).
// Once the Secret is gone, the sync prunes extra and says what it took.
//
// Environment gamma lists Namespace shared, which is environment delta's namespace and holds
// delta's objects: `ferry prune gamma` lists the Namespace with what it holds and exits 1, and
// `ferry prune gamma --confirm` exits 1 and deletes nothing, not even gamma's own objects or
// its state; once delta is pruned, gamma's prune deletes the Namespace.
//
// Every object keeps its UID until then; the control plane's namespace controller runs, so a
// Namespace deleted by mistake would take its objects with it.
func TestPruneNeverCascadesCLI(t *testing.T) {
	c := startCluster(t)
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	id := strings.ToLower(utilrand.String(5))
	alphaNS, extraNS, gammaNS, sharedNS, stateNS := "alpha-"+id, "extra-"+id, "gamma-"+id, "shared-"+id, "ferry-"+id
	repo := t.TempDir()
	writeFiles(t, repo, map[string]string{
		"ferry.yaml": fmt.Sprintf(`apiVersion: ferry.dev/v1alpha1
kind: Pipeline
environments:
- name: alpha
  path: alpha
  namespace: %s
  clusterScoped: [Namespace]
- name: gamma
  path: gamma
  namespace: %s
  clusterScoped: [Namespace]
- name: delta
  path: delta
  namespace: %s
`, alphaNS, gammaNS, sharedNS),
		"alpha/kustomization.yaml": "resources:\n- namespace.yaml\n- app.yaml\n",
		"alpha/namespace.yaml":     namespaceYAML(alphaNS) + "---\n" + namespaceYAML(extraNS),
		"alpha/app.yaml":           configMapYAML("app"),
		"gamma/kustomization.yaml": "resources:\n- namespace.yaml\n- app.yaml\n",
		"gamma/namespace.yaml":     namespaceYAML(sharedNS),
		"gamma/app.yaml":           configMapYAML("app"),
		"delta/kustomization.yaml": "resources:\n- app.yaml\n- settings.yaml\n",
		"delta/app.yaml":           configMapYAML("app"),
		"delta/settings.yaml":      configMapYAML("settings"),
	})
	cli := func(args ...string) result {
		t.Helper()
		return runFerry(t, ctx, append(args, "--kubeconfig", c.KubeconfigPath, "--namespace", stateNS)...)
	}
	// gamma first: it creates Namespace shared with its labels, delta then syncs into it.
	for _, env := range []string{"alpha", "gamma", "delta"} {
		if res := cli("sync", env, "--once", "--repo", repo, "--health-timeout", "1m"); res.code != 0 {
			t.Fatalf("first sync of %s exited %d:\n%s%s", env, res.code, res.stdout, res.stderr)
		}
	}
	handmade := corev1ac.Secret("handmade", extraNS).WithStringData(map[string]string{"token": "not-ferrys"})
	if _, err := kube.CoreV1().Secrets(extraNS).Apply(ctx, handmade, metav1.ApplyOptions{FieldManager: "kubectl"}); err != nil {
		t.Fatal(err)
	}
	namespaces := []string{alphaNS, extraNS, gammaNS, sharedNS, stateNS}
	before := clusterUIDs(t, ctx, kube, namespaces)
	for _, want := range []string{"Namespace/" + extraNS, "Secret/" + extraNS + "/handmade", "Namespace/" + sharedNS,
		"ConfigMap/" + sharedNS + "/settings", "ConfigMap/" + stateNS + "/" + sync.StateConfigMapName("gamma")} {
		if before[want] == "" {
			t.Fatalf("%s missing before the test's prunes: %v", want, before)
		}
	}

	// alpha: namespace.yaml leaves the overlay.
	writeFiles(t, repo, map[string]string{"alpha/kustomization.yaml": "resources:\n- app.yaml\n"})
	cascade := regexp.MustCompile(`Namespace ` + extraNS + ` would be deleted with \d+ objects, 1 of them not ferry's \(Secret ` + extraNS + `/handmade\)`)
	res := cli("diff", "alpha", "--repo", repo)
	t.Logf("ferry diff alpha (exit %d):\n%s%s", res.code, res.stdout, res.stderr)
	if res.code != 0 || !cascade.MatchString(res.stdout) {
		t.Errorf("diff (exit %d) does not match %q:\n%s%s", res.code, cascade, res.stdout, res.stderr)
	}
	own := "Namespace " + alphaNS + " skipped\n  not pruned: it is the environment's own namespace"
	if !strings.Contains(res.stdout, own) || strings.Contains(res.stdout, " pruned\n") {
		t.Errorf("diff lacks %q, or says a Namespace would be pruned:\n%s", own, res.stdout)
	}
	for i := range 2 { // the second sync decides again, from the inventory kept
		res = cli("sync", "alpha", "--once", "--repo", repo)
		t.Logf("ferry sync alpha --once #%d (exit %d):\n%s%s", i+1, res.code, res.stdout, res.stderr)
		if res.code != 1 || !strings.Contains(res.stderr, "phase=prune") || !cascade.MatchString(res.stderr) {
			t.Errorf("sync #%d: exit %d, want 1 with phase=prune and %q:\n%s", i+1, res.code, cascade, res.stderr)
		}
		// The sync that fails on Namespace extra keeps Namespace alpha (and drops it from the
		// inventory): that is logged too.
		kept := `msg="not pruned" env=alpha revision=worktree object="Namespace ` + alphaNS + `" reason="not pruned: it is the environment's own namespace`
		if i == 0 && !strings.Contains(res.stderr, kept) {
			t.Errorf("sync #1 does not log %q:\n%s", kept, res.stderr)
		}
		checkNothingDeleted(t, ctx, kube, namespaces, before)
	}

	// gamma: its inventory holds Namespace shared, delta's namespace.
	held := regexp.MustCompile(`(?m)^Namespace ` + sharedNS + ` would be deleted with \d+ objects, 2 of them not ferry's \(ConfigMap ` +
		sharedNS + `/app, ConfigMap ` + sharedNS + `/settings\)$`)
	for _, confirm := range []bool{false, true} {
		args := []string{"prune", "gamma"}
		if confirm {
			args = append(args, "--confirm")
		}
		res = cli(args...)
		t.Logf("ferry %s (exit %d):\n%s%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
		if res.code != 1 || !held.MatchString(res.stdout) {
			t.Errorf("ferry %s: exit %d, want 1 and a line matching %q:\n%s%s", strings.Join(args, " "), res.code, held, res.stdout, res.stderr)
		}
		for _, want := range []string{"nothing deleted", "Namespace " + sharedNS + " would be deleted with"} {
			if !strings.Contains(res.stderr, want) {
				t.Errorf("ferry %s: stderr lacks %q:\n%s", strings.Join(args, " "), want, res.stderr)
			}
		}
		if strings.Contains(res.stdout, "ConfigMap "+gammaNS+"/app deleted") {
			t.Errorf("ferry %s says it deleted what it did not:\n%s", strings.Join(args, " "), res.stdout)
		}
		if strings.Contains(res.stdout, "dry run: would delete") || strings.Contains(res.stdout, "state ConfigMap") {
			t.Errorf("ferry %s prints a summary as if it would delete:\n%s", strings.Join(args, " "), res.stdout)
		}
		checkNothingDeleted(t, ctx, kube, namespaces, before)
	}

	// Once what was not the environment's is gone, the Namespaces go, saying what they took.
	if err := kube.CoreV1().Secrets(extraNS).Delete(ctx, "handmade", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	res = cli("sync", "alpha", "--once", "--repo", repo)
	took := regexp.MustCompile(`msg=pruned env=alpha revision=worktree object="Namespace ` + extraNS + `" reason="Namespace ` + extraNS +
		` deleted with \d+ objects, none of them another owner's"`)
	if res.code != 0 || !strings.Contains(res.stdout, "Namespace "+extraNS+" pruned") || !took.MatchString(res.stderr) {
		t.Errorf("sync without the hand-made Secret: exit %d, want 0, the Namespace pruned and a line matching %q:\n%s%s", res.code, took, res.stdout, res.stderr)
	}
	if res = cli("prune", "delta", "--confirm"); res.code != 0 {
		t.Fatalf("prune delta --confirm: exit %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = cli("prune", "gamma", "--confirm")
	t.Logf("ferry prune gamma --confirm once delta is gone (exit %d):\n%s%s", res.code, res.stdout, res.stderr)
	gone := regexp.MustCompile(`(?m)^Namespace ` + sharedNS + ` deleted with \d+ objects, none of them another owner's$`)
	if res.code != 0 || !gone.MatchString(res.stdout) || !strings.Contains(res.stdout, "ConfigMap "+gammaNS+"/app deleted\n") {
		t.Errorf("prune gamma --confirm: exit %d, want 0, its ConfigMap deleted and a line matching %q:\n%s%s", res.code, gone, res.stdout, res.stderr)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func namespaceYAML(name string) string {
	return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n"
}

func configMapYAML(name string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  value: v1\n"
}

// clusterUIDs returns the UID of each Namespace of namespaces and of every ConfigMap, Secret
// and ServiceAccount in them, by "Kind/namespace/name" ("Namespace/name"). A Namespace being
// deleted is left out, as if it were gone already.
func clusterUIDs(t *testing.T, ctx context.Context, kube kubernetes.Interface, namespaces []string) map[string]types.UID {
	t.Helper()
	uids := map[string]types.UID{}
	for _, ns := range namespaces {
		n, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil || n.DeletionTimestamp != nil {
			continue
		}
		uids["Namespace/"+ns] = n.UID
		cms, err := kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range cms.Items {
			uids["ConfigMap/"+ns+"/"+o.Name] = o.UID
		}
		secrets, err := kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range secrets.Items {
			uids["Secret/"+ns+"/"+o.Name] = o.UID
		}
		sas, err := kube.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range sas.Items {
			uids["ServiceAccount/"+ns+"/"+o.Name] = o.UID
		}
	}
	return uids
}

// checkNothingDeleted fails the test when an object of before is gone, recreated, or (a
// Namespace) being deleted.
func checkNothingDeleted(t *testing.T, ctx context.Context, kube kubernetes.Interface, namespaces []string, before map[string]types.UID) {
	t.Helper()
	after := clusterUIDs(t, ctx, kube, namespaces)
	for id, uid := range before {
		if after[id] != uid {
			t.Errorf("%s was deleted or recreated (UID %s, now %q)", id, uid, after[id])
		}
	}
}
