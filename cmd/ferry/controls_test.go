package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/manifests"
	"github.com/ferry-cd/ferry/sync"
)

// controlsEnv is the example's production (a canary stage: 3s soak, 20s per stage; polled
// every 2s) synced by `ferry agent` in a child process, and driven by the operators' commands.
type controlsEnv struct {
	t     *testing.T
	c     *localcluster.Cluster
	kube  kubernetes.Interface
	srv   *gitserver.Server
	files map[string]string
	args  []string // the agent's
	addr  string
	agent *agentProcess
}

const (
	prodKust   = "environments/production/kustomization.yaml"
	retryLabel = "ferry-test-retry"
)

// TestOperatorControls drives `ferry suspend`, `resume` and `retry` against an agent, with the
// caller's own credentials (issue 17, items 3, 4 and 6): a commit pushed and a hand edit made
// while production is suspended are neither applied nor corrected, also across an agent restart,
// and both are at once after resume; a rollout halted because a node label outside git was
// missing rolls out again after `ferry retry` once the label is there; a user whose Role lacks
// update on ConfigMaps is refused with a clear message, and the Role ferry-operator suffices.
func TestOperatorControls(t *testing.T) {
	e := startControlsEnv(t)
	admin := e.c.KubeconfigPath
	t.Run("retry refused when nothing halted", func(t *testing.T) {
		res := e.ferry(admin, "retry", "production")
		t.Logf("ferry retry production: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		if res.code != 1 || !strings.Contains(res.stderr, "nothing to retry: no rollout of production is halted") {
			t.Errorf("ferry retry with nothing halted: exit %d, stderr %q; want exit 1 saying nothing is halted", res.code, res.stderr)
		}
	})
	t.Run("suspend", e.testSuspend)
	t.Run("retry", e.testRetry)
	t.Run("forbidden", e.testForbidden)
}

func startControlsEnv(t *testing.T) *controlsEnv {
	c := startCluster(t)
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	files := testutil.ReadTree(t, "../../examples/gceme")
	y := testutil.StripAnalysis(files["ferry.yaml"])
	y = strings.Replace(strings.Replace(y, "soak: 2m", "soak: 3s", 1), "timeout: 5m", "timeout: 20s", 1)
	files["ferry.yaml"] = strings.Replace(y, "    namespace: production\n", "    namespace: production\n    schedule: \"@every 2s\"\n", 1)
	e := &controlsEnv{t: t, c: c, kube: kube, srv: gitserver.Start(t, gitserver.Options{}), files: files, addr: freeAddr(t)}
	e.srv.NewRepo(t, "config", files)
	e.args = []string{"--repo", e.srv.RepoURL("config"), "--kubeconfig", c.KubeconfigPath, "--namespace", "ferry-system",
		"--environments", "production", "--http-addr", e.addr, "--metrics-addr", e.addr, "--identity", "agent-controls",
		"--cache-dir", t.TempDir(), "--health-timeout", "1m"}
	e.agent = startAgent(e.t, e.args...) // e.t: it must outlive this subtest
	e.agent.logs.WaitLine(t, map[string]any{"msg": "sync finished", "env": "production", "result": "applied", "health": "Healthy"}, 5*time.Minute)
	return e
}

// ferry runs the CLI with kubeconfig.
func (e *controlsEnv) ferry(kubeconfig string, args ...string) result {
	e.t.Helper()
	return runFerry(e.t, e.t.Context(), append(args, "--kubeconfig", kubeconfig)...)
}

// setTag moves production's image tag in a commit, with extra appended to its kustomization,
// and returns the commit's SHA.
func (e *controlsEnv) setTag(tag, extra string) string {
	e.t.Helper()
	kust := regexp.MustCompile(`newTag: "[^"]*"`).ReplaceAllString(e.files[prodKust], `newTag: "`+tag+`"`)
	return e.srv.Commit(e.t, "config", "production: gceme "+tag, map[string]string{prodKust: kust + extra})
}

// deployment returns production's Deployment name: its image tag and replicas.
func (e *controlsEnv) deployment(ctx context.Context, name string) (string, int32) {
	d, err := e.kube.AppsV1().Deployments("production").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", -1
	}
	img := d.Spec.Template.Spec.Containers[0].Image
	return img[strings.LastIndex(img, ":")+1:], *d.Spec.Replicas
}

// since returns the agent's log lines for production after line n of the log with msg.
func (e *controlsEnv) since(n int, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range e.agent.logs.Lines(nil)[n:] {
		if l["msg"] == msg && l["env"] == "production" {
			out = append(out, l)
		}
	}
	return out
}

func (e *controlsEnv) testSuspend(t *testing.T) {
	ctx := t.Context()
	admin := e.c.KubeconfigPath
	res := e.ferry(admin, "suspend", "production", "--reason", "incident 42")
	t.Logf("ferry suspend production --reason 'incident 42': exit %d\n%s%s", res.code, res.stdout, res.stderr)
	if res.code != 0 || !strings.Contains(res.stdout, "production suspended by ") {
		t.Fatalf("ferry suspend: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	line := e.agent.logs.WaitLine(t, map[string]any{"msg": "environment suspended", "env": "production", "reason": "incident 42"}, time.Minute)
	t.Logf("agent: %v", line)
	if again := e.ferry(admin, "suspend", "production"); again.code != 0 || !strings.Contains(again.stdout, "already suspended by") {
		t.Errorf("a second ferry suspend: exit %d\n%s%s", again.code, again.stdout, again.stderr)
	}

	mark := len(e.agent.logs.Lines(nil))
	e.setTag("1.1.0", "")
	e.scale(ctx, "gceme-frontend-canary", 0)
	e.checkUntouched(t, mark, 12*time.Second)
	if m := httpBody(t, "http://"+e.addr+"/metrics"); !strings.Contains(m, `ferry_environment_suspended{env="production"} 1`) {
		t.Errorf("ferry_environment_suspended is not 1 while suspended:\n%s", grepLines(m, "ferry_environment_suspended"))
	}
	e.checkStatusShowsSuspension(t)

	t.Run("survives a restart", func(t *testing.T) {
		if code := e.agent.stop(); code != 0 {
			t.Errorf("agent exit code %d after SIGTERM", code)
		}
		e.agent = startAgent(e.t, e.args...) // e.t: it must outlive this subtest
		e.agent.logs.WaitLine(t, map[string]any{"msg": "environment suspended", "env": "production"}, time.Minute)
		e.checkUntouched(t, 0, 12*time.Second)
	})

	start := time.Now()
	res = e.ferry(admin, "resume", "production")
	t.Logf("ferry resume production: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	if res.code != 0 || !strings.Contains(res.stdout, "production resumed by ") {
		t.Fatalf("ferry resume: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	first := e.agent.logs.WaitLine(t, map[string]any{"msg": "sync finished", "env": "production", "trigger": "resume", "stage": "canary"}, time.Minute)
	resumed := e.agent.logs.WaitLine(t, map[string]any{"msg": "environment resumed", "env": "production"}, time.Second)
	t.Logf("from `ferry resume` (start) to the first sync line: %s (from the agent's resume line: %s); %v",
		logTime(first).Sub(start).Round(time.Millisecond), logTime(first).Sub(logTime(resumed)).Round(time.Millisecond), first)
	if tag, replicas := e.deployment(ctx, "gceme-frontend-canary"); tag != "1.1.0" || replicas != 1 {
		t.Errorf("after resume, the canary runs %s with %d replicas; want 1.1.0 with 1", tag, replicas)
	}
	e.agent.logs.WaitLine(t, map[string]any{"msg": "sync finished", "env": "production", "trigger": "resume", "stage": "all", "health": "Healthy"}, 2*time.Minute)
	if tag, _ := e.deployment(ctx, "gceme-frontend"); tag != "1.1.0" {
		t.Errorf("after resume, the stable frontend runs %s; want 1.1.0", tag)
	}
	if m := httpBody(t, "http://"+e.addr+"/metrics"); !strings.Contains(m, `ferry_environment_suspended{env="production"} 0`) {
		t.Errorf("ferry_environment_suspended is not 0 after resume:\n%s", grepLines(m, "ferry_environment_suspended"))
	}
	if again := e.ferry(admin, "resume", "production"); again.code != 0 || !strings.Contains(again.stdout, "not suspended") {
		t.Errorf("a second ferry resume: exit %d\n%s%s", again.code, again.stdout, again.stderr)
	}
}

// scale sets the replicas of production's Deployment name by hand.
func (e *controlsEnv) scale(ctx context.Context, name string, replicas int) {
	e.t.Helper()
	patch := []byte(`{"spec":{"replicas":` + itoa(replicas) + `}}`)
	if _, err := e.kube.AppsV1().Deployments("production").Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "by-hand"}); err != nil {
		e.t.Fatal(err)
	}
}

// checkUntouched waits for d, and fails the test when the agent synced production meanwhile
// (a line after line mark of its log), or the canary no longer runs 1.0.0 with 0 replicas (the
// commit and the hand edit made while suspended).
func (e *controlsEnv) checkUntouched(t *testing.T, mark int, d time.Duration) {
	t.Helper()
	time.Sleep(d) // ≥ 5 ticks of the 2s schedule, and the drift the hand edit caused
	for _, msg := range []string{"sync finished", "sync failed"} {
		if lines := e.since(mark, msg); len(lines) > 0 {
			t.Errorf("production synced while suspended: %v", lines)
		}
	}
	if tag, replicas := e.deployment(t.Context(), "gceme-frontend-canary"); tag != "1.0.0" || replicas != 0 {
		t.Errorf("while suspended, the canary went to %s with %d replicas; want 1.0.0 with 0 (as left by hand)", tag, replicas)
	}
}

// checkStatusShowsSuspension checks `ferry status` (table and JSON) and /api/status.
func (e *controlsEnv) checkStatusShowsSuspension(t *testing.T) {
	t.Helper()
	res := e.ferry(e.c.KubeconfigPath, "status")
	t.Logf("ferry status:\n%s", res.stdout)
	if !regexp.MustCompile(`suspended by \S+ \d+[sm] ago: incident 42`).MatchString(res.stdout) {
		t.Errorf("ferry status does not show the suspension:\n%s%s", res.stdout, res.stderr)
	}
	res = e.ferry(e.c.KubeconfigPath, "status", "-o", "json")
	var statuses []struct {
		Env       string        `json:"env"`
		Suspended *sync.Request `json:"suspended"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &statuses); err != nil || len(statuses) != 1 || statuses[0].Suspended == nil || statuses[0].Suspended.Reason != "incident 42" {
		t.Errorf("ferry status -o json: %v\n%s", err, res.stdout)
	}
	if body := httpBody(t, "http://"+e.addr+"/api/status"); !strings.Contains(body, `"suspension": "suspended by `) {
		t.Errorf("/api/status does not show the suspension:\n%s", body)
	}
}

// canaryOnLabelledNode makes the canary Deployments need a node labelled retryLabel=yes.
const canaryOnLabelledNode = `patches:
- target:
    kind: Deployment
    labelSelector: track=canary
  patch: |-
    - op: add
      path: /spec/template/spec/nodeSelector
      value: {` + retryLabel + `: "yes"}
`

func (e *controlsEnv) testRetry(t *testing.T) {
	ctx := t.Context()
	admin := e.c.KubeconfigPath
	bad := e.setTag("1.2.0", canaryOnLabelledNode)
	e.agent.logs.WaitLine(t, map[string]any{"msg": "rollout halted", "env": "production", "revision": bad[:7], "stage": "canary"}, 3*time.Minute)
	mark := len(e.agent.logs.Lines(nil))
	time.Sleep(6 * time.Second) // a few held syncs: the halted revision is not retried by itself
	if lines := e.since(mark, "retrying the halted rollout"); len(lines) > 0 {
		t.Fatalf("retried without ferry retry: %v", lines)
	}
	nodes, err := e.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("nodes: %v", err)
	}
	// The cause, outside git, goes away: a node gets the label the canary needs.
	patch := []byte(`{"metadata":{"labels":{"` + retryLabel + `":"yes"}}}`)
	if _, err := e.kube.CoreV1().Nodes().Patch(ctx, nodes.Items[0].Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := e.ferry(admin, "retry", "production")
	t.Logf("ferry retry production: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	if res.code != 0 || !strings.Contains(res.stdout, "retry of "+bad[:7]+" in production requested by ") {
		t.Fatalf("ferry retry: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	line := e.agent.logs.WaitLine(t, map[string]any{"msg": "sync finished", "env": "production", "revision": bad[:7], "stage": "canary", "trigger": "retry"}, 2*time.Minute)
	t.Logf("from `ferry retry` (start) to the canary's sync line: %s; %v", logTime(line).Sub(start).Round(time.Millisecond), line)
	line = e.agent.logs.WaitLine(t, map[string]any{"msg": "sync finished", "env": "production", "revision": bad[:7], "stage": "all", "trigger": "retry", "health": "Healthy"}, 2*time.Minute)
	t.Logf("rolled out again: %v", line)
	for _, d := range []string{"gceme-frontend", "gceme-frontend-canary", "gceme-backend"} {
		if tag, _ := e.deployment(ctx, d); tag != "1.2.0" {
			t.Errorf("after the retry, %s runs %s; want 1.2.0", d, tag)
		}
	}
	st, err := sync.NewStateStore(e.kube, "ferry-system").Load(ctx, "production")
	if err != nil || st.Control.Retry == nil || !st.Progress.RetriedAt.Equal(st.Control.Retry.At) {
		t.Errorf("state after the retry: %v, control %+v, progress %+v; want the request recorded as honoured", err, st.Control, st.Progress)
	}
	if again := e.ferry(admin, "retry", "production"); again.code != 1 {
		t.Errorf("ferry retry once rolled out: exit %d\n%s%s; want 1", again.code, again.stdout, again.stderr)
	}
}

// testForbidden runs `ferry suspend` as a ServiceAccount that may only read ConfigMaps in
// ferry-system: refused, exit 1, saying who lacks what and which Role grants it. Bound to the
// Role ferry-operator of manifests/ instead, the same user suspends and resumes.
func (e *controlsEnv) testForbidden(t *testing.T) {
	ctx := t.Context()
	const ns = "ferry-system"
	user := "system:serviceaccount:" + ns + ":bob"
	if _, err := e.kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bob"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reader := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "configmap-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}}}
	if _, err := e.kube.RbacV1().Roles(ns).Create(ctx, reader, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.bind(ctx, ns, "configmap-reader")
	bob := e.serviceAccountKubeconfig(ns, "bob")

	res := e.ferry(bob, "suspend", "production", "--reason", "not allowed")
	t.Logf("ferry suspend production as bob (read-only): exit %d\n%s%s", res.code, res.stdout, res.stderr)
	want := `ferry: suspend production: forbidden: User "` + user + `" cannot update configmaps in namespace ferry-system: grant the Role ferry-operator (manifests/base/operator-role.yaml)`
	if res.code != 1 || !strings.Contains(res.stderr, want) {
		t.Errorf("ferry suspend without update: exit %d, stderr\n%s\nwant exit 1 and\n%s", res.code, res.stderr, want)
	}
	if st := e.ferry(bob, "status"); st.code != 0 {
		t.Errorf("ferry status as a reader: exit %d\n%s", st.code, st.stderr)
	}

	objs, err := manifests.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "Role" && o.GetName() == "ferry-operator" {
			role := &rbacv1.Role{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, role); err != nil {
				t.Fatal(err)
			}
			if _, err := e.kube.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.bind(ctx, ns, "ferry-operator")
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		res = e.ferry(bob, "suspend", "production", "--reason", "bob may")
		return res.code == 0, nil
	})
	t.Logf("ferry suspend production as bob (ferry-operator): exit %d\n%s%s", res.code, res.stdout, res.stderr)
	if err != nil {
		t.Fatalf("bob, bound to ferry-operator, cannot suspend: exit %d\n%s", res.code, res.stderr)
	}
	st, err := sync.NewStateStore(e.kube, ns).Load(ctx, "production")
	if err != nil || st.Control.Suspended == nil || st.Control.Suspended.By != user {
		t.Errorf("suspension recorded as %+v (%v); want by %s", st.Control.Suspended, err, user)
	}
	if res := e.ferry(bob, "resume", "production"); res.code != 0 {
		t.Errorf("ferry resume as bob: exit %d\n%s", res.code, res.stderr)
	}
}

// bind binds the Role role in ns to the ServiceAccount bob.
func (e *controlsEnv) bind(ctx context.Context, ns, role string) {
	e.t.Helper()
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bob-" + role},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "bob", Namespace: ns}}}
	if _, err := e.kube.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// serviceAccountKubeconfig mints a token for namespace/name (TokenRequest) and writes a
// kubeconfig holding only it; it returns the file's path.
func (e *controlsEnv) serviceAccountKubeconfig(namespace, name string) string {
	e.t.Helper()
	expiry := int64(3600)
	tr, err := e.kube.CoreV1().ServiceAccounts(namespace).CreateToken(e.t.Context(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: e.c.Config.Host, CertificateAuthority: e.c.Config.CAFile}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: name}
	cfg.CurrentContext = "local"
	path := filepath.Join(e.t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
