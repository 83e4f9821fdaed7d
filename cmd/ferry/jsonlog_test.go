package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/sync"
)

// TestAgentStopsWatchingARemovedKind: an agent with --log-format json syncs an environment
// holding a CRD, one of its custom resources and a ConfigMap; a commit removes the CRD and
// the resource. The sync prunes both, and the agent stops watching the kind: client-go never
// reports `Failed to watch` for it again (before, its reflector did so every 30 s forever,
// as a klog text line among the JSON). Every line the agent writes is JSON (startAgent).
func TestAgentStopsWatchingARemovedKind(t *testing.T) {
	c, err := localcluster.Start(t.Context(), localcluster.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.ToLower(utilrand.String(5))
	env, stateNS, plural := "crd-"+id, "ferry-"+id, "gadgets"+id
	crd := fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %[1]s.example.ferry.dev
spec:
  group: example.ferry.dev
  names: {kind: Gadget%[2]s, plural: %[1]s}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`, plural, id)
	files := map[string]string{
		"ferry.yaml":                pipelineYAML("@every 2s", env) + "  clusterScoped: [CustomResourceDefinition]\n",
		env + "/kustomization.yaml": "resources:\n- crd.yaml\n- gadget.yaml\n- cm.yaml\n",
		env + "/crd.yaml":           crd,
		env + "/gadget.yaml":        fmt.Sprintf("apiVersion: example.ferry.dev/v1\nkind: Gadget%s\nmetadata:\n  name: first\nspec:\n  size: 3\n", id),
		env + "/cm.yaml":            object{kind: "ConfigMap", value: "v1"}.yaml("cm-a"),
	}
	srv := gitserver.Start(t, gitserver.Options{})
	srv.NewRepo(t, "config", files)
	states := sync.NewStateStore(kube, stateNS)
	waitRevision := func(p *agentProcess, rev string) {
		t.Helper()
		err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			st, err := states.Load(ctx, env)
			return err == nil && st.AppliedRevision == rev && st.LastError == "", nil
		})
		if err != nil {
			t.Fatalf("%s never applied %s: %v; agent log:\n%s", env, rev[:7], err, p.logs.String())
		}
	}

	p := startAgent(t, "--repo", srv.RepoURL("config"), "--kubeconfig", c.KubeconfigPath, "--namespace", stateNS,
		"--http-addr", freeAddr(t), "--metrics-addr", freeAddr(t), "--identity", "agent-"+id, "--cache-dir", t.TempDir())
	waitRevision(p, srv.Head(t, "config"))
	removed := srv.Commit(t, "config", "remove the CRD and its resource",
		map[string]string{env + "/kustomization.yaml": "resources:\n- cm.yaml\n"}, env+"/crd.yaml", env+"/gadget.yaml")
	waitRevision(p, removed)
	// A reflector that keeps watching the deleted resource fails within a second or two, and
	// again after 1.6 s, 3.2 s, … (client-go's backoff); give it time to show.
	time.Sleep(8 * time.Second)
	if code := p.stop(); code != 0 {
		t.Errorf("agent exited %d after SIGTERM", code)
	}
	var failed []string
	for _, line := range strings.Split(p.logs.String(), "\n") {
		if strings.Contains(line, "Failed to watch") { // client-go names the Go type, not the kind

			failed = append(failed, line)
		}
	}
	// The prune deletes the CRD a moment before the sync stops the watch: one failure may
	// fall in between, never more.
	if len(failed) > 1 {
		t.Errorf("client-go kept watching the removed kind: %d lines\n%s", len(failed), strings.Join(failed, "\n"))
	}
}
