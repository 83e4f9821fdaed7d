package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// These helpers run `ferry agent` in a child process against a repository on a real git
// server, so that tests can kill it, cut it off from git or the API server, and check what it
// left in the cluster.

// object is one object of a test overlay: a ConfigMap (value is its data), a Deployment (value
// is its image tag) or a Service. Its name is its key in the overlay; the names start with
// cm-, deploy- and svc- so that they are unique across kinds.
type object struct{ kind, value string }

func (o object) yaml(name string) string {
	switch o.kind {
	case "ConfigMap":
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\ndata:\n  value: %q\n", name, o.value)
	case "Deployment":
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 1
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: app
        image: gcr.io/cloud-solutions-images/gceme:%[2]s
`, name, o.value)
	default:
		return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: %[1]s\nspec:\n  selector: {app: %[1]s}\n  ports:\n  - port: 80\n", name)
	}
}

// overlay is an environment's desired objects by name.
type overlay map[string]object

// files returns the overlay as repository files: env/NAME.yaml and env/kustomization.yaml.
func (o overlay) files() map[string]string {
	files := map[string]string{}
	kust := "resources:\n"
	for _, name := range slices.Sorted(maps.Keys(o)) {
		kust += "- " + name + ".yaml\n"
		files["env/"+name+".yaml"] = o[name].yaml(name)
	}
	files["env/kustomization.yaml"] = kust
	return files
}

// ids returns "Kind/name" of every object, sorted.
func (o overlay) ids() []string {
	var out []string
	for name, obj := range o {
		out = append(out, obj.kind+"/"+name)
	}
	slices.Sort(out)
	return out
}

// pipelineYAML is a ferry.yaml with environments named after their namespaces, each with its
// overlay under ENV/.
func pipelineYAML(schedule string, envs ...string) string {
	y := "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments:\n"
	for _, env := range envs {
		y += fmt.Sprintf("- name: %[1]s\n  path: %[1]s\n  namespace: %[1]s\n  schedule: %q\n", env, schedule)
	}
	return y
}

// testEnv is one environment synced by a child-process agent: a repository holding only it,
// its namespace (named after it) and ferry's own namespace.
type testEnv struct {
	t       *testing.T
	c       *localcluster.Cluster
	kube    kubernetes.Interface
	srv     *gitserver.Server
	name    string
	stateNS string
	addr    string // the agent's HTTP address: webhook, /healthz and /metrics
	cache   string // the agent's git cache, kept across restarts as a pod's volume would be
	desired overlay
}

const webhookSecret = "faults-webhook-secret"

func newTestEnv(t *testing.T, c *localcluster.Cluster, name, schedule string, desired overlay) *testEnv {
	t.Helper()
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, c: c, kube: kube, srv: gitserver.Start(t, gitserver.Options{}), name: name,
		stateNS: "ferry-" + name, addr: freeAddr(t), cache: t.TempDir(), desired: desired}
	files := prefixed(name, desired.files())
	files["ferry.yaml"] = pipelineYAML(schedule, name)
	e.srv.NewRepo(t, "config", files)
	return e
}

// prefixed moves overlay files from env/ to ENV/.
func prefixed(env string, files map[string]string) map[string]string {
	out := map[string]string{}
	for p, content := range files {
		out[env+strings.TrimPrefix(p, "env")] = content
	}
	return out
}

// commit makes the overlay desired in a new commit and returns its SHA.
func (e *testEnv) commit(message string, desired overlay) string {
	e.t.Helper()
	var removed []string
	for name := range e.desired {
		if _, ok := desired[name]; !ok {
			removed = append(removed, e.name+"/"+name+".yaml")
		}
	}
	e.desired = desired
	return e.srv.Commit(e.t, "config", message, prefixed(e.name, desired.files()), removed...)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// agentProcess is `ferry agent` running in a child process, its JSON log in logs.
type agentProcess struct {
	cmd  *exec.Cmd
	logs *testutil.LogBuffer
	done chan struct{}
}

// startAgent runs `ferry agent` for the environment with leader election under a fixed
// identity (a restarted container keeps its pod's name, so it takes its own lease back at once).
// The test's end kills it.
func (e *testEnv) startAgent() *agentProcess {
	e.t.Helper()
	return startAgent(e.t, "--repo", e.srv.RepoURL("config"), "--kubeconfig", e.c.KubeconfigPath,
		"--namespace", e.stateNS, "--environments", e.name, "--http-addr", e.addr, "--metrics-addr", e.addr,
		"--identity", "agent-"+e.name, "--cache-dir", e.cache, "--health-timeout", "2m")
}

// startAgent runs `ferry agent --log-format json` with args, and the webhook secret in its
// environment. The test's end kills it, and then checks that every line it wrote to stdout
// and stderr is JSON (client-go's own messages included).
func startAgent(t *testing.T, args ...string) *agentProcess {
	t.Helper()
	cmd := ferryCommand(context.Background(), append([]string{"agent", "--log-format", "json"}, args...)...)
	cmd.Env = append(cmd.Env, "FERRY_WEBHOOK_SECRET="+webhookSecret)
	p := &agentProcess{cmd: cmd, logs: &testutil.LogBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { checkJSONLines(t, p.logs.String()) })
	t.Cleanup(p.kill)
	return p
}

// checkJSONLines fails the test for every complete line of out that is not a JSON object. A
// last line without its newline is left alone: a SIGKILL may cut a line short.
func checkJSONLines(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	bad := 0
	for _, line := range lines[:len(lines)-1] {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			if bad++; bad <= 5 {
				t.Errorf("agent wrote a line that is not JSON with --log-format json: %q", line)
			}
		}
	}
	if bad > 5 {
		t.Errorf("… and %d more lines that are not JSON", bad-5)
	}
}

// kill sends SIGKILL, as the OOM killer or a node failure would, and waits for the exit.
func (p *agentProcess) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM, as the kubelet does, and returns the exit code (-1 when it had to be
// killed after 30s).
func (p *agentProcess) stop() int {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		p.kill()
		return -1
	}
}

// state returns the environment's state ConfigMap, decoded.
func (e *testEnv) state(ctx context.Context) (*sync.State, error) {
	return sync.NewStateStore(e.kube, e.stateNS).Load(ctx, e.name)
}

// waitApplied waits until the state says rev is applied and healthy with no error, and
// returns that state. It fails the test with the agent's log otherwise.
func (e *testEnv) waitApplied(p *agentProcess, rev string, timeout time.Duration) *sync.State {
	e.t.Helper()
	var st *sync.State
	err := wait.PollUntilContextTimeout(e.t.Context(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		st, err = e.state(ctx)
		return err == nil && st.AppliedRevision == rev && st.Health == sync.Healthy && st.LastError == "", nil
	})
	if err != nil {
		e.t.Fatalf("%s never applied %s healthy within %s (state %+v); agent log:\n%s", e.name, rev[:7], timeout, st, p.logs.String())
	}
	return st
}

// present returns the ConfigMaps, Deployments and Services in the environment's namespace
// that carry its ferry.dev/environment label, by "Kind/name".
func (e *testEnv) present(ctx context.Context) (map[string]metav1.Object, error) {
	sel := metav1.ListOptions{LabelSelector: render.EnvironmentLabel + "=" + e.name}
	out := map[string]metav1.Object{}
	cms, err := e.kube.CoreV1().ConfigMaps(e.name).List(ctx, sel)
	if err != nil {
		return nil, err
	}
	for i := range cms.Items {
		out["ConfigMap/"+cms.Items[i].Name] = &cms.Items[i]
	}
	ds, err := e.kube.AppsV1().Deployments(e.name).List(ctx, sel)
	if err != nil {
		return nil, err
	}
	for i := range ds.Items {
		out["Deployment/"+ds.Items[i].Name] = &ds.Items[i]
	}
	svcs, err := e.kube.CoreV1().Services(e.name).List(ctx, sel)
	if err != nil {
		return nil, err
	}
	for i := range svcs.Items {
		out["Service/"+svcs.Items[i].Name] = &svcs.Items[i]
	}
	return out, nil
}

// checkConverged checks that the cluster holds exactly the desired objects with their desired
// values, and that the state's inventory lists exactly them with nothing pending.
func (e *testEnv) checkConverged(st *sync.State) {
	e.t.Helper()
	ctx := e.t.Context()
	objs, err := e.present(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(objs))
	if diff := cmp.Diff(e.desired.ids(), got); diff != "" {
		e.t.Errorf("objects in the cluster (-desired +present):\n%s", diff)
	}
	var inv []string
	for _, entry := range st.Inventory {
		inv = append(inv, entry.Kind+"/"+entry.Name)
	}
	slices.Sort(inv)
	if diff := cmp.Diff(got, inv); diff != "" {
		e.t.Errorf("inventory of the state ConfigMap (-present +inventory):\n%s", diff)
	}
	if len(st.Pending) != 0 {
		e.t.Errorf("state still lists pending objects: %v", st.Pending)
	}
	for id, o := range objs {
		name := o.GetName()
		want := e.desired[name]
		var have string
		switch {
		case strings.HasPrefix(id, "ConfigMap/"):
			cm, err := e.kube.CoreV1().ConfigMaps(e.name).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				e.t.Fatal(err)
			}
			have = cm.Data["value"]
		case strings.HasPrefix(id, "Deployment/"):
			d, err := e.kube.AppsV1().Deployments(e.name).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				e.t.Fatal(err)
			}
			have = strings.TrimPrefix(d.Spec.Template.Spec.Containers[0].Image, "gcr.io/cloud-solutions-images/gceme:")
		}
		if have != want.value {
			e.t.Errorf("%s holds %q, want %q", id, have, want.value)
		}
	}
}

// postWebhook sends a push webhook for main signed with webhookSecret and returns the status.
func postWebhook(client *http.Client, addr string) (int, error) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/git", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// logTime returns the time of a JSON log line.
func logTime(line map[string]any) time.Time {
	s, _ := line["time"].(string)
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}
