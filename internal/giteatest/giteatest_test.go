package giteatest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"code.gitea.io/sdk/gitea"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/util"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/ferry-cd/ferry/internal/localgitea"
)

// waitTimeout bounds each clone, push and the wait for a webhook delivery.
const waitTimeout = 60 * time.Second

func TestPullRequestMerge(t *testing.T) {
	g := Start(t)
	if g.StartTime > 30*time.Second {
		t.Errorf("Gitea took %s to start; expected a few seconds", g.StartTime)
	}
	owner, name := g.AdminUser, "app"
	cloneURL := g.CreateRepo(t, name, map[string]string{
		"README.md":       "hello\n",
		"deploy/app.yaml": "replicas: 1\n",
	})
	if want := g.URL + "/" + owner + "/" + name + ".git"; cloneURL != want {
		t.Errorf("clone URL = %s, want %s", cloneURL, want)
	}
	repo, _, err := g.Client.GetRepo(owner, name)
	if err != nil {
		t.Fatal(err)
	}
	if repo.DefaultBranch != Branch {
		t.Errorf("default branch = %q, want %q", repo.DefaultBranch, Branch)
	}
	// The repository is public: listing its refs needs no credentials.
	initial := lsRemote(t, cloneURL, nil)[plumbing.NewBranchReferenceName(Branch)]
	if initial.IsZero() {
		t.Fatalf("%s has no %s after CreateRepo", cloneURL, Branch)
	}

	// Push a branch with go-git, credentials in the URL.
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	r, err := git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: g.AuthURL(cloneURL)})
	if err != nil {
		t.Fatalf("clone: %v", err)
	}
	wt, err := r.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName("feature"), Create: true}); err != nil {
		t.Fatal(err)
	}
	if err := util.WriteFile(wt.Filesystem, "deploy/app.yaml", []byte("replicas: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add("deploy/app.yaml"); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "ferry test", Email: "test@example.com", When: time.Now()}
	feature, err := wt.Commit("scale app to 3", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	err = r.PushContext(ctx, &git.PushOptions{RefSpecs: []config.RefSpec{"refs/heads/feature:refs/heads/feature"}})
	if err != nil {
		t.Fatalf("push feature: %v", err)
	}

	pr, _, err := g.Client.CreatePullRequest(owner, name, gitea.CreatePullRequestOption{
		Head: "feature", Base: Branch, Title: "Scale app to 3", Body: "ferry test",
	})
	if err != nil {
		t.Fatalf("create pull request: %v", err)
	}
	if pr.Head == nil || pr.Head.Sha != feature.String() {
		t.Errorf("pull request head = %+v, want %s", pr.Head, feature)
	}

	// MergePullRequest waits out Gitea's background mergeability check.
	mergeSHA := g.MergePullRequest(t, name, pr.Index)
	merged, _, err := g.Client.IsPullRequestMerged(owner, name, pr.Index)
	if err != nil || !merged {
		t.Errorf("IsPullRequestMerged = %v, %v after the merge", merged, err)
	}
	head := lsRemote(t, g.AuthURL(cloneURL), nil)[plumbing.NewBranchReferenceName(Branch)]
	if head == initial || head.String() != mergeSHA {
		t.Errorf("%s = %s after the merge, want the merge commit %s (was %s)", Branch, head, mergeSHA, initial)
	}
	// The SDK sees the same head.
	branch, _, err := g.Client.GetRepoBranch(owner, name, Branch)
	if err != nil {
		t.Fatal(err)
	}
	if branch.Commit == nil || branch.Commit.ID != head.String() {
		t.Errorf("branch %s via the API = %+v, want commit %s", Branch, branch.Commit, head)
	}
}

// TestWebhookToLoopback checks that Gitea delivers a push webhook to a server on 127.0.0.1,
// as ferry's agent needs ([webhook] ALLOWED_HOST_LIST = loopback).
func TestWebhookToLoopback(t *testing.T) {
	g := Start(t)
	cloneURL := g.CreateRepo(t, "hooked", map[string]string{"a.txt": "a\n"})

	type delivery struct {
		event, ref string
	}
	got := make(chan delivery, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var payload struct {
			Ref string `json:"ref"`
		}
		_ = json.Unmarshal(body, &payload)
		select {
		case got <- delivery{event: r.Header.Get("X-Gitea-Event"), ref: payload.Ref}:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	_, _, err := g.Client.CreateRepoHook(g.AdminUser, "hooked", gitea.CreateHookOption{
		Type:   gitea.HookTypeGitea,
		Config: map[string]string{"url": srv.URL + "/hook", "content_type": "json", "secret": "s3cret"},
		Events: []string{"push"},
		Active: true,
	})
	if err != nil {
		t.Fatalf("create webhook: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	r, err := git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: cloneURL, Auth: g.Auth()})
	if err != nil {
		t.Fatalf("clone: %v", err)
	}
	wt, err := r.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := util.WriteFile(wt.Filesystem, "a.txt", []byte("b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sig := Signature()
	if _, err := wt.Commit("change a", &git.CommitOptions{All: true, Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
	if err := r.PushContext(ctx, &git.PushOptions{Auth: g.Auth()}); err != nil {
		t.Fatalf("push: %v", err)
	}
	select {
	case d := <-got:
		if d.event != "push" || d.ref != "refs/heads/"+Branch {
			t.Errorf("webhook delivery: event %q ref %q, want push of refs/heads/%s", d.event, d.ref, Branch)
		}
	case <-ctx.Done():
		t.Fatalf("no webhook delivered to %s within %s", srv.URL, waitTimeout)
	}
}

func TestAuthURL(t *testing.T) {
	g := &Gitea{&localgitea.Server{AdminUser: "ferry-admin", AdminPassword: "p@ss/word"}}
	got := g.AuthURL("http://127.0.0.1:3000/ferry-admin/app.git")
	if want := "http://ferry-admin:p%40ss%2Fword@127.0.0.1:3000/ferry-admin/app.git"; got != want {
		t.Errorf("AuthURL = %s, want %s", got, want)
	}
}

// lsRemote lists the refs of the repository at url with go-git.
func lsRemote(t *testing.T, url string, auth transport.AuthMethod) map[plumbing.ReferenceName]plumbing.Hash {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil {
		t.Fatalf("ls-remote: %v", err)
	}
	out := map[plumbing.ReferenceName]plumbing.Hash{}
	for _, ref := range refs {
		if ref.Type() == plumbing.HashReference {
			out[ref.Name()] = ref.Hash()
		}
	}
	return out
}
