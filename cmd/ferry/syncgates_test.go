package main

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// TestSyncOnceKeepsTheHumanControls: `ferry sync` holds back what the agent holds back. Inside
// a deploy window a new revision is refused naming the window and until when, and goes out
// with --override REASON or a commit's Ferry-Override trailer, both logged; the revision the
// environment is at syncs (drift correction); a suspended environment is refused until
// `ferry resume`.
func TestSyncOnceKeepsTheHumanControls(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	files := testutil.ReadTree(t, "../../examples/gceme")
	files["ferry.yaml"] = strings.Replace(files["ferry.yaml"], "    namespace: staging ",
		"    windows:\n      - deny: \"* * * * *\"\n        duration: 1h\n    namespace: staging ", 1)
	srv := gitserver.Start(t, gitserver.Options{})
	srv.NewRepo(t, "config", files)
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ferry := func(args ...string) result {
		t.Helper()
		res := runFerry(t, ctx, append(args, "--kubeconfig", c.KubeconfigPath)...)
		t.Logf("ferry %s: exit %d\n%s%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
		return res
	}
	syncStaging := func(extra ...string) result {
		return ferry(append([]string{"sync", "staging", "--repo", srv.RepoURL("config")}, extra...)...)
	}
	deployments := func() int {
		list, err := kube.AppsV1().Deployments("staging").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(list.Items)
	}

	res := syncStaging()
	if res.code != 1 || !strings.Contains(res.stderr, `the deploy window deny "* * * * *" for 1h0m0s (ferry.yaml:`) ||
		!strings.Contains(res.stderr, "holds new revisions back until") || !strings.Contains(res.stderr, "pass --override REASON") {
		t.Fatalf("a sync inside a deny window: exit %d; want 1 naming the window", res.code)
	}
	if n := deployments(); n != 0 {
		t.Fatalf("the refused sync applied %d Deployments", n)
	}
	if res = syncStaging("--override", "hotfix 7"); res.code != 0 ||
		!strings.Contains(res.stderr, `msg="window overridden" env=staging`) || !strings.Contains(res.stderr, `by=--override reason="hotfix 7"`) {
		t.Fatalf("--override: exit %d; want 0 and the override logged", res.code)
	}
	if res = syncStaging(); res.code != 0 {
		t.Errorf("a sync of the revision staging is at (drift correction): exit %d, want 0", res.code)
	}
	kust := "environments/staging/kustomization.yaml"
	srv.Commit(t, "config", "staging: a hotfix\n\nFerry-Override: incident 9\n", map[string]string{kust: files[kust] + "\n# hotfix\n"})
	if res = syncStaging(); res.code != 0 || !strings.Contains(res.stderr, `by="Ferry-Override trailer" reason="incident 9"`) {
		t.Errorf("a commit with a Ferry-Override trailer: exit %d; want 0 and the override logged", res.code)
	}

	if res = ferry("suspend", "staging", "--reason", "incident 42"); res.code != 0 {
		t.Fatal("ferry suspend failed")
	}
	if res = syncStaging(); res.code != 1 || !strings.Contains(res.stderr, "incident 42") || !strings.Contains(res.stderr, "run `ferry resume staging` first") {
		t.Errorf("a sync of a suspended environment: exit %d; want 1 naming the suspension", res.code)
	}
	if res = ferry("resume", "staging"); res.code != 0 {
		t.Fatal("ferry resume failed")
	}
	if res = syncStaging(); res.code != 0 {
		t.Errorf("a sync after resume: exit %d, want 0", res.code)
	}
}
