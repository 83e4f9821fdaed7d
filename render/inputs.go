package render

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"slices"
	"strings"
)

// HashFS is a repository view that tells a hash of each entry's content without reading it,
// as a git tree does (internal/repoview.TreeFS: its entries' object ids). A render records its
// Inputs only from a HashFS.
type HashFS interface {
	fs.FS
	// EntryHash returns the type of name's entry, not following a symlink (fs.ModeDir,
	// fs.ModeSymlink, or 0 for a file), and a hash that changes whenever its content does: a
	// file's content, a symlink's target, for a folder anything below it. Its error wraps
	// fs.ErrNotExist when name does not exist.
	EntryHash(name string) (fs.FileMode, string, error)
}

// Inputs are what one render read from the repository: every entry whose type it looked up
// (while resolving paths, and kustomize's probes such as kustomization.yaml, then
// kustomization.yml, then Kustomization in each folder: a missing one is recorded as missing),
// every file whose content and symlink whose target it read, and every folder whose names it
// listed, each with the hash the repository view gave it. A render is a pure function of its
// Inputs, its environment's entry in ferry.yaml and the Renderer's Options (the SOPS keys
// among them), so another revision whose Inputs did not change renders the same Result.
type Inputs struct {
	entries []input // sorted by path; the root, "", first
}

// input is one entry a render asked about.
type input struct {
	path  string // repository-relative; "" is the root
	use   use
	kind  entryKind
	hash  string // HashFS.EntryHash's; "" when missing
	names string // the sha256 of a listed folder's names
}

// use is what a render asked of an entry.
type use uint8

const (
	looked use = 1 << iota // its type: is it there, a folder, a symlink?
	read                   // a file's content or a symlink's target
	listed                 // a folder's names
)

type entryKind uint8

const (
	missing entryKind = iota
	file
	folder
	symlink
)

func kindOf(mode fs.FileMode) entryKind {
	switch {
	case mode.IsDir():
		return folder
	case mode&fs.ModeSymlink != 0:
		return symlink
	}
	return file
}

// observe looks path up in fsys as the render that used it asked: its type and hash, and the
// names of a folder it listed.
func observe(fsys HashFS, path string, u use) (input, error) {
	mode, hash, err := fsys.EntryHash(resolvedName(path))
	if errors.Is(err, fs.ErrNotExist) {
		return input{path: path, use: u, kind: missing}, nil
	}
	if err != nil {
		return input{}, err
	}
	in := input{path: path, use: u, kind: kindOf(mode), hash: hash}
	if u&listed != 0 && in.kind == folder {
		in.names, err = namesDigest(fsys, path)
	}
	return in, err
}

// namesDigest returns the sha256 of the names in folder path.
func namesDigest(fsys fs.FS, path string) (string, error) {
	entries, err := fs.ReadDir(fsys, resolvedName(path))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, e := range entries {
		h.Write([]byte(e.Name()))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Changed reports whether fsys, the repository at another revision, differs from the one the
// render read in anything the render read: a file's content, a symlink's target, the type of
// an entry it looked up (a missing file that now exists included), or the names in a folder
// it listed. It returns the first path that differs. It reads no file: it compares the
// entries' hashes, and skips everything below a folder whose hash did not change. nil Inputs,
// an fsys that is no HashFS, and an entry that cannot be looked up count as changed.
func (in *Inputs) Changed(fsys fs.FS) (path string, changed bool) {
	hfs, ok := fsys.(HashFS)
	if in == nil || !ok {
		return "", true
	}
	skip := "" // a folder, with its trailing slash, whose tree did not change
	for _, was := range in.entries {
		if skip != "" && strings.HasPrefix(was.path, skip) {
			continue
		}
		mode, hash, err := hfs.EntryHash(resolvedName(was.path))
		kind := kindOf(mode)
		if errors.Is(err, fs.ErrNotExist) {
			kind, err = missing, nil
		}
		if err != nil || kind != was.kind {
			return was.path, true
		}
		switch {
		case kind == folder && hash == was.hash && was.path == "":
			return "", false // the whole tree is the same
		case kind == folder && hash == was.hash:
			skip = was.path + "/"
		case kind == folder && was.use&listed != 0:
			if names, err := namesDigest(hfs, was.path); err != nil || names != was.names {
				return was.path, true
			}
		case kind != folder && was.use&read != 0 && hash != was.hash:
			return was.path, true
		}
	}
	return "", false
}

// inputs returns what the render asked of the repository so far, each entry with its hash, or
// nil when the repository view is no HashFS or an entry cannot be looked up.
func (t *tree) inputs() *Inputs {
	hfs, ok := t.fsys.(HashFS)
	if !ok {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.uses[""] |= looked // the root's hash: a tree that did not change at all is checked at once
	in := &Inputs{entries: make([]input, 0, len(t.uses))}
	for path, u := range t.uses {
		e, err := observe(hfs, path, u)
		if err != nil {
			return nil
		}
		in.entries = append(in.entries, e)
	}
	slices.SortFunc(in.entries, func(a, b input) int { return strings.Compare(a.path, b.path) })
	return in
}

// note records that the render asked u of path.
func (t *tree) note(path string, u use) {
	if path == "." {
		path = ""
	}
	t.mu.Lock()
	t.uses[path] |= u
	t.mu.Unlock()
}
