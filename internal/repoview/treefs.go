package repoview

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TreeFS is a read-only fs.FS over one git tree, read from the object store without a checkout.
// It implements fs.ReadLinkFS: a symlink is reported by Lstat and read by ReadLink, and Open
// does not follow symlinks (the renderer resolves them itself, inside the repository only).
// Submodules appear as empty folders. It is safe for concurrent use: go-git's object storage
// is not (go-git/go-git#773), so every read of it (a folder, a blob's size or content) holds
// mu, and Open reads a file whole before returning it.
type TreeFS struct {
	root *object.Tree

	mu      sync.Mutex
	folders map[string]*object.Tree // the folders looked up so far, by path; "." is the root
}

// NewTreeFS returns a TreeFS whose root is tree.
func NewTreeFS(tree *object.Tree) *TreeFS {
	return &TreeFS{root: tree, folders: map[string]*object.Tree{".": tree}}
}

var (
	_ fs.ReadLinkFS = (*TreeFS)(nil)
	_ fs.ReadDirFS  = (*TreeFS)(nil)
)

// entry finds name's tree entry; the root is a folder with an empty entry.
func (t *TreeFS) entry(op, name string) (*object.TreeEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &object.TreeEntry{Mode: filemode.Dir}, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	dir, err := t.folder(path.Dir(name))
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	e, err := dir.FindEntry(path.Base(name))
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return e, nil
}

// folder returns the tree of folder name, decoding each folder on its way once per TreeFS.
// go-git's Tree.FindEntry keeps only folders two or more levels deep, so every lookup in a
// top-level folder decoded that folder's whole tree again: with thousands of files in it, a
// render looked each of them up in thousands of entries several times over. The error wraps
// fs.ErrNotExist when name, or a folder on its way, is missing or is no folder. t.mu is held.
func (t *TreeFS) folder(name string) (*object.Tree, error) {
	if tree, ok := t.folders[name]; ok {
		return tree, nil
	}
	parent, err := t.folder(path.Dir(name))
	if err != nil {
		return nil, err
	}
	e, err := parent.FindEntry(path.Base(name))
	if err != nil || e.Mode != filemode.Dir {
		return nil, fs.ErrNotExist
	}
	tree, err := parent.Tree(e.Name)
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	t.folders[name] = tree
	return tree, nil
}

// Lstat returns name's info without following a symlink.
func (t *TreeFS) Lstat(name string) (fs.FileInfo, error) {
	e, err := t.entry("lstat", name)
	if err != nil {
		return nil, err
	}
	return t.info(name, e)
}

func (t *TreeFS) info(name string, e *object.TreeEntry) (fs.FileInfo, error) {
	info := &entryInfo{name: path.Base(name), mode: e.Mode}
	if e.Mode == filemode.Regular || e.Mode == filemode.Executable || e.Mode == filemode.Symlink || e.Mode == filemode.Deprecated {
		t.mu.Lock()
		f, err := t.root.TreeEntryFile(e)
		t.mu.Unlock()
		if err != nil {
			return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
		}
		info.size = f.Size
	}
	return info, nil
}

// EntryHash returns the type of name's entry, not following a symlink (fs.ModeDir for a
// folder or a submodule, fs.ModeSymlink, or 0 for a file), and its git object id: a file's or a
// symlink's blob, a folder's tree (which changes whenever anything below it does), a
// submodule's commit. It looks the entry up in the trees only and reads no blob, so that a
// caller can tell whether content changed between two revisions without reading it. Its
// error wraps fs.ErrNotExist when name does not exist.
func (t *TreeFS) EntryHash(name string) (fs.FileMode, string, error) {
	e, err := t.entry("lookup", name)
	if err != nil {
		return 0, "", err
	}
	if name == "." {
		return fs.ModeDir, t.root.Hash.String(), nil
	}
	return (&entryInfo{mode: e.Mode}).Mode().Type(), e.Hash.String(), nil
}

// ReadLink returns a symlink's target.
func (t *TreeFS) ReadLink(name string) (string, error) {
	e, err := t.entry("readlink", name)
	if err != nil {
		return "", err
	}
	if e.Mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := t.root.TreeEntryFile(e)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return f.Contents()
}

// Open opens a file or folder. A symlink cannot be opened: resolve it with ReadLink.
func (t *TreeFS) Open(name string) (fs.File, error) {
	e, err := t.entry("open", name)
	if err != nil {
		return nil, err
	}
	info, err := t.info(name, e)
	if err != nil {
		return nil, err
	}
	switch {
	case e.Mode == filemode.Symlink:
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("is a symlink")}
	case info.IsDir():
		entries, err := t.ReadDir(name)
		if err != nil {
			return nil, err
		}
		return &dirFile{info: info, entries: entries}, nil
	}
	data, err := t.readBlob(e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &blobFile{Reader: bytes.NewReader(data), info: info}, nil
}

// readBlob reads a file's content whole, holding mu.
func (t *TreeFS) readBlob(e *object.TreeEntry) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := t.root.TreeEntryFile(e)
	if err != nil {
		return nil, err
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// ReadDir lists a folder's entries in git's order (sorted by name).
func (t *TreeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := t.entry("readdir", name)
	if err != nil {
		return nil, err
	}
	if e.Mode == filemode.Submodule {
		return nil, nil
	}
	if e.Mode != filemode.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	t.mu.Lock()
	sub, err := t.folder(name)
	t.mu.Unlock()
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := make([]fs.DirEntry, 0, len(sub.Entries))
	for i := range sub.Entries {
		child := &sub.Entries[i]
		info, err := t.info(child.Name, child)
		if err != nil {
			return nil, err
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	return out, nil
}

type entryInfo struct {
	name string
	mode filemode.FileMode
	size int64
}

func (i *entryInfo) Name() string { return i.name }
func (i *entryInfo) Size() int64  { return i.size }
func (i *entryInfo) Mode() fs.FileMode {
	switch i.mode {
	case filemode.Dir, filemode.Submodule:
		return fs.ModeDir | 0o555
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	case filemode.Executable:
		return 0o555
	default:
		return 0o444
	}
}
func (i *entryInfo) ModTime() time.Time { return time.Time{} }
func (i *entryInfo) IsDir() bool        { return i.Mode().IsDir() }
func (i *entryInfo) Sys() any           { return nil }

type blobFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *blobFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *blobFile) Close() error               { return nil }

type dirFile struct {
	info    fs.FileInfo
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Read([]byte) (int, error)   { return 0, errors.New("is a directory") }
func (d *dirFile) Close() error               { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return rest[:n], nil
}
