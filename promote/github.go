package promote

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/google/go-github/v89/github"

	"github.com/ferry-cd/ferry/internal/redact"
)

// maxStatusDescription is GitHub's limit on a commit status description, in characters; a longer
// one is rejected with 422, so SetStatus shortens it instead.
const maxStatusDescription = 140

// GitHub is the Forge of one repository on GitHub or GitHub Enterprise Server. Pull requests are
// opened from a branch of the same repository (head owner:branch), never from a fork.
type GitHub struct {
	client      *github.Client
	owner, repo string
	secrets     *redact.Set // the token, kept out of error text
}

var _ Forge = (*GitHub)(nil)

// NewGitHub returns a Forge for owner/repo on GitHub or GitHub Enterprise: baseURL "" means
// https://api.github.com/, else the Enterprise API URL (e.g. https://ghe.example.com/api/v3/;
// "/api/v3/" is appended when missing). token is a personal access token or app token, sent as
// "Authorization: Bearer". It returns an error naming owner/repo when owner, repo or token is
// empty or baseURL is not an http(s) URL. Calls have no timeout of their own: they end with ctx.
func NewGitHub(baseURL, owner, repo, token string) (*GitHub, error) {
	g := &GitHub{owner: owner, repo: repo, secrets: redact.NewSet(token)}
	if owner == "" || repo == "" {
		return nil, fmt.Errorf("github %q/%q: owner and repository are both required", owner, repo)
	}
	if token == "" {
		return nil, fmt.Errorf("github %s/%s: no token: opening pull requests and setting statuses need one", owner, repo)
	}
	opts := []github.ClientOptionsFunc{github.WithAuthToken(token)}
	if baseURL != "" {
		u, err := url.Parse(baseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("github %s/%s: API URL %q is not an http(s) URL like https://ghe.example.com/api/v3/", owner, repo, g.secrets.String(redact.URL(baseURL)))
		}
		// The upload URL is unused (ferry uploads no release assets) but go-github wants one.
		opts = append(opts, github.WithEnterpriseURLs(baseURL, baseURL))
	}
	client, err := github.NewClient(opts...)
	if err != nil {
		return nil, g.fail("client", err)
	}
	g.client = client
	return g, nil
}

// Name returns "github".
func (g *GitHub) Name() string { return "github" }

// EnsurePullRequest lists the open pull requests from owner:pr.Head into pr.Base; when there is
// one it sets its title and body and returns its html_url with created false, else it opens one
// and returns its html_url with created true. Errors name the repository and the operation.
//
// Two ferry runs racing on the same branch can both find nothing and both create: GitHub then
// refuses the second with 422 "A pull request already exists", which is returned as is.
func (g *GitHub) EnsurePullRequest(ctx context.Context, pr PullRequest) (string, bool, error) {
	open, _, err := g.client.PullRequests.List(ctx, g.owner, g.repo, &github.PullRequestListOptions{
		State: "open", Head: g.owner + ":" + pr.Head, Base: pr.Base,
	})
	if err != nil {
		return "", false, g.fail(fmt.Sprintf("list open pull requests from %s into %s", pr.Head, pr.Base), err)
	}
	// GitHub allows one open pull request per head and base, so there is at most one.
	if len(open) > 0 {
		existing := open[0]
		edited, _, err := g.client.PullRequests.Edit(ctx, g.owner, g.repo, existing.GetNumber(), &github.PullRequest{
			Title: github.Ptr(pr.Title), Body: github.Ptr(pr.Body),
		})
		if err != nil {
			return "", false, g.fail(fmt.Sprintf("update pull request #%d from %s", existing.GetNumber(), pr.Head), err)
		}
		if u := edited.GetHTMLURL(); u != "" {
			return u, false, nil
		}
		return existing.GetHTMLURL(), false, nil
	}
	created, _, err := g.client.PullRequests.Create(ctx, g.owner, g.repo, &github.NewPullRequest{
		Title: github.Ptr(pr.Title), Head: github.Ptr(pr.Head), Base: github.Ptr(pr.Base), Body: github.Ptr(pr.Body),
	})
	if err != nil {
		return "", false, g.fail(fmt.Sprintf("create pull request from %s into %s", pr.Head, pr.Base), err)
	}
	return created.GetHTMLURL(), true, nil
}

// SetStatus creates a commit status on sha with st's state, context, description (shortened to
// GitHub's 140 characters) and target URL; empty fields are left out so GitHub's defaults apply.
// Errors name the repository, the status context and the commit.
func (g *GitHub) SetStatus(ctx context.Context, sha string, st Status) error {
	op := fmt.Sprintf("set status %s on %s", st.Context, shortSHA(sha))
	if sha == "" {
		return g.fail(op, errors.New("no commit"))
	}
	status := github.RepoStatus{State: github.Ptr(pendingForRunning(st.State))}
	if st.Context != "" {
		status.Context = github.Ptr(st.Context)
	}
	if st.Description != "" {
		status.Description = github.Ptr(truncateChars(st.Description, maxStatusDescription))
	}
	if st.TargetURL != "" {
		status.TargetURL = github.Ptr(st.TargetURL)
	}
	if _, _, err := g.client.Repositories.CreateStatus(ctx, g.owner, g.repo, sha, status); err != nil {
		return g.fail(op, err)
	}
	return nil
}

// fail names the repository and the operation. go-github's errors carry the method, the request
// URL and GitHub's message, not headers, so the token is not in them; should a proxy or server echo
// it back anyway, the error is flattened with the token masked (internal/redact's rule).
func (g *GitHub) fail(op string, err error) error {
	return fmt.Errorf("github %s/%s: %s: %w", g.owner, g.repo, op, g.secrets.Error(err))
}

// truncateChars shortens s to at most n characters (runes, as GitHub counts), ending with "…" when cut.
func truncateChars(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// scpRemote is git's scp-like syntax, [user@]host:path, where host has no slash.
var scpRemote = regexp.MustCompile(`^(?:[^@/:]+@)?([^@/:]+):(.+)$`)

// ParseRemote infers host, owner and repository from a GitHub or GitHub Enterprise remote URL:
// https://host/owner/repo(.git), git@host:owner/repo(.git) or ssh://git@host[:port]/owner/repo(.git).
// host keeps the port of an http(s) URL (the API is served there too) and drops the port of an
// ssh one (the API is not). Any host is accepted; the caller decides whether it is github.com. It
// returns an error naming the URL, with any password or token in it redacted, for anything else,
// such as a local path or a URL with more than owner/repo in its path.
func ParseRemote(remoteURL string) (host, owner, repo string, err error) {
	s := strings.TrimSpace(remoteURL)
	var p string
	if strings.Contains(s, "://") {
		u, perr := url.Parse(s)
		if perr != nil {
			return "", "", "", badRemote(remoteURL)
		}
		switch u.Scheme {
		case "https", "http":
			host = u.Host
		case "ssh", "git+ssh", "git":
			host = u.Hostname()
		default:
			return "", "", "", badRemote(remoteURL)
		}
		p = u.Path
	} else if m := scpRemote.FindStringSubmatch(s); m != nil && len(m[1]) > 1 {
		// A one-letter host is a Windows drive (C:/src/repo), which git reads as a local path.
		host, p = m[1], m[2]
	} else {
		return "", "", "", badRemote(remoteURL)
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	if host == "" || len(parts) != 2 {
		return "", "", "", badRemote(remoteURL)
	}
	owner, repo = parts[0], strings.TrimSuffix(parts[1], ".git")
	if owner == "" || repo == "" {
		return "", "", "", badRemote(remoteURL)
	}
	return host, owner, repo, nil
}

func badRemote(remoteURL string) error {
	return fmt.Errorf("remote %s: not a GitHub repository URL (want https://host/owner/repo, git@host:owner/repo.git or ssh://git@host/owner/repo.git)",
		redact.URL(remoteURL))
}

// CommitStatuses returns the latest status of each context on sha, from GitHub's combined
// status (up to 100 contexts: ferry sets one per environment). Errors name the repository.
func (g *GitHub) CommitStatuses(ctx context.Context, sha string) ([]Status, error) {
	combined, _, err := g.client.Repositories.GetCombinedStatus(ctx, g.owner, g.repo, sha, &github.ListOptions{PerPage: 100})
	if err != nil {
		return nil, g.fail("statuses of "+sha[:min(7, len(sha))], err)
	}
	out := make([]Status, 0, len(combined.Statuses))
	for _, s := range combined.Statuses {
		out = append(out, Status{Context: s.GetContext(), State: s.GetState(), Description: s.GetDescription(), TargetURL: s.GetTargetURL()})
	}
	return out, nil
}
