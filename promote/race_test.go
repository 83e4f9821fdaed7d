package promote

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ferry-cd/ferry/internal/gitserver"
)

// A push to the tracked branch races with other pushes: between ferry's clone and its push,
// or while the push is on its way, another commit may land. These tests make that happen on a
// real git server (git http-backend): deterministically, through a proxy that lands a commit
// just before it forwards ferry's push, and for real, with pushes running at once.

// racingRemote serves srv's repositories through a proxy that, before forwarding each of the
// first `moves` pushes (git-receive-pack requests), commits to the repository's main: the
// branch moves after ferry read where it was, so the server refuses the push with "failed to
// update ref". It returns the proxy's clone URL of config.
func racingRemote(t *testing.T, srv *gitserver.Server, moves int) string {
	t.Helper()
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var n atomic.Int32
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			if i := n.Add(1); int(i) <= moves {
				srv.Commit(t, "config", fmt.Sprintf("racing commit %d", i), map[string]string{fmt.Sprintf("notes/race-%d.txt", i): "landed first\n"})
			}
		}
		proxy.ServeHTTP(w, r)
	})
	p := httptest.NewServer(handler)
	t.Cleanup(p.Close)
	return p.URL + "/config.git"
}

func cloneURL(t *testing.T, url string) *Repo {
	t.Helper()
	r, err := Clone(t.Context(), url, "main", "ci", gitPassword)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pins returns env's pins on the server's main, by image name.
func pins(t *testing.T, srv *gitserver.Server, env string) map[string]string {
	t.Helper()
	imgs, err := ReadImagesAt(clone(t, srv), "environments/"+env+"/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, img := range imgs {
		out[img.Name] = img.Ref()
	}
	return out
}

// hasFile tells whether main on the server holds path.
func hasFile(t *testing.T, srv *gitserver.Server, path string) bool {
	t.Helper()
	_, err := clone(t, srv).ReadFile(path)
	return err == nil
}

func TestImageSetPushRetriesWhenTheBranchMoved(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: gitPassword})
	srv.NewRepo(t, "config", exampleFiles(t))
	img, _ := ParseImageArg(gceme + "=1.2.0")

	res, err := SetImage(t.Context(), cloneURL(t, racingRemote(t, srv, 1)), NoForge{}, "staging", img, false)
	if err != nil {
		t.Fatalf("image set while another push lands: %v", err)
	}
	if head := srv.Head(t, "config"); head != res.Commit {
		t.Errorf("main is at %s, want the release commit %s", head, res.Commit)
	}
	if got := pins(t, srv, "staging")[gceme]; got != "1.2.0" {
		t.Errorf("staging's %s is at %q, want 1.2.0", gceme, got)
	}
	if !hasFile(t, srv, "notes/race-1.txt") {
		t.Error("the commit that landed first is gone from main")
	}
}

func TestImageSetPushFailsWhenTheBranchKeepsMoving(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: gitPassword})
	srv.NewRepo(t, "config", exampleFiles(t))
	img, _ := ParseImageArg(gceme + "=1.2.0")
	remote := racingRemote(t, srv, 2)

	_, err := SetImage(t.Context(), cloneURL(t, remote), NoForge{}, "staging", img, false)
	if !errors.Is(err, ErrBranchMoved) {
		t.Fatalf("image set while two pushes land: %v, want %v", err, ErrBranchMoved)
	}
	msg := err.Error()
	for _, want := range []string{remote + " (branch main)", "push main: the branch moved on the remote", "moved again: nothing was pushed, run the command again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, gitPassword) {
		t.Errorf("error %q holds the git password", msg)
	}
	if got := pins(t, srv, "staging")[gceme]; got != "1.1.0" {
		t.Errorf("staging's %s is at %q, want 1.1.0 untouched", gceme, got)
	}
	t.Logf("error: %v", err)
}

// TestRacingImageSetPushes runs two `image set --push` of different images at once, a few
// times: both must land every time.
func TestRacingImageSetPushes(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: gitPassword})
	srv.NewRepo(t, "config", exampleFiles(t))
	const other = "example.com/worker"
	for round := range 5 {
		imgs := []Image{{Name: gceme, NewTag: fmt.Sprintf("2.%d.0", round)}, {Name: other, NewTag: fmt.Sprintf("3.%d.0", round)}}
		repos := []*Repo{clone(t, srv), clone(t, srv)} // both clones see the same head
		errs := make([]error, len(imgs))
		var wg sync.WaitGroup
		for i := range imgs {
			wg.Go(func() { _, errs[i] = SetImage(t.Context(), repos[i], NoForge{}, "staging", imgs[i], false) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: image set %s: %v", round, imgs[i].Name, err)
			}
		}
		got := pins(t, srv, "staging")
		for _, img := range imgs {
			if got[img.Name] != img.NewTag {
				t.Errorf("round %d: staging's %s is at %q, want %s", round, img.Name, got[img.Name], img.NewTag)
			}
		}
	}
}

func TestRollbackPushRetriesWhenTheBranchMoved(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: gitPassword})
	srv.NewRepo(t, "config", exampleFiles(t))
	img, _ := ParseImageArg(gceme + "=1.2.0")
	if _, err := SetImage(t.Context(), clone(t, srv), NoForge{}, "staging", img, false); err != nil {
		t.Fatal(err)
	}

	if _, err := Rollback(t.Context(), cloneURL(t, racingRemote(t, srv, 1)), NoForge{}, "staging", "", true); err != nil {
		t.Fatalf("rollback while another push lands: %v", err)
	}
	if got := pins(t, srv, "staging")[gceme]; got != "1.1.0" {
		t.Errorf("after the rollback staging's %s is at %q, want 1.1.0", gceme, got)
	}
	if !hasFile(t, srv, "notes/race-1.txt") {
		t.Error("the commit that landed first is gone from main")
	}
}

// TestRollbackPushStopsWhenTheOverlayMoved: a rollback chosen on the history the user saw is
// not applied on top of new commits to the same overlay.
func TestRollbackPushStopsWhenTheOverlayMoved(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: gitPassword})
	srv.NewRepo(t, "config", exampleFiles(t))
	img, _ := ParseImageArg(gceme + "=1.2.0")
	if _, err := SetImage(t.Context(), clone(t, srv), NoForge{}, "staging", img, false); err != nil {
		t.Fatal(err)
	}
	stale := clone(t, srv)
	newer, _ := ParseImageArg(gceme + "=1.3.0")
	if _, err := SetImage(t.Context(), clone(t, srv), NoForge{}, "staging", newer, false); err != nil {
		t.Fatal(err)
	}

	_, err := Rollback(t.Context(), stale, NoForge{}, "staging", "", true)
	if !errors.Is(err, ErrBranchMoved) || !strings.Contains(err.Error(), "change environments/staging") {
		t.Fatalf("rollback over a newer change of the overlay: %v, want %v naming the folder", err, ErrBranchMoved)
	}
	if got := pins(t, srv, "staging")[gceme]; got != "1.3.0" {
		t.Errorf("staging's %s is at %q, want 1.3.0 untouched", gceme, got)
	}
}
