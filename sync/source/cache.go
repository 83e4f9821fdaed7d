package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
)

// The cache folder (Options.CacheDir) holds, for each repository URL, a bare repository
// ferry-KEY.git and a lock file ferry-KEY.lock beside it, KEY being a hash of the URL without
// credentials. The repository is built in a temporary folder ferry-KEY.git.tmp-* and renamed
// into place, so that it is either whole or missing; both happen inside the cache folder,
// because the folder itself is often a volume's mount point under a read-only root (the
// manifests' emptyDir): it cannot be renamed, nor have siblings.
//
// The lock is an advisory flock on ferry-KEY.lock, taken by every Fetch (of any Source of any
// process) around checking, rebuilding and fetching into the repository. Reads (Tree, Commit)
// take no lock: a fetch only adds objects and moves a ref, both atomically, and a rebuild
// happens only to a repository that no fetch can use anyway.
//
// A repository that cannot serve (missing, half-made, not a repository, unreadable config, or
// recording another URL) is rebuilt empty under the lock: it is ferry's own folder, and the
// next fetch fills it again. So is one whose files fail a fetch (see brokenCache). Damage
// that only a read shows (a pack garbled on disk) is not detected: reads fail until the
// folder is removed. Nothing else in the cache folder is ever touched, so a folder
// chosen by the user may hold other files, and the caches of several URLs.

// lockPoll is how often a Fetch tries again for a lock another Source or process holds.
const lockPoll = 25 * time.Millisecond

// cache names the files of one URL's cache.
type cache struct {
	dir  string // Options.CacheDir
	repo string // the bare repository
	lock string // the lock file
	url  string // the remote URL recorded in the repository, without credentials
}

func newCache(dir, url string) cache {
	sum := sha256.Sum256([]byte(url))
	base := filepath.Join(dir, "ferry-"+hex.EncodeToString(sum[:8]))
	return cache{dir: dir, repo: base + ".git", lock: base + ".lock", url: url}
}

// prepare creates the cache folder when missing, and the lock file, so that a folder that
// cannot be written is reported at once.
func (c cache) prepare() error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("cache folder: %w", err)
	}
	f, err := os.OpenFile(c.lock, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("cache lock: %w", err)
	}
	return f.Close()
}

// acquire takes the cache's lock, trying again until ctx ends while another Source or process
// holds it, and returns the function that releases it. Its error is ctx's, or says why the lock
// file cannot be opened or locked.
func (c cache) acquire(ctx context.Context) (release func(), err error) {
	for {
		f, err := c.tryLock()
		if err != nil {
			return nil, err
		}
		if f != nil {
			return func() { f.Close() }, nil // closing the file releases its flock
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}

// tryLock returns the lock file, locked, or nil when another holder has it. A lock file
// removed or replaced while it was being locked is opened again, so that two holders never
// lock two different files.
func (c cache) tryLock() (*os.File, error) {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache folder: %w", err)
	}
	f, err := os.OpenFile(c.lock, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cache lock: %w", err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EINTR) {
		f.Close()
		return nil, nil
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cache lock %s: %w", c.lock, err)
	}
	held, errHeld := f.Stat()
	named, errNamed := os.Stat(c.lock)
	if errHeld != nil || errNamed != nil || !os.SameFile(held, named) {
		f.Close()
		return nil, nil
	}
	return f, nil
}

// ensure leaves a usable repository in place: it keeps one that caches c.url, and rebuilds
// anything else. It removes the temporary folders of builds that were cut short. Call it
// with the lock held. Its error says why no repository could be built (a full disk, a folder
// that cannot be written).
func (c cache) ensure() error {
	leftovers, _ := filepath.Glob(c.repo + ".tmp-*")
	for _, dir := range leftovers {
		os.RemoveAll(dir) // best effort: a leftover only takes space
	}
	if c.check() == nil {
		return nil
	}
	return c.rebuild()
}

// check returns why the repository cannot serve as the cache of c.url, or nil.
func (c cache) check() error {
	r, err := git.PlainOpen(c.repo)
	if err != nil {
		return err
	}
	rc, err := r.Remote(remoteName)
	if err != nil {
		return err
	}
	if got := rc.Config().URLs; len(got) != 1 || got[0] != c.url {
		return fmt.Errorf("holds another repository (%v)", got)
	}
	return nil
}

// rebuild replaces the repository with an empty one that records c.url, built aside and
// renamed into place.
func (c cache) rebuild() error {
	tmp, err := os.MkdirTemp(c.dir, filepath.Base(c.repo)+".tmp-")
	if err != nil {
		return fmt.Errorf("cache %s: %w", c.repo, err)
	}
	defer os.RemoveAll(tmp) // nothing is left there after the rename
	r, err := git.PlainInit(tmp, true)
	if err != nil {
		return fmt.Errorf("cache %s: %w", c.repo, err)
	}
	if _, err := r.CreateRemote(&config.RemoteConfig{Name: remoteName, URLs: []string{c.url}}); err != nil {
		return fmt.Errorf("cache %s: %w", c.repo, err)
	}
	if err := os.RemoveAll(c.repo); err != nil {
		return fmt.Errorf("cache %s: remove the unusable cache: %w", c.repo, err)
	}
	if err := os.Rename(tmp, c.repo); err != nil {
		return fmt.Errorf("cache %s: %w", c.repo, err)
	}
	return nil
}
