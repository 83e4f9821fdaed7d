// Package giteatest runs a real Gitea server (internal/localgitea) for tests: its methods fail
// the test on error, and the server stops when the test ends, keeping its logs when the test
// failed. It is test infrastructure: only tests import it.
package giteatest

import (
	"testing"

	"github.com/ferry-cd/ferry/internal/localgitea"
)

// Names shared with localgitea, so that tests need only this package.
const (
	AdminUser = localgitea.AdminUser
	Branch    = localgitea.Branch
	Version   = localgitea.Version
)

// Signature is the author and committer of the commits CreateRepo writes.
var Signature = localgitea.Signature

// Gitea is a running Gitea server on 127.0.0.1.
type Gitea struct {
	*localgitea.Server
}

// Start runs a fresh Gitea for the test, with requests bound to the test's context, and stops
// it in t.Cleanup. It fails the test when the binary is not built or the server does not start.
func Start(t testing.TB) *Gitea {
	t.Helper()
	s, err := localgitea.Start(t.Context(), t.Logf)
	if err != nil {
		t.Fatalf("giteatest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("giteatest: Gitea logs: %s", s.KeepLogs())
		}
		if err := s.Stop(); err != nil {
			t.Errorf("giteatest: %v", err)
		}
	})
	return &Gitea{s}
}

// CreateRepo creates the public repository AdminUser/name holding files in one commit on main
// and returns its HTTP clone URL without credentials.
func (g *Gitea) CreateRepo(t testing.TB, name string, files map[string]string) (cloneURL string) {
	t.Helper()
	url, err := g.Server.CreateRepo(t.Context(), name, files)
	if err != nil {
		t.Fatalf("giteatest: %v", err)
	}
	return url
}

// MergePullRequest merges pull request index of AdminUser/repo with a merge commit and returns
// the merge commit's SHA.
func (g *Gitea) MergePullRequest(t testing.TB, repo string, index int64) string {
	t.Helper()
	sha, err := g.Server.MergePullRequest(t.Context(), repo, index)
	if err != nil {
		t.Fatalf("giteatest: %v", err)
	}
	return sha
}
