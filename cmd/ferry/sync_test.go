package main

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// startCluster starts a local control plane with workloads for one test.
func startCluster(t *testing.T) *localcluster.Cluster {
	t.Helper()
	opts := localcluster.DefaultOptions()
	opts.Workloads = true
	c, err := localcluster.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control-plane logs (removed with the cluster): %s", c.LogDir())
		}
		_ = c.Stop()
	})
	return c
}

// editFile replaces old with new in the file at path, failing when old is not there.
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSyncAndDiffExample syncs examples/gceme's staging with the CLI, checks the one-line log,
// a second no-op sync, and `ferry diff` of an image change and of a Secret (values masked).
func TestSyncAndDiffExample(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	repo := testutil.CopyTree(t, "../../examples/gceme")
	cli := func(args ...string) result {
		t.Helper()
		return runFerry(t, ctx, append(args, "--repo", repo, "--kubeconfig", c.KubeconfigPath)...)
	}

	res := cli("sync", "staging", "--once", "--health-timeout", "2m")
	if res.code != 0 {
		t.Fatalf("first sync exited %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{`msg="sync finished" env=staging revision=worktree`, "trigger=cli", "result=applied", "created=5", "health=Healthy"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("first sync log lacks %q:\n%s", want, res.stderr)
		}
	}
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	d, err := kube.AppsV1().Deployments("staging").Get(ctx, "gceme-frontend", metav1.GetOptions{})
	if err != nil || d.Status.ReadyReplicas != 1 || d.Labels["ferry.dev/environment"] != "staging" {
		t.Fatalf("gceme-frontend after sync: %+v %v", d.Status, err)
	}

	res = cli("sync", "staging", "--once")
	if res.code != 0 || !strings.Contains(res.stderr, "result=unchanged") || !strings.Contains(res.stderr, "created=0 configured=0 unchanged=5") {
		t.Errorf("second sync is not a no-op (exit %d):\n%s", res.code, res.stderr)
	}

	staging := filepath.Join(repo, "environments", "staging")
	editFile(t, filepath.Join(staging, "kustomization.yaml"), `newTag: "1.1.0"`, `newTag: "1.2.0"`)
	const password = "hunter2-canary-value"
	secret := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: " + password + "\n"
	if err := os.WriteFile(filepath.Join(staging, "secret.yaml"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	editFile(t, filepath.Join(staging, "kustomization.yaml"), "resources:\n", "resources:\n- secret.yaml\n")
	res = cli("diff", "staging")
	if res.code != 0 {
		t.Fatalf("diff exited %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"-        image: gcr.io/cloud-solutions-images/gceme:1.1.0", "+        image: gcr.io/cloud-solutions-images/gceme:1.2.0", "Secret staging/db created", "password: '***'"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("diff lacks %q:\n%s", want, res.stdout)
		}
	}
	assertNoSecret(t, res, password)

	if res = cli("sync", "staging", "--once"); res.code != 0 {
		t.Fatalf("sync with the Secret exited %d: %s", res.code, res.stderr)
	}
	editFile(t, filepath.Join(staging, "secret.yaml"), password, "changed-"+password)
	res = cli("diff", "staging")
	if !strings.Contains(res.stdout, "-  password: '***'") || !strings.Contains(res.stdout, "+  password: '*** (changed)'") {
		t.Errorf("diff of a changed Secret does not show its masked value changed:\n%s", res.stdout)
	}
	assertNoSecret(t, res, password)
}

func assertNoSecret(t *testing.T, res result, password string) {
	t.Helper()
	for _, leak := range []string{password, base64.StdEncoding.EncodeToString([]byte(password))} {
		if strings.Contains(res.stdout+res.stderr, leak) {
			t.Errorf("output contains the Secret value %q:\n%s%s", leak, res.stdout, res.stderr)
		}
	}
}
