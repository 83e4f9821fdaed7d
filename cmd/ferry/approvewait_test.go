package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/sync"
)

const approvalSoak = 3 * time.Second

// approvalEnv is the example's production, with a canary stage that soaks approvalSoak and
// then waits for `ferry approve`, synced by `ferry agent` in a child process.
type approvalEnv struct {
	t     *testing.T
	c     *localcluster.Cluster
	kube  kubernetes.Interface
	srv   *gitserver.Server
	files map[string]string
	addr  string
	cache string
}

const productionKust = "environments/production/kustomization.yaml"

func newApprovalEnv(t *testing.T) *approvalEnv {
	t.Helper()
	c := startCluster(t)
	files := testutil.ReadTree(t, "../../examples/gceme")
	y := testutil.StripAnalysis(files["ferry.yaml"])
	for old, new := range map[string]string{
		"    pin: \"\"": "    schedule: \"@every 1s\"\n    pin: \"\"",
		"soak: 2m":      "soak: " + approvalSoak.String() + "\n          approval: manual",
		"timeout: 5m":   "timeout: 2m",
	} {
		if !strings.Contains(y, old) {
			t.Fatalf("ferry.yaml lacks %q", old)
		}
		y = strings.Replace(y, old, new, 1)
	}
	files["ferry.yaml"] = y
	srv := gitserver.Start(t, gitserver.Options{})
	srv.NewRepo(t, "config", files)
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &approvalEnv{t: t, c: c, kube: kube, srv: srv, files: files, addr: freeAddr(t), cache: t.TempDir()}
}

func (e *approvalEnv) startAgent() *agentProcess {
	e.t.Helper()
	return startAgent(e.t, "--repo", e.srv.RepoURL("config"), "--kubeconfig", e.c.KubeconfigPath,
		"--environments", "production", "--http-addr", e.addr, "--metrics-addr", e.addr,
		"--identity", "agent-approval", "--cache-dir", e.cache, "--health-timeout", "2m")
}

// setTag moves production's image tag in a new commit and returns its SHA.
func (e *approvalEnv) setTag(tag string) string {
	e.t.Helper()
	k := e.files[productionKust]
	i := strings.Index(k, `newTag: "`) + len(`newTag: "`)
	e.files[productionKust] = k[:i] + tag + k[i+strings.Index(k[i:], `"`):]
	return e.srv.Commit(e.t, "config", "production: gceme "+tag, map[string]string{productionKust: e.files[productionKust]})
}

// tags returns the image tag of each Deployment of production.
func (e *approvalEnv) tags(ctx context.Context) map[string]string {
	e.t.Helper()
	list, err := e.kube.AppsV1().Deployments("production").List(ctx, metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range list.Items {
		img := d.Spec.Template.Spec.Containers[0].Image
		out[d.Name] = img[strings.LastIndex(img, ":")+1:]
	}
	return out
}

// checkStable fails the test when a stable Deployment does not run tag.
func (e *approvalEnv) checkStable(ctx context.Context, tag string) {
	e.t.Helper()
	tags := e.tags(ctx)
	for _, name := range []string{"gceme-frontend", "gceme-backend"} {
		if tags[name] != tag {
			e.t.Fatalf("%s runs %s while the rollout waits for approval, want %s (all: %v)", name, tags[name], tag, tags)
		}
	}
}

func (e *approvalEnv) approve(ctx context.Context, args ...string) result {
	e.t.Helper()
	return runFerry(e.t, ctx, append([]string{"approve", "production", "--kubeconfig", e.c.KubeconfigPath}, args...)...)
}

var approvedLine = regexp.MustCompile(`^approved production canary of ([0-9a-f]{7}) as (\S+); the agent goes on within seconds\n$`)

// TestApprovalWaitsForFerryApprove rolls a new tag out to production, whose canary stage has
// approval: manual, with the agent in a child process: the canary soaks, then the rollout waits
// (log line, Event, `ferry status`, /api/status), and the stable Deployments stay on the old tag
// for more than 3 × the soak and across an agent restart. An approval of another revision, and
// of an environment that does not wait, is refused (exit 1). `ferry approve` lets the rollout
// go on to the stage all within seconds; who approved is in the log, an Event, `ferry status`
// and /api/status. A second release approved while the agent is down goes on once it is back.
func TestApprovalWaitsForFerryApprove(t *testing.T) {
	e := newApprovalEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	p := e.startAgent()
	p.logs.WaitLine(t, map[string]any{"msg": "sync finished", "env": "production", "result": "applied", "health": "Healthy"}, 4*time.Minute)

	old := e.srv.Head(t, "config")
	rev := e.setTag("1.1.0")
	need := p.logs.WaitLine(t, map[string]any{"msg": "approval needed", "env": "production", "revision": rev[:7], "stage": "canary",
		"command": "ferry approve production"}, 4*time.Minute)
	waitSince := logTime(need)
	if tags := e.tags(ctx); tags["gceme-frontend-canary"] != "1.1.0" || tags["gceme-backend-canary"] != "1.1.0" {
		t.Errorf("the canaries do not run 1.1.0 while the rollout waits: %v", tags)
	}
	e.checkStable(ctx, "1.0.0")
	checkWaitShown(t, ctx, e, rev)

	if res := e.approve(ctx, "--revision", old[:7]); res.code != 1 || !strings.Contains(res.stderr, "waits for approval of "+rev[:7]+" at stage canary, not of "+old[:7]) {
		t.Errorf("approving another revision: exit %d, want 1 naming the revision waiting:\n%s%s", res.code, res.stdout, res.stderr)
	}
	res := runFerry(t, ctx, "approve", "staging", "--kubeconfig", e.c.KubeconfigPath)
	if res.code != 1 || !strings.Contains(res.stderr, "approve staging: no state ConfigMap ferry-staging") && !strings.Contains(res.stderr, "environment staging is not waiting for approval") {
		t.Errorf("approving an environment that does not wait: exit %d, want 1:\n%s", res.code, res.stderr)
	}

	// The agent restarts while it waits: it waits again, and nothing moves.
	p.kill()
	p = e.startAgent()
	p.logs.WaitLine(t, map[string]any{"msg": "approval needed", "env": "production", "revision": rev[:7], "stage": "canary"}, 4*time.Minute)
	for time.Since(waitSince) < 3*approvalSoak+2*time.Second {
		e.checkStable(ctx, "1.0.0")
		time.Sleep(500 * time.Millisecond)
	}
	e.checkStable(ctx, "1.0.0")
	t.Logf("the stable Deployments stayed on 1.0.0 for %s after the wait began (soak %s)", time.Since(waitSince).Round(time.Second), approvalSoak)
	if n := len(p.logs.Lines(map[string]any{"msg": "approval needed"})); n != 1 {
		t.Errorf("%d approval needed lines from the restarted agent, want one per wait", n)
	}

	start := time.Now()
	res = e.approve(ctx, "--revision", rev[:7])
	m := approvedLine.FindStringSubmatch(res.stdout)
	if res.code != 0 || m == nil || m[1] != rev[:7] {
		t.Fatalf("ferry approve: exit %d, stdout %q, want %q\n%s", res.code, res.stdout, approvedLine, res.stderr)
	}
	user := m[2]
	t.Logf("ferry approve printed %q in %s", strings.TrimSpace(res.stdout), res.wall.Round(time.Millisecond))
	next := p.logs.WaitLine(t, map[string]any{"msg": "sync finished", "env": "production", "revision": rev[:7], "stage": "all", "trigger": "approval"}, 3*time.Minute)
	t.Logf("from `ferry approve` to the stage all's sync line: %s", logTime(next).Sub(start).Round(10*time.Millisecond))
	approved := p.logs.WaitLine(t, map[string]any{"msg": "approved", "env": "production", "revision": rev[:7], "stage": "canary", "by": user}, time.Minute)
	if _, err := time.Parse(time.RFC3339, approved["at"].(string)); err != nil {
		t.Errorf("approved line %v: at= is not a time: %v", approved, err)
	}
	checkApprovedShown(t, ctx, e, rev, user)

	// A second release, approved while the agent is down: the restarted agent goes on.
	rev2 := e.setTag("1.2.0")
	p.logs.WaitLine(t, map[string]any{"msg": "approval needed", "env": "production", "revision": rev2[:7], "stage": "canary"}, 4*time.Minute)
	p.kill()
	if res := e.approve(ctx); res.code != 0 || !strings.Contains(res.stdout, "canary of "+rev2[:7]) {
		t.Fatalf("ferry approve while the agent is down: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	p = e.startAgent()
	p.logs.WaitLine(t, map[string]any{"msg": "approved", "env": "production", "revision": rev2[:7], "stage": "canary", "by": user}, 4*time.Minute)
	p.logs.WaitLine(t, map[string]any{"msg": "sync finished", "env": "production", "revision": rev2[:7], "stage": "all", "trigger": "approval"}, 3*time.Minute)
	if tags := e.tags(ctx); tags["gceme-frontend"] != "1.2.0" || tags["gceme-backend"] != "1.2.0" {
		t.Errorf("after the approval the stable Deployments run %v, want 1.2.0", tags)
	}
}

// checkWaitShown checks that the wait for approval of rev is an Event, in `ferry status` and
// in /api/status.
func checkWaitShown(t *testing.T, ctx context.Context, e *approvalEnv, rev string) {
	t.Helper()
	waitEvent(t, ctx, e, "ApprovalNeeded", "run `ferry approve production`")
	res := runFerry(t, ctx, "status", "--kubeconfig", e.c.KubeconfigPath)
	for _, want := range []string{"canary 1/2 waiting for approval", "run `ferry approve production` to let " + rev[:7] + " go on past canary"} {
		if res.code != 0 || !strings.Contains(res.stdout, want) {
			t.Errorf("ferry status: exit %d, want %q:\n%s%s", res.code, want, res.stdout, res.stderr)
		}
	}
	t.Logf("ferry status while waiting:\n%s", res.stdout)
	a := apiApproval(t, e)
	if a == nil || !a.Waiting || a.Revision != rev || a.Stage != "canary" || a.Command != "ferry approve production" {
		t.Errorf("/api/status approval = %+v, want the wait for %s at canary", a, rev[:7])
	}
}

// checkApprovedShown checks that user's approval of rev is an Event, in `ferry status` and in
// /api/status.
func checkApprovedShown(t *testing.T, ctx context.Context, e *approvalEnv, rev, user string) {
	t.Helper()
	waitEvent(t, ctx, e, "Approved", "approved by "+user)
	var res result
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		res = runFerry(t, ctx, "status", "--kubeconfig", e.c.KubeconfigPath)
		return strings.Contains(res.stdout, "canary of "+rev[:7]+" approved by "+user), nil
	})
	if err != nil {
		t.Errorf("ferry status does not say who approved:\n%s%s", res.stdout, res.stderr)
	}
	t.Logf("ferry status after the approval:\n%s", res.stdout)
	if a := apiApproval(t, e); a == nil || a.Waiting || a.By != user || a.Revision != rev || a.At.IsZero() {
		t.Errorf("/api/status approval = %+v, want %s's of %s", a, user, rev[:7])
	}
}

// waitEvent waits for an Event on production's state ConfigMap with reason whose message
// contains text.
func waitEvent(t *testing.T, ctx context.Context, e *approvalEnv, reason, text string) {
	t.Helper()
	var seen []string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := e.kube.CoreV1().Events("ferry-system").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		seen = seen[:0]
		for _, ev := range list.Items {
			seen = append(seen, ev.Reason+": "+ev.Message)
			if ev.Reason == reason && ev.InvolvedObject.Name == sync.StateConfigMapName("production") && strings.Contains(ev.Message, text) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Errorf("no Event %s containing %q; Events:\n%s", reason, text, strings.Join(seen, "\n"))
	}
}

// apiApproval returns production's approval from the agent's /api/status.
func apiApproval(t *testing.T, e *approvalEnv) *sync.Approval {
	t.Helper()
	var rep struct {
		Environments []struct {
			Name     string         `json:"name"`
			Approval *sync.Approval `json:"approval"`
		} `json:"environments"`
	}
	body := httpBody(t, "http://"+e.addr+"/api/status")
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/api/status: %v\n%s", err, body)
	}
	for _, env := range rep.Environments {
		if env.Name == "production" {
			return env.Approval
		}
	}
	t.Errorf("/api/status has no production:\n%s", body)
	return nil
}
