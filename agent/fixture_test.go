package agent

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// fixture is one agent test: examples/gceme in a git repository on a real smart-HTTP server,
// with staging moved into a namespace of the test's own and polled on a short schedule.
type fixture struct {
	t         *testing.T
	srv       *gitserver.Server
	files     map[string]string
	ns        string // ferry's namespace
	stagingNS string
	kube      kubernetes.Interface
}

const testSecret = "webhook-test-secret"

func newFixture(t *testing.T, schedule string) *fixture {
	t.Helper()
	id := strings.ToLower(rand.String(5))
	f := &fixture{t: t, ns: "ferry-" + id, stagingNS: "staging-" + id}
	f.files = exampleFiles(t)
	y := strings.Replace(f.files["ferry.yaml"], "namespace: staging ", "namespace: "+f.stagingNS+" ", 1)
	y = strings.Replace(y, "namespace: production\n", "namespace: production-"+id+"\n", 1)
	f.files["ferry.yaml"] = strings.Replace(y, `schedule: "@every 1m"`, `schedule: "`+schedule+`"`, 1)
	f.srv = gitserver.Start(t, gitserver.Options{Username: "ci", Password: "git-secret-" + id})
	f.srv.NewRepo(t, "config", f.files)
	kube, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	f.kube = kube
	return f
}

// exampleFiles reads examples/gceme, without the canary's analysis (it asks a Prometheus
// these tests do not run; see testutil.StripAnalysis).
func exampleFiles(t *testing.T) map[string]string {
	t.Helper()
	files := testutil.ReadTree(t, filepath.Join("..", "examples", "gceme"))
	files["ferry.yaml"] = testutil.StripAnalysis(files["ferry.yaml"])
	return files
}

// options returns agent Options for this fixture: staging only, no leader election, HTTP on a
// free loopback port, JSON logs into logs.
func (f *fixture) options(logs *logBuffer) Options {
	opts := DefaultOptions()
	opts.Source.URL = f.srv.RepoURL("config")
	opts.Source.Auth.Username = "ci"
	opts.Source.Auth.Password = passwordOf(f.srv.AuthURL("config"))
	opts.Source.CacheDir = f.t.TempDir()
	opts.Environments = []string{"staging"}
	opts.Namespace = f.ns
	opts.WebhookSecret = []byte(testSecret)
	opts.HTTPAddr = "127.0.0.1:" + freePort(f.t)
	opts.MetricsAddr = opts.HTTPAddr
	opts.LeaderElection = false
	opts.Sync.PollInterval = 500 * time.Millisecond
	opts.Sync.HealthTimeout = time.Minute
	opts.MinBackoff, opts.MaxBackoff = 500*time.Millisecond, 2*time.Second
	opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	return opts
}

func passwordOf(authURL string) string {
	rest := strings.SplitN(strings.TrimPrefix(authURL, "http://"), "@", 2)[0]
	return strings.SplitN(rest, ":", 2)[1]
}

// start runs an agent until the test ends and returns a function that stops it and waits.
func (f *fixture) start(opts Options) (stop func()) {
	f.t.Helper()
	a, err := New(cluster.Config, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once gosync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					f.t.Errorf("agent Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				f.t.Errorf("agent did not stop within 30s of its context ending")
			}
		})
	}
	f.t.Cleanup(stop)
	return stop
}

// commitTag moves staging's image tag in a new commit and returns its SHA.
func (f *fixture) commitTag(tag string) string {
	f.t.Helper()
	kust := "environments/staging/kustomization.yaml"
	content := f.files[kust]
	start := strings.Index(content, `newTag: "`) + len(`newTag: "`)
	end := start + strings.Index(content[start:], `"`)
	f.files[kust] = content[:start] + tag + content[end:]
	return f.srv.Commit(f.t, "config", "staging: gceme "+tag, map[string]string{kust: f.files[kust]})
}

// frontendImage returns the image of staging's gceme-frontend Deployment ("" when missing).
func (f *fixture) frontendImage(ctx context.Context) string {
	d, err := f.kube.AppsV1().Deployments(f.stagingNS).Get(ctx, "gceme-frontend", metav1.GetOptions{})
	if err != nil {
		return ""
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// waitImage waits until the frontend runs tag and returns how long that took.
func (f *fixture) waitImage(tag string, timeout time.Duration) time.Duration {
	f.t.Helper()
	start := time.Now()
	want := "gcr.io/cloud-solutions-images/gceme:" + tag
	err := wait.PollUntilContextTimeout(f.t.Context(), 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		return f.frontendImage(ctx) == want, nil
	})
	if err != nil {
		f.t.Fatalf("frontend never ran %s (it runs %q): %v", want, f.frontendImage(f.t.Context()), err)
	}
	return time.Since(start)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// logBuffer is the agent's JSON log, with lookups by message.
type logBuffer struct{ testutil.LogBuffer }

// lines returns the parsed log lines whose msg is msg (all when "").
func (b *logBuffer) lines(msg string) []map[string]any {
	if msg == "" {
		return b.Lines(nil)
	}
	return b.Lines(map[string]any{"msg": msg})
}

// waitLine waits for a line with msg whose fields include want.
func (b *logBuffer) waitLine(t *testing.T, msg string, want map[string]any, timeout time.Duration) map[string]any {
	t.Helper()
	all := map[string]any{"msg": msg}
	for k, v := range want {
		all[k] = v
	}
	return b.WaitLine(t, all, timeout)
}
