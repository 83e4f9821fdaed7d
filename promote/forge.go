package promote

import (
	"context"
	"errors"
	"fmt"
)

// PullRequest is what ferry asks a forge to open: Head is ferry's branch, Base the tracked one.
type PullRequest struct {
	Head, Base, Title, Body string
}

// Status is a commit status: Context is ferry/<env>, State pending (waiting: for approval, a
// window), running (being applied or rolled out), success or failure. Forges without a running
// state (GitHub, Gitea) show it as pending.
type Status struct {
	Context, State, Description, TargetURL string
}

// pendingForRunning returns state, with running (which GitHub and Gitea do not have) as pending.
func pendingForRunning(state string) string {
	if state == "running" {
		return "pending"
	}
	return state
}

// Forge opens pull requests and sets commit statuses on a git hosting service.
type Forge interface {
	// Name is github, gitlab, gitea or none.
	Name() string
	// EnsurePullRequest opens a pull request from pr.Head into pr.Base, or, when one is open
	// already, updates its title and body. It returns the PR's web URL and whether it was created.
	EnsurePullRequest(ctx context.Context, pr PullRequest) (url string, created bool, err error)
	// SetStatus sets a commit status on sha.
	SetStatus(ctx context.Context, sha string, st Status) error
	// CommitStatuses returns the latest status of each context set on the commit sha (the
	// forge's combined status); a commit without statuses has none and no error. Promotion
	// reads ferry/<env> from it as evidence when the source is not synced in the cluster at hand.
	CommitStatuses(ctx context.Context, sha string) ([]Status, error)
}

// ErrNoForge is returned by NoForge.CommitStatuses: reading evidence needs a forge.
var ErrNoForge = errors.New("no forge: evidence needs --forge")

// NoForge only pushes: it opens nothing and tells how to open the pull request by hand.
type NoForge struct {
	// RepoURL is shown in the instructions.
	RepoURL string
}

// Name returns "none".
func (NoForge) Name() string { return "none" }

// EnsurePullRequest returns instructions instead of a URL; it never fails.
func (f NoForge) EnsurePullRequest(_ context.Context, pr PullRequest) (string, bool, error) {
	return fmt.Sprintf("branch %s pushed to %s: open a pull request into %s by hand", pr.Head, f.RepoURL, pr.Base), false, nil
}

// SetStatus does nothing without a forge.
func (NoForge) SetStatus(context.Context, string, Status) error { return nil }

// CommitStatuses returns ErrNoForge: without a forge there are no statuses to read.
func (NoForge) CommitStatuses(context.Context, string) ([]Status, error) { return nil, ErrNoForge }
