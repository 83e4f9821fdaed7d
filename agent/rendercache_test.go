package agent

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/testutil"
)

func TestRenderMemoReusesARenderOfTheSameRevisionAndEnvironment(t *testing.T) {
	repo := os.DirFS("../examples/gceme")
	pipeline, err := environments.Load(repo)
	if err != nil {
		t.Fatal(err)
	}
	staging, _ := pipeline.Environment("staging")
	var m renderMemo
	first, how, err := m.render(t.Context(), repo, staging, "rev1")
	if err != nil || how != renderRendered {
		t.Fatalf("first render: %q, err %v", how, err)
	}
	first.Objects[0].SetName("changed-by-a-sync")
	again, how, err := m.render(t.Context(), repo, staging, "rev1")
	if err != nil || how != renderSame {
		t.Fatalf("second render: %q, err %v", how, err)
	}
	if again.Digest != first.Digest || again.Objects[0].GetName() == "changed-by-a-sync" {
		t.Errorf("the memo handed out its own objects: %s", again.Objects[0].GetName())
	}
	other := *staging
	other.Namespace = "elsewhere"
	moved, how, err := m.render(t.Context(), repo, &other, "rev1")
	if err != nil || how != renderRendered {
		t.Fatalf("render of a changed environment: %q, err %v", how, err)
	}
	if moved.Digest == first.Digest {
		t.Errorf("a changed environment reused the old render")
	}
	// A folder on disk cannot tell its files' hashes: a new revision renders again.
	if _, how, err := m.render(t.Context(), repo, &other, "rev2"); err != nil || how != renderRendered {
		t.Errorf("a new revision of a folder: %q, err %v", how, err)
	}
}

// TestRenderMemoReusesARevisionWhoseInputsDidNotChange renders staging and production of
// examples/gceme at one commit, then at commits of several kinds, and checks which renders the
// memo reuses: only where nothing the render read changed, and its environment did not.
func TestRenderMemoReusesARevisionWhoseInputsDidNotChange(t *testing.T) {
	files := testutil.ReadTree(t, filepath.Join("..", "examples", "gceme"))
	pipeline, err := environments.Load(os.DirFS("../examples/gceme"))
	if err != nil {
		t.Fatal(err)
	}
	staging, _ := pipeline.Environment("staging")
	production, _ := pipeline.Environment("production")
	memos := map[string]*renderMemo{"staging": {}, "production": {}}
	render := func(tree fs.FS, revision, env string, e *environments.Environment) renderOutcome {
		_, how, _ := memos[env].render(t.Context(), tree, e, revision)
		return how
	}
	rev1 := commitFiles(t, files, nil)
	for name, e := range map[string]*environments.Environment{"staging": staging, "production": production} {
		if how := render(rev1, "rev1", name, e); how != renderRendered {
			t.Fatalf("%s at rev1: %q", name, how)
		}
	}
	stagingKust := "environments/staging/kustomization.yaml"
	prodKust := "environments/production/kustomization.yaml"
	movedEnv := *production
	movedEnv.Schedule = "@every 5m"
	for _, c := range []struct {
		name                    string
		changes                 map[string]string
		production              *environments.Environment
		staging, productionWant renderOutcome
	}{
		{"staging's tag", map[string]string{stagingKust: strings.Replace(files[stagingKust], `newTag: "1.1.0"`, `newTag: "1.2.0"`, 1)},
			production, renderRendered, renderReused},
		{"a file of the shared base", map[string]string{"apps/gceme/base/configmap.yaml": files["apps/gceme/base/configmap.yaml"] + "# a comment\n"},
			production, renderRendered, renderRendered},
		{"a Kustomization beside production's kustomization.yaml (kustomize probes it)", map[string]string{"environments/production/Kustomization": files[prodKust]},
			production, renderReused, renderRendered},
		{"production's entry in ferry.yaml", nil, &movedEnv, renderReused, renderRendered},
		{"nothing (an empty commit)", nil, production, renderReused, renderReused},
	} {
		t.Run(c.name, func(t *testing.T) {
			tree := commitFiles(t, files, c.changes)
			rev := "rev-" + strings.ReplaceAll(c.name, " ", "-")
			if how := render(tree, rev, "staging", staging); how != c.staging {
				t.Errorf("staging: %q, want %q", how, c.staging)
			}
			if how := render(tree, rev, "production", c.production); how != c.productionWant {
				t.Errorf("production: %q, want %q", how, c.productionWant)
			}
			// Back to rev1's content for the next case: rendered again where this one changed
			// something, so that each case starts from a render of rev1.
			render(rev1, "rev1-after-"+rev, "staging", staging)
			render(rev1, "rev1-after-"+rev, "production", production)
		})
	}
}

// commitFiles commits files with changes applied into a new git repository and returns the
// commit's tree as the agent reads it: equal contents have equal hashes in any repository, so
// commits of separate repositories stand for revisions of one.
func commitFiles(t *testing.T, files, changes map[string]string) fs.FS {
	t.Helper()
	dir := t.TempDir()
	all := maps.Clone(files)
	maps.Copy(all, changes)
	testutil.WriteFiles(t, dir, all)
	return testutil.CommitFS(t, dir)
}
