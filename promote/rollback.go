package promote

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// RollbackBranchFor returns the branch `ferry rollback` proposes from.
func RollbackBranchFor(env string) string { return "ferry/rollback-" + env }

// Rollback undoes a change to an environment in git, never in the cluster: with toRev empty it
// reverts the last commit that touched the environment's overlay folder (restoring the folder as
// it was before that commit); otherwise it restores the folder as it was at toRev. The commit goes
// to ferry/rollback-<env> with a pull request, or straight to the tracked branch with push. Only
// the overlay folder is restored: changes to shared bases are left alone.
func Rollback(ctx context.Context, repo *Repo, forge Forge, envName, toRev string, push bool) (*Result, error) {
	pipeline, err := repo.pipeline()
	if err != nil {
		return nil, err
	}
	env, ok := pipeline.Environment(envName)
	if !ok {
		return nil, fmt.Errorf("environment %q is not in ferry.yaml", envName)
	}
	target, subject, err := repo.rollbackTarget(env.Path, toRev)
	if err != nil {
		return nil, err
	}
	changed, err := repo.restoreDir(env.Path, target)
	if err != nil {
		return nil, err
	}
	res := &Result{Branch: repo.Branch}
	if !changed {
		res.NothingToDo = true
		return res, nil
	}
	msg := fmt.Sprintf("rollback(%s): %s", envName, subject)
	if res.Commit, err = repo.Commit(msg); err != nil {
		return nil, err
	}
	if push {
		return res, repo.Push(ctx, repo.Branch, false)
	}
	res.Branch = RollbackBranchFor(envName)
	if err := repo.Push(ctx, res.Branch, true); err != nil {
		return nil, err
	}
	res.Body = fmt.Sprintf("Restores `%s` (%s) %s.\n\nMerging it lets the agent sync %s back; ferry never changes the cluster to roll back, so the agent never fights this change.\n", env.Path, envName, subject, envName)
	res.URL, res.Created, err = forge.EnsurePullRequest(ctx, PullRequest{Head: res.Branch, Base: repo.Branch, Title: msg, Body: res.Body})
	return res, err
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
