package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferry-cd/ferry/agent"
	"github.com/ferry-cd/ferry/internal/redact"
	"github.com/ferry-cd/ferry/sync/source"
)

// Environment variables holding secrets: never flags, so they stay out of process listings.
const (
	envGitUsername   = "FERRY_GIT_USERNAME"
	envGitPassword   = "FERRY_GIT_PASSWORD"
	envGitSSHKey     = "FERRY_GIT_SSH_KEY_FILE"
	envGitKnownHosts = "FERRY_GIT_KNOWN_HOSTS_FILE"
	envWebhookSecret = "FERRY_WEBHOOK_SECRET"
)

func newAgentCommand() *cobra.Command {
	opts := agent.DefaultOptions()
	var kube kubeFlags
	var envs, logFormat string
	var insecureHostKey bool
	ff := forgeFlags{kind: "none"}
	cmd := &cobra.Command{
		Use:   "agent --repo URL",
		Short: "Run the in-cluster daemon: sync environments on schedule, on webhook and on drift",
		Long: "Credentials come from the environment: " + strings.Join([]string{envGitUsername, envGitPassword,
			envGitSSHKey, envGitKnownHosts, envWebhookSecret}, ", ") + ", and the URLs of ferry.yaml's notifications from the variables their urlFrom names.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Source.URL == "" {
				return &usageError{fmt.Errorf("--repo is required")}
			}
			logger, err := newLogger(cmd, logFormat)
			if err != nil {
				return err
			}
			opts.Logger = logger
			if err := runDaemon(cmd, &opts, kube, ff, envs, insecureHostKey); err != nil {
				// In the log's format, so that --log-format json yields only JSON lines.
				logger.Error("agent stopped", "error", err.Error())
				return &loggedError{err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Source.URL, "repo", "", "config repository URL (https:// or ssh://)")
	f.StringVar(&opts.Source.Branch, "branch", "main", "branch to follow")
	f.StringVar(&envs, "environments", "", "comma-separated environments to sync (default: all in ferry.yaml)")
	f.StringVar(&opts.Source.CacheDir, "cache-dir", "", "folder for the git cache (default: one per repository URL under the user cache folder)")
	f.StringVar(&opts.HTTPAddr, "http-addr", ":8080", "address of the webhook (POST /hooks/git), /healthz and /readyz")
	f.StringVar(&opts.MetricsAddr, "metrics-addr", ":9090", "address of /metrics")
	f.StringVar(&opts.StatusURL, "status-url", "", "the status page's URL as people reach it, linked from notifications")
	f.BoolVar(&opts.LeaderElection, "leader-elect", true, "elect one leader among replicas with a Lease")
	f.StringVar(&opts.Identity, "identity", "", "this replica's name in the election (default: host name)")
	f.DurationVar(&opts.Sync.HealthTimeout, "health-timeout", opts.Sync.HealthTimeout, "how long to wait for applied objects to become healthy")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&insecureHostKey, "insecure-ignore-host-key", false, "do not check the SSH server's host key (unsafe)")
	f.StringVar(&ff.kind, "forge", "none", "forge for commit statuses and automatic promotion PRs: github, gitlab, gitea, auto or none")
	f.StringVar(&ff.apiURL, "forge-url", "", "forge API base URL (GitHub Enterprise, self-managed GitLab such as https://gitlab.example.com/api/v4, or Gitea when not the repository's host)")
	f.StringVar(&ff.tokenFile, "token-file", "", "file holding the forge token (default: $"+envForgeToken+" or $"+envGitPassword+")")
	kube.register(cmd)
	return cmd
}

// runDaemon completes opts from the flags and the environment and runs the agent until
// the command's context ends.
func runDaemon(cmd *cobra.Command, opts *agent.Options, kube kubeFlags, ff forgeFlags, envs string, insecureHostKey bool) error {
	opts.Namespace = kube.namespace
	if envs != "" {
		opts.Environments = strings.Split(envs, ",")
	}
	if opts.Source.CacheDir == "" {
		opts.Source.CacheDir = cacheDir(opts.Source.URL)
	}
	if err := credentialsFromEnv(opts, insecureHostKey); err != nil {
		return err
	}
	cfg, err := kube.config()
	if err != nil {
		return err
	}
	if ff.kind != "none" {
		token, err := ff.token()
		if err != nil {
			return err
		}
		if opts.Forge, err = ff.forge(cmd.Context(), opts.Source.URL, token); err != nil {
			return err
		}
	}
	a, err := agent.New(cfg, *opts)
	if err != nil {
		return err
	}
	return a.Run(cmd.Context())
}

// newLogger returns the agent's logger in format, and makes it the handler of the Kubernetes
// libraries' logs too (see libraryLog), so that --log-format json yields only JSON lines.
func newLogger(cmd *cobra.Command, format string) (*slog.Logger, error) {
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(cmd.ErrOrStderr(), nil)
	case "json":
		h = slog.NewJSONHandler(cmd.ErrOrStderr(), nil)
	default:
		return nil, &usageError{fmt.Errorf("unknown --log-format %q (want text or json)", format)}
	}
	libraryLog.use(h)
	return slog.New(h), nil
}

// credentialsFromEnv fills the git credentials and the webhook secret from the environment.
func credentialsFromEnv(opts *agent.Options, insecureHostKey bool) error {
	auth := source.Auth{
		Username:              os.Getenv(envGitUsername),
		Password:              os.Getenv(envGitPassword),
		InsecureIgnoreHostKey: insecureHostKey,
	}
	var err error
	if auth.SSHPrivateKey, err = optionalFile(envGitSSHKey); err != nil {
		return err
	}
	if auth.KnownHosts, err = optionalFile(envGitKnownHosts); err != nil {
		return err
	}
	opts.Source.Auth = auth
	opts.WebhookSecret = []byte(os.Getenv(envWebhookSecret))
	return nil
}

// cacheDir returns a git cache folder of its own for repoURL: a cache belongs to one URL.
func cacheDir(repoURL string) string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	sum := sha256.Sum256([]byte(redact.URL(repoURL)))
	return filepath.Join(base, "ferry", "git", hex.EncodeToString(sum[:6]))
}

// optionalFile reads the file named by the environment variable; an unset variable or a missing
// file (a Secret without that key, mounted in a pod) is no content, not an error.
func optionalFile(env string) ([]byte, error) {
	path := os.Getenv(env)
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	return data, nil
}
