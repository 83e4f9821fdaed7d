package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"code.gitea.io/sdk/gitea"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/sync"
)

// rolloutEdit shortens production's rollout for tests: 3s soak, 20s per stage, onFailure as
// given. (A longer stage timeout lets kwok's failing canary pods reach termination before the
// halt, and the Deployment then reports them as pending termination for minutes.)
func rolloutEdit(onFailure string) func(string) string {
	return func(y string) string {
		y = strings.Replace(y, "soak: 2m", "soak: 3s", 1)
		y = strings.Replace(y, "timeout: 5m", "timeout: 20s", 1)
		return strings.Replace(y, "onFailure: halt", "onFailure: "+onFailure, 1)
	}
}

// images returns the image of each Deployment of namespace by name.
func (p *giteaPipeline) images(t *testing.T, namespace string) map[string]string {
	t.Helper()
	list, err := p.kube.AppsV1().Deployments(namespace).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range list.Items {
		out[d.Name] = strings.TrimPrefix(d.Spec.Template.Spec.Containers[0].Image, gcemeImage+":")
	}
	return out
}

// waitImages waits until the named Deployments run tag.
func (p *giteaPipeline) waitImages(t *testing.T, namespace, tag string, names ...string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		imgs := p.images(t, namespace)
		for _, n := range names {
			if imgs[n] != tag {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("%v never ran %s: %v; agent log:\n%s", names, tag, p.images(t, namespace), p.logs.String())
	}
}

// logLines returns the agent's JSON lines with msg.
func (p *giteaPipeline) logLines(msg string) []map[string]any {
	return p.logs.Lines(map[string]any{"msg": msg})
}

var stable = []string{"gceme-frontend", "gceme-backend"}
var canary = []string{"gceme-frontend-canary", "gceme-backend-canary"}

// TestStagedRolloutOfAPromotion is the seed's story: staging at tag A is promoted by a pull
// request; once merged, production's canary stage rolls first, soaks, then all Deployments roll.
func TestStagedRolloutOfAPromotion(t *testing.T) {
	p := newGiteaPipeline(t, rolloutEdit("halt"))
	p.waitImages(t, p.productionNS, "1.0.0", append(stable, canary...)...)
	p.waitImages(t, p.stagingNS, "1.1.0", stable...)

	res, err := promote.Promote(t.Context(), p.clone(t), p.forge, promote.Options{To: "production"})
	if err != nil || !res.Created {
		t.Fatalf("promotion: %+v %v", res, err)
	}
	merged := time.Now()
	p.merge(t, p.openPRs(t)[0])

	p.waitImages(t, p.productionNS, "1.1.0", canary...)
	if imgs := p.images(t, p.productionNS); imgs["gceme-frontend"] != "1.0.0" || imgs["gceme-backend"] != "1.0.0" {
		t.Errorf("the main Deployments moved before the canary soaked: %v", imgs)
	}
	canaryAt := time.Since(merged)
	p.waitImages(t, p.productionNS, "1.1.0", stable...)
	allAt := time.Since(merged)
	waitLog(t, p.logs, map[string]any{"msg": "sync finished", "env": "production", "stage": "all", "result": "applied", "health": "Healthy"})

	var order []string
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["env"] == "production" && m["stage"] != nil && m["stage"] != "" {
			order = append(order, m["msg"].(string)+":"+m["stage"].(string))
		}
	}
	if strings.Join(order, " ") != "sync finished:canary stage soaked:canary sync finished:all" {
		t.Errorf("production's log, stage by stage: %v", order)
	}
	for _, name := range stable {
		assertRolledOver(t, p, name, "1.1.0")
	}
	t.Logf("merge → canary applied %s; → all rolled out %s (soak 3s); stage lines: %v", canaryAt.Round(time.Millisecond), allAt.Round(time.Millisecond), stageDurations(p))
}

// stageDurations lists each stage's sync duration from the log.
func stageDurations(p *giteaPipeline) []string {
	var out []string
	for _, m := range p.logLines("sync finished") {
		if m["env"] == "production" && m["stage"] != "" {
			out = append(out, m["stage"].(string)+"="+m["duration"].(string))
		}
	}
	return out
}

// assertRolledOver checks that the Deployment's ReplicaSet at tag is ready and every older one
// is scaled to zero.
func assertRolledOver(t *testing.T, p *giteaPipeline, name, tag string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := p.kube.AppsV1().ReplicaSets(p.productionNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		newReady, oldLeft := false, false
		for _, rs := range list.Items {
			if !ownedBy(rs, name) {
				continue
			}
			if strings.HasSuffix(rs.Spec.Template.Spec.Containers[0].Image, ":"+tag) {
				newReady = rs.Status.ReadyReplicas == *rs.Spec.Replicas && *rs.Spec.Replicas > 0
			} else if *rs.Spec.Replicas != 0 || rs.Status.Replicas != 0 {
				oldLeft = true
			}
		}
		return newReady && !oldLeft, nil
	})
	if err != nil {
		t.Errorf("%s did not roll over to %s (new ReplicaSet ready, old at 0): %v", name, tag, err)
	}
}

func ownedBy(rs appsv1.ReplicaSet, deployment string) bool {
	for _, o := range rs.OwnerReferences {
		if o.Kind == "Deployment" && o.Name == deployment {
			return true
		}
	}
	return false
}

// TestFailedCanaryHaltsAndReverts is the failure story: a release whose pods never become ready
// (its overlay adds kwok's failing-pod label) halts at the canary stage, the main Deployments
// keep tag A, a revert pull request is opened, and once merged the canary returns to tag A.
func TestFailedCanaryHaltsAndReverts(t *testing.T) {
	p := newGiteaPipeline(t, rolloutEdit("revert"))
	p.waitImages(t, p.productionNS, "1.0.0", append(stable, canary...)...)

	repo := p.clone(t)
	file := "environments/production/kustomization.yaml"
	data, err := repo.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), `newTag: "1.0.0"`, `newTag: "1.3.0"`, 1) + `patches:
- target:
    kind: Deployment
  patch: |-
    - op: add
      path: /spec/template/metadata/labels/pod-container-running-failed.stage.kwok.x-k8s.io
      value: "true"
`
	if err := repo.WriteFile(file, []byte(bad)); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Commit("release(production): gceme 1.3.0, which never becomes ready"); err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(t.Context(), "main", false); err != nil {
		t.Fatal(err)
	}

	halted := waitLog(t, p.logs, map[string]any{"msg": "rollout halted", "env": "production", "stage": "canary"})
	if obj, _ := halted["object"].(string); !strings.Contains(obj, "canary") {
		t.Errorf("halt names object %q, want a canary Deployment (line %v)", obj, halted)
	}
	if imgs := p.images(t, p.productionNS); imgs["gceme-frontend"] != "1.0.0" || imgs["gceme-backend"] != "1.0.0" {
		t.Errorf("the main Deployments left tag A: %v", imgs)
	}
	proposed := waitLog(t, p.logs, map[string]any{"msg": "revert proposed", "env": "production"})
	t.Logf("halted: %v; revert: %v", halted["reason"], proposed["url"])
	var revert *gitea.PullRequest
	for _, pr := range p.openPRs(t) {
		if pr.Head != nil && pr.Head.Ref == promote.RollbackBranchFor("production") {
			revert = pr
		}
	}
	if revert == nil {
		t.Fatal("no open revert pull request")
	}
	p.merge(t, revert)
	p.waitImages(t, p.productionNS, "1.0.0", canary...)
	var last []appsv1.DeploymentStatus
	err = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		last = nil
		ok := true
		for _, n := range canary {
			d, err := p.kube.AppsV1().Deployments(p.productionNS).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			last = append(last, d.Status)
			ok = ok && rolledOut(d)
		}
		return ok, nil
	})
	if err != nil {
		t.Errorf("the canary did not come back healthy at tag A: %v; statuses %+v; agent log:\n%s", err, last, p.logs.String())
	}
	if n := len(p.logLines("revert proposed")); n != 1 {
		t.Errorf("%d revert proposals, want one per failed revision", n)
	}
}

// setProductionTag commits tag into production's overlay on main, as a merged promotion would.
func (p *giteaPipeline) setProductionTag(t *testing.T, tag string) string {
	t.Helper()
	img, _ := promote.ParseImageArg(gcemeImage + "=" + tag)
	res, err := promote.SetImage(t.Context(), p.clone(t), promote.NoForge{}, "production", img, false)
	if err != nil {
		t.Fatal(err)
	}
	return res.Commit
}

func countLines(p *giteaPipeline, want map[string]any) int { return len(p.logs.Lines(want)) }

// TestRestartDuringSoakResumesTheStage kills the agent while the canary soaks; the new agent
// resumes the soak from the saved progress without applying the canary stage again.
func TestRestartDuringSoakResumesTheStage(t *testing.T) {
	p := newGiteaPipeline(t, func(y string) string {
		y = strings.Replace(rolloutEdit("halt")(y), "soak: 3s", "soak: 20s", 1)
		return strings.Replace(y, "timeout: 20s", "timeout: 45s", 1) // a healthy canary, on a loaded machine
	})
	p.waitImages(t, p.productionNS, "1.0.0", append(stable, canary...)...)
	sha := p.setProductionTag(t, "1.1.0")
	waitLog(t, p.logs, map[string]any{"msg": "sync finished", "env": "production", "stage": "canary", "revision": sha[:7]})
	time.Sleep(10 * time.Second) // half the soak
	stopped := time.Now()
	p.stopAgent()

	st, err := sync.NewStateStore(p.kube, p.agentNS).Load(t.Context(), "production")
	if err != nil || st.Progress.Phase != sync.PhaseSoaking || st.Stage != "canary" {
		t.Fatalf("saved progress: stage %q %+v %v, want canary soaking", st.Stage, st.Progress, err)
	}
	p.startAgent(t)
	waitLog(t, p.logs, map[string]any{"msg": "stage soaked", "env": "production", "stage": "canary"})
	resumedIn := time.Since(stopped)
	waitLog(t, p.logs, map[string]any{"msg": "sync finished", "env": "production", "stage": "all", "revision": sha[:7]})
	if n := countLines(p, map[string]any{"msg": "sync finished", "env": "production", "stage": "canary"}); n != 0 {
		t.Errorf("the restarted agent applied the canary stage again (%d lines)", n)
	}
	p.waitImages(t, p.productionNS, "1.1.0", stable...)
	t.Logf("stopped 10s into the 20s soak; the resumed soak ended %s after the stop", resumedIn.Round(time.Millisecond))
	// Resumed, the soak ends about 10s after the stop, plus the restart; started over, 20s plus
	// the restart. The margin is the restart's time on a loaded machine.
	if resumedIn >= 20*time.Second {
		t.Errorf("the soak started over after the restart (ended %s after the stop)", resumedIn)
	}
}

// TestNewerRevisionSupersedesARollout pushes a newer tag while the canary of the previous one
// soaks: the old rollout stops and the new one starts at the canary stage.
func TestNewerRevisionSupersedesARollout(t *testing.T) {
	p := newGiteaPipeline(t, func(y string) string {
		y = strings.Replace(rolloutEdit("halt")(y), "soak: 3s", "soak: 30s", 1)
		return strings.Replace(y, "timeout: 20s", "timeout: 45s", 1) // two healthy canaries, on a loaded machine
	})
	p.waitImages(t, p.productionNS, "1.0.0", append(stable, canary...)...)
	old := p.setProductionTag(t, "1.1.0")
	waitLog(t, p.logs, map[string]any{"msg": "sync finished", "env": "production", "stage": "canary", "revision": old[:7]})
	newer := p.setProductionTag(t, "1.2.0")
	p.waitImages(t, p.productionNS, "1.2.0", canary...)
	if imgs := p.images(t, p.productionNS); imgs["gceme-frontend"] != "1.0.0" {
		t.Errorf("the main Deployments moved while the newer canary soaks: %v", imgs)
	}
	waitLog(t, p.logs, map[string]any{"msg": "sync finished", "env": "production", "stage": "canary", "revision": newer[:7]})
	if n := countLines(p, map[string]any{"msg": "stage soaked", "env": "production", "revision": old[:7]}); n != 0 {
		t.Errorf("the superseded rollout went on soaking")
	}
}
