package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"code.gitea.io/sdk/gitea"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/sync"
)

const (
	frontendFile       = "apps/gceme/base/frontend-deployment.yaml"
	canaryFrontendFile = "components/canary/frontend-canary-deployment.yaml"
	greeting           = "FEATURE_GREETING"
)

// toRevisionMode turns the pipeline's ferry.yaml to promotion mode revision, production
// pinned at pin.
func toRevisionMode(y, pin string) string {
	y = strings.Replace(y, `    pin: ""`, "    pin: "+pin, 1)
	y = strings.Replace(y, "      images:                     # which images' tags move; must equal the `name:` in the overlays' images: entries\n        - gcr.io/cloud-solutions-images/gceme\n", "", 1)
	return strings.Replace(y, "      from: staging ", "      mode: revision\n      from: staging ", 1)
}

// withGreeting adds the environment variable FEATURE_GREETING to a gceme Deployment's file.
func withGreeting(deployment string) string {
	return strings.Replace(deployment, "          envFrom:\n", "          env:\n            - name: "+greeting+"\n              value: \"hello\"\n          envFrom:\n", 1)
}

// commitToMain commits files on main of the pipeline's repository, as a user pushing would,
// and returns the commit.
func (p *giteaPipeline) commitToMain(t *testing.T, msg string, edit func(read func(string) string) map[string]string) string {
	t.Helper()
	r := p.clone(t)
	read := func(path string) string {
		data, err := r.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	for path, content := range edit(read) {
		if err := r.WriteFile(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	sha, err := r.Commit(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Push(t.Context(), "main", false); err != nil {
		t.Fatal(err)
	}
	return sha
}

// greeted returns, for each named Deployment of namespace, whether it sets FEATURE_GREETING.
func (p *giteaPipeline) greeted(t *testing.T, namespace string) map[string]bool {
	t.Helper()
	list, err := p.kube.AppsV1().Deployments(namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, d := range list.Items {
		out[d.Name] = slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == greeting })
	}
	return out
}

// waitGreeted waits until the named Deployments of namespace set FEATURE_GREETING (want) or not.
func (p *giteaPipeline) waitGreeted(t *testing.T, namespace string, want bool, names ...string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		got := p.greeted(t, namespace)
		for _, n := range names {
			if got[n] != want {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%s: %v never had %s=%v; agent log:\n%s", namespace, names, greeting, want, p.logs.String())
	}
}

// waitStatus waits until the commit sha has the status ferry/<env> success on Gitea.
func (p *giteaPipeline) waitStatus(t *testing.T, sha, env string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		st, _, err := p.g.Client.GetCombinedStatus(p.g.AdminUser, "config", sha)
		if err != nil || st == nil {
			return false, nil
		}
		return slices.ContainsFunc(st.Statuses, func(s *gitea.Status) bool {
			return s.Context == "ferry/"+env && s.State == gitea.StatusSuccess
		}), nil
	})
	if err != nil {
		t.Fatalf("commit %s never got a ferry/%s success status; agent log:\n%s", sha[:7], env, p.logs.String())
	}
}

// pinOnMain returns production's pin on main.
func (p *giteaPipeline) pinOnMain(t *testing.T) string {
	t.Helper()
	y, err := p.clone(t).ReadFile("ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pin, err := promote.ReadPin(y, "production")
	if err != nil {
		t.Fatal(err)
	}
	return pin
}

// stageOrder lists production's stage lines for revision, as "msg:stage".
func (p *giteaPipeline) stageOrder(revision string) []string {
	var order []string
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["env"] == "production" && m["revision"] == revision[:7] && m["stage"] != nil && m["stage"] != "" {
			order = append(order, m["msg"].(string)+":"+m["stage"].(string))
		}
	}
	return order
}

// notSyncedHere is the evidence lookup of a cluster where staging is not synced: its agent's
// namespace holds no state ConfigMap, so a promotion in auto mode asks the forge.
func (p *giteaPipeline) notSyncedHere(ctx context.Context, env string) (*promote.SourceHealth, error) {
	st, err := sync.NewStateStore(p.kube, "default").Load(ctx, env)
	if err != nil {
		return nil, err
	}
	if st.AppliedRevision == "" {
		return nil, promote.ErrNotSynced
	}
	return &promote.SourceHealth{Env: env, Revision: st.AppliedRevision, Health: st.Health}, nil
}

// TestRevisionPromotionOnGitea promotes a whole revision: a base edit (a new environment
// variable on the frontend Deployments) reaches staging and not production; `ferry promote`
// (evidence from Gitea's commit statuses, since staging's state is not in the cluster asked)
// opens a PR that only moves production's pin:; merged, production gets the edit through its
// canary stage; `ferry rollback` returns the old pin; a `git revert` of the promotion's merge
// does the same by hand.
func TestRevisionPromotionOnGitea(t *testing.T) {
	p := newGiteaPipeline(t, rolloutEdit("halt"))
	p.waitImage(t, p.stagingNS, "1.1.0")
	p.waitImage(t, p.productionNS, "1.0.0")
	c0 := p.head(t)
	p.commitToMain(t, "production: promote whole revisions", func(read func(string) string) map[string]string {
		return map[string]string{"ferry.yaml": toRevisionMode(read("ferry.yaml"), c0)}
	})
	edit := p.commitToMain(t, "base: FEATURE_GREETING on the frontend", func(read func(string) string) map[string]string {
		return map[string]string{frontendFile: withGreeting(read(frontendFile)), canaryFrontendFile: withGreeting(read(canaryFrontendFile))}
	})
	p.waitGreeted(t, p.stagingNS, true, "gceme-frontend")
	p.waitStatus(t, edit, "staging")
	waitLog(t, p.logs, map[string]any{"msg": "sync finished", "env": "production", "revision": c0[:7]})
	if got := p.greeted(t, p.productionNS); got["gceme-frontend"] || got["gceme-frontend-canary"] {
		t.Fatalf("production got staging's base edit before any promotion: %v", got)
	}

	res, err := promote.Promote(t.Context(), p.clone(t), p.forge, promote.Options{To: "production", SourceFunc: p.notSyncedHere})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pin == nil || res.Pin.Old != c0 || res.Pin.New != edit || !res.Created {
		t.Fatalf("promotion %+v (pin %+v), want a new PR moving the pin %s → %s", res, res.Pin, c0[:7], edit[:7])
	}
	for _, want := range []string{"Evidence: " + promote.FromForge, "| ● | `" + edit[:7] + "` | base: FEATURE_GREETING on the frontend |", "+        - name: " + greeting} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("PR body lacks %q", want)
		}
	}
	t.Logf("promotion PR %s, body:\n%s", res.URL, res.Body)
	pr := p.openPRs(t)[0]
	files, _, err := p.g.Client.ListPullRequestFiles(p.g.AdminUser, "config", pr.Index, gitea.ListPullRequestFilesOptions{})
	if err != nil || len(files) != 1 || files[0].Filename != "ferry.yaml" || files[0].Additions != 1 || files[0].Deletions != 1 {
		t.Fatalf("PR files %+v %v, want only ferry.yaml's pin: line", files, err)
	}
	merged := time.Now()
	p.merge(t, pr)
	p.waitGreeted(t, p.productionNS, true, "gceme-frontend-canary", "gceme-frontend")
	waitLog(t, p.logs, map[string]any{"msg": "sync finished", "env": "production", "revision": edit[:7], "stage": "all", "health": "Healthy"})
	if order := strings.Join(p.stageOrder(edit), " "); order != "sync finished:canary stage soaked:canary sync finished:all" {
		t.Errorf("production's log at %s, stage by stage: %s", edit[:7], order)
	}
	t.Logf("merge → production healthy at %s through its stages: %s", edit[:7], time.Since(merged).Round(time.Millisecond))

	back, err := promote.Rollback(t.Context(), p.clone(t), p.forge, "production", "", false)
	if err != nil || !back.Created || back.Pin == nil || back.Pin.New != c0 {
		t.Fatalf("rollback: %+v %v, want a PR moving the pin back to %s", back, err, c0[:7])
	}
	p.mergeBranch(t, promote.RollbackBranchFor("production"))
	p.waitGreeted(t, p.productionNS, false, "gceme-frontend-canary", "gceme-frontend")
	if pin := p.pinOnMain(t); pin != c0 {
		t.Errorf("main pins production at %s after the rollback, want %s", pin, c0)
	}

	// By hand: promote again, merge, and `git revert -m 1` the merge.
	p.waitStatus(t, p.head(t), "staging")
	again, err := promote.Promote(t.Context(), p.clone(t), p.forge, promote.Options{To: "production", Evidence: promote.EvidenceForge})
	if err != nil || again.Pin == nil || again.Pin.Old != c0 {
		t.Fatalf("second promotion: %+v %v", again, err)
	}
	p.mergeBranch(t, promote.BranchFor("production"))
	p.waitGreeted(t, p.productionNS, true, "gceme-frontend-canary", "gceme-frontend")
	p.gitRevertHead(t)
	p.waitGreeted(t, p.productionNS, false, "gceme-frontend-canary", "gceme-frontend")
	if pin := p.pinOnMain(t); pin != c0 {
		t.Errorf("main pins production at %s after git revert, want %s", pin, c0)
	}
}

// mergeBranch merges the open pull request from branch.
func (p *giteaPipeline) mergeBranch(t *testing.T, branch string) {
	t.Helper()
	for _, pr := range p.openPRs(t) {
		if pr.Head != nil && pr.Head.Ref == branch {
			p.merge(t, pr)
			return
		}
	}
	t.Fatalf("no open pull request from %s", branch)
}

// gitRevertHead reverts main's head, a merge commit, with the git CLI as a user would
// (`git revert -m 1`), and pushes it.
func (p *giteaPipeline) gitRevertHead(t *testing.T) {
	t.Helper()
	u, err := url.Parse(p.url)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(p.g.AdminUser, p.g.Token)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"clone", "--quiet", u.String(), dir},
		{"-C", dir, "-c", "user.name=someone", "-c", "user.email=someone@example.com", "revert", "--no-edit", "-m", "1", "HEAD"},
		{"-C", dir, "push", "--quiet", "origin", "HEAD:main"},
	} {
		cmd := exec.CommandContext(t.Context(), "git", args...)
		cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", args[len(args)-2], err, strings.ReplaceAll(string(out), p.g.Token, "***"))
		}
	}
}
