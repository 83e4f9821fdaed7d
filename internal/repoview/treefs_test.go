package repoview_test

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5"
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
	files := map[string]string{"env/deep/kustomization.yaml": "resources: []\n", "env/link.yaml": "-> ../base/r001.yaml"}
	for i := range 300 {
		files[fmt.Sprintf("base/r%03d.yaml", i)] = fmt.Sprintf("n: %d\n", i)
	}
	testutil.WriteFiles(t, dir, files)
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

// TestTreeFSConcurrentReads reads every file of a packed repository from several goroutines at
// once through one TreeFS, as a render does when kustomize loads a kustomization's files in
// parallel: each file must come back whole and right. go-git does not promise that its object
// storage is safe for concurrent use (go-git/go-git#773), so TreeFS serialises its reads; the
// test passes under -race.
func TestTreeFSConcurrentReads(t *testing.T) {
	dir := t.TempDir()
	want := map[string]string{}
	for i := range 200 {
		want[fmt.Sprintf("base/r%03d.yaml", i)] = fmt.Sprintf("kind: ConfigMap\nmetadata: {name: r%03d}\ndata: {n: %q}\n", i, strings.Repeat("x", i*7))
	}
	testutil.WriteFiles(t, dir, want)
	testutil.CommitFS(t, dir)
	r, err := git.PlainOpen(dir)
	must(t, err)
	must(t, r.RepackObjects(&git.RepackConfig{}))
	if packs, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack")); len(packs) == 0 {
		t.Fatal("no pack after RepackObjects")
	}
	r, err = git.PlainOpen(dir) // a fresh storage, reading the pack
	must(t, err)
	head, err := r.Head()
	must(t, err)
	commit, err := r.CommitObject(head.Hash())
	must(t, err)
	tree, err := commit.Tree()
	must(t, err)
	fsys := repoview.NewTreeFS(tree)

	var wg sync.WaitGroup
	errs := make(chan error, 8*len(want))
	for range 8 {
		wg.Go(func() {
			for name, content := range want {
				info, err := fsys.Lstat(name)
				if err != nil || info.Size() != int64(len(content)) {
					errs <- fmt.Errorf("lstat %s: %v, %v", name, info, err)
					continue
				}
				got, err := fs.ReadFile(fsys, name)
				if err != nil || string(got) != content {
					errs <- fmt.Errorf("read %s: %q, %v; want %q", name, got, err, content)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
