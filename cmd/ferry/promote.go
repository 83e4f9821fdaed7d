package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/redact"
	"github.com/ferry-cd/ferry/internal/repoview"
	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/sync"
)

// forgeFlags select the forge and its credentials. The token comes from --token-file or the
// environment (FERRY_FORGE_TOKEN, else FERRY_GIT_PASSWORD), never from a flag value.
type forgeFlags struct {
	repo, branch, kind, apiURL, tokenFile string
}

const envForgeToken = "FERRY_FORGE_TOKEN"

func (f *forgeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.repo, "repo", ".", "config repository: a git URL, or a local clone whose origin is used")
	cmd.Flags().StringVar(&f.branch, "branch", "main", "the tracked branch")
	cmd.Flags().StringVar(&f.kind, "forge", "auto", "github, gitlab, gitea, none, or auto (github.com is GitHub, gitlab.com GitLab; a server answering Gitea's or GitLab's API is that; else none)")
	cmd.Flags().StringVar(&f.apiURL, "forge-url", "", "API base URL for GitHub Enterprise (e.g. https://ghe.example.com/api/v3/), self-managed GitLab (e.g. https://gitlab.example.com/api/v4) or Gitea (default: the repository's host)")
	cmd.Flags().StringVar(&f.tokenFile, "token-file", "", "file holding the forge and git token (default: $"+envForgeToken+" or $"+envGitPassword+")")
}

func (f *forgeFlags) token() (string, error) {
	if f.tokenFile != "" {
		data, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		return strings.TrimSpace(string(data)), nil
	}
	if t := os.Getenv(envForgeToken); t != "" {
		return t, nil
	}
	return os.Getenv(envGitPassword), nil
}

// remoteURL returns --repo as a URL: a local clone's origin, or the URL itself.
func (f *forgeFlags) remoteURL() (string, error) {
	if repoview.IsURL(f.repo) {
		return f.repo, nil
	}
	r, err := git.PlainOpenWithOptions(f.repo, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.repo, err)
	}
	origin, err := r.Remote("origin")
	if err != nil || len(origin.Config().URLs) == 0 {
		return "", fmt.Errorf("%s: no origin remote to push to", f.repo)
	}
	return origin.Config().URLs[0], nil
}

// open clones the tracked branch and builds the forge.
func (f *forgeFlags) open(ctx context.Context) (*promote.Repo, promote.Forge, error) {
	remote, err := f.remoteURL()
	if err != nil {
		return nil, nil, err
	}
	token, err := f.token()
	if err != nil {
		return nil, nil, err
	}
	repo, err := promote.Clone(ctx, remote, f.branch, os.Getenv(envGitUsername), token)
	if err != nil {
		return nil, nil, err
	}
	forge, err := f.forge(ctx, remote, token)
	return repo, forge, err
}

func (f *forgeFlags) forge(ctx context.Context, remote, token string) (promote.Forge, error) {
	kind := f.kind
	if kind == "auto" {
		kind = detectForge(ctx, remote, f.apiURL, token)
	}
	switch kind {
	case "none":
		return promote.NoForge{RepoURL: redact.URL(remote)}, nil
	case "github":
		_, owner, name, err := promote.ParseRemote(remote)
		if err != nil {
			return nil, err
		}
		return promote.NewGitHub(f.apiURL, owner, name, token)
	case "gitlab":
		host, project, err := promote.ParseGitLabRemote(remote)
		if err != nil {
			return nil, err
		}
		api := gitLabAPI(f.apiURL, remote, host)
		return promote.NewGitLab(api, promote.GitLabProjectUnder(project, remote, api), token)
	case "gitea":
		_, owner, name, err := promote.ParseRemote(remote)
		if err != nil {
			return nil, err
		}
		base := f.apiURL
		if base == "" {
			base = webBase(remote)
		}
		return promote.NewGitea(ctx, base, owner, name, token)
	default:
		return nil, &usageError{fmt.Errorf("unknown --forge %q (want github, gitlab, gitea, none or auto)", kind)}
	}
}

// forgeProbeTimeout bounds --forge auto's questions to the repository's host.
const forgeProbeTimeout = 5 * time.Second

// detectForge infers the forge from the remote: github.com or gitlab.com by name, else a host
// answering Gitea's version endpoint (/api/v1/version) or GitLab's (/api/v4/version, asked with
// the token: GitLab answers 200 with it and 401 without); anything else gets none. Both
// questions together take at most forgeProbeTimeout.
func detectForge(ctx context.Context, remote, apiURL, token string) string {
	host, _, _, err := promote.ParseRemote(remote)
	if err != nil {
		host, _, err = promote.ParseGitLabRemote(remote) // subgroups: more than owner/name
	}
	switch {
	case err != nil:
		return "none"
	case host == "github.com":
		return "github"
	case host == "gitlab.com":
		return "gitlab"
	}
	ctx, cancel := context.WithTimeout(ctx, forgeProbeTimeout)
	defer cancel()
	if base := webBase(remote); base != "" {
		if code, _ := probe(ctx, base+"/api/v1/version", ""); code == http.StatusOK {
			return "gitea"
		}
	}
	if isGitLabVersion(probe(ctx, strings.TrimSuffix(gitLabAPI(apiURL, remote, host), "/")+"/version", token)) {
		return "gitlab"
	}
	return "none"
}

// isGitLabVersion reports whether an answer to GET /api/v4/version is GitLab's: 200 with
// {"version": …}, or, for a missing or refused token, 401 with {"message":"401 Unauthorized"}.
func isGitLabVersion(code int, body []byte) bool {
	var v struct {
		Version string `json:"version"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &v) != nil {
		return false
	}
	return (code == http.StatusOK && v.Version != "") || (code == http.StatusUnauthorized && v.Message == "401 Unauthorized")
}

// probe GETs url (with the token as PRIVATE-TOKEN when there is one) and returns the status
// and at most 4 KiB of the body; 0 when there is no answer.
func probe(ctx context.Context, url, token string) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil
	}
	if token != "" {
		req.Header.Set("PRIVATE-TOKEN", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, body
}

// gitLabAPI returns the GitLab API base: --forge-url when given, "" (gitlab.com's default) for
// gitlab.com, else /api/v4 on the remote's web address (https://HOST for an ssh remote).
func gitLabAPI(apiURL, remote, host string) string {
	switch {
	case apiURL != "":
		return apiURL
	case host == "gitlab.com":
		return "https://gitlab.com/api/v4"
	case webBase(remote) != "":
		return webBase(remote) + "/api/v4"
	default:
		return "https://" + host + "/api/v4"
	}
}

// webBase returns scheme://host of an http(s) remote URL, without credentials.
func webBase(remote string) string {
	u, err := url.Parse(remote)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func newPromoteCommand() *cobra.Command {
	var ff forgeFlags
	var kube kubeFlags
	var opts promote.Options
	var evidence string
	cmd := &cobra.Command{
		Use:   "promote --to ENV [--from ENV] [--image NAME]... [--evidence auto|cluster|forge]",
		Short: "Open (or update) the pull request that moves image pins (mode images) or the pin (mode revision) from one environment to the next",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.To == "" {
				return &usageError{fmt.Errorf("--to is required")}
			}
			repo, forge, err := ff.open(cmd.Context())
			if err != nil {
				return err
			}
			if opts.Evidence, err = promote.ParseEvidence(evidence); err != nil {
				return &usageError{err}
			}
			if cmd.Flags().Changed("kubeconfig") || cmd.Flags().Changed("context") || opts.Evidence == promote.EvidenceCluster {
				opts.SourceFunc = kube.sourceHealth
			}
			res, err := promote.Promote(cmd.Context(), repo, forge, opts)
			if err != nil {
				return err
			}
			printResult(cmd, res, "promotion")
			return nil
		},
	}
	ff.register(cmd)
	cmd.Flags().StringVar(&opts.From, "from", "", "source environment (default: the target's promotion.from)")
	cmd.Flags().StringVar(&opts.To, "to", "", "target environment")
	cmd.Flags().StringArrayVar(&opts.Images, "image", nil, "image to move (repeatable; default: the target's promotion.images, else all)")
	cmd.Flags().StringVar(&evidence, "evidence", "auto", "where the source's health and applied revision come from: cluster (its state ConfigMap), forge (the commit statuses ferry/<source>), or auto (the cluster given by --kubeconfig/--context when the source is synced there, else the forge)")
	kube.register(cmd)
	return cmd
}

// sourceHealth reads env's state ConfigMap: the evidence a promotion PR shows. Without one (or
// with one that records no apply) it returns an error wrapping promote.ErrNotSynced.
func (f *kubeFlags) sourceHealth(ctx context.Context, env string) (*promote.SourceHealth, error) {
	cfg, err := f.config()
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	st, err := sync.NewStateStore(kube, f.namespace).Load(ctx, env)
	if err != nil {
		return nil, err
	}
	if st.AppliedRevision == "" {
		return nil, fmt.Errorf("state ConfigMap %s/%s: %w", f.namespace, sync.StateConfigMapName(env), promote.ErrNotSynced)
	}
	return &promote.SourceHealth{Env: env, Revision: st.AppliedRevision, Health: st.Health, AppliedAt: st.AppliedAt}, nil
}

func printResult(cmd *cobra.Command, res *promote.Result, what string) {
	out := cmd.OutOrStdout()
	if res.NothingToDo {
		fmt.Fprintf(out, "nothing to %s: the pins are already in place\n", what)
		return
	}
	if p := res.Pin; p != nil {
		fmt.Fprintf(out, "pin of %s %s → %s\n", p.Env, p.Old, p.New)
	}
	for _, c := range res.Changes {
		old := c.Old
		if old == "" {
			old = "(none)"
		}
		fmt.Fprintf(out, "%s %s → %s\n", c.Image, old, c.New)
	}
	switch {
	case res.URL == "":
		fmt.Fprintf(out, "pushed %s to %s\n", res.Commit[:7], res.Branch)
	case res.Created:
		fmt.Fprintf(out, "opened %s\n", res.URL)
	default:
		fmt.Fprintf(out, "updated %s\n", res.URL)
	}
}

func newImageCommand() *cobra.Command {
	image := &cobra.Command{Use: "image", Short: "Edit image pins in an environment's overlay"}
	var ff forgeFlags
	var push, pr bool
	set := &cobra.Command{
		Use:   "set ENV NAME=TAG",
		Short: "Pin an image in ENV's overlay and push the commit (or open a pull request), as CI does after a build",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if push == pr {
				return &usageError{fmt.Errorf("give exactly one of --push and --pr")}
			}
			img, err := promote.ParseImageArg(args[1])
			if err != nil {
				return &usageError{err}
			}
			repo, forge, err := ff.open(cmd.Context())
			if err != nil {
				return err
			}
			res, err := promote.SetImage(cmd.Context(), repo, forge, args[0], img, pr)
			if err != nil {
				return err
			}
			printResult(cmd, res, "set")
			return nil
		},
	}
	ff.register(set)
	set.Flags().BoolVar(&push, "push", false, "commit straight to the tracked branch")
	set.Flags().BoolVar(&pr, "pr", false, "commit to ferry/release-ENV and open a pull request")
	image.AddCommand(set)
	return image
}

func newRollbackCommand() *cobra.Command {
	var ff forgeFlags
	var to string
	var push bool
	cmd := &cobra.Command{
		Use:   "rollback ENV [--to REV]",
		Short: "Open a pull request (or push a commit) that reverts ENV's last overlay change, or restores it to REV",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, forge, err := ff.open(cmd.Context())
			if err != nil {
				return err
			}
			res, err := promote.Rollback(cmd.Context(), repo, forge, args[0], to, push)
			if err != nil {
				return err
			}
			if res.NothingToDo {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to roll back: the overlay is already in that state")
				return nil
			}
			printResult(cmd, res, "rollback")
			return nil
		},
	}
	ff.register(cmd)
	cmd.Flags().StringVar(&to, "to", "", "restore the overlay folder as it was at this revision (default: revert its last change)")
	cmd.Flags().BoolVar(&push, "push", false, "commit straight to the tracked branch instead of opening a pull request")
	return cmd
}
