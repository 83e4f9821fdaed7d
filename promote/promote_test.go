package promote

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/testutil"
)

func exampleFiles(t *testing.T) map[string]string {
	t.Helper()
	return testutil.ReadTree(t, filepath.Join("..", "examples", "gceme"))
}

const gitPassword = "promote-git-secret"

func clone(t *testing.T, srv *gitserver.Server) *Repo {
	t.Helper()
	r, err := Clone(t.Context(), srv.RepoURL("config"), "main", "ci", gitPassword)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPromoteWithoutForge promotes staging's tag into production on a real git server, with
// the "none" forge: the branch is pushed, the body carries the evidence, a rerun reuses the branch.
func TestPromoteWithoutForge(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: gitPassword})
	files := exampleFiles(t)
	srv.NewRepo(t, "config", files)

	res, err := Promote(t.Context(), clone(t, srv), NoForge{RepoURL: srv.RepoURL("config")}, Options{To: "production"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Old != "1.0.0" || res.Changes[0].New != "1.1.0" {
		t.Fatalf("changes %+v, want gceme 1.0.0 → 1.1.0", res.Changes)
	}
	if !strings.Contains(res.URL, "branch ferry/promote-production pushed") {
		t.Errorf("no-forge result %q does not say what was pushed", res.URL)
	}
	for _, want := range []string{"| `" + gceme + "` | `1.0.0` | `1.1.0` |", "-        image: " + gceme + ":1.0.0",
		"+        image: " + gceme + ":1.1.0", "not checked (no cluster access", "```diff"} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("PR body lacks %q:\n%s", want, res.Body)
		}
	}
	if strings.Contains(res.Body, gitPassword) {
		t.Error("PR body contains the git password")
	}
	t.Logf("PR body:\n%s", res.Body)

	// The pushed branch holds exactly one changed line in production's kustomization.
	branch := clone(t, srv)
	prod := "environments/production/kustomization.yaml"
	if err := branch.checkout(t.Context(), BranchFor("production")); err != nil {
		t.Fatal(err)
	}
	got, err := branch.ReadFile(prod)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(files[prod], `newTag: "1.0.0"`, `newTag: "1.1.0"`, 1)
	if string(got) != want {
		t.Errorf("promotion branch's %s is not the original with only the tag changed", prod)
	}
	commits, err := branch.Log("environments/production", 1)
	if err != nil || len(commits) == 0 || commits[0].Message != "promote(production): "+gceme+" 1.0.0 → 1.1.0" {
		t.Errorf("commit message: %v %v", commits, err)
	}

	again, err := Promote(t.Context(), clone(t, srv), NoForge{}, Options{To: "production"})
	if err != nil || again.Branch != res.Branch || len(again.Changes) != 1 {
		t.Errorf("second promotion: %+v %v, want the same branch updated", again, err)
	}
}

func TestImageSetPushesToTheTrackedBranch(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: gitPassword})
	srv.NewRepo(t, "config", exampleFiles(t))
	img, err := ParseImageArg(gceme + "=1.2.0")
	if err != nil {
		t.Fatal(err)
	}
	res, err := SetImage(t.Context(), clone(t, srv), NoForge{}, "staging", img, false)
	if err != nil {
		t.Fatal(err)
	}
	if head := srv.Head(t, "config"); head != res.Commit {
		t.Errorf("main is at %s, want the release commit %s", head, res.Commit)
	}
	r := clone(t, srv)
	imgs, err := ReadImagesAt(r, "environments/staging/kustomization.yaml")
	if err != nil || len(imgs) != 1 || imgs[0].NewTag != "1.2.0" {
		t.Errorf("staging pins after image set: %+v %v", imgs, err)
	}
	res, err = SetImage(t.Context(), r, NoForge{}, "staging", img, false)
	if err != nil || !res.NothingToDo {
		t.Errorf("setting the same tag again: %+v %v, want nothing to do", res, err)
	}
	if _, err := ParseImageArg("gceme"); err == nil {
		t.Error("ParseImageArg accepted an argument without a tag")
	}
}

// ReadImagesAt reads the pins of a kustomization file in r.
func ReadImagesAt(r *Repo, file string) ([]Image, error) {
	data, err := r.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return ReadImages(data)
}

func TestRollbackRevertsTheLastChangeOfAnOverlay(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: gitPassword})
	srv.NewRepo(t, "config", exampleFiles(t))
	first := srv.Head(t, "config")
	for _, tag := range []string{"1.2.0", "1.3.0"} {
		img, _ := ParseImageArg(gceme + "=" + tag)
		if _, err := SetImage(t.Context(), clone(t, srv), NoForge{}, "staging", img, false); err != nil {
			t.Fatal(err)
		}
	}
	stagingTag := func() string {
		imgs, err := ReadImagesAt(clone(t, srv), "environments/staging/kustomization.yaml")
		if err != nil || len(imgs) != 1 {
			t.Fatalf("staging pins: %+v %v", imgs, err)
		}
		return imgs[0].NewTag
	}

	res, err := Rollback(t.Context(), clone(t, srv), NoForge{}, "staging", "", true)
	if err != nil {
		t.Fatal(err)
	}
	if got := stagingTag(); got != "1.2.0" {
		t.Errorf("after rollback staging is at %s, want 1.2.0", got)
	}
	r := clone(t, srv)
	commits, _ := r.Log("environments/staging", 1)
	if len(commits) == 0 || !strings.HasPrefix(commits[0].Message, "rollback(staging): revert ") || commits[0].Hash.String() != res.Commit {
		t.Errorf("rollback commit: %v", commits)
	}

	if _, err := Rollback(t.Context(), clone(t, srv), NoForge{}, "staging", first, true); err != nil {
		t.Fatal(err)
	}
	if got := stagingTag(); got != "1.1.0" {
		t.Errorf("after rollback --to the first commit staging is at %s, want 1.1.0", got)
	}
	again, err := Rollback(t.Context(), clone(t, srv), NoForge{}, "staging", first, true)
	if err != nil || !again.NothingToDo {
		t.Errorf("restoring the same state again: %+v %v, want nothing to do", again, err)
	}
}
