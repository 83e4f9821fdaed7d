package promote

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/ferry-cd/ferry/internal/redact"
)

// GitLab's limits on a commit status, in characters: a longer description or target URL is
// refused with 400, so SetStatus shortens the description and leaves out a longer URL.
const (
	maxGitLabDescription = 255
	maxGitLabTargetURL   = 255
)

// gitLabStates maps the states ferry sets (see Status) to GitLab's commit status states.
var gitLabStates = map[string]gitlab.BuildStateValue{
	"pending": gitlab.Pending,
	"running": gitlab.Running,
	"success": gitlab.Success,
	"failure": gitlab.Failed,
	"error":   gitlab.Failed,
}

// GitLab is the Forge of one project on gitlab.com or a self-managed GitLab, through GitLab's
// client (REST API v4). Merge requests are opened from a branch of the same project, never from
// a fork.
type GitLab struct {
	client  *gitlab.Client
	project string      // group/subgroup/name; the client URL-encodes it into each path
	secrets *redact.Set // the token, kept out of error text
}

var _ Forge = (*GitLab)(nil)

// NewGitLab returns a Forge for project (its full path, group/subgroup/name) on GitLab: baseURL
// "" means https://gitlab.com/api/v4/, else a self-managed instance's API URL (e.g.
// https://gitlab.example.com/api/v4; "/api/v4/" is appended when missing). token is a personal,
// project or group access token with the api scope, sent as PRIVATE-TOKEN. It returns an error
// naming the project when project or token is empty or baseURL is not an http(s) URL. Calls
// have no timeout of their own: they end with ctx.
func NewGitLab(baseURL, project, token string) (*GitLab, error) {
	g := &GitLab{project: strings.Trim(project, "/"), secrets: redact.NewSet(token)}
	if g.project == "" || !strings.Contains(g.project, "/") {
		return nil, fmt.Errorf("gitlab %q: want the project's full path, group/name", project)
	}
	if token == "" {
		return nil, fmt.Errorf("gitlab %s: no token: opening merge requests and setting statuses need one (scope api)", g.project)
	}
	var opts []gitlab.ClientOptionFunc
	if baseURL != "" {
		u, err := url.Parse(baseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("gitlab %s: API URL %q is not an http(s) URL like https://gitlab.example.com/api/v4", g.project, g.secrets.String(redact.URL(baseURL)))
		}
		opts = append(opts, gitlab.WithBaseURL(baseURL))
	}
	client, err := gitlab.NewClient(token, opts...)
	if err != nil {
		return nil, g.fail("client", err)
	}
	g.client = client
	return g, nil
}

// Name returns "gitlab".
func (g *GitLab) Name() string { return "gitlab" }

// EnsurePullRequest finds the open merge request from pr.Head into pr.Base (reading every page
// of the project's open merge requests from that branch); when there is one it sets its title
// and description and returns its web_url with created false, else it opens one and returns its
// web_url with created true. Errors name the project and the operation.
//
// Two ferry runs racing on the same branch can both find nothing and both create: GitLab refuses
// the second with 409 "Another open merge request already exists for this source branch", and
// that run then updates the merge request the other one opened.
func (g *GitLab) EnsurePullRequest(ctx context.Context, pr PullRequest) (string, bool, error) {
	open, err := g.findOpen(ctx, pr.Head, pr.Base)
	if err != nil {
		return "", false, err
	}
	if open == nil {
		mr, _, err := g.client.MergeRequests.CreateMergeRequest(g.project, &gitlab.CreateMergeRequestOptions{
			Title: gitlab.Ptr(pr.Title), Description: gitlab.Ptr(pr.Body),
			SourceBranch: gitlab.Ptr(pr.Head), TargetBranch: gitlab.Ptr(pr.Base),
		}, gitlab.WithContext(ctx))
		if err == nil {
			return mr.WebURL, true, nil
		}
		createErr := g.fail(fmt.Sprintf("create merge request from %s into %s", pr.Head, pr.Base), err)
		if !gitlab.HasStatusCode(err, http.StatusConflict) {
			return "", false, createErr
		}
		if open, err = g.findOpen(ctx, pr.Head, pr.Base); err != nil || open == nil {
			return "", false, errors.Join(createErr, err)
		}
	}
	mr, _, err := g.client.MergeRequests.UpdateMergeRequest(g.project, open.IID, &gitlab.UpdateMergeRequestOptions{
		Title: gitlab.Ptr(pr.Title), Description: gitlab.Ptr(pr.Body),
	}, gitlab.WithContext(ctx))
	if err != nil {
		return "", false, g.fail(fmt.Sprintf("update merge request !%d from %s", open.IID, pr.Head), err)
	}
	if mr.WebURL != "" {
		return mr.WebURL, false, nil
	}
	return open.WebURL, false, nil
}

// findOpen returns the open merge request from head into base within the project, or nil. It
// filters what GitLab returns as well: a fork's merge request from a branch of the same name is
// listed too, and is not ferry's.
func (g *GitLab) findOpen(ctx context.Context, head, base string) (*gitlab.BasicMergeRequest, error) {
	opts := &gitlab.ListProjectMergeRequestsOptions{
		ListOptions: gitlab.ListOptions{PerPage: 100, Page: 1},
		State:       gitlab.Ptr("opened"), SourceBranch: gitlab.Ptr(head), TargetBranch: gitlab.Ptr(base),
	}
	for {
		mrs, resp, err := g.client.MergeRequests.ListProjectMergeRequests(g.project, opts, gitlab.WithContext(ctx))
		if err != nil {
			return nil, g.fail(fmt.Sprintf("list open merge requests from %s into %s", head, base), err)
		}
		for _, mr := range mrs {
			if mr.SourceBranch == head && mr.TargetBranch == base && mr.SourceProjectID == mr.TargetProjectID {
				return mr, nil
			}
		}
		// X-Next-Page is empty on the last page; a next page that does not move on ends too.
		if resp.NextPage <= opts.Page {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

// SetStatus sets the commit status st.Context (GitLab's "name") on sha: pending, running,
// success, or failed for ferry's failure; the description is shortened to 255 characters and a
// target URL longer than that is left out. Errors name the project, the status and the commit.
//
// GitLab's statuses are a state machine: it refuses, with 400 "Cannot transition status via …",
// to set a pending or running status to the state it holds or a running one back to pending.
// The status then keeps its state and description, and SetStatus returns nil: a status that
// says the rollout is under way stays true until its success or failure, which GitLab always
// accepts. A 409 (another update of the same commit and ref in progress) is retried twice, as
// GitLab's documentation asks.
func (g *GitLab) SetStatus(ctx context.Context, sha string, st Status) error {
	op := fmt.Sprintf("set status %s on %s", st.Context, shortSHA(sha))
	state, ok := gitLabStates[st.State]
	switch {
	case sha == "":
		return g.fail(op, errors.New("no commit"))
	case !ok:
		return g.fail(op, fmt.Errorf("unknown state %q", st.State))
	}
	opts := &gitlab.SetCommitStatusOptions{State: state}
	if st.Context != "" {
		opts.Name = gitlab.Ptr(st.Context)
	}
	if st.Description != "" {
		opts.Description = gitlab.Ptr(truncateChars(st.Description, maxGitLabDescription))
	}
	if st.TargetURL != "" && len([]rune(st.TargetURL)) <= maxGitLabTargetURL {
		opts.TargetURL = gitlab.Ptr(st.TargetURL)
	}
	for attempt := 1; ; attempt++ {
		_, _, err := g.client.Commits.SetCommitStatus(g.project, sha, opts, gitlab.WithContext(ctx))
		switch {
		case err == nil, stateKept(err):
			return nil
		case gitlab.HasStatusCode(err, http.StatusConflict) && attempt < 3:
			if err := sleep(ctx, time.Duration(attempt)*time.Second); err != nil {
				return g.fail(op, err)
			}
		default:
			return g.fail(op, err)
		}
	}
}

// stateKept reports whether err is GitLab's refusal to move a status to a state it cannot
// transition to from the one it holds.
func stateKept(err error) bool {
	var resp *gitlab.ErrorResponse
	return errors.As(err, &resp) && resp.HasStatusCode(http.StatusBadRequest) &&
		strings.Contains(resp.Message, "Cannot transition status via")
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fail names the project and the operation. The client's errors carry the method, the request
// URL (without its query) and GitLab's message, not headers, so the token is not in them; should
// a proxy echo it back anyway, the error is flattened with the token masked (internal/redact's
// rule).
func (g *GitLab) fail(op string, err error) error {
	return fmt.Errorf("gitlab %s: %s: %w", g.project, op, g.secrets.Error(err))
}

// ParseGitLabRemote infers host and project path from a GitLab remote URL:
// https://host/group/sub/name(.git), git@host:group/sub/name(.git) or
// ssh://git@host[:port]/group/sub/name(.git). The path has at least two parts (GitLab's
// subgroups make more). host keeps the port of an http(s) URL and drops that of an ssh one, as
// ParseRemote does. It returns an error naming the URL, with any password or token in it
// redacted, for anything else.
func ParseGitLabRemote(remoteURL string) (host, project string, err error) {
	s := strings.TrimSpace(remoteURL)
	var p string
	if strings.Contains(s, "://") {
		u, perr := url.Parse(s)
		if perr != nil {
			return "", "", badGitLabRemote(remoteURL)
		}
		switch u.Scheme {
		case "https", "http":
			host = u.Host
		case "ssh", "git+ssh":
			host = u.Hostname()
		default:
			return "", "", badGitLabRemote(remoteURL)
		}
		p = u.Path
	} else if m := scpRemote.FindStringSubmatch(s); m != nil && len(m[1]) > 1 {
		host, p = m[1], m[2]
	} else {
		return "", "", badGitLabRemote(remoteURL)
	}
	project = strings.TrimSuffix(strings.Trim(p, "/"), ".git")
	parts := strings.Split(project, "/")
	if host == "" || len(parts) < 2 || strings.Contains(project, "/-/") || strings.HasSuffix(project, "/-") {
		return "", "", badGitLabRemote(remoteURL)
	}
	for _, part := range parts {
		if part == "" {
			return "", "", badGitLabRemote(remoteURL)
		}
	}
	return host, project, nil
}

// GitLabProjectUnder returns project, as ParseGitLabRemote found it in an http(s) remote,
// without the path a self-managed GitLab is served under, which apiURL (its REST API base,
// https://host/PREFIX/api/v4) shows: the remote https://host/gitlab/group/name.git names the
// project group/name of the GitLab at https://host/gitlab/api/v4. Other remotes (ssh, scp-style)
// do not carry the prefix, and project is returned as it is.
func GitLabProjectUnder(project, remoteURL, apiURL string) string {
	r, err := url.Parse(strings.TrimSpace(remoteURL))
	if err != nil || (r.Scheme != "https" && r.Scheme != "http") {
		return project
	}
	u, err := url.Parse(apiURL)
	if err != nil {
		return project
	}
	base, ok := strings.CutSuffix(strings.TrimRight(u.Path, "/"), "/api/v4")
	prefix := strings.Trim(base, "/")
	if !ok || prefix == "" {
		return project
	}
	if rest, ok := strings.CutPrefix(project, prefix+"/"); ok && strings.Contains(rest, "/") {
		return rest
	}
	return project
}

func badGitLabRemote(remoteURL string) error {
	return fmt.Errorf("remote %s: not a GitLab project URL (want https://host/group/name, git@host:group/name.git or ssh://git@host/group/name.git)",
		redact.URL(remoteURL))
}
