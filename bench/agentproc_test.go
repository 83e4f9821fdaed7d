package bench

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cd/ferry/internal/gitserver"
)

// webhookSecret signs the benchmark's push webhooks.
const webhookSecret = "bench-webhook-secret"

// agentProcess is `ferry agent` running as a process of its own (the built binary, as in a
// pod) against a git server holding one generated environment.
type agentProcess struct {
	name string // the environment, its namespace; ferry's namespace is ferry-NAME
	cmd  *exec.Cmd
	logs *lineLog
	addr string // webhook address
	// metrics is where the agent serves /metrics.
	metrics string
	srv     *gitserver.Server
	files   map[string]string
	// started is when the process started (after the repository was written and pushed).
	started time.Time
}

// pipelineYAML is a ferry.yaml with the one environment NAME in namespace NAME.
func pipelineYAML(name, schedule string) string {
	return fmt.Sprintf(`apiVersion: ferry.dev/v1alpha1
kind: Pipeline
environments:
  - name: %[1]s
    path: env
    namespace: %[1]s
    schedule: %[2]q
`, name, schedule)
}

// startAgent serves a repository with an environment of n objects polled on schedule and
// starts an agent on it; t's cleanup stops it.
func startAgent(t *testing.T, name string, n int, schedule string) *agentProcess {
	t.Helper()
	files := environmentFiles("env", name, n)
	files["ferry.yaml"] = pipelineYAML(name, schedule)
	return startAgentOn(t, name, files)
}

// startAgentOn serves files as the repository and starts an agent on it, with ferry's
// namespace ferry-NAME and args after its own flags (a flag given again there wins); t's
// cleanup stops it.
func startAgentOn(t *testing.T, name string, files map[string]string, args ...string) *agentProcess {
	t.Helper()
	srv := gitserver.Start(t, gitserver.Options{})
	srv.NewRepo(t, "config", files)
	a := &agentProcess{name: name, logs: &lineLog{}, addr: "127.0.0.1:" + freePort(t), metrics: "127.0.0.1:" + freePort(t), srv: srv, files: files}
	a.cmd = exec.Command(ferryBinary(t), append([]string{"agent",
		"--repo", srv.RepoURL("config"), "--kubeconfig", lab.cluster.KubeconfigPath,
		"--namespace", "ferry-" + name, "--http-addr", a.addr, "--metrics-addr", a.metrics,
		"--leader-elect=false", "--log-format", "json", "--cache-dir", t.TempDir()}, args...)...)
	a.cmd.Env = append(os.Environ(), "FERRY_WEBHOOK_SECRET="+webhookSecret)
	a.cmd.Stderr = a.logs
	a.started = time.Now()
	must(t, a.cmd.Start())
	t.Cleanup(a.stop)
	return a
}

// stop ends the agent: SIGTERM, and SIGKILL if it has not exited 20 s later.
func (a *agentProcess) stop() {
	if a.cmd.ProcessState != nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
}

// waitApplied waits for the agent's "sync finished" line of revision with result applied and
// returns it.
func (a *agentProcess) waitApplied(t *testing.T, revision string, timeout time.Duration) logLine {
	t.Helper()
	want := func(l logLine) bool {
		return l.Msg == "sync finished" && l.Env == a.name && l.Result == "applied" && strings.HasPrefix(revision, l.Revision)
	}
	l, ok := a.logs.wait(want, timeout)
	if !ok {
		t.Fatalf("agent %s: no applied sync of %s within %s; its log:\n%s", a.name, revision, timeout, a.logs.tail(40))
	}
	if l.Health != "Healthy" {
		t.Fatalf("agent %s: revision %s applied but %s: %+v", a.name, revision, l.Health, l)
	}
	return l
}

// memory is a process's memory as /proc/PID/status shows it, in KiB.
type memory struct {
	RSS, Peak  int64 // VmRSS, VmHWM
	Anon, File int64 // RssAnon (heap, stacks), RssFile (the binary's pages read so far)
}

// memory returns the agent's memory now.
func (a *agentProcess) memory(t *testing.T) memory {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	must(t, err)
	var m memory
	fields := map[string]*int64{"VmRSS": &m.RSS, "VmHWM": &m.Peak, "RssAnon": &m.Anon, "RssFile": &m.File}
	for _, line := range strings.Split(string(data), "\n") {
		key, value, _ := strings.Cut(line, ":")
		if p, ok := fields[key]; ok {
			*p, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		}
	}
	return m
}

// commitChange changes ConfigMap cm-1's value in git and returns the new commit.
func (a *agentProcess) commitChange(t *testing.T, value string) string {
	t.Helper()
	const file = "env/objects-000.yaml" // the first file of objects; it holds cm-1
	content := strings.Replace(a.files[file], "key: value-1\n", "key: value-1-"+value+"\n", 1)
	if content == a.files[file] {
		t.Fatalf("%s does not hold cm-1", file)
	}
	return a.srv.Commit(t, "config", "change "+value, map[string]string{file: content})
}

// postWebhook sends a signed push event for main, as GitHub would after a push.
func (a *agentProcess) postWebhook(t *testing.T, revision string) {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","after":%q}`, revision))
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(body)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+a.addr+"/hooks/git", bytes.NewReader(body))
	must(t, err)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-GitHub-Event", "push")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %s", resp.Status)
	}
}

// logLine is the part of an agent's JSON log line the benchmarks read.
type logLine struct {
	Time     time.Time `json:"time"`
	Msg      string    `json:"msg"`
	Env      string    `json:"env"`
	Revision string    `json:"revision"`
	Result   string    `json:"result"`
	Health   string    `json:"health"`
	Duration string    `json:"duration"`
	Render   string    `json:"render"`
	raw      string
}

// lineLog collects an agent's stderr and lets the benchmark wait for a line.
type lineLog struct {
	mu      gosync.Mutex
	partial []byte
	lines   []logLine
	changed chan struct{}
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		raw := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		var line logLine
		_ = json.Unmarshal([]byte(raw), &line) // a line that is not JSON keeps only raw
		line.raw = raw
		l.lines = append(l.lines, line)
	}
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return len(p), nil
}

// wait returns the first line for which want is true, waiting up to timeout for it.
func (l *lineLog) wait(want func(logLine) bool, timeout time.Duration) (logLine, bool) {
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if want(line) {
				l.mu.Unlock()
				return line, true
			}
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			return logLine{}, false
		}
	}
}

// tail returns the last n raw lines.
func (l *lineLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines[max(0, len(l.lines)-n):] {
		out = append(out, line.raw)
	}
	return strings.Join(out, "\n")
}

var (
	buildOnce gosync.Once
	binPath   string
	buildErr  error
)

// ferryBinary returns $FERRY_BIN (make bench builds bin/ferry), or builds ./cmd/ferry once, as
// make build does.
func ferryBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FERRY_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ferry-bench-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ferry")
		// As make build and the image build it: static, which halves its size and memory.
		cmd := exec.Command("go", "build", "-trimpath", "-o", binPath, "../cmd/ferry")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/ferry: %v: %s", err, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// phases returns the seconds the agent spent so far in each phase of its syncs (fetch, render,
// apply, health), from ferry_sync_phase_seconds' sums on /metrics.
func (a *agentProcess) phases(t *testing.T) map[string]time.Duration {
	t.Helper()
	resp, err := http.Get("http://" + a.metrics + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	out := map[string]time.Duration{}
	prefix := `ferry_sync_phase_seconds_sum{env="` + a.name + `",phase="`
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		phase, value, _ := strings.Cut(rest, `"} `)
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[phase] = time.Duration(v * float64(time.Second))
		}
	}
	return out
}
