package repoview

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/ferry-cd/ferry/internal/redact"
)

// View is a repository at one revision.
type View struct {
	// FS is the repository's root, read-only.
	FS fs.FS
	// Revision is the commit's full SHA, or "" for a work tree.
	Revision string
	// Source describes where the view comes from, for messages (credentials removed).
	Source string
	// Message is the commit's message, or "" for a work tree.
	Message string

	repo    *git.Repository // nil for a folder that is not in a git repository
	cleanup func() error
}

// Close releases what Open made (a temporary clone, an opened root).
func (v *View) Close() error {
	if v.cleanup == nil {
		return nil
	}
	return v.cleanup()
}

// Open returns a view of repo: a local folder or a git URL. A URL is cloned with go-git into
// a temporary folder and viewed at revision (its default branch when revision is ""). A local
// folder shows its work tree as it is on disk when revision is "", and otherwise the commit
// revision resolves to (a branch, tag or SHA, as go-git resolves it). Errors name repo with
// any password removed.
func Open(ctx context.Context, repo, revision string) (*View, error) {
	if IsURL(repo) {
		return openRemote(ctx, repo, revision)
	}
	if revision == "" {
		return openWorkTree(repo)
	}
	r, err := git.PlainOpenWithOptions(repo, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, fmt.Errorf("%s: open git repository: %w", repo, err)
	}
	return viewCommit(r, repo, revision, nil)
}

func openWorkTree(dir string) (*View, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	v := &View{FS: root.FS(), Source: dir, cleanup: root.Close}
	if r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true}); err == nil {
		v.repo = r
	}
	return v, nil
}

func openRemote(ctx context.Context, rawURL, revision string) (*View, error) {
	shown := redact.URL(rawURL)
	dir, err := os.MkdirTemp("", "ferry-clone-")
	if err != nil {
		return nil, err
	}
	cleanup := func() error { return os.RemoveAll(dir) }
	r, err := git.PlainCloneContext(ctx, dir, true, &git.CloneOptions{URL: rawURL, Tags: git.AllTags})
	if err != nil {
		_ = cleanup()
		return nil, fmt.Errorf("%s: clone: %w", shown, redact.NewSet(redact.Credentials(rawURL)...).Error(err))
	}
	return viewCommit(r, shown, revision, cleanup)
}

// viewCommit resolves revision in r (HEAD when "") and views its tree.
func viewCommit(r *git.Repository, source, revision string, cleanup func() error) (*View, error) {
	fail := func(err error) (*View, error) {
		if cleanup != nil {
			_ = cleanup()
		}
		return nil, err
	}
	rev := revision
	if rev == "" {
		rev = "HEAD"
	}
	hash, err := resolve(r, rev)
	if err != nil {
		return fail(fmt.Errorf("%s: revision %q: %w", source, rev, err))
	}
	commit, err := r.CommitObject(*hash)
	if err != nil {
		return fail(fmt.Errorf("%s: revision %q: %w", source, rev, err))
	}
	tree, err := commit.Tree()
	if err != nil {
		return fail(fmt.Errorf("%s: commit %s: %w", source, hash, err))
	}
	return &View{FS: NewTreeFS(tree), Revision: hash.String(), Source: source, Message: commit.Message, repo: r, cleanup: cleanup}, nil
}

// resolve finds rev as given, then as a remote branch of origin, so that a branch name works
// in a bare clone too.
func resolve(r *git.Repository, rev string) (*plumbing.Hash, error) {
	hash, err := r.ResolveRevision(plumbing.Revision(rev))
	if err == nil {
		return hash, nil
	}
	if h, err2 := r.ResolveRevision(plumbing.Revision("refs/remotes/origin/" + rev)); err2 == nil {
		return h, nil
	}
	return nil, err
}

var scpLike = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:`)

// IsURL reports whether repo names a remote repository rather than a local folder.
func IsURL(repo string) bool {
	return strings.Contains(repo, "://") || scpLike.MatchString(repo)
}
