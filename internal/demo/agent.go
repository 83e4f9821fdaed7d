package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"time"

	"github.com/ferry-cd/ferry/internal/procgroup"
)

// The environment variables `ferry agent` and `ferry promote` read credentials from.
const (
	envGitUsername   = "FERRY_GIT_USERNAME"
	envGitPassword   = "FERRY_GIT_PASSWORD"
	envForgeToken    = "FERRY_FORGE_TOKEN"
	envWebhookSecret = "FERRY_WEBHOOK_SECRET"
)

// startAgent runs `ferry agent` against the Gitea repository with JSON logs, and narrates its
// log as it comes.
func (s *story) startAgent(ctx context.Context) error {
	s.env = append(s.env, envGitUsername+"="+s.gitea.AdminUser, envGitPassword+"="+s.gitea.Token,
		envForgeToken+"="+s.gitea.Token)
	if err := s.writeCredentials(); err != nil {
		return err
	}
	args := []string{"agent", "--repo", s.repoURL, "--kubeconfig", s.cluster.KubeconfigPath,
		"--http-addr", s.http, "--metrics-addr", s.http, "--leader-elect=false", "--forge", "gitea",
		"--log-format", "json", "--cache-dir", filepath.Join(s.dir, "git-cache")}
	s.show(args)
	cmd := exec.Command(s.opts.Ferry, args...)
	cmd.Env = append(os.Environ(), s.env...)
	logDir := filepath.Join(s.dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	var err error
	if s.agent, err = procgroup.Start("ferry-agent", cmd, logDir); err != nil {
		return err
	}
	s.log = tailAgentLog(s.agent.LogPath, s.narrate)
	s.say("agent started (pid %d); its log: %s", s.agent.PID(), s.agent.LogPath)
	return nil
}

// show prints a command the story runs, as a user would type it; credentials come from the
// environment and are never shown.
func (s *story) show(args []string) {
	fmt.Fprintf(s.opts.Out, "\n  $ %s=%s %s=*** ferry %s\n", envGitUsername, s.gitea.AdminUser, envGitPassword, strings.Join(args, " "))
}

// narrate prints the agent's log lines that tell the story: applied syncs, stages, failures.
func (s *story) narrate(r record) {
	env := fmt.Sprintf("%-10s", r.str("env"))
	switch r.str("msg") {
	case "sync finished":
		if r.str("result") != "applied" {
			return
		}
		stage := ""
		if r.str("stage") != "" {
			stage = " stage " + r.str("stage") + ":"
		}
		fmt.Fprintf(s.opts.Out, "  agent │ %s applied %s%s created %v, configured %v, pruned %v; %s in %s\n", env,
			r.str("revision"), stage, r["created"], r["configured"], r["pruned"], r.str("health"), r.str("duration"))
	case "analysis":
		fmt.Fprintf(s.opts.Out, "  agent │ %s stage %s check %s: %.4g %s\n", env, r.str("stage"), r.str("check"), r.num("value"), r.str("result"))
	case "stage soaked":
		fmt.Fprintf(s.opts.Out, "  agent │ %s stage %s stayed healthy for its %s soak\n", env, r.str("stage"), r.str("soak"))
	case "sync failed", "rollout halted", "revert proposed", "promotion proposed":
		fmt.Fprintf(s.opts.Out, "  agent │ %s %s: %s\n", env, r.str("msg"), r.summary())
	}
}

// record is one JSON log line of the agent.
type record map[string]any

func (r record) str(key string) string {
	v, _ := r[key].(string)
	return v
}

// num returns the number at key (0 when there is none).
func (r record) num(key string) float64 {
	v, _ := r[key].(float64)
	return v
}

// summary lists the fields of r that are not slog's own, for narration.
func (r record) summary() string {
	var parts []string
	for _, k := range []string{"revision", "stage", "phase", "check", "value", "min", "max", "object", "reason", "url", "error"} {
		if v, ok := r[k]; ok && v != "" {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(parts, " ")
}

// agentLog follows the agent's log file: every JSON line is handed to narrate and kept, so that
// the story can wait for a line.
type agentLog struct {
	mu      gosync.Mutex
	records []record
	changed chan struct{} // closed and replaced on every new record
	done    chan struct{}
}

func tailAgentLog(path string, narrate func(record)) *agentLog {
	l := &agentLog{changed: make(chan struct{}), done: make(chan struct{})}
	go l.follow(path, narrate)
	return l
}

func (l *agentLog) close() { close(l.done) }

// follow reads path as it grows, polling: the agent writes to the file, not to a pipe, so that
// its log survives the demo for inspection.
func (l *agentLog) follow(path string, narrate func(record)) {
	var f *os.File
	for f == nil {
		f, _ = os.Open(path)
		if f == nil && l.sleep() {
			return
		}
	}
	defer f.Close()
	rd := bufio.NewReader(f)
	var partial string
	for {
		line, err := rd.ReadString('\n')
		partial += line
		if err == io.EOF {
			if l.sleep() {
				return
			}
			continue
		}
		var r record
		if json.Unmarshal([]byte(partial), &r) == nil {
			narrate(r)
			l.add(r)
		}
		partial = ""
	}
}

// sleep waits a moment and reports whether the log is closed.
func (l *agentLog) sleep() bool {
	select {
	case <-l.done:
		return true
	case <-time.After(100 * time.Millisecond):
		return false
	}
}

func (l *agentLog) add(r record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r)
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitFor returns the first record matching want (every key equal) or ctx's error.
func (l *agentLog) waitFor(ctx context.Context, want map[string]string) (record, error) {
	seen := 0
	for {
		l.mu.Lock()
		records, changed := l.records, l.changed
		l.mu.Unlock()
		for ; seen < len(records); seen++ {
			if matches(records[seen], want) {
				return records[seen], nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no agent log line %v: %w", want, ctx.Err())
		case <-changed:
		}
	}
}

func matches(r record, want map[string]string) bool {
	for k, v := range want {
		if r.str(k) != v {
			return false
		}
	}
	return true
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
