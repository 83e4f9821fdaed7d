package render

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// virtualRoot is where the repository appears to kustomize. kustomize works with absolute
// paths; anything it asks for outside virtualRoot is outside the repository and refused.
// Errors shown to users have the prefix removed, so they name repository-relative files.
const virtualRoot = "/ferry-repo"

var errReadOnly = errors.New("the repository is read-only during a render")

// kustFS adapts a tree to kustomize's filesys.FileSystem. It only reads; every write fails.
type kustFS struct {
	t *tree
	// checkYAML is run on every file read, before kustomize parses it.
	checkYAML func(name string, data []byte) error
	// sops decrypts SOPS files after the checks, so that kustomize sees only plaintext, in
	// memory; nil reads files as they are.
	sops *decrypter
}

var _ filesys.FileSystem = (*kustFS)(nil)

// rel maps a path kustomize asks for to a repository-relative path.
func (k *kustFS) rel(p string) (string, error) {
	if !filepath.IsAbs(p) {
		p = path.Join(virtualRoot, p)
	}
	p = path.Clean(filepath.ToSlash(p))
	if p == virtualRoot {
		return "", nil
	}
	if rest, ok := strings.CutPrefix(p, virtualRoot+"/"); ok {
		return rest, nil
	}
	return "", fmt.Errorf("%s: %w", p, ErrOutsideRepo)
}

func (k *kustFS) ReadFile(p string) ([]byte, error) {
	rel, err := k.rel(p)
	if err != nil {
		return nil, err
	}
	data, err := k.t.readFile(rel)
	if err != nil {
		return nil, err
	}
	if k.checkYAML != nil {
		if err := k.checkYAML(rel, data); err != nil {
			return nil, err
		}
	}
	if k.sops != nil {
		return k.sops.file(rel, data)
	}
	return data, nil
}

func (k *kustFS) Open(p string) (filesys.File, error) {
	data, err := k.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return &memFile{Reader: bytes.NewReader(data), name: path.Base(p), size: int64(len(data))}, nil
}

func (k *kustFS) stat(p string) (fs.FileInfo, error) {
	rel, err := k.rel(p)
	if err != nil {
		return nil, err
	}
	info, _, err := k.t.stat(rel)
	return info, err
}

func (k *kustFS) IsDir(p string) bool {
	info, err := k.stat(p)
	return err == nil && info.IsDir()
}

func (k *kustFS) Exists(p string) bool {
	_, err := k.stat(p)
	return err == nil
}

func (k *kustFS) ReadDir(p string) ([]string, error) {
	rel, err := k.rel(p)
	if err != nil {
		return nil, err
	}
	return k.t.readDir(rel)
}

// CleanedAbs returns p's folder and file name as kustomize's in-memory file system does: the
// whole path when it is a folder, else its parent (which must be a folder) and base name.
func (k *kustFS) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	if !filepath.IsAbs(p) {
		p = path.Join(virtualRoot, p)
	}
	p = path.Clean(p)
	if _, err := k.rel(p); err != nil {
		return "", "", err
	}
	if k.IsDir(p) {
		return filesys.ConfirmedDir(p), "", nil
	}
	dir, file := path.Split(p)
	dir = path.Clean(dir)
	if !k.IsDir(dir) {
		return "", "", fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	return filesys.ConfirmedDir(dir), file, nil
}

// Glob matches pattern's last element against the names in its folder; kustomize's built-in
// features do not glob across folders.
func (k *kustFS) Glob(pattern string) ([]string, error) {
	dir, base := path.Split(path.Clean(pattern))
	names, err := k.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, n := range names {
		if ok, err := path.Match(base, n); err != nil {
			return nil, err
		} else if ok {
			out = append(out, path.Join(dir, n))
		}
	}
	return out, nil
}

func (k *kustFS) Walk(root string, fn filepath.WalkFunc) error {
	info, err := k.stat(root)
	if err != nil {
		return fn(root, nil, err)
	}
	if err := fn(root, info, nil); err != nil || !info.IsDir() {
		if errors.Is(err, filepath.SkipDir) {
			return nil
		}
		return err
	}
	names, err := k.ReadDir(root)
	if err != nil {
		return fn(root, info, err)
	}
	for _, n := range names {
		if err := k.Walk(path.Join(root, n), fn); err != nil && !errors.Is(err, filepath.SkipDir) {
			return err
		}
	}
	return nil
}

func (k *kustFS) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (k *kustFS) Mkdir(string) error                  { return errReadOnly }
func (k *kustFS) MkdirAll(string) error               { return errReadOnly }
func (k *kustFS) RemoveAll(string) error              { return errReadOnly }
func (k *kustFS) WriteFile(string, []byte) error      { return errReadOnly }

// memFile is a file already read into memory.
type memFile struct {
	*bytes.Reader
	name string
	size int64
}

func (f *memFile) Write([]byte) (int, error) { return 0, errReadOnly }
func (f *memFile) Close() error              { return nil }
func (f *memFile) Stat() (os.FileInfo, error) {
	return fileInfo{name: f.name, size: f.size}, nil
}

type fileInfo struct {
	name string
	size int64
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return 0o444 }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return false }
func (i fileInfo) Sys() any           { return nil }
