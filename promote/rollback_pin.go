package promote

import (
	"context"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ferry-cd/ferry/environments"
)

// maxPinHistory bounds how many commits of the branch rollbackPin walks back to find the pin
// before the last promotion.
const maxPinHistory = 1000

// rollbackPin moves env's pin back: to toRev when given, else to the pin it had before its
// last change in ferry.yaml's history (the previous promotion). The commit goes to
// ferry/rollback-<env> with a pull request, or straight to the tracked branch with push.
func rollbackPin(ctx context.Context, repo *Repo, forge Forge, env *environments.Environment, toRev string, push bool) (*Result, error) {
	if env.Pin == "" {
		return nil, fmt.Errorf("%s: environment %s has promotion mode revision but no pin: to move back", environments.FileName, env.Name)
	}
	target, why, err := repo.previousPin(env, toRev)
	if err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("rollback(%s): pin %s → %s", env.Name, env.Pin[:7], target[:7])
	edit := func() (*Result, error) {
		return repo.setPinAndCommit(env.Name, target, msg)
	}
	if push {
		return repo.pushEdit(ctx, edit)
	}
	res, err := edit()
	if err != nil || res.NothingToDo {
		return res, err
	}
	res.Branch = RollbackBranchFor(env.Name)
	if err := repo.Push(ctx, res.Branch, true); err != nil {
		return nil, err
	}
	res.Body = fmt.Sprintf("Moves `%s`'s `pin:` in `%s` back from `%s` to `%s` (%s).\n\nMerging it lets the agent roll %s back through its rollout stages; ferry never changes the cluster to roll back, so the agent never fights this change.\n",
		env.Name, environments.FileName, env.Pin[:7], target[:7], why, env.Name)
	res.URL, res.Created, err = forge.EnsurePullRequest(ctx, PullRequest{Head: res.Branch, Base: repo.Branch, Title: msg, Body: res.Body})
	return res, err
}

// setPinAndCommit sets env's pin to sha in ferry.yaml at the clone's base and commits it.
func (r *Repo) setPinAndCommit(env, sha, msg string) (*Result, error) {
	data, err := r.ReadFile(environments.FileName)
	if err != nil {
		return nil, err
	}
	old, err := ReadPin(data, env)
	if err != nil {
		return nil, err
	}
	res := &Result{Branch: r.Branch, Pin: &PinChange{Env: env, Old: old, New: sha}}
	if old == sha {
		res.NothingToDo = true
		return res, nil
	}
	edited, err := SetPin(data, env, sha)
	if err != nil {
		return nil, err
	}
	if err := r.WriteFile(environments.FileName, edited); err != nil {
		return nil, err
	}
	if res.Commit, err = r.Commit(msg); err != nil {
		return nil, err
	}
	return res, nil
}

// previousPin returns the pin to go back to and why: toRev resolved (it must be on the
// tracked branch), or the pin env had just before the newest commit of the branch's first
// parent history that changed it.
func (r *Repo) previousPin(env *environments.Environment, toRev string) (string, string, error) {
	if toRev != "" {
		h, err := r.r.ResolveRevision(plumbing.Revision(toRev))
		if err != nil {
			return "", "", fmt.Errorf("revision %s is not on branch %s of %s: %w", toRev, r.Branch, r.URL, err)
		}
		return h.String(), "as asked with --to " + toRev, nil
	}
	c, err := r.r.CommitObject(r.base)
	if err != nil {
		return "", "", r.fail("head", err)
	}
	for range maxPinHistory {
		if c.NumParents() == 0 {
			break
		}
		parent, err := c.Parent(0)
		if err != nil {
			return "", "", r.fail("parent of "+c.Hash.String()[:7], err)
		}
		was, err := pinAt(parent, env.Name)
		if err != nil {
			return "", "", r.fail("ferry.yaml at "+parent.Hash.String()[:7], err)
		}
		if was != env.Pin {
			if !fullSHA(was) {
				return "", "", fmt.Errorf("%s: %s had no pin before %s (%q): nothing to go back to; use --to REV", r.URL, env.Name, c.Hash.String()[:7], was)
			}
			return was, fmt.Sprintf("the pin before %s %q", c.Hash.String()[:7], subject(c)), nil
		}
		c = parent
	}
	return "", "", fmt.Errorf("%s: no earlier pin of %s in the last %d commits of %s; use --to REV", r.URL, env.Name, maxPinHistory, r.Branch)
}

// pinAt reads env's pin from ferry.yaml at commit c ("" when the file or the pin is missing).
func pinAt(c *object.Commit, env string) (string, error) {
	f, err := c.File(environments.FileName)
	if err == object.ErrFileNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	rd, err := f.Reader()
	if err != nil {
		return "", err
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		return "", err
	}
	pin, err := ReadPin(data, env)
	if err != nil {
		return "", nil // an environment absent then, or a file that did not parse: no pin
	}
	return pin, nil
}
