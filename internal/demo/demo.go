// Package demo plays ferry's story on this machine for `make demo`: a local control plane with
// fake nodes, a real Gitea holding examples/gceme, a real Prometheus for the canary's analysis,
// and the ferry agent syncing staging and production. It then promotes staging's image to production with a pull request, merges it,
// and narrates production's staged rollout. The agent, `ferry promote` and `ferry status` run
// as the same commands a user types, so the narration shows real commands and real output.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/internal/localgitea"
	"github.com/ferry-cd/ferry/internal/localprom"
	"github.com/ferry-cd/ferry/internal/procgroup"
)

// Options configure Run.
type Options struct {
	// Ferry is the ferry binary the story runs (`ferry agent`, `ferry promote`, `ferry status`).
	Ferry string
	// Example is the config repository's content: a folder with ferry.yaml (examples/gceme).
	Example string
	// Soak replaces the canary stage's soak time, so that the story fits in minutes.
	Soak time.Duration
	// Exit tears everything down once the story is told; otherwise Run keeps the cluster, Gitea
	// and the agent running until ctx ends.
	Exit bool
	// Out receives the narration.
	Out io.Writer
	// Timeout bounds each wait of the story (a sync, a rollout).
	Timeout time.Duration
}

// DefaultOptions returns Options for the gceme example with a 15 s canary soak.
func DefaultOptions() Options {
	return Options{Example: "examples/gceme", Soak: 15 * time.Second, Out: os.Stdout, Timeout: 3 * time.Minute}
}

// repoName is the Gitea repository the story creates.
const repoName = "gceme-config"

// story holds what the demo started, in the order it is stopped.
type story struct {
	opts    Options
	dir     string // work folder: the agent's log and cache
	cluster *localcluster.Cluster
	gitea   *localgitea.Server
	repoURL string
	agent   *procgroup.Process
	// prometheus answers the canary's analysis, scraping traffic.
	prometheus *localprom.Server
	traffic    *localprom.Traffic
	log        *agentLog
	http       string // the agent's address: webhook, status page
	env        []string
}

// Run plays the story. It returns an error naming the step that failed; everything started is
// stopped before it returns, except when the story succeeded without Exit, in which case it
// waits for ctx to end first.
func Run(ctx context.Context, opts Options) (err error) {
	s := &story{opts: opts}
	if s.dir, err = os.MkdirTemp("", "ferry-demo-"); err != nil {
		return err
	}
	defer s.stop()
	start := time.Now()
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"start the local control plane", s.startCluster},
		{"start Gitea", s.startGitea},
		{"start Prometheus", s.startPrometheus},
		{"push the config repository", s.pushRepo},
		{"start the agent", s.startAgent},
		{"sync staging and production", s.firstSyncs},
		{"promote staging to production", s.promote},
	}
	for _, step := range steps {
		if err := step.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}
	s.say("story told in %s", time.Since(start).Round(time.Second))
	if opts.Exit {
		s.say("DEMO_EXIT is set: stopping everything")
		return nil
	}
	s.lookAround()
	<-ctx.Done()
	s.say("stopping the agent, Gitea and the control plane")
	return nil
}

// say prints one line of narration.
func (s *story) say(format string, args ...any) {
	fmt.Fprintf(s.opts.Out, "==> "+format+"\n", args...)
}

// stop ends what the story started, newest first, and removes the work folder.
func (s *story) stop() {
	if s.agent != nil {
		s.agent.Stop(10 * time.Second)
	}
	if s.log != nil {
		s.log.close()
	}
	if s.gitea != nil {
		_ = s.gitea.Stop()
	}
	if s.prometheus != nil {
		_ = s.prometheus.Stop()
	}
	if s.traffic != nil {
		_ = s.traffic.Close()
	}
	if s.cluster != nil {
		_ = s.cluster.Stop()
	}
	_ = os.RemoveAll(s.dir)
}

func (s *story) startCluster(ctx context.Context) error {
	s.say("starting the local control plane: etcd, kube-apiserver, controller manager, scheduler, 2 kwok nodes")
	opts := localcluster.DefaultOptions()
	opts.Workloads, opts.Nodes = true, 2
	opts.Dir = filepath.Join(s.dir, "cluster")
	start := time.Now()
	c, err := localcluster.Start(ctx, opts)
	if errors.Is(err, localcluster.ErrBinariesMissing) {
		return fmt.Errorf("%w (run make controlplane)", err)
	}
	if err != nil {
		return err
	}
	s.cluster = c
	s.say("control plane ready in %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

func (s *story) startGitea(ctx context.Context) error {
	s.say("starting Gitea %s, the forge holding the config repository", localgitea.Version)
	start := time.Now()
	g, err := localgitea.Start(ctx, nil)
	if err != nil {
		return err
	}
	s.gitea = g
	s.say("Gitea ready at %s in %s", g.URL, time.Since(start).Round(100*time.Millisecond))
	return nil
}
