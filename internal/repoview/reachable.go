package repoview

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
)

// ErrNoHistory is returned by Reachable when the view has no git history to look in: a folder
// outside any git repository.
var ErrNoHistory = errors.New("not a git repository")

// Reachable returns nil when the commit sha is the viewed commit (HEAD for a work tree) or one
// of its ancestors. It returns an error naming sha when the repository has no such commit, or
// when the commit is not in the viewed history (it is on another branch), and one wrapping
// ErrNoHistory when there is no repository to look in.
func (v *View) Reachable(sha string) error {
	if v.repo == nil {
		return fmt.Errorf("%s: %w", v.Source, ErrNoHistory)
	}
	at := v.Revision
	if at == "" {
		head, err := v.repo.Head()
		if err != nil {
			return fmt.Errorf("%s: HEAD: %w", v.Source, err)
		}
		at = head.Hash().String()
	}
	tip, err := v.repo.CommitObject(plumbing.NewHash(at))
	if err != nil {
		return fmt.Errorf("%s: commit %s: %w", v.Source, at, err)
	}
	c, err := v.repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		return fmt.Errorf("commit %s is not in %s: %w", sha, v.Source, err)
	}
	if c.Hash == tip.Hash {
		return nil
	}
	ok, err := c.IsAncestor(tip)
	if err != nil {
		return fmt.Errorf("%s: history of %s: %w", v.Source, at[:12], err)
	}
	if !ok {
		return fmt.Errorf("commit %s is in %s but not in the history of %s (another branch?)", sha, v.Source, at[:12])
	}
	return nil
}
