package demo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-cd/ferry/internal/localcluster"
)

// commandTimeout bounds one `ferry promote` or `ferry status`.
const commandTimeout = time.Minute

// firstSyncs waits until the agent has applied staging and production and both are healthy.
func (s *story) firstSyncs(ctx context.Context) error {
	s.say("the agent clones the repository, renders each overlay and applies it (server-side apply)")
	for _, env := range []string{"staging", "production"} {
		if err := s.waitSync(ctx, map[string]string{"env": env}); err != nil {
			return err
		}
	}
	s.say("both environments are synced and healthy: staging runs gceme 1.1.0, production 1.0.0")
	return s.ferry(ctx, "status", "--kubeconfig", s.cluster.KubeconfigPath)
}

// waitSync waits for an applied, healthy sync line with the fields of want.
func (s *story) waitSync(ctx context.Context, want map[string]string) error {
	want["msg"], want["result"], want["health"] = "sync finished", "applied", "Healthy"
	return s.wait(ctx, want)
}

func (s *story) wait(ctx context.Context, want map[string]string) error {
	_, err := s.waitRecord(ctx, want)
	return err
}

// waitRecord returns the first agent log line with the fields of want, within the story's
// timeout.
func (s *story) waitRecord(ctx context.Context, want map[string]string) (record, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	return s.log.waitFor(ctx, want)
}

// promotion is `ferry promote`'s answer line for a new pull request.
var promotion = regexp.MustCompile(`opened (\S+/pulls/(\d+))`)

// promote opens the promotion pull request with `ferry promote`, merges it as a reviewer would,
// and follows production's staged rollout of the merge commit.
func (s *story) promote(ctx context.Context) error {
	s.say("promotion is a pull request: ferry promote copies staging's image tag into production's overlay")
	out, err := s.ferryOutput(ctx, "promote", "--to", "production", "--repo", s.repoURL, "--forge", "gitea",
		"--kubeconfig", s.cluster.KubeconfigPath)
	if err != nil {
		return err
	}
	m := promotion.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("ferry promote did not open a pull request")
	}
	index, _ := strconv.ParseInt(m[2], 10, 64)
	s.say("pull request #%d is open at %s (its body shows the rendered diff and staging's health)", index, m[1])
	s.say("a reviewer merges pull request #%d", index)
	merge, err := s.gitea.MergePullRequest(ctx, repoName, index)
	if err != nil {
		return err
	}
	s.say("merged as %s; Gitea posts the push to the agent, which rolls production out in stages", merge[:7])
	started := time.Now()
	if err := s.waitSync(ctx, map[string]string{"env": "production", "stage": "canary", "revision": merge[:7]}); err != nil {
		return err
	}
	s.say("the canary Deployments run 1.1.0 while the stable ones still run 1.0.0; soaking %s", s.opts.Soak)
	if err := s.narrateAnalysis(ctx, merge[:7]); err != nil {
		return err
	}
	if err := s.waitSync(ctx, map[string]string{"env": "production", "stage": "all", "revision": merge[:7]}); err != nil {
		return err
	}
	s.say("production rolled out canary → all in %s", time.Since(started).Round(100*time.Millisecond))
	return s.ferry(ctx, "status", "--kubeconfig", s.cluster.KubeconfigPath)
}

// ferry runs a ferry command and prints its output.
func (s *story) ferry(ctx context.Context, args ...string) error {
	_, err := s.ferryOutput(ctx, args...)
	return err
}

// ferryOutput runs a ferry command with the story's credentials in its environment, prints the
// command and its output, and returns the output.
func (s *story) ferryOutput(ctx context.Context, args ...string) (string, error) {
	fmt.Fprintf(s.opts.Out, "\n  $ ferry %s\n", strings.Join(args, " "))
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.opts.Ferry, args...)
	cmd.Env = append(os.Environ(), s.env...)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		fmt.Fprintf(s.opts.Out, "  %s\n", line)
	}
	fmt.Fprintln(s.opts.Out)
	if err != nil {
		return "", fmt.Errorf("ferry %s: %w", args[0], err)
	}
	return string(out), nil
}

// lookAround prints where everything is, for a person to explore while the demo keeps running.
func (s *story) lookAround() {
	kubectl := filepath.Join(localcluster.DefaultBinDir(), "kubectl")
	fmt.Fprintf(s.opts.Out, `
Everything keeps running. Look around:
  status page     http://%[1]s/   (JSON: http://%[1]s/api/status, metrics: http://%[1]s/metrics)
  Gitea           %[2]s   (the pull request, commit statuses ferry/staging and ferry/production)
  kubectl         export KUBECONFIG=%[3]s
                  %[4]s get deployments -n production -L ferry.dev/environment
  agent log       %[5]s
  credentials     %[7]s (mode 0600: the Gitea login, and the token as ferry's variables)
  promote again   edit environments/staging in a clone of %[6]s and push, then
                  set -a; . %[7]s; set +a; bin/ferry promote --to production --repo %[6]s --forge gitea
Press Ctrl-C to stop everything (the cluster, Gitea and the agent; their folders are removed).
`, s.http, s.gitea.URL+"/"+path.Join(s.gitea.AdminUser, repoName), s.cluster.KubeconfigPath, kubectl,
		s.agent.LogPath, s.repoURL, s.credentialsFile())
}

// credentialsFile is where writeCredentials puts the demo's credentials.
func (s *story) credentialsFile() string { return filepath.Join(s.dir, "credentials.env") }

// writeCredentials writes the Gitea login and ferry's credential variables to a file only the
// user can read, so that the narration never prints a secret and a person can still use them.
func (s *story) writeCredentials() error {
	content := fmt.Sprintf("# Gitea web login: %s / %s\n%s\n", s.gitea.AdminUser, s.gitea.AdminPassword, strings.Join(s.env, "\n"))
	return os.WriteFile(s.credentialsFile(), []byte(content), 0o600)
}
