package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/sync"
)

// TestSyncOnceKeepsTheRolloutGates drives `ferry sync production --once` on the example, whose
// production rolls out in a canary stage: a sync of a new tag runs the stages; a second sync
// while the first one's canary soaks is refused naming the stage (before, it applied
// everything at once in the middle of the soak); a release whose canary never becomes ready
// halts, is refused afterwards, and goes out only with --skip-rollout, which is logged; a
// pinned environment is synced only at its pin. No object is deleted on the way (UIDs).
// (Issue 15, item 4.)
func TestSyncOnceKeepsTheRolloutGates(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 12*time.Minute)
	defer cancel()
	files := testutil.ReadTree(t, "../../examples/gceme")
	files["ferry.yaml"] = strings.Replace(strings.Replace(testutil.StripAnalysis(files["ferry.yaml"]), "soak: 2m", "soak: 15s", 1), "timeout: 5m", "timeout: 20s", 1)
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: "gates-secret"})
	srv.NewRepo(t, "config", files)
	repo := srv.AuthURL("config")
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	sync1 := func(extra ...string) result {
		t.Helper()
		return runFerry(t, ctx, append([]string{"sync", "production", "--repo", repo, "--kubeconfig", c.KubeconfigPath}, extra...)...)
	}
	images := func() map[string]string {
		list, err := kube.AppsV1().Deployments("production").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, d := range list.Items {
			out[d.Name] = d.Spec.Template.Spec.Containers[0].Image[strings.LastIndex(d.Spec.Template.Spec.Containers[0].Image, ":")+1:]
		}
		return out
	}
	uids := func() map[string]types.UID {
		out := map[string]types.UID{}
		deps, _ := kube.AppsV1().Deployments("production").List(ctx, metav1.ListOptions{})
		for _, o := range deps.Items {
			out["Deployment/"+o.Name] = o.UID
		}
		svcs, _ := kube.CoreV1().Services("production").List(ctx, metav1.ListOptions{})
		for _, o := range svcs.Items {
			out["Service/"+o.Name] = o.UID
		}
		return out
	}
	const kust = "environments/production/kustomization.yaml"
	setTag := func(tag, extra string) string {
		files[kust] = strings.Replace(files[kust], files[kust][strings.Index(files[kust], "newTag: \""):strings.Index(files[kust], "newTag: \"")+len(`newTag: "1.0.0"`)], `newTag: "`+tag+`"`, 1)
		return srv.Commit(t, "config", "production: gceme "+tag, map[string]string{kust: files[kust] + extra})
	}

	if res := sync1(); res.code != 0 {
		t.Fatalf("first sync: exit %d\n%s", res.code, res.stderr)
	}
	before := uids()
	setTag("1.1.0", "")
	first := ferryCommand(ctx, "sync", "production", "--repo", repo, "--kubeconfig", c.KubeconfigPath)
	var firstErr bytes.Buffer
	first.Stdout, first.Stderr = &firstErr, &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	store := sync.NewStateStore(kube, "ferry-system")
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		st, err := store.Load(ctx, "production")
		return err == nil && st.Progress.Phase == sync.PhaseSoaking, nil
	})
	if err != nil {
		t.Fatalf("the canary never soaked:\n%s", firstErr.String())
	}
	res := sync1()
	if res.code != 1 || !strings.Contains(res.stderr, "in progress (stage canary 1/2 soaking") {
		t.Errorf("a sync during the canary's soak: exit %d, want 1 naming the stage:\n%s", res.code, res.stderr)
	}
	if imgs := images(); imgs["gceme-frontend"] != "1.0.0" || imgs["gceme-backend"] != "1.0.0" {
		t.Errorf("the main Deployments moved during the canary's soak: %v", imgs)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("the staged sync: %v\n%s", err, firstErr.String())
	}
	out := firstErr.String()
	for _, want := range []string{`msg="sync finished" env=production`, "stage=canary", `msg="stage soaked"`, "stage=all"} {
		if !strings.Contains(out, want) {
			t.Errorf("the staged sync's log lacks %q:\n%s", want, out)
		}
	}
	if imgs := images(); imgs["gceme-frontend"] != "1.1.0" || imgs["gceme-frontend-canary"] != "1.1.0" {
		t.Errorf("after the staged sync: %v", imgs)
	}

	bad := setTag("1.3.0", "patches:\n- target:\n    kind: Deployment\n  patch: |-\n    - op: add\n      path: /spec/template/metadata/labels/"+localcluster.FailingPodLabel+"\n      value: \"true\"\n")
	if res := sync1(); res.code != 1 || !strings.Contains(res.stderr, `msg="rollout halted"`) {
		t.Errorf("a failing release: exit %d, want 1 and a halt:\n%s", res.code, res.stderr)
	}
	if res := sync1(); res.code != 1 || !strings.Contains(res.stderr, "halted at stage canary") {
		t.Errorf("the halted revision again: exit %d, want 1 naming the halt:\n%s", res.code, res.stderr)
	}
	if imgs := images(); imgs["gceme-frontend"] != "1.1.0" {
		t.Errorf("the main Deployments took the halted release: %v", imgs)
	}
	if res := sync1("--skip-rollout", "--health-timeout", "0"); res.code != 0 || !strings.Contains(res.stderr, "rollout skipped") {
		t.Errorf("--skip-rollout: exit %d, want 0 and the skip logged:\n%s", res.code, res.stderr)
	}
	if imgs := images(); imgs["gceme-frontend"] != "1.3.0" {
		t.Errorf("--skip-rollout did not apply everything: %v", imgs)
	}
	if res := sync1("--health-timeout", "0"); res.code != 0 {
		t.Errorf("after --skip-rollout applied it, the revision is still refused as halted: exit %d\n%s", res.code, res.stderr)
	}

	files["ferry.yaml"] = strings.Replace(files["ferry.yaml"], `pin: ""`, `pin: "`+bad+`"`, 1)
	srv.Commit(t, "config", "production: pinned", map[string]string{"ferry.yaml": files["ferry.yaml"]})
	if res := sync1(); res.code != 1 || !strings.Contains(res.stderr, "pinned at "+bad) {
		t.Errorf("a pinned environment at another revision: exit %d, want 1 naming the pin:\n%s", res.code, res.stderr)
	}
	now := uids()
	for name, uid := range before {
		if now[name] != uid {
			t.Errorf("%s was deleted (UID %s, now %q)", name, uid, now[name])
		}
	}
}
