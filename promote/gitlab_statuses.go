package promote

import (
	"context"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// ferryStates maps GitLab's commit status states back to the states ferry sets (see Status):
// running and created count as pending; canceled as failure; others are kept as GitLab names them.
var ferryStates = map[string]string{
	"pending": "pending", "created": "pending", "running": "running",
	"success": "success", "failed": "failure", "canceled": "failure",
}

// CommitStatuses returns the latest status of each name on sha, reading every page of GitLab's
// "list the statuses of a commit" (which by default answers only the latest of each name).
func (g *GitLab) CommitStatuses(ctx context.Context, sha string) ([]Status, error) {
	opts := &gitlab.GetCommitStatusesOptions{ListOptions: gitlab.ListOptions{PerPage: 100, Page: 1}}
	var out []Status
	for {
		page, resp, err := g.client.Commits.GetCommitStatuses(g.project, sha, opts, gitlab.WithContext(ctx))
		if err != nil {
			return nil, g.fail("statuses of "+shortSHA(sha), err)
		}
		for _, s := range page {
			state, ok := ferryStates[s.Status]
			if !ok {
				state = s.Status
			}
			out = append(out, Status{Context: s.Name, State: state, Description: s.Description, TargetURL: s.TargetURL})
		}
		if resp == nil || resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}
