package repoview_test

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/internal/repoview"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// blobID is git's object id of a blob holding content.
func blobID(content string) string {
	sum := sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(content), content)))
	return hex.EncodeToString(sum[:])
}

// TestTreeFSLookups checks TreeFS's lookups in a commit with a top-level folder of many files,
// a nested folder and a symlink: EntryHash's types and git ids (a file's is its blob's), and
// that missing entries, and paths through a file, do not exist.
func TestTreeFSLookups(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		write(fmt.Sprintf("base/r%03d.yaml", i), fmt.Sprintf("n: %d\n", i))
	}
	write("env/deep/kustomization.yaml", "resources: []\n")
	if err := os.Symlink("../base/r001.yaml", filepath.Join(dir, "env", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	tree := testutil.CommitFS(t, dir).(*repoview.TreeFS)

	type lookup struct {
		Mode fs.FileMode
		Hash string
		Err  string
	}
	look := func(name string) lookup {
		mode, hash, err := tree.EntryHash(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return lookup{Err: "not exist"}
		case err != nil:
			return lookup{Err: err.Error()}
		case mode.IsDir():
			return lookup{Mode: mode, Hash: "a tree"}
		}
		return lookup{Mode: mode, Hash: hash}
	}
	for name, want := range map[string]lookup{
		".":                           {Mode: fs.ModeDir, Hash: "a tree"},
		"base":                        {Mode: fs.ModeDir, Hash: "a tree"},
		"base/r000.yaml":              {Hash: blobID("n: 0\n")},
		"base/r299.yaml":              {Hash: blobID("n: 299\n")},
		"env/deep/kustomization.yaml": {Hash: blobID("resources: []\n")},
		"env/link.yaml":               {Mode: fs.ModeSymlink, Hash: blobID("../base/r001.yaml")},
		"base/r300.yaml":              {Err: "not exist"},
		"nothing/here.yaml":           {Err: "not exist"},
		"base/r000.yaml/below":        {Err: "not exist"},
	} {
		if diff := cmp.Diff(want, look(name)); diff != "" {
			t.Errorf("EntryHash(%q) (-want +got):\n%s", name, diff)
		}
	}
	entries, err := fs.ReadDir(tree, "base")
	if err != nil || len(entries) != 300 || entries[299].Name() != "r299.yaml" {
		t.Errorf("ReadDir(base): %d entries, err %v", len(entries), err)
	}
	if data, err := fs.ReadFile(tree, "env/deep/kustomization.yaml"); err != nil || string(data) != "resources: []\n" {
		t.Errorf("ReadFile: %q, %v", data, err)
	}
}
