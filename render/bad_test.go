package render

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// testEnv is the environment every case under testdata/bad renders: overlay env/, namespace app.
func testEnv() *environments.Environment {
	return &environments.Environment{Name: "app", Path: "env", Namespace: "app", Prune: true}
}

// TestBadInputs renders each folder under testdata/bad (its repo/ is the repository) from a
// local folder and from a git commit of the same files, and expects an error containing every
// line of its want-error file.
func TestBadInputs(t *testing.T) {
	cases, err := os.ReadDir("testdata/bad")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			caseDir := filepath.Join("testdata", "bad", c.Name())
			want := wantLines(t, filepath.Join(caseDir, "want-error"))
			dir := testutil.CopyTree(t, caseDir)
			if c.Name() == "huge-file" {
				writeSparse(t, filepath.Join(dir, "repo", "env", "huge.yaml"), 100<<20)
			}
			sources := map[string]fs.FS{"folder": rootFS(t, filepath.Join(dir, "repo"))}
			if c.Name() != "huge-file" { // committing 100 MiB to git only slows the test down
				sources["git"] = testutil.CommitFS(t, filepath.Join(dir, "repo"))
			}
			for name, fsys := range sources {
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				_, err := Render(ctx, fsys, testEnv())
				cancel()
				if err == nil {
					t.Fatalf("%s: render succeeded, want an error containing %q", name, want)
				}
				t.Logf("%s: %v", name, err)
				var re *Error
				if !errors.As(err, &re) {
					t.Errorf("%s: error is %T, want a *render.Error: %v", name, err, err)
				}
				for _, w := range want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error does not contain %q:\n%v", name, w, err)
					}
				}
				if strings.Contains(err.Error(), virtualRoot) {
					t.Errorf("%s: error leaks the virtual root %s: %v", name, virtualRoot, err)
				}
			}
		})
	}
}

func wantLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func writeSparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

// rootFS views dir as a local repository: os.Root confines the OS, the renderer confines
// symlinks itself.
func rootFS(t *testing.T, dir string) fs.FS {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root.FS()
}
