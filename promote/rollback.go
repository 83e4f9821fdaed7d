package promote

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ferry-cd/ferry/environments"
)

// RollbackBranchFor returns the branch `ferry rollback` proposes from.
func RollbackBranchFor(env string) string { return "ferry/rollback-" + env }

// Rollback undoes a change to an environment in git, never in the cluster: with toRev empty it
// reverts the last commit that touched the environment's overlay folder (restoring the folder as
// it was before that commit); otherwise it restores the folder as it was at toRev. The commit goes
// to ferry/rollback-<env> with a pull request, or straight to the tracked branch with push. Only
// the overlay folder is restored: changes to shared bases are left alone. When another push
// lands on the tracked branch first, the folder is restored again on the new head and pushed
// once more, unless the new commits changed that folder: then it fails, wrapping
// ErrBranchMoved, for the user to look again. An environment promoted by revision is rolled
// back by moving its pin: instead (see rollbackPin).
func Rollback(ctx context.Context, repo *Repo, forge Forge, envName, toRev string, push bool) (*Result, error) {
	pipeline, err := repo.pipeline()
	if err != nil {
		return nil, err
	}
	env, ok := pipeline.Environment(envName)
	if !ok {
		return nil, fmt.Errorf("environment %q is not in ferry.yaml", envName)
	}
	if env.Promotion != nil && env.Promotion.Mode == environments.PromotionRevision {
		return rollbackPin(ctx, repo, forge, env, toRev, push)
	}
	target, subject, err := repo.rollbackTarget(env.Path, toRev)
	if err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("rollback(%s): %s", envName, subject)
	seen := repo.base
	restore := func() (*Result, error) {
		if err := repo.unchangedSince(seen, env.Path); err != nil {
			return nil, err
		}
		return repo.restoreAndCommit(env.Path, target, msg)
	}
	if push {
		return repo.pushEdit(ctx, restore)
	}
	res, err := restore()
	if err != nil || res.NothingToDo {
		return res, err
	}
	res.Branch = RollbackBranchFor(envName)
	if err := repo.Push(ctx, res.Branch, true); err != nil {
		return nil, err
	}
	res.Body = fmt.Sprintf("Restores `%s` (%s) %s.\n\nMerging it lets the agent sync %s back; ferry never changes the cluster to roll back, so the agent never fights this change.\n", env.Path, envName, subject, envName)
	res.URL, res.Created, err = forge.EnsurePullRequest(ctx, PullRequest{Head: res.Branch, Base: repo.Branch, Title: msg, Body: res.Body})
	return res, err
}

// restoreAndCommit restores dir as it is in target and commits it with msg.
func (r *Repo) restoreAndCommit(dir string, target *object.Commit, msg string) (*Result, error) {
	changed, err := r.restoreDir(dir, target)
	if err != nil {
		return nil, err
	}
	res := &Result{Branch: r.Branch}
	if !changed {
		res.NothingToDo = true
		return res, nil
	}
	if res.Commit, err = r.Commit(msg); err != nil {
		return nil, err
	}
	return res, nil
}

// unchangedSince returns an error wrapping ErrBranchMoved when dir differs between commit
// seen and the clone's base: a rollback chosen on seen's history would then undo commits the
// user has not seen.
func (r *Repo) unchangedSince(seen plumbing.Hash, dir string) error {
	if seen == r.base {
		return nil
	}
	before, err := r.r.CommitObject(seen)
	if err != nil {
		return r.fail("commit "+seen.String()[:7], err)
	}
	now, err := r.r.CommitObject(r.base)
	if err != nil {
		return r.fail("head", err)
	}
	a, err := filesUnder(before, dir)
	if err != nil {
		return r.fail("read "+dir, err)
	}
	b, err := filesUnder(now, dir)
	if err != nil {
		return r.fail("read "+dir, err)
	}
	if !maps.Equal(a, b) {
		return fmt.Errorf("%s (branch %s): %w, and its new commits (%s..%s) change %s: nothing was pushed; look at them and run the rollback again",
			r.URL, r.Branch, ErrBranchMoved, seen.String()[:7], r.base.String()[:7], dir)
	}
	return nil
}

// rollbackTarget returns the commit whose state of dir to restore, and how to describe it.
func (r *Repo) rollbackTarget(dir, toRev string) (*object.Commit, string, error) {
	if toRev != "" {
		h, err := r.r.ResolveRevision(plumbing.Revision(toRev))
		if err != nil {
			return nil, "", r.fail("revision "+toRev, err)
		}
		c, err := r.r.CommitObject(*h)
		if err != nil {
			return nil, "", r.fail("revision "+toRev, err)
		}
		return c, fmt.Sprintf("restore %s to %s", dir, c.Hash.String()[:7]), nil
	}
	commits, err := r.Log(dir, 1)
	if err != nil {
		return nil, "", err
	}
	if len(commits) == 0 || commits[0].NumParents() == 0 {
		return nil, "", fmt.Errorf("%s: no earlier commit of %s to go back to", r.URL, dir)
	}
	last := commits[0]
	parent, err := last.Parent(0)
	if err != nil {
		return nil, "", r.fail("parent of "+last.Hash.String()[:7], err)
	}
	subject := strings.SplitN(last.Message, "\n", 2)[0]
	return parent, fmt.Sprintf("revert %s %q", last.Hash.String()[:7], subject), nil
}

// restoreDir makes dir in the work tree equal to dir in commit c and stages it. It reports
// whether anything changed.
func (r *Repo) restoreDir(dir string, c *object.Commit) (bool, error) {
	want, err := filesUnder(c, dir)
	if err != nil {
		return false, r.fail("read "+dir, err)
	}
	head, err := r.r.CommitObject(r.base)
	if err != nil {
		return false, r.fail("head", err)
	}
	have, err := filesUnder(head, dir)
	if err != nil {
		return false, r.fail("read "+dir, err)
	}
	changed := false
	for p := range have {
		if _, keep := want[p]; !keep {
			if _, err := r.wt.Remove(p); err != nil {
				return false, r.fail("remove "+p, err)
			}
			changed = true
		}
	}
	for p, content := range want {
		if have[p] == content {
			continue
		}
		if err := r.WriteFile(p, []byte(content)); err != nil {
			return false, err
		}
		changed = true
	}
	return changed, nil
}

// filesUnder returns the contents of the files below dir in commit c, by path.
func filesUnder(c *object.Commit, dir string) (map[string]string, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	err = tree.Files().ForEach(func(f *object.File) error {
		if !hasPrefixPath(f.Name, path.Clean(dir)) {
			return nil
		}
		rd, err := f.Reader()
		if err != nil {
			return err
		}
		defer rd.Close()
		data, err := io.ReadAll(rd)
		out[f.Name] = string(data)
		return err
	})
	return out, err
}
