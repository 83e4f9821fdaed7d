package e2e

import (
	"context"
	"log/slog"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"code.gitea.io/sdk/gitea"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ferry-cd/ferry/agent"
	"github.com/ferry-cd/ferry/internal/giteatest"
	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/sync"
)

const gcemeImage = "gcr.io/cloud-solutions-images/gceme"

// giteaPipeline is examples/gceme on a real Gitea, with an agent syncing staging and
// production every second into namespaces of this test's own and reporting to Gitea.
type giteaPipeline struct {
	g                       *giteatest.Gitea
	forge                   *promote.Gitea
	url                     string
	stagingNS, productionNS string
	agentNS                 string
	stop                    func()
	logs                    *syncBuffer
	kube                    kubernetes.Interface
	metricsAddr             string       // where startAgent's agent serves /metrics ("" for nowhere)
	config                  *rest.Config // the cluster startAgent's agent syncs; nil for the shared one
	envs                    []string     // the environments startAgent's agent syncs; nil for all
}

func newGiteaPipeline(t *testing.T, edit func(ferryYAML string) string) *giteaPipeline {
	t.Helper()
	p := setupGiteaPipeline(t, edit)
	p.startAgent(t)
	return p
}

// setupGiteaPipeline is newGiteaPipeline without starting the agent.
func setupGiteaPipeline(t *testing.T, edit func(ferryYAML string) string) *giteaPipeline {
	t.Helper()
	id := strings.ToLower(rand.String(5))
	p := &giteaPipeline{g: giteatest.Start(t), stagingNS: "gt-staging-" + id, productionNS: "gt-production-" + id}
	files := exampleFiles(t)
	if kube, err := kubernetes.NewForConfig(cluster.Config); err == nil {
		logWorkloadsOnFailure(t, kube, p.stagingNS, p.productionNS)
	}
	y := strings.Replace(files["ferry.yaml"], "namespace: staging ", "namespace: "+p.stagingNS+" ", 1)
	y = strings.Replace(y, "namespace: production\n", "namespace: "+p.productionNS+"\n", 1)
	y = strings.Replace(y, `schedule: "@every 1m"`, `schedule: "@every 1s"`, 1)
	y = strings.Replace(y, "    pin: \"\"", "    schedule: \"@every 1s\"\n    pin: \"\"", 1)
	if edit != nil {
		y = edit(y)
	}
	files["ferry.yaml"] = y
	p.url = p.g.CreateRepo(t, "config", files)
	var err error
	if p.forge, err = promote.NewGitea(t.Context(), p.g.URL, p.g.AdminUser, "config", p.g.Token); err != nil {
		t.Fatal(err)
	}
	if p.kube, err = kubernetes.NewForConfig(cluster.Config); err != nil {
		t.Fatal(err)
	}
	p.agentNS = "ferry-gitea-" + id
	return p
}

// startAgent runs an agent for the pipeline, logging into a new p.logs, until the test ends or
// the returned function is called.
func (p *giteaPipeline) startAgent(t *testing.T) (stop func()) {
	t.Helper()
	p.logs = &syncBuffer{}
	opts := agent.DefaultOptions()
	opts.Source.URL, opts.Source.CacheDir = p.url, t.TempDir()
	opts.Source.Auth.Username, opts.Source.Auth.Password = p.g.AdminUser, p.g.Token
	opts.Namespace, opts.LeaderElection, opts.Forge = p.agentNS, false, p.forge
	opts.MetricsAddr, opts.Environments = p.metricsAddr, p.envs
	opts.Sync.PollInterval, opts.Sync.HealthTimeout = 500*time.Millisecond, time.Minute
	opts.MinBackoff, opts.MaxBackoff = 500*time.Millisecond, 2*time.Second
	opts.Logger = slog.New(slog.NewJSONHandler(p.logs, nil))
	config := p.config
	if config == nil {
		config = cluster.Config
	}
	a, err := agent.New(config, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	var once gosync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	p.stop = stop
	t.Cleanup(stop)
	return stop
}

// stopAgent stops the agent startAgent started last.
func (p *giteaPipeline) stopAgent() { p.stop() }

func (p *giteaPipeline) clone(t *testing.T) *promote.Repo {
	t.Helper()
	r, err := promote.Clone(t.Context(), p.url, "main", p.g.AdminUser, p.g.Token)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitImage waits until every gceme Deployment of namespace runs tag.
func (p *giteaPipeline) waitImage(t *testing.T, namespace, tag string) {
	t.Helper()
	want := gcemeImage + ":" + tag
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := p.kube.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) == 0 {
			return false, nil
		}
		for _, d := range list.Items {
			if d.Spec.Template.Spec.Containers[0].Image != want {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%s never ran %s; agent log:\n%s", namespace, want, p.logs.String())
	}
}

func (p *giteaPipeline) openPRs(t *testing.T) []*gitea.PullRequest {
	t.Helper()
	prs, _, err := p.g.Client.ListRepoPullRequests(p.g.AdminUser, "config", gitea.ListPullRequestsOptions{State: gitea.StateOpen})
	if err != nil {
		t.Fatal(err)
	}
	return prs
}

func (p *giteaPipeline) merge(t *testing.T, pr *gitea.PullRequest) {
	t.Helper()
	// Gitea checks mergeability in the background after a push; until then it refuses to merge.
	var lastErr error
	err := wait.PollUntilContextTimeout(t.Context(), 300*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		ok, _, err := p.g.Client.MergePullRequest(p.g.AdminUser, "config", pr.Index, gitea.MergePullRequestOption{Style: gitea.MergeStyleMerge})
		lastErr = err
		return ok && err == nil, nil
	})
	if err != nil {
		t.Fatalf("merge #%d: %v (last answer: %v)", pr.Index, err, lastErr)
	}
}

// TestPromotionAndRollbackOnGitea is the seed's story on a real forge: CI sets a tag in staging,
// the agent applies it and marks the commit; `ferry promote` opens the PR (and updates the same
// one when run again); merging it rolls production out; `ferry rollback` brings the old tag back.
func TestPromotionAndRollbackOnGitea(t *testing.T) {
	p := newGiteaPipeline(t, rolloutEdit("halt")) // production rolls out in stages: keep the soak short
	p.waitImage(t, p.stagingNS, "1.1.0")
	p.waitImage(t, p.productionNS, "1.0.0")

	img, _ := promote.ParseImageArg(gcemeImage + "=1.2.0")
	set, err := promote.SetImage(t.Context(), p.clone(t), p.forge, "staging", img, false)
	if err != nil {
		t.Fatal(err)
	}
	p.waitImage(t, p.stagingNS, "1.2.0")
	err = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		st, _, err := p.g.Client.GetCombinedStatus(p.g.AdminUser, "config", set.Commit)
		if err != nil || st == nil {
			return false, nil
		}
		for _, s := range st.Statuses {
			if s.Context == "ferry/staging" && s.State == gitea.StatusSuccess {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Errorf("commit %s never got a ferry/staging success status; agent log:\n%s", set.Commit[:7], p.logs.String())
	}

	evidence := func(ctx context.Context, env string) (*promote.SourceHealth, error) {
		st, err := sync.NewStateStore(p.kube, p.agentNS).Load(ctx, env)
		if err != nil {
			return nil, err
		}
		return &promote.SourceHealth{Env: env, Revision: st.AppliedRevision, Health: st.Health, AppliedAt: st.AppliedAt}, nil
	}
	res, err := promote.Promote(t.Context(), p.clone(t), p.forge, promote.Options{To: "production", SourceFunc: evidence})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Body, "`staging` is **Healthy** at `"+set.Commit[:7]+"`") {
		t.Errorf("PR body lacks staging's health at %s", set.Commit[:7])
	}
	if !res.Created || !strings.HasPrefix(res.URL, p.g.URL) {
		t.Fatalf("promotion: %+v, want a new PR on Gitea", res)
	}
	t.Logf("promotion PR %s, body:\n%s", res.URL, res.Body)
	again, err := promote.Promote(t.Context(), p.clone(t), p.forge, promote.Options{To: "production"})
	if err != nil || again.Created || again.URL != res.URL {
		t.Fatalf("second promotion: %+v %v, want the same PR updated", again, err)
	}
	prs := p.openPRs(t)
	if len(prs) != 1 || !strings.Contains(prs[0].Body, "1.0.0") || !strings.Contains(prs[0].Body, "```diff") {
		t.Fatalf("open PRs: %d, want one with the evidence in its body", len(prs))
	}
	p.merge(t, prs[0])
	p.waitImage(t, p.productionNS, "1.2.0")

	back, err := promote.Rollback(t.Context(), p.clone(t), p.forge, "production", "", false)
	if err != nil || !back.Created {
		t.Fatalf("rollback: %+v %v, want a revert PR", back, err)
	}
	for _, pr := range p.openPRs(t) {
		if pr.Head != nil && pr.Head.Ref == promote.RollbackBranchFor("production") {
			p.merge(t, pr)
		}
	}
	p.waitImage(t, p.productionNS, "1.0.0")
}

// TestAutoPromotionOpensOnePR lets the agent propose production's promotion itself once staging
// has been healthy at a new revision for promotion.after (2s here), exactly once.
func TestAutoPromotionOpensOnePR(t *testing.T) {
	p := newGiteaPipeline(t, func(y string) string {
		y = strings.Replace(y, "auto: false", "auto: true", 1)
		return strings.Replace(y, "after: 10m", "after: 2s", 1)
	})
	p.waitImage(t, p.stagingNS, "1.1.0")
	waitLog(t, p.logs, map[string]any{"msg": "promotion proposed", "from": "staging", "to": "production"})
	time.Sleep(4 * time.Second) // more healthy syncs of the same revision must not propose again
	if n := strings.Count(p.logs.String(), `"msg":"promotion proposed"`); n != 1 {
		t.Errorf("%d promotion proposals, want exactly one", n)
	}
	if prs := p.openPRs(t); len(prs) != 1 || prs[0].Head.Ref != promote.BranchFor("production") {
		t.Errorf("open PRs: %d, want one from %s", len(prs), promote.BranchFor("production"))
	}
}
