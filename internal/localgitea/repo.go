package localgitea

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"slices"
	"time"

	"code.gitea.io/sdk/gitea"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Branch is the default branch of every repository CreateRepo makes.
const Branch = "main"

// pushTimeout bounds one push over HTTP.
const pushTimeout = 60 * time.Second

// epoch is the author time of initial commits, so that the same files give the same SHA.
var epoch = time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)

// Signature is the author and committer of the commits CreateRepo writes.
func Signature() *object.Signature {
	return &object.Signature{Name: "ferry", Email: AdminUser + "@example.com", When: epoch}
}

// Auth returns basic auth with the administrator's credentials for go-git.
func (g *Server) Auth() *githttp.BasicAuth {
	return &githttp.BasicAuth{Username: g.AdminUser, Password: g.AdminPassword}
}

// CreateRepo creates the public repository AdminUser/name with default branch main, pushes one
// commit holding files (path → content, folders made as needed) to it with go-git over HTTP,
// and returns the HTTP clone URL without credentials.
func (g *Server) CreateRepo(ctx context.Context, name string, files map[string]string) (cloneURL string, err error) {
	repo, _, err := g.Client.CreateRepo(gitea.CreateRepoOption{Name: name, DefaultBranch: Branch})
	if err != nil {
		return "", fmt.Errorf("create repository %s: %w", name, err)
	}
	r, err := initialCommit(files)
	if err != nil {
		return "", err
	}
	if _, err := r.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{repo.CloneURL}}); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	err = r.PushContext(ctx, &git.PushOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{config.RefSpec("refs/heads/" + Branch + ":refs/heads/" + Branch)},
		Auth:       g.Auth(),
	})
	if err != nil {
		return "", fmt.Errorf("push %s to %s: %w", Branch, repo.CloneURL, err)
	}
	return repo.CloneURL, nil
}

// initialCommit returns an in-memory repository whose branch main holds one commit of files.
func initialCommit(files map[string]string) (*git.Repository, error) {
	r, err := git.Init(memory.NewStorage(), memfs.New())
	if err != nil {
		return nil, err
	}
	if err := r.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(Branch))); err != nil {
		return nil, err
	}
	wt, err := r.Worktree()
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		if err := writeFile(wt, p, files[p]); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	sig := Signature()
	if _, err := wt.Commit("initial commit", &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true}); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return r, nil
}

// writeFile writes content to p in the worktree and stages it.
func writeFile(wt *git.Worktree, p, content string) error {
	if err := wt.Filesystem.MkdirAll(path.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := wt.Filesystem.Create(p)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(content))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	_, err = wt.Add(p)
	return err
}

// mergeTimeout bounds MergePullRequest's wait for Gitea's mergeability check.
const mergeTimeout = 60 * time.Second

// MergePullRequest merges pull request index of AdminUser/repo with a merge commit and returns
// the merge commit's SHA. Gitea checks a pull request's mergeability in the background after it
// is opened and after its branches move, and refuses to merge until the check is done (405,
// which the SDK's MergePullRequest returns as merged=false with a nil error), so this retries
// on 405 for up to a minute.
func (g *Server) MergePullRequest(ctx context.Context, repo string, index int64) (string, error) {
	deadline := time.Now().Add(mergeTimeout)
	for {
		merged, resp, err := g.Client.MergePullRequest(g.AdminUser, repo, index, gitea.MergePullRequestOption{Style: gitea.MergeStyleMerge})
		if err == nil && merged {
			break
		}
		status := 0
		if resp != nil && resp.Response != nil {
			status = resp.StatusCode
		}
		if err != nil || status != http.StatusMethodNotAllowed {
			return "", fmt.Errorf("merge %s#%d: status %d, %v", repo, index, status, err)
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("merge %s#%d: still refused (405) after %s", repo, index, mergeTimeout)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	pr, _, err := g.Client.GetPullRequest(g.AdminUser, repo, index)
	if err != nil {
		return "", fmt.Errorf("%s#%d: %w", repo, index, err)
	}
	if !pr.HasMerged || pr.MergedCommitID == nil {
		return "", fmt.Errorf("%s#%d is not merged after a successful merge", repo, index)
	}
	return *pr.MergedCommitID, nil
}
