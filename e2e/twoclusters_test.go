package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"code.gitea.io/sdk/gitea"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/sync"
)

// clusterAgent is one agent syncing some environments of the pipeline into one cluster.
type clusterAgent struct {
	kube kubernetes.Interface
	logs *syncBuffer
}

// startAgentIn runs an agent for the pipeline's environments envs in the cluster of cfg, with
// the same settings as startAgent, until the test ends.
func (p *giteaPipeline) startAgentIn(t *testing.T, cfg *rest.Config, envs ...string) *clusterAgent {
	t.Helper()
	ca := &clusterAgent{}
	var err error
	if ca.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	agentOf := *p // startAgent's agent, in another cluster and for envs only
	agentOf.config, agentOf.envs = cfg, envs
	agentOf.startAgent(t)
	ca.logs = agentOf.logs
	return ca
}

// waitDeployments waits until ok holds for the Deployments of namespace in the agent's cluster.
func (ca *clusterAgent) waitDeployments(t *testing.T, namespace, what string, ok func(map[string]string) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := ca.kube.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) == 0 {
			return false, nil
		}
		state := map[string]string{}
		for _, d := range list.Items {
			c := d.Spec.Template.Spec.Containers[0]
			state[d.Name] = strings.TrimPrefix(c.Image, gcemeImage+":")
			for _, e := range c.Env {
				if e.Name == greeting {
					state[d.Name] += "+" + greeting
				}
			}
		}
		return ok(state), nil
	})
	if err != nil {
		t.Fatalf("%s never %s; agent log:\n%s", namespace, what, ca.logs.String())
	}
}

// assertAbsent checks that the cluster holds no Deployment of namespace and no state of env.
func (ca *clusterAgent) assertAbsent(t *testing.T, agentNS, namespace, env string) {
	t.Helper()
	list, err := ca.kube.AppsV1().Deployments(namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 0 {
		t.Errorf("this cluster holds %d Deployments of %s (%v), want none", len(list.Items), namespace, err)
	}
	_, err = ca.kube.CoreV1().ConfigMaps(agentNS).Get(t.Context(), sync.StateConfigMapName(env), metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("this cluster holds %s's state ConfigMap (%v), want none", env, err)
	}
}

// stageLines lists the agent's production stage lines for revision (short, as logged), as
// "msg:stage".
func (ca *clusterAgent) stageLines(revision string) []string {
	var order []string
	for _, line := range strings.Split(ca.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["env"] == "production" && m["revision"] == revision && m["stage"] != nil && m["stage"] != "" {
			order = append(order, m["msg"].(string)+":"+m["stage"].(string))
		}
	}
	return order
}

// waitPromotionPR waits for the open promotion pull request whose body holds want.
func (p *giteaPipeline) waitPromotionPR(t *testing.T, want string, logs *syncBuffer) *gitea.PullRequest {
	t.Helper()
	var found *gitea.PullRequest
	err := wait.PollUntilContextTimeout(t.Context(), 300*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		for _, pr := range p.openPRs(t) {
			if pr.Head != nil && pr.Head.Ref == promote.BranchFor("production") && strings.Contains(pr.Body, want) {
				found = pr
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no promotion PR with %q; staging agent log:\n%s", want, logs.String())
	}
	return found
}

// TestTwoClusters runs staging and production in two control planes, one agent in each
// (environments staging / production), one Gitea: a change syncs staging only; staging's agent
// proposes the promotion itself (promotion.auto) with its own sync as evidence; merging the PR
// rolls production out in stages in the other cluster; neither cluster ever holds the other's
// Deployments or state. In mode images the change is CI's tag move; in mode revision it is a
// base edit, and the PR moves production's pin.
func TestTwoClusters(t *testing.T) {
	opts := localcluster.DefaultOptions()
	opts.Workloads = true
	prodCluster, err := localcluster.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prodCluster.Stop() })
	auto := func(y string) string {
		y = rolloutEdit("halt")(y)
		y = strings.Replace(y, "auto: false", "auto: true", 1)
		return strings.Replace(y, "after: 10m", "after: 2s", 1)
	}
	t.Run("images", func(t *testing.T) {
		p := setupGiteaPipeline(t, auto)
		staging, production := p.startAgentIn(t, cluster.Config, "staging"), p.startAgentIn(t, prodCluster.Config, "production")
		production.waitDeployments(t, p.productionNS, "ran 1.0.0", func(s map[string]string) bool { return s["gceme-frontend"] == "1.0.0" })
		img, _ := promote.ParseImageArg(gcemeImage + "=1.2.0")
		if _, err := promote.SetImage(t.Context(), p.clone(t), p.forge, "staging", img, false); err != nil {
			t.Fatal(err)
		}
		staging.waitDeployments(t, p.stagingNS, "ran 1.2.0", func(s map[string]string) bool { return s["gceme-frontend"] == "1.2.0" })
		pr := p.waitPromotionPR(t, "| `"+gcemeImage+"` | `1.0.0` | `1.2.0` |", staging.logs)
		p.twoClusterMerge(t, pr, staging, production, "1.2.0")
	})
	t.Run("revision", func(t *testing.T) {
		p := setupGiteaPipeline(t, auto)
		c0 := p.clone(t).Base() // Gitea's branch API may not know main yet right after the repo is made
		p.commitToMain(t, "production: promote whole revisions", func(read func(string) string) map[string]string {
			return map[string]string{"ferry.yaml": toRevisionMode(read("ferry.yaml"), c0)}
		})
		staging, production := p.startAgentIn(t, cluster.Config, "staging"), p.startAgentIn(t, prodCluster.Config, "production")
		production.waitDeployments(t, p.productionNS, "ran 1.0.0", func(s map[string]string) bool { return s["gceme-frontend"] == "1.0.0" })
		edit := p.commitToMain(t, "base: FEATURE_GREETING on the frontend", func(read func(string) string) map[string]string {
			return map[string]string{frontendFile: withGreeting(read(frontendFile)), canaryFrontendFile: withGreeting(read(canaryFrontendFile))}
		})
		staging.waitDeployments(t, p.stagingNS, "got the base edit", func(s map[string]string) bool { return s["gceme-frontend"] == "1.1.0+"+greeting })
		pr := p.waitPromotionPR(t, "to `"+edit[:7]+"`", staging.logs)
		if !strings.Contains(pr.Body, "Evidence: this agent's own sync of staging") {
			t.Errorf("PR body does not say where the evidence comes from:\n%s", pr.Body)
		}
		p.twoClusterMerge(t, pr, staging, production, "1.0.0+"+greeting)
	})
}

// twoClusterMerge merges the promotion PR, waits for production (in its own cluster) to run
// want through its canary stage, and checks that neither cluster holds the other's objects.
func (p *giteaPipeline) twoClusterMerge(t *testing.T, pr *gitea.PullRequest, staging, production *clusterAgent, want string) {
	t.Helper()
	merged := time.Now()
	p.merge(t, pr)
	production.waitDeployments(t, p.productionNS, "ran "+want, func(s map[string]string) bool {
		return s["gceme-frontend"] == want && s["gceme-frontend-canary"] == want
	})
	line := production.logs.WaitLine(t, map[string]any{"msg": "sync finished", "env": "production", "stage": "all", "health": "Healthy"}, 2*time.Minute)
	revision, _ := line["revision"].(string)
	t.Logf("merge → production healthy in the other cluster at %s: %s", revision, time.Since(merged).Round(time.Millisecond))
	if order := strings.Join(production.stageLines(revision), " "); order != "sync finished:canary stage soaked:canary sync finished:all" {
		t.Errorf("production's log at %s, stage by stage: %s", revision, order)
	}
	staging.assertAbsent(t, p.agentNS, p.productionNS, "production")
	production.assertAbsent(t, p.agentNS, p.stagingNS, "staging")
}
