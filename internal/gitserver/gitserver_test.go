package gitserver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/google/go-cmp/cmp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/ferry-cd/ferry/internal/gitserver"
)

// These tests talk to the server with go-git as the product code does.

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// clone clones url's main into memory and returns the repository.
func clone(t *testing.T, url string, auth transport.AuthMethod) *git.Repository {
	t.Helper()
	r, err := git.CloneContext(testContext(t), memory.NewStorage(), memfs.New(), &git.CloneOptions{
		URL: url, Auth: auth, ReferenceName: plumbing.NewBranchReferenceName(gitserver.Branch),
	})
	if err != nil {
		t.Fatalf("clone %s: %v", url, err)
	}
	return r
}

// files returns the files of the commit main points at.
func files(t *testing.T, r *git.Repository) map[string]string {
	t.Helper()
	head, err := r.Head()
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	iter, err := c.Files()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	err = iter.ForEach(func(f *object.File) error {
		s, err := f.Contents()
		out[f.Name] = s
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lsRemote returns the SHA main has on the server.
func lsRemote(t *testing.T, url string, auth transport.AuthMethod) (string, error) {
	t.Helper()
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	refs, err := rem.ListContext(testContext(t), &git.ListOptions{Auth: auth})
	if err != nil {
		return "", err
	}
	for _, ref := range refs {
		if ref.Name() == plumbing.NewBranchReferenceName(gitserver.Branch) {
			return ref.Hash().String(), nil
		}
	}
	return "", errors.New("no main")
}

func TestCommitsAreServed(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config", map[string]string{
		"ferry.yaml":                  "kind: Pipeline\n",
		"environments/staging/k.yaml": "staging\n",
		"environments/prod/k.yaml":    "prod\n",
	})
	if want := srv.URL + "/config.git"; url != want {
		t.Errorf("NewRepo = %q, want %q", url, want)
	}
	first := files(t, clone(t, url, nil))
	if diff := cmp.Diff(map[string]string{
		"ferry.yaml": "kind: Pipeline\n", "environments/staging/k.yaml": "staging\n", "environments/prod/k.yaml": "prod\n",
	}, first); diff != "" {
		t.Errorf("first commit (-want +got):\n%s", diff)
	}

	sha := srv.Commit(t, "config", "promote", map[string]string{"environments/prod/k.yaml": "prod 2\n"}, "environments/staging/k.yaml")
	if got, err := lsRemote(t, url, nil); err != nil || got != sha {
		t.Fatalf("ls-remote main = %s, %v; want %s", got, err, sha)
	}
	if got := srv.Head(t, "config"); got != sha {
		t.Errorf("Head = %s, want %s", got, sha)
	}
	second := clone(t, url, nil)
	if diff := cmp.Diff(map[string]string{"ferry.yaml": "kind: Pipeline\n", "environments/prod/k.yaml": "prod 2\n"}, files(t, second)); diff != "" {
		t.Errorf("second commit (-want +got):\n%s", diff)
	}
	c, err := second.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		t.Fatal(err)
	}
	if c.Message != "promote\n" || c.NumParents() != 1 {
		t.Errorf("commit = %q with %d parents, want \"promote\\n\" with 1", c.Message, c.NumParents())
	}
}

func TestCommitSHAsAreStable(t *testing.T) {
	files := map[string]string{"a.txt": "a\n"}
	a := gitserver.Start(t, gitserver.Options{})
	b := gitserver.Start(t, gitserver.Options{})
	a.NewRepo(t, "r", files)
	b.NewRepo(t, "r", files)
	shaA := a.Commit(t, "r", "second", map[string]string{"b.txt": "b\n"})
	shaB := b.Commit(t, "r", "second", map[string]string{"b.txt": "b\n"})
	if shaA != shaB {
		t.Errorf("same commits on two servers: %s and %s, want equal SHAs", shaA, shaB)
	}
}

func TestForcePushReplacesHistory(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "r", map[string]string{"a.txt": "a\n"})
	srv.Commit(t, "r", "second", map[string]string{"b.txt": "b\n"})
	sha := srv.ForcePush(t, "r", map[string]string{"c.txt": "c\n"})

	r := clone(t, url, nil)
	if diff := cmp.Diff(map[string]string{"c.txt": "c\n"}, files(t, r)); diff != "" {
		t.Errorf("after force push (-want +got):\n%s", diff)
	}
	c, err := r.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		t.Fatal(err)
	}
	if c.NumParents() != 0 {
		t.Errorf("force-pushed commit has %d parents, want a root commit", c.NumParents())
	}
}

func TestEmptyRepo(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewEmptyRepo(t, "empty")
	if _, err := lsRemote(t, url, nil); !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		t.Errorf("ls-remote of an empty repo: %v, want %v", err, transport.ErrEmptyRemoteRepository)
	}
}

func TestPushOverHTTP(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "r", map[string]string{"a.txt": "a\n"})
	r := clone(t, url, nil)
	sha := commitInClone(t, r, "b.txt", "b\n")
	if err := r.PushContext(testContext(t), &git.PushOptions{}); err != nil {
		t.Fatalf("push: %v", err)
	}
	if got, err := lsRemote(t, url, nil); err != nil || got != sha {
		t.Fatalf("ls-remote main after push = %s, %v; want %s", got, err, sha)
	}
	// The helpers build on what was pushed.
	srv.Commit(t, "r", "third", map[string]string{"c.txt": "c\n"})
	if diff := cmp.Diff(map[string]string{"a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n"}, files(t, clone(t, url, nil))); diff != "" {
		t.Errorf("after push and commit (-want +got):\n%s", diff)
	}
}

func commitInClone(t *testing.T, r *git.Repository, name, content string) string {
	t.Helper()
	wt, err := r.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	f, err := wt.Filesystem.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add(name); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "pusher", Email: "p@ferry.dev", When: time.Unix(1700000000, 0)}
	hash, err := wt.Commit("pushed", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	return hash.String()
}

func TestBasicAuth(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: "s3cret-token"})
	url := srv.NewRepo(t, "r", map[string]string{"a.txt": "a\n"})
	if _, err := lsRemote(t, url, nil); !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("ls-remote without credentials: %v, want %v", err, transport.ErrAuthenticationRequired)
	}
	if _, err := lsRemote(t, url, &githttp.BasicAuth{Username: "ci", Password: "wrong"}); !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Errorf("ls-remote with a wrong password: %v, want %v", err, transport.ErrAuthenticationRequired)
	}
	if _, err := lsRemote(t, url, &githttp.BasicAuth{Username: "ci", Password: "s3cret-token"}); err != nil {
		t.Errorf("ls-remote with credentials: %v", err)
	}
	if want := "http://ci:s3cret-token@" + srv.URL[len("http://"):] + "/r.git"; srv.AuthURL("r") != want {
		t.Errorf("AuthURL = %q, want %q", srv.AuthURL("r"), want)
	}
	if _, err := lsRemote(t, srv.AuthURL("r"), nil); err != nil {
		t.Errorf("ls-remote of AuthURL: %v", err)
	}
}

func TestSSH(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	srv.NewRepo(t, "r", map[string]string{"a.txt": "a\n"})
	ssh := srv.StartSSH(t)
	auth, err := gitssh.NewPublicKeys("git", ssh.ClientKey, "")
	if err != nil {
		t.Fatal(err)
	}
	auth.HostKeyCallback, err = knownHostsCallback(t, ssh.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	r := clone(t, ssh.RepoURL("r"), auth)
	if diff := cmp.Diff(map[string]string{"a.txt": "a\n"}, files(t, r)); diff != "" {
		t.Errorf("clone over SSH (-want +got):\n%s", diff)
	}
	sha := commitInClone(t, r, "b.txt", "b\n")
	if err := r.PushContext(testContext(t), &git.PushOptions{Auth: auth}); err != nil {
		t.Fatalf("push over SSH: %v", err)
	}
	if got, err := lsRemote(t, srv.RepoURL("r"), nil); err != nil || got != sha {
		t.Fatalf("ls-remote main after SSH push = %s, %v; want %s", got, err, sha)
	}
}

func knownHostsCallback(t *testing.T, knownHosts []byte) (gossh.HostKeyCallback, error) {
	file := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(file, knownHosts, 0o600); err != nil {
		return nil, err
	}
	return gitssh.NewKnownHostsCallback(file)
}
