package sync

import (
	"strings"
	"testing"
)

// TestHealthWaitReadsOnlyTheDeployments: after a change, waiting for Deployments to become current LISTs the
// Deployments of the namespace, never its ReplicaSets or Pods (kstatus' default reader lists
// all three on every poll), and still sees the rollout through to Healthy.
func TestHealthWaitReadsOnlyTheDeployments(t *testing.T) {
	f := newFixture(t, false)
	f.write(gceLike()) // the first sync also lists every kind to rebuild the inventory
	f.mustSync("rev1")
	f.counter.Reset()
	files := gceLike()
	files["deployment.yaml"] = deploymentYAML("web", 2)
	files["deployment-2.yaml"] = deploymentYAML("api", 2)
	f.write(files)
	rep := f.mustSync("rev2")
	if rep.Health != Healthy {
		t.Fatalf("health = %s, want Healthy", rep.Health)
	}
	deploymentLists := 0
	for _, call := range f.counter.Calls() {
		if strings.Contains(call, "/replicasets") || strings.Contains(call, "/pods") {
			t.Errorf("the health wait read %s; calls: %v", call, f.counter.Calls())
		}
		if strings.HasPrefix(call, "GET ") && strings.HasSuffix(call, "/namespaces/"+f.env.Namespace+"/deployments") {
			deploymentLists++
		}
	}
	if deploymentLists == 0 {
		t.Errorf("no LIST of the namespace's Deployments; calls: %v", f.counter.Calls())
	}
}
