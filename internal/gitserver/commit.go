package gitserver

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Branch is the branch every repository of a Server has, and the one its helpers move.
const Branch = "main"

var branchRef = plumbing.NewBranchReferenceName(Branch)

// epoch is the author time of a server's first commit; each later commit is a minute later, so
// that commit SHAs are the same in every run.
var epoch = time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)

// NewEmptyRepo creates the bare repository NAME.git with no commits (HEAD names main) and
// returns its clone URL without credentials. It fails the test on error.
func (s *Server) NewEmptyRepo(t testing.TB, name string) string {
	t.Helper()
	_, err := git.PlainInitWithOptions(s.repoDir(name), &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: branchRef},
		Bare:        true,
	})
	if err != nil {
		t.Fatalf("gitserver: init %s: %v", name, err)
	}
	return s.RepoURL(name)
}

// NewRepo creates the bare repository NAME.git with one commit on main holding files (path →
// content, folders made as needed) and returns its clone URL without credentials. It fails
// the test on error.
func (s *Server) NewRepo(t testing.TB, name string, files map[string]string) string {
	t.Helper()
	url := s.NewEmptyRepo(t, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeCommit(t, name, "initial commit", files, nil)
	return url
}

// Commit adds a commit with message on main of repository name that writes files and removes
// the paths in remove, and returns its SHA. It fails the test on error, and when a path in
// remove does not exist.
func (s *Server) Commit(t testing.TB, name, message string, files map[string]string, remove ...string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.open(t, name)
	head, err := r.Reference(branchRef, true)
	if err != nil {
		t.Fatalf("gitserver: %s: %v", name, err)
	}
	current, err := readFiles(r, head.Hash())
	if err != nil {
		t.Fatalf("gitserver: %s: read %s: %v", name, head.Hash(), err)
	}
	for _, p := range remove {
		if _, ok := current[p]; !ok {
			t.Fatalf("gitserver: %s: remove %s: no such file", name, p)
		}
		delete(current, p)
	}
	for p, content := range files {
		current[p] = content
	}
	return s.writeCommit(t, name, message, current, []plumbing.Hash{head.Hash()})
}

// ForcePush replaces main of repository name with a new root commit holding only files, as a
// force push of an unrelated history would, and returns its SHA. It fails the test on error.
func (s *Server) ForcePush(t testing.TB, name string, files map[string]string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeCommit(t, name, "rewritten history", files, nil)
}

// Head returns the SHA main of repository name points at. It fails the test on error.
func (s *Server) Head(t testing.TB, name string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, err := s.open(t, name).Reference(branchRef, true)
	if err != nil {
		t.Fatalf("gitserver: %s: %v", name, err)
	}
	return ref.Hash().String()
}

func (s *Server) repoDir(name string) string {
	return filepath.Join(s.root, name+".git")
}

func (s *Server) open(t testing.TB, name string) *git.Repository {
	t.Helper()
	r, err := git.PlainOpen(s.repoDir(name))
	if err != nil {
		t.Fatalf("gitserver: open %s: %v", name, err)
	}
	return r
}

// writeCommit writes files as a commit with parents straight into the bare repository and
// points main at it. The author and time are fixed, so the SHA is the same in every run.
// The caller holds s.mu.
func (s *Server) writeCommit(t testing.TB, name, message string, files map[string]string, parents []plumbing.Hash) string {
	t.Helper()
	r := s.open(t, name)
	tree, err := writeTree(r.Storer, files)
	if err != nil {
		t.Fatalf("gitserver: %s: write tree: %v", name, err)
	}
	sig := object.Signature{Name: "ferry test", Email: "test@ferry.dev", When: epoch.Add(time.Duration(s.commits) * time.Minute)}
	s.commits++
	commit := &object.Commit{Author: sig, Committer: sig, Message: message + "\n", TreeHash: tree, ParentHashes: parents}
	hash, err := store(r.Storer, commit)
	if err != nil {
		t.Fatalf("gitserver: %s: write commit: %v", name, err)
	}
	if err := r.Storer.SetReference(plumbing.NewHashReference(branchRef, hash)); err != nil {
		t.Fatalf("gitserver: %s: move %s: %v", name, Branch, err)
	}
	return hash.String()
}

// readFiles returns every file of commit as path → content.
func readFiles(r *git.Repository, commit plumbing.Hash) (map[string]string, error) {
	c, err := r.CommitObject(commit)
	if err != nil {
		return nil, err
	}
	files, err := c.Files()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	err = files.ForEach(func(f *object.File) error {
		content, err := f.Contents()
		out[f.Name] = content
		return err
	})
	return out, err
}

// writeTree stores files (slash-separated paths) as blobs and nested trees, and returns the
// root tree's hash.
func writeTree(st storer.EncodedObjectStorer, files map[string]string) (plumbing.Hash, error) {
	blobs := map[string]string{}
	dirs := map[string]map[string]string{}
	for p, content := range files {
		dir, rest, nested := strings.Cut(p, "/")
		if dir == "" || dir == "." || dir == ".." || (nested && rest == "") {
			return plumbing.ZeroHash, errors.New("bad path " + p)
		}
		if !nested {
			blobs[p] = content
			continue
		}
		if dirs[dir] == nil {
			dirs[dir] = map[string]string{}
		}
		dirs[dir][rest] = content
	}
	for name := range dirs {
		if _, clash := blobs[name]; clash {
			return plumbing.ZeroHash, errors.New(name + " is both a file and a folder")
		}
	}
	var entries []object.TreeEntry
	for name, content := range blobs {
		hash, err := storeBlob(st, content)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: hash})
	}
	for name, sub := range dirs {
		hash, err := writeTree(st, sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: hash})
	}
	slices.SortFunc(entries, func(a, b object.TreeEntry) int { return strings.Compare(gitName(a), gitName(b)) })
	return store(st, &object.Tree{Entries: entries})
}

// gitName is the key git sorts tree entries by: a folder sorts as if its name ended in "/".
func gitName(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

func storeBlob(st storer.EncodedObjectStorer, content string) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write([]byte(content)); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}

// store encodes a commit or tree into st.
func store(st storer.EncodedObjectStorer, o interface {
	Encode(plumbing.EncodedObject) error
}) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}
