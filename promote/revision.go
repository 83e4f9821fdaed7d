package promote

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ferry-cd/ferry/environments"
)

// PinChange is a move of an environment's pin: in ferry.yaml.
type PinChange struct {
	Env, Old, New string
}

// promoteRevision moves to's pin to the revision from has applied and is healthy at, on the
// branch ferry/promote-<to>, and opens or updates the pull request. It refuses a target
// without a pin, a source that is not healthy, a revision that is not on the tracked branch
// and one that is not a descendant of the current pin: errors name the revision.
func promoteRevision(ctx context.Context, repo *Repo, forge Forge, from, to *environments.Environment, opts Options) (*Result, error) {
	if to.Pin == "" {
		return nil, fmt.Errorf("%s: environment %s has promotion mode revision but no pin:; set pin: to the commit %s runs now", environments.FileName, to.Name, to.Name)
	}
	src, err := sourceEvidence(ctx, repo, forge, from.Name, opts)
	if err != nil {
		return nil, err
	}
	rev := src.Revision
	if err := repo.promotable(from.Name, to, src); err != nil {
		return nil, err
	}
	res := &Result{Branch: BranchFor(to.Name), Pin: &PinChange{Env: to.Name, Old: to.Pin, New: rev}}
	if rev == to.Pin {
		res.NothingToDo = true
		return res, nil
	}
	data, err := repo.ReadFile(environments.FileName)
	if err != nil {
		return nil, err
	}
	edited, err := SetPin(data, to.Name, rev)
	if err != nil {
		return nil, err
	}
	if err := repo.WriteFile(environments.FileName, edited); err != nil {
		return nil, err
	}
	title := fmt.Sprintf("promote(%s): revision %s → %s", to.Name, to.Pin[:7], rev[:7])
	if res.Commit, err = repo.Commit(title + "\n\n" + fmt.Sprintf("%s is %s at %s (evidence: %s).\n", from.Name, src.Health, rev[:7], src.From)); err != nil {
		return nil, err
	}
	if err := repo.Push(ctx, res.Branch, true); err != nil {
		return nil, err
	}
	if res.Body, err = revisionBody(ctx, repo, from.Name, to, src, to.Pin, rev); err != nil {
		return nil, err
	}
	res.URL, res.Created, err = forge.EnsurePullRequest(ctx, PullRequest{Head: res.Branch, Base: repo.Branch, Title: title, Body: res.Body})
	return res, err
}

// promotable returns an error naming the revision when to's pin may not move to src's: the
// source is not healthy there, the revision is not on the tracked branch, or it is not a
// descendant of the current pin (the move would drop commits to already promoted).
func (r *Repo) promotable(from string, to *environments.Environment, src *SourceHealth) error {
	rev := src.Revision
	if !fullSHA(rev) {
		return fmt.Errorf("source %s has applied no revision (%q) to promote (evidence: %s)", from, rev, src.From)
	}
	if src.Health != "Healthy" {
		return fmt.Errorf("source %s is %s at revision %s, not Healthy (evidence: %s): nothing promoted", from, src.Health, rev, src.From)
	}
	newC, err := r.r.CommitObject(plumbing.NewHash(rev))
	if err != nil {
		return fmt.Errorf("revision %s (applied by %s) is not on branch %s of %s: nothing promoted", rev, from, r.Branch, r.URL)
	}
	if rev == to.Pin {
		return nil
	}
	oldC, err := r.r.CommitObject(plumbing.NewHash(to.Pin))
	if err != nil {
		return fmt.Errorf("%s: pin %s of %s is not on branch %s of %s: fix the pin first", to.PinPosition, to.Pin, to.Name, r.Branch, r.URL)
	}
	ok, err := oldC.IsAncestor(newC)
	if err != nil {
		return r.fail("history of "+rev[:7], err)
	}
	if !ok {
		return fmt.Errorf("revision %s (applied by %s) is not a descendant of %s's pin %s: promoting it would drop commits %s already runs; nothing promoted", rev, from, to.Name, to.Pin, to.Name)
	}
	return nil
}

func fullSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// maxListedCommits bounds the commits a promotion body lists, and maxMarkedCommits those whose
// render is compared with their parent's (a render each).
const (
	maxListedCommits = 100
	maxMarkedCommits = 30
)

// promotedCommits returns the commits reachable from newRev but not from oldRev, newest first
// (at most maxListedCommits), and whether the list was cut.
func (r *Repo) promotedCommits(oldRev, newRev string) ([]*object.Commit, bool, error) {
	oldC, err := r.r.CommitObject(plumbing.NewHash(oldRev))
	if err != nil {
		return nil, false, r.fail("commit "+oldRev[:7], err)
	}
	seen := map[plumbing.Hash]bool{}
	if err := object.NewCommitPreorderIter(oldC, nil, nil).ForEach(func(c *object.Commit) error {
		seen[c.Hash] = true
		return nil
	}); err != nil {
		return nil, false, r.fail("history of "+oldRev[:7], err)
	}
	newC, err := r.r.CommitObject(plumbing.NewHash(newRev))
	if err != nil {
		return nil, false, r.fail("commit "+newRev[:7], err)
	}
	var out []*object.Commit
	cut := false
	err = object.NewCommitIterCTime(newC, seen, nil).ForEach(func(c *object.Commit) error {
		if len(out) == maxListedCommits {
			cut = true
			return errStop
		}
		out = append(out, c)
		return nil
	})
	if err != nil && err != errStop {
		return nil, false, r.fail("history of "+newRev[:7], err)
	}
	return out, cut, nil
}

var errStop = fmt.Errorf("stop")

// subject is a commit message's first line.
func subject(c *object.Commit) string {
	return strings.TrimSpace(strings.SplitN(c.Message, "\n", 2)[0])
}
