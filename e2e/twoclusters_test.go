package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"code.gitea.io/sdk/gitea"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/promote"
)

// startCluster starts another local control plane with workloads, stopped when the test ends.
func startCluster(t *testing.T) (*localcluster.Cluster, kubernetes.Interface) {
	t.Helper()
	opts := localcluster.DefaultOptions()
	opts.Workloads, opts.StartTimeout = true, 4*time.Minute
	c, err := localcluster.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start the second control plane: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c, kube
}

// twoClusters is one Gitea repository synced by two agents: one for staging in the shared
// cluster (p) and one for production in a cluster of its own (prod, a copy of p with that
// cluster's client and the production agent's log).
func twoClusters(t *testing.T, edit func(string) string) (p, prod *giteaPipeline) {
	t.Helper()
	second, kube := startCluster(t)
	p = setupGiteaPipeline(t, edit)
	logWorkloadsOnFailure(t, kube, p.productionNS)
	copied := *p
	prod = &copied
	prod.config, prod.kube, prod.envs = second.Config, kube, []string{"production"}
	p.envs = []string{"staging"}
	p.startAgent(t)
	prod.startAgent(t)
	return p, prod
}

// TestTwoClustersPromoteImages runs staging and production in separate clusters: CI's tag move
// reaches staging only; the staging agent's auto-promotion opens the PR with staging's health
// as evidence; merging it rolls production out stage by stage in its own cluster; neither
// cluster holds the other's objects or state.
func TestTwoClustersPromoteImages(t *testing.T) {
	p, prod := twoClusters(t, func(y string) string {
		y = rolloutEdit("halt")(y)
		y = strings.Replace(y, "auto: false", "auto: true", 1)
		return strings.Replace(y, "after: 10m", "after: 2s", 1)
	})
	p.waitImage(t, p.stagingNS, "1.1.0")
	prod.waitImages(t, p.productionNS, "1.0.0", append(stable, canary...)...)

	img, _ := promote.ParseImageArg(gcemeImage + "=1.2.0")
	set, err := promote.SetImage(t.Context(), p.clone(t), p.forge, "staging", img, false)
	if err != nil {
		t.Fatal(err)
	}
	p.waitImage(t, p.stagingNS, "1.2.0")
	waitLog(t, prod.logs, map[string]any{"msg": "sync finished", "env": "production", "revision": set.Commit[:7]})
	if imgs := prod.images(t, p.productionNS); imgs["gceme-frontend"] != "1.0.0" || imgs["gceme-frontend-canary"] != "1.0.0" {
		t.Fatalf("staging's tag move reached production: %v", imgs)
	}

	pr := waitPromotionPR(t, p, set.Commit[:7])
	t.Logf("promotion PR body:\n%s", pr.Body)
	merged := time.Now()
	p.merge(t, pr)
	prod.waitImages(t, p.productionNS, "1.2.0", canary...)
	if imgs := prod.images(t, p.productionNS); imgs["gceme-frontend"] != "1.0.0" {
		t.Errorf("the main Deployments moved before the canary soaked: %v", imgs)
	}
	canaryAt := time.Since(merged)
	prod.waitImages(t, p.productionNS, "1.2.0", stable...)
	waitLog(t, prod.logs, map[string]any{"msg": "sync finished", "env": "production", "stage": "all", "result": "applied", "health": "Healthy"})
	t.Logf("merge → production canary applied %s; → all rolled out and healthy %s (soak 3s); stage lines: %v",
		canaryAt.Round(time.Millisecond), time.Since(merged).Round(time.Millisecond), stageDurations(prod))

	assertOnlyOwn(t, p.kube, p.agentNS, "staging", p.productionNS, "production")
	assertOnlyOwn(t, prod.kube, p.agentNS, "production", p.stagingNS, "staging")
}

// waitPromotionPR waits for the open promotion PR of production whose body gives staging's
// health at revision as its evidence.
func waitPromotionPR(t *testing.T, p *giteaPipeline, revision string) *gitea.PullRequest {
	t.Helper()
	var found *gitea.PullRequest
	err := wait.PollUntilContextTimeout(t.Context(), 300*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		for _, pr := range p.openPRs(t) {
			if pr.Head != nil && pr.Head.Ref == promote.BranchFor("production") &&
				strings.Contains(pr.Body, "`staging` is **Healthy** at `"+revision+"`") {
				found = pr
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no promotion PR with staging's health at %s; staging agent's log:\n%s", revision, p.logs.String())
	}
	return found
}

// assertOnlyOwn checks that a cluster holds no trace of the other environment: neither its
// namespace, nor its state ConfigMap, nor any object labelled with it.
func assertOnlyOwn(t *testing.T, kube kubernetes.Interface, agentNS, own, otherNS, other string) {
	t.Helper()
	ctx := t.Context()
	if _, err := kube.CoreV1().Namespaces().Get(ctx, otherNS, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("%s's cluster has %s's namespace %s (err %v)", own, other, otherNS, err)
	}
	if _, err := kube.CoreV1().ConfigMaps(agentNS).Get(ctx, "ferry-"+other, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("%s's cluster has %s's state ConfigMap (err %v)", own, other, err)
	}
	if _, err := kube.CoreV1().ConfigMaps(agentNS).Get(ctx, "ferry-"+own, metav1.GetOptions{}); err != nil {
		t.Errorf("%s's cluster lacks its own state ConfigMap: %v", own, err)
	}
	sel := metav1.ListOptions{LabelSelector: "ferry.dev/environment=" + other}
	deps, err := kube.AppsV1().Deployments("").List(ctx, sel)
	if err != nil || len(deps.Items) > 0 {
		t.Errorf("%s's cluster holds %s's Deployments: %v %v", own, other, deps, err)
	}
	cms, err := kube.CoreV1().ConfigMaps("").List(ctx, sel)
	if err != nil || len(cms.Items) > 0 {
		t.Errorf("%s's cluster holds %s's ConfigMaps: %d %v", own, other, len(cms.Items), err)
	}
}
