package agent

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cd/ferry/sync"
)

// TestGitServerDownFailsInTheSourcePhase takes the real git server down after the first sync
// and sends a webhook for a commit made just before: the attempt and its retries fail with
// phase=source (not render), saying the repository is unreachable, and the state records it;
// once the server is back, a retry applies the commit. Each line says what triggered it.
func TestGitServerDownFailsInTheSourcePhase(t *testing.T) {
	f := newFixture(t, "@every 1h") // only the start, the webhook and retries trigger syncs
	logs := &logBuffer{}
	opts := f.options(logs)
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied", "trigger": "startup"}, 2*time.Minute)

	sha := f.commitTag("1.7.0")
	f.srv.Stop()
	if code := postHook(t, opts.HTTPAddr, "github", "refs/heads/main"); code != http.StatusAccepted {
		t.Fatalf("signed webhook answered %d, want 202", code)
	}
	line := logs.waitLine(t, "sync failed", map[string]any{"env": "staging", "trigger": "webhook"}, time.Minute)
	msg, _ := line["error"].(string)
	if line["phase"] != "source" || !strings.Contains(msg, "connection refused") || !strings.Contains(msg, "ls-remote") {
		t.Errorf("failure with the git server down: %v, want phase=source and an ls-remote refused", line)
	}
	logs.waitLine(t, "sync failed", map[string]any{"env": "staging", "trigger": "retry", "phase": "source"}, time.Minute)
	if n := len(filterLines(logs.lines("sync failed"), map[string]any{"phase": "render"})); n != 0 {
		t.Errorf("%d failures logged as phase=render while the git server was down", n)
	}
	if st, err := sync.NewStateStore(f.kube, f.ns).Load(t.Context(), "staging"); err != nil || !strings.HasPrefix(st.LastError, "source: ") {
		t.Errorf("state's lastError with the git server down = %q (%v), want it to start with source: ", st.LastError, err)
	}
	if img := f.frontendImage(t.Context()); !strings.HasSuffix(img, ":1.1.0") {
		t.Errorf("the cluster changed while the git server was down: %s", img)
	}

	f.srv.Restart(t)
	f.waitImage("1.7.0", 2*time.Minute)
	logs.waitLine(t, "sync finished", map[string]any{"revision": sha[:7], "result": "applied", "trigger": "retry"}, time.Minute)
}

// TestUnreachableRepositoryAtStart starts the agent on a closed port: before ferry.yaml can be
// read, the attempts are logged for every environment (env=*) in the source phase, the first
// as the start and the next as retries.
func TestUnreachableRepositoryAtStart(t *testing.T) {
	f := newFixture(t, "@every 1h")
	logs := &logBuffer{}
	opts := f.options(logs)
	opts.Source.URL = "http://127.0.0.1:" + freePort(t) + "/config.git"
	f.start(opts)
	line := logs.waitLine(t, "sync failed", map[string]any{"env": "*", "trigger": "startup"}, time.Minute)
	if msg, _ := line["error"].(string); line["phase"] != "source" || !strings.Contains(msg, "connection refused") {
		t.Errorf("first attempt on a closed port: %v, want phase=source and connection refused", line)
	}
	logs.waitLine(t, "sync failed", map[string]any{"env": "*", "trigger": "retry", "phase": "source"}, time.Minute)
}
