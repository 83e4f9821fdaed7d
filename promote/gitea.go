package promote

import (
	"context"
	"fmt"

	"code.gitea.io/sdk/gitea"

	"github.com/ferry-cd/ferry/internal/redact"
)

// Gitea is a Forge for one repository on a Gitea server, through Gitea's SDK.
type Gitea struct {
	client      *gitea.Client
	owner, repo string
	secrets     *redact.Set // the token, kept out of error text
}

// NewGitea returns a Forge for owner/repo on the Gitea server at baseURL (e.g.
// https://gitea.example.com), authenticated with an access token.
func NewGitea(ctx context.Context, baseURL, owner, repo, token string) (*Gitea, error) {
	c, err := gitea.NewClient(baseURL, gitea.SetToken(token), gitea.SetContext(ctx), gitea.SetGiteaVersion(""))
	if err != nil {
		return nil, fmt.Errorf("gitea %s: %w", redact.URL(baseURL), redact.NewSet(token).Error(err))
	}
	return &Gitea{client: c, owner: owner, repo: repo, secrets: redact.NewSet(token)}, nil
}

// Name returns "gitea".
func (g *Gitea) Name() string { return "gitea" }

// fail names the repository and the operation; an error whose text holds the token is flattened
// (internal/redact's rule).
func (g *Gitea) fail(op string, err error) error {
	return fmt.Errorf("gitea %s/%s: %s: %w", g.owner, g.repo, op, g.secrets.Error(err))
}

// EnsurePullRequest opens the pull request or updates the open one from the same branch.
func (g *Gitea) EnsurePullRequest(ctx context.Context, pr PullRequest) (string, bool, error) {
	g.client.SetContext(ctx)
	open, err := g.findOpen(pr.Head, pr.Base)
	if err != nil {
		return "", false, err
	}
	if open != nil {
		edited, _, err := g.client.EditPullRequest(g.owner, g.repo, open.Index, gitea.EditPullRequestOption{Title: pr.Title, Body: &pr.Body})
		if err != nil {
			return "", false, g.fail(fmt.Sprintf("update pull request #%d", open.Index), err)
		}
		return edited.HTMLURL, false, nil
	}
	created, _, err := g.client.CreatePullRequest(g.owner, g.repo, gitea.CreatePullRequestOption{
		Head: pr.Head, Base: pr.Base, Title: pr.Title, Body: pr.Body,
	})
	if err != nil {
		return "", false, g.fail("open pull request", err)
	}
	return created.HTMLURL, true, nil
}

// findOpen returns the open pull request from head into base, or nil.
func (g *Gitea) findOpen(head, base string) (*gitea.PullRequest, error) {
	for page := 1; ; page++ {
		prs, _, err := g.client.ListRepoPullRequests(g.owner, g.repo, gitea.ListPullRequestsOptions{
			State: gitea.StateOpen, ListOptions: gitea.ListOptions{Page: page, PageSize: 50},
		})
		if err != nil {
			return nil, g.fail("list pull requests", err)
		}
		for _, pr := range prs {
			if pr.Head != nil && pr.Base != nil && pr.Head.Ref == head && pr.Base.Ref == base {
				return pr, nil
			}
		}
		if len(prs) < 50 {
			return nil, nil
		}
	}
}

// SetStatus sets a commit status (description cut to 255 characters).
func (g *Gitea) SetStatus(ctx context.Context, sha string, st Status) error {
	g.client.SetContext(ctx)
	desc := st.Description
	if len(desc) > 255 {
		desc = desc[:252] + "..."
	}
	_, _, err := g.client.CreateStatus(g.owner, g.repo, sha, gitea.CreateStatusOption{
		State: gitea.StatusState(pendingForRunning(st.State)), TargetURL: st.TargetURL, Description: desc, Context: st.Context,
	})
	if err != nil {
		return g.fail("status "+st.Context+" on "+sha[:min(7, len(sha))], err)
	}
	return nil
}

// CommitStatuses returns the latest status of each context on sha (Gitea's combined status).
func (g *Gitea) CommitStatuses(ctx context.Context, sha string) ([]Status, error) {
	g.client.SetContext(ctx)
	combined, _, err := g.client.GetCombinedStatus(g.owner, g.repo, sha)
	if err != nil {
		return nil, g.fail("statuses of "+sha[:min(7, len(sha))], err)
	}
	if combined == nil {
		return nil, nil
	}
	out := make([]Status, 0, len(combined.Statuses))
	for _, s := range combined.Statuses {
		out = append(out, Status{Context: s.Context, State: string(s.State), Description: s.Description, TargetURL: s.TargetURL})
	}
	return out, nil
}
