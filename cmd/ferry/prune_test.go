package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// TestRemovedEnvironmentIsPrunedOnlyWhenAsked: an agent syncs two environments; a commit
// removes one of them from ferry.yaml. The agent stops syncing it and deletes nothing: its
// objects and its state ConfigMap stay. `ferry prune ENV` then lists what it would delete
// and deletes nothing; `ferry prune ENV --confirm` deletes exactly the objects of ENV's
// inventory that still carry ferry's labels for ENV (not one annotated ferry.dev/prune:
// disabled, not one relabelled for another environment, not a hand-made one), then the state
// ConfigMap; the other environment is untouched. A second run fails: there is nothing left.
func TestRemovedEnvironmentIsPrunedOnlyWhenAsked(t *testing.T) {
	opts := localcluster.DefaultOptions() // ConfigMaps only: no workloads needed
	c, err := localcluster.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.ToLower(utilrand.String(5))
	keep, gone, stateNS := "keep-"+id, "gone-"+id, "ferry-"+id
	objects := overlay{}
	for _, name := range []string{"cm-a", "cm-b", "cm-c"} {
		objects[name] = object{kind: "ConfigMap", value: "v1"}
	}
	files := maps.Clone(prefixed(keep, objects.files()))
	maps.Copy(files, prefixed(gone, objects.files()))
	files["ferry.yaml"] = pipelineYAML("@every 2s", keep, gone)
	srv := gitserver.Start(t, gitserver.Options{})
	srv.NewRepo(t, "config", files)
	states := sync.NewStateStore(kube, stateNS)
	waitRevision := func(env, rev string) {
		t.Helper()
		err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			st, err := states.Load(ctx, env)
			return err == nil && st.AppliedRevision == rev, nil
		})
		if err != nil {
			t.Fatalf("%s never applied %s: %v", env, rev[:7], err)
		}
	}

	metricsAddr := freeAddr(t)
	p := startAgent(t, "--repo", srv.RepoURL("config"), "--kubeconfig", c.KubeconfigPath, "--namespace", stateNS,
		"--http-addr", freeAddr(t), "--metrics-addr", metricsAddr, "--identity", "agent-"+id, "--cache-dir", t.TempDir())
	waitRevision(keep, srv.Head(t, "config"))
	waitRevision(gone, srv.Head(t, "config"))

	removed := srv.Commit(t, "config", "remove "+gone, map[string]string{"ferry.yaml": pipelineYAML("@every 2s", keep)})
	line := p.logs.WaitLine(t, map[string]any{"msg": "environment left ferry.yaml: no longer synced, nothing pruned", "env": gone}, 2*time.Minute)
	// A scheduled sync of gone may still run at the old head before the agent reads the
	// removal (the head is shared for a moment), and end just after; none may start later.
	waitRevision(keep, removed)
	time.Sleep(time.Second)
	before := len(p.logs.Lines(map[string]any{"msg": "sync finished", "env": gone}))
	time.Sleep(5 * time.Second) // two more schedule periods
	if n := len(p.logs.Lines(map[string]any{"msg": "sync finished", "env": gone})); n != before {
		t.Errorf("%d sync lines for %s after it left ferry.yaml, want none", n-before, gone)
	}
	if n := len(p.logs.Lines(map[string]any{"msg": "sync finished", "env": gone, "revision": removed[:7]})); n != 0 {
		t.Errorf("%d sync lines for %s at the revision that removed it, want none", n, gone)
	}
	for _, name := range []string{"cm-a", "cm-b", "cm-c"} {
		if _, err := kube.CoreV1().ConfigMaps(gone).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s/%s after the environment left ferry.yaml: %v", gone, name, err)
		}
	}
	if _, err := kube.CoreV1().ConfigMaps(stateNS).Get(t.Context(), sync.StateConfigMapName(gone), metav1.GetOptions{}); err != nil {
		t.Errorf("state of %s after it left ferry.yaml: %v", gone, err)
	}
	t.Logf("agent: %v", line)
	checkShownRemoved(t, c, stateNS, metricsAddr, gone, removed)
	if code := p.stop(); code != 0 {
		t.Errorf("agent exited %d after SIGTERM", code)
	}

	// Someone keeps cm-b, gives cm-c to the other environment and adds a ConfigMap by hand.
	cms := kube.CoreV1().ConfigMaps(gone)
	patch := func(name, p string) {
		t.Helper()
		if _, err := cms.Patch(t.Context(), name, types.MergePatchType, []byte(p), metav1.PatchOptions{FieldManager: "kubectl"}); err != nil {
			t.Fatal(err)
		}
	}
	patch("cm-b", `{"metadata":{"annotations":{"ferry.dev/prune":"disabled"}}}`)
	patch("cm-c", `{"metadata":{"labels":{"`+render.EnvironmentLabel+`":"`+keep+`"}}}`)
	handmade := corev1ac.ConfigMap("handmade", gone).WithData(map[string]string{"value": "mine"})
	if _, err := cms.Apply(t.Context(), handmade, metav1.ApplyOptions{FieldManager: "kubectl"}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cli := func(args ...string) result {
		t.Helper()
		return runFerry(t, ctx, append([]string{"prune"}, append(args, "--kubeconfig", c.KubeconfigPath, "--namespace", stateNS)...)...)
	}
	res := cli(gone)
	t.Logf("ferry prune %s:\n%s", gone, res.stdout)
	for _, want := range []string{
		fmt.Sprintf("ConfigMap %s/cm-a would be deleted\n", gone),
		fmt.Sprintf("ConfigMap %s/cm-b would be kept (not labelled for %s any more, or annotated ferry.dev/prune: disabled)\n", gone, gone),
		fmt.Sprintf("ConfigMap %s/cm-c would be kept", gone),
		fmt.Sprintf("dry run: would delete 1 of the 3 objects of environment %s (keeping 2), then the state ConfigMap %s/ferry-%s; run again with --confirm", gone, stateNS, gone),
	} {
		if res.code != 0 || !strings.Contains(res.stdout, want) {
			t.Errorf("dry run (exit %d) lacks %q:\n%s%s", res.code, want, res.stdout, res.stderr)
		}
	}
	if strings.Contains(res.stdout, "handmade") {
		t.Errorf("dry run mentions the hand-made ConfigMap:\n%s", res.stdout)
	}
	if _, err := cms.Get(t.Context(), "cm-a", metav1.GetOptions{}); err != nil {
		t.Errorf("the dry run deleted cm-a: %v", err)
	}

	res = cli(gone, "--confirm")
	t.Logf("ferry prune %s --confirm:\n%s", gone, res.stdout)
	if want := fmt.Sprintf("deleted 1 of the 3 objects of environment %s (kept 2) and the state ConfigMap %s/ferry-%s\n", gone, stateNS, gone); res.code != 0 || !strings.Contains(res.stdout, want) {
		t.Errorf("prune --confirm (exit %d) lacks %q:\n%s%s", res.code, want, res.stdout, res.stderr)
	}
	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := cms.Get(ctx, "cm-a", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("cm-a was not deleted: %v", err)
	}
	for _, name := range []string{"cm-b", "cm-c", "handmade"} {
		if _, err := cms.Get(t.Context(), name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s/%s: %v, want it kept", gone, name, err)
		}
	}
	if _, err := kube.CoreV1().ConfigMaps(stateNS).Get(t.Context(), sync.StateConfigMapName(gone), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("state of %s after prune --confirm: %v, want it deleted", gone, err)
	}
	kept, err := states.Load(t.Context(), keep)
	if err != nil || kept.AppliedRevision != removed || len(kept.Inventory) != 3 {
		t.Errorf("state of %s changed: %+v %v", keep, kept, err)
	}
	for _, name := range []string{"cm-a", "cm-b", "cm-c"} {
		if _, err := kube.CoreV1().ConfigMaps(keep).Get(t.Context(), name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s/%s: %v", keep, name, err)
		}
	}

	res = cli(gone, "--confirm")
	if want := "no state ConfigMap " + stateNS + "/ferry-" + gone; res.code != 1 || !strings.Contains(res.stderr, want) {
		t.Errorf("second prune: exit %d, stderr %q; want 1 and %q", res.code, res.stderr, want)
	}
}

// checkShownRemoved waits until the agent has deleted the metric series of env, which left
// ferry.yaml at revision, and `ferry status` (which reads only the cluster) shows env as
// removed at revision, with what to do, as a table and as JSON.
func checkShownRemoved(t *testing.T, c *localcluster.Cluster, stateNS, metricsAddr, env, revision string) {
	t.Helper()
	series := `env="` + env + `"`
	var metrics string
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		metrics = httpBody(t, "http://"+metricsAddr+"/metrics")
		return !strings.Contains(metrics, series), nil
	})
	if err != nil {
		t.Errorf("/metrics still has series of %s, which left ferry.yaml:\n%s", env, metrics)
	}
	status := func(args ...string) result {
		return runFerry(t, t.Context(), append([]string{"status", "--kubeconfig", c.KubeconfigPath, "--namespace", stateNS}, args...)...)
	}
	var shown envStatus
	err = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var got []envStatus
		if err := json.Unmarshal([]byte(status("-o", "json").stdout), &got); err != nil {
			return false, err
		}
		for _, es := range got {
			if es.Env == env {
				shown = es
			}
		}
		return shown.Removed, nil
	})
	if err != nil || shown.RemovedAt != revision || !strings.Contains(shown.Action, "run `ferry prune "+env+"`") {
		t.Errorf("ferry status -o json shows %s as %+v (%v), want removed at %s with the prune advice", env, shown, err, revision[:7])
	}
	res := status()
	t.Logf("ferry status:\n%s", res.stdout)
	for _, want := range []string{"not in ferry.yaml at " + revision[:7] + ": see below",
		env + ": not in ferry.yaml at " + revision[:7] + ", so the agent no longer syncs it.", "run `ferry prune " + env + "`"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("ferry status lacks %q", want)
		}
	}
}
