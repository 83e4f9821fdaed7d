package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
)

// Limits bound what one render may read and produce. The zero value means DefaultLimits.
type Limits struct {
	// MaxFileBytes caps a single file; bigger files are refused before they are read.
	MaxFileBytes int64
	// MaxTotalBytes caps all bytes read in one render.
	MaxTotalBytes int64
	// MaxFiles caps the number of distinct files read in one render.
	MaxFiles int
	// MaxObjects caps the objects one render may output.
	MaxObjects int
	// MaxAliasNodes caps the YAML nodes a file may expand to through anchors and aliases.
	MaxAliasNodes int
	// MaxSymlinks caps the symlinks followed while resolving one path.
	MaxSymlinks int
}

// DefaultLimits returns the caps documented in the README: 16 MiB per file, 128 MiB in all,
// 10,000 files, 20,000 objects, 100,000 nodes of YAML alias expansion per file and 40
// symlinks per path.
func DefaultLimits() Limits {
	return Limits{
		MaxFileBytes:  16 << 20,
		MaxTotalBytes: 128 << 20,
		MaxFiles:      10_000,
		MaxObjects:    20_000,
		MaxAliasNodes: 100_000,
		MaxSymlinks:   40,
	}
}

// ErrOutsideRepo is matched by errors.Is when a path or a symlink leaves the repository.
var ErrOutsideRepo = errors.New("outside the repository")

// ErrLimit is matched by errors.Is when a render exceeds one of its Limits.
var ErrLimit = errors.New("render limit exceeded")

// tree is a read-only, confined view of a repository: every path is relative to the repository
// root, symlinks are followed only while their target stays inside it, and reads are counted
// against Limits. It is safe for concurrent use.
type tree struct {
	ctx    context.Context
	fsys   fs.FS
	limits Limits

	mu    sync.Mutex
	read  map[string][]byte // contents of the files read so far, by resolved path
	bytes int64
	uses  map[string]use // what the render asked of each path, for its Inputs
	// infos are the answers of Lstat so far: a render reads one revision, and kustomize asks
	// about each path several times (and each path's parent folders through resolve).
	infos map[string]lstatResult
}

type lstatResult struct {
	info fs.FileInfo
	err  error
}

func newTree(ctx context.Context, fsys fs.FS, limits Limits) *tree {
	return &tree{ctx: ctx, fsys: fsys, limits: limits, read: map[string][]byte{}, uses: map[string]use{},
		infos: map[string]lstatResult{}}
}

// resolve turns a clean repository-relative path into the path of the entry it names, with
// every symlink along the way followed. It fails with ErrOutsideRepo when a symlink points
// outside the repository and with fs.ErrNotExist when something is missing.
func (t *tree) resolve(name string) (string, error) {
	if err := t.ctx.Err(); err != nil {
		return "", err
	}
	todo := splitPath(name)
	var done []string
	hops := 0
	for len(todo) > 0 {
		part := todo[0]
		todo = todo[1:]
		if part == ".." {
			if len(done) == 0 {
				return "", fmt.Errorf("%s: %w", name, ErrOutsideRepo)
			}
			done = done[:len(done)-1]
			continue
		}
		cur := path.Join(append(done, part)...)
		info, err := t.lstat(cur)
		if err != nil {
			return "", err
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			done = append(done, part)
			continue
		}
		if hops++; hops > t.limits.MaxSymlinks {
			return "", fmt.Errorf("%s: more than %d symlinks: %w", name, t.limits.MaxSymlinks, ErrLimit)
		}
		target, err := t.readLink(cur)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) || strings.HasPrefix(target, "/") {
			return "", fmt.Errorf("%s: symlink %s points to %s: %w", name, cur, target, ErrOutsideRepo)
		}
		// The target is relative to the link's folder: resolve it from there.
		todo = append(splitPath(target), todo...)
		if depthAfter(done, target) < 0 {
			return "", fmt.Errorf("%s: symlink %s points to %s: %w", name, cur, target, ErrOutsideRepo)
		}
	}
	return path.Join(done...), nil
}

// depthAfter returns how deep below the root a relative target leads from the folder done.
func depthAfter(done []string, target string) int {
	depth := len(done)
	for _, p := range splitPath(target) {
		if p == ".." {
			depth--
			if depth < 0 {
				return depth
			}
		} else {
			depth++
		}
	}
	return depth
}

func splitPath(p string) []string {
	var parts []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			parts = append(parts, s)
		}
	}
	return parts
}

func (t *tree) lstat(name string) (fs.FileInfo, error) {
	if name == "" {
		name = "."
	}
	t.note(name, looked)
	t.mu.Lock()
	r, ok := t.infos[name]
	t.mu.Unlock()
	if ok {
		return r.info, r.err
	}
	if l, ok := t.fsys.(fs.ReadLinkFS); ok {
		r.info, r.err = l.Lstat(name)
	} else {
		r.info, r.err = fs.Stat(t.fsys, name)
	}
	if t.ctx.Err() == nil { // an answer cut short by the end of ctx is not the repository's
		t.mu.Lock()
		t.infos[name] = r
		t.mu.Unlock()
	}
	return r.info, r.err
}

func (t *tree) readLink(name string) (string, error) {
	l, ok := t.fsys.(fs.ReadLinkFS)
	if !ok {
		return "", fmt.Errorf("%s: symlinks are not supported by this source", name)
	}
	t.note(name, read)
	return l.ReadLink(name)
}

// stat returns the info of the entry name resolves to.
func (t *tree) stat(name string) (fs.FileInfo, string, error) {
	resolved, err := t.resolve(name)
	if err != nil {
		return nil, "", err
	}
	info, err := t.lstat(resolved)
	return info, resolved, err
}

// readFile reads a file through resolve, refusing files over MaxFileBytes before reading them
// and counting files and bytes against the render's limits. Contents are kept, so a file
// kustomize and the checker both read is read and counted once.
func (t *tree) readFile(name string) ([]byte, error) {
	info, resolved, err := t.stat(name)
	if err != nil {
		return nil, err
	}
	t.note(resolved, read)
	if data, ok := t.cached(resolved); ok {
		return data, nil
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", name)
	}
	if info.Size() > t.limits.MaxFileBytes {
		return nil, fmt.Errorf("%s: %d bytes, over the %d-byte file limit: %w", name, info.Size(), t.limits.MaxFileBytes, ErrLimit)
	}
	f, err := t.fsys.Open(resolvedName(resolved))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Read at most one byte more than the cap so a file that grew after stat is still refused.
	data, err := io.ReadAll(io.LimitReader(f, t.limits.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	if int64(len(data)) > t.limits.MaxFileBytes {
		return nil, fmt.Errorf("%s: over the %d-byte file limit: %w", name, t.limits.MaxFileBytes, ErrLimit)
	}
	if err := t.keep(resolved, data); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return data, nil
}

func (t *tree) cached(resolved string) ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	data, ok := t.read[resolved]
	return data, ok
}

// keep records a file read, enforcing MaxFiles and MaxTotalBytes.
func (t *tree) keep(resolved string, data []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.read[resolved]; ok {
		return nil
	}
	if len(t.read) >= t.limits.MaxFiles {
		return fmt.Errorf("more than %d files read: %w", t.limits.MaxFiles, ErrLimit)
	}
	t.bytes += int64(len(data))
	if t.bytes > t.limits.MaxTotalBytes {
		return fmt.Errorf("more than %d bytes read: %w", t.limits.MaxTotalBytes, ErrLimit)
	}
	t.read[resolved] = data
	return nil
}

// readDir lists the names in a folder, sorted.
func (t *tree) readDir(name string) ([]string, error) {
	resolved, err := t.resolve(name)
	if err != nil {
		return nil, err
	}
	t.note(resolved, listed)
	entries, err := fs.ReadDir(t.fsys, resolvedName(resolved))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func resolvedName(p string) string {
	if p == "" {
		return "."
	}
	return p
}
