package promote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/ferry-cd/ferry/internal/redact"
	"github.com/ferry-cd/ferry/internal/repoview"
)

// Repo is an in-memory clone of the config repository's tracked branch, for one edit: files are
// changed in memory, committed and pushed with go-git. The user's own work tree is never touched.
type Repo struct {
	URL     string // remote URL, without credentials
	Branch  string // the tracked branch the edit starts from
	auth    transport.AuthMethod
	secrets *redact.Set // the password and the URL's credentials, kept out of error text
	r       *git.Repository
	wt      *git.Worktree
	base    plumbing.Hash
}

// ErrBranchMoved is wrapped when a push to the tracked branch is refused because the branch
// moved on the remote since the clone: another push landed first.
var ErrBranchMoved = errors.New("the branch moved on the remote")

// Author signs ferry's commits.
var Author = object.Signature{Name: "ferry", Email: "ferry@ferry.dev"}

// Clone clones branch of url into memory with HTTPS credentials (user may be empty for a
// token). Errors name the URL without credentials.
func Clone(ctx context.Context, url, branch, user, password string) (*Repo, error) {
	var auth transport.AuthMethod
	if password != "" {
		if user == "" {
			user = "ferry"
		}
		auth = &githttp.BasicAuth{Username: user, Password: password}
	}
	r, err := git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{
		URL: url, Auth: auth, ReferenceName: plumbing.NewBranchReferenceName(branch), SingleBranch: true,
	})
	repo := &Repo{URL: redact.URL(url), Branch: branch, auth: auth, secrets: redact.NewSet(password)}
	repo.secrets.Add(redact.Credentials(url)...)
	if err != nil {
		return nil, repo.fail("clone", err)
	}
	wt, err := r.Worktree()
	if err != nil {
		return nil, repo.fail("worktree", err)
	}
	head, err := r.Head()
	if err != nil {
		return nil, repo.fail("head", err)
	}
	repo.r, repo.wt, repo.base = r, wt, head.Hash()
	return repo, nil
}

// fail wraps an error with the URL; an error whose text holds a credential is flattened
// (internal/redact's rule).
func (r *Repo) fail(op string, err error) error {
	return fmt.Errorf("%s (branch %s): %s: %w", r.URL, r.Branch, op, r.secrets.Error(err))
}

// Base returns the commit the edit starts from.
func (r *Repo) Base() string { return r.base.String() }

// ReadFile reads a file of the work tree.
func (r *Repo) ReadFile(path string) ([]byte, error) {
	f, err := r.wt.Filesystem.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	return io.ReadAll(f)
}

// WriteFile replaces a file of the work tree and stages it.
func (r *Repo) WriteFile(path string, data []byte) error {
	f, err := r.wt.Filesystem.Create(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	_, err = r.wt.Add(path)
	return err
}

// Commit records the staged changes and returns the new commit's SHA.
func (r *Repo) Commit(message string) (string, error) {
	sig := Author
	sig.When = time.Now()
	h, err := r.wt.Commit(message, &git.CommitOptions{Author: &sig, Committer: &sig})
	if err != nil {
		return "", r.fail("commit", err)
	}
	return h.String(), nil
}

// Push pushes HEAD to branch on the remote; force replaces what the branch held (ferry's own
// promotion branches), otherwise the push must fast-forward.
func (r *Repo) Push(ctx context.Context, branch string, force bool) error {
	head, err := r.r.Head()
	if err != nil {
		return r.fail("head", err)
	}
	spec := config.RefSpec(fmt.Sprintf("%s:refs/heads/%s", head.Name(), branch))
	if force {
		spec = "+" + spec
	}
	err = r.r.PushContext(ctx, &git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Auth: r.auth})
	switch {
	case err == nil || errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case !force && branchMoved(err):
		return fmt.Errorf("%s (branch %s): push %s: %w (%s)", r.URL, r.Branch, branch, ErrBranchMoved, r.secrets.String(err.Error()))
	default:
		return r.fail("push "+branch, err)
	}
}

// branchMoved tells a push refused because the remote branch is not where the clone saw it:
// go-git's own check before pushing, or the server's refusal (git's receive-pack says "failed
// to update ref" when the branch moved while the push was on its way; other servers say
// "non-fast-forward", "fetch first" or "stale info").
func branchMoved(err error) bool {
	if errors.Is(err, git.ErrNonFastForwardUpdate) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"failed to update ref", "non-fast-forward", "fetch first", "stale info", "cannot lock ref"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// pushEdit runs edit, which stages and commits one change to the clone (or reports nothing to
// do), and pushes the commit to the tracked branch. When the push is refused because the
// branch moved, it resets the clone to the branch's new head and runs edit once more: an edit
// states a result (a pin, a folder's content), not a difference, so it is safe to apply again
// on top of what landed meanwhile. A second refusal returns an error wrapping ErrBranchMoved
// that says nothing was pushed.
func (r *Repo) pushEdit(ctx context.Context, edit func() (*Result, error)) (*Result, error) {
	for retried := false; ; retried = true {
		res, err := edit()
		if err != nil || res.NothingToDo {
			return res, err
		}
		err = r.Push(ctx, r.Branch, false)
		if !errors.Is(err, ErrBranchMoved) {
			return res, err
		}
		if retried {
			return nil, fmt.Errorf("%w; ferry fetched %s again, re-applied the edit, and the branch moved again: nothing was pushed, run the command again", err, r.Branch)
		}
		if err := r.reset(ctx); err != nil {
			return nil, err
		}
	}
}

// reset moves the clone to the tracked branch's head on the remote, dropping local commits
// and staged changes, and makes that head the edit's new base.
func (r *Repo) reset(ctx context.Context) error {
	spec := config.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/remotes/origin/%s", r.Branch, r.Branch))
	err := r.r.FetchContext(ctx, &git.FetchOptions{RefSpecs: []config.RefSpec{spec}, Auth: r.auth})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return r.fail("fetch "+r.Branch, err)
	}
	ref, err := r.r.Reference(plumbing.NewRemoteReferenceName("origin", r.Branch), true)
	if err != nil {
		return r.fail("branch "+r.Branch, err)
	}
	if err := r.wt.Reset(&git.ResetOptions{Commit: ref.Hash(), Mode: git.HardReset}); err != nil {
		return r.fail("reset to "+ref.Hash().String()[:7], err)
	}
	r.base = ref.Hash()
	return nil
}

// TreeAt returns a read-only view of a commit's tree, for rendering.
func (r *Repo) TreeAt(sha string) (fs.FS, error) {
	c, err := r.r.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		return nil, r.fail("commit "+sha, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, r.fail("tree "+sha, err)
	}
	return repoview.NewTreeFS(tree), nil
}

// Log returns the commits reachable from the work tree's HEAD that touched path, newest first
// (at most limit).
func (r *Repo) Log(path string, limit int) ([]*object.Commit, error) {
	head, err := r.r.Head()
	if err != nil {
		return nil, r.fail("head", err)
	}
	iter, err := r.r.Log(&git.LogOptions{From: head.Hash(), PathFilter: func(p string) bool { return hasPrefixPath(p, path) }})
	if err != nil {
		return nil, r.fail("log", err)
	}
	defer iter.Close()
	var out []*object.Commit
	for len(out) < limit {
		c, err := iter.Next()
		if err != nil {
			break
		}
		out = append(out, c)
	}
	return out, nil
}

// checkout switches the in-memory work tree to a remote branch (fetched first).
func (r *Repo) checkout(ctx context.Context, branch string) error {
	spec := config.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/remotes/origin/%s", branch, branch))
	err := r.r.FetchContext(ctx, &git.FetchOptions{RefSpecs: []config.RefSpec{spec}, Auth: r.auth})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return r.fail("fetch "+branch, err)
	}
	ref, err := r.r.Reference(plumbing.NewRemoteReferenceName("origin", branch), true)
	if err != nil {
		return r.fail("branch "+branch, err)
	}
	if err := r.wt.Checkout(&git.CheckoutOptions{Hash: ref.Hash(), Force: true}); err != nil {
		return r.fail("checkout "+branch, err)
	}
	return nil
}
