package source

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/objfile"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Head asks the remote which commit the branch points at, without fetching any object (an
// ls-remote), and returns its full SHA. The call is bounded by Options.Timeout. Its error is
// an *Error that names the URL and branch, holds no credential, and wraps ErrBranchNotFound,
// ErrEmptyRepository, ErrRepositoryNotFound, ErrAuthentication, ErrHostKey or
// context.DeadlineExceeded where one applies.
func (s *Source) Head(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var refs []*plumbing.Reference
	err := await(ctx, func() (err error) {
		remote := git.NewRemote(memory.NewStorage(), s.remoteConfig())
		refs, err = remote.ListContext(ctx, &git.ListOptions{Auth: s.auth, PeelingOption: git.IgnorePeeled})
		return err
	})
	if err != nil {
		return "", s.fail(ctx, "ls-remote", err)
	}
	want := plumbing.NewBranchReferenceName(s.opts.Branch)
	for _, ref := range refs {
		if ref.Name() == want {
			return ref.Hash().String(), nil
		}
	}
	return "", s.fail(ctx, "ls-remote", ErrBranchNotFound)
}

// Fetch brings the branch's new commits into the cache, fetching only objects the cache does
// not have, and returns the branch's full SHA. A force-pushed branch is followed. A cache that
// cannot serve is rebuilt first (see cache.go). Fetches run one at a time, in this Source and
// across Sources and processes sharing the cache folder; waiting for another counts against
// Options.Timeout like the fetch itself. Its error is like Head's.
func (s *Source) Fetch(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	select {
	case s.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", s.fail(ctx, "fetch: wait for another fetch", ctx.Err())
	}
	unlock, err := s.cache.acquire(ctx)
	if err != nil {
		<-s.fetching
		return "", s.fail(ctx, "fetch: wait for the cache lock "+s.cache.lock, err)
	}
	var sha string
	err = await(ctx, func() (err error) {
		defer func() {
			unlock()
			<-s.fetching
		}()
		sha, err = s.fetch(ctx)
		return err
	})
	if err != nil {
		return "", s.fail(ctx, "fetch", err)
	}
	return sha, nil
}

// fetch updates refs/remotes/origin/BRANCH from the remote and returns where it points, after
// rebuilding a cache that cannot serve. A fetch that fails on the cache's own files (a ref
// file left empty by a process killed while writing it, a pack without its index) rebuilds
// the cache and fetches once more. Call it with the cache's lock held.
func (s *Source) fetch(ctx context.Context) (string, error) {
	if err := s.cache.ensure(); err != nil {
		return "", err
	}
	sha, err := s.fetchInto(ctx)
	if err == nil || !brokenCache(err) {
		return sha, err
	}
	if err := s.cache.rebuild(); err != nil {
		return "", err
	}
	return s.fetchInto(ctx)
}

// brokenCache tells an error of the cache's files from one of the remote or the network;
// only the former justifies fetching everything again.
func brokenCache(err error) bool {
	for _, local := range []error{dotgit.ErrEmptyRefFile, dotgit.ErrPackedRefsBadFormat,
		dotgit.ErrPackedRefsDuplicatedRef, dotgit.ErrIsDir, dotgit.ErrSymRefTargetNotFound,
		dotgit.ErrIdxNotFound, dotgit.ErrPackfileNotFound, idxfile.ErrMalformedIdxFile,
		idxfile.ErrUnsupportedVersion, objfile.ErrHeader} {
		if errors.Is(err, local) {
			return true
		}
	}
	return false
}

// fetchInto runs the fetch into the cache.
func (s *Source) fetchInto(ctx context.Context) (string, error) {
	r, err := git.PlainOpen(s.cache.repo)
	if err != nil {
		return "", fmt.Errorf("open cache %s: %w", s.cache.repo, err)
	}
	tracking := plumbing.NewRemoteReferenceName(remoteName, s.opts.Branch)
	// "+" lets the tracking ref move to an unrelated commit after a force push.
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(s.opts.Branch), tracking))
	err = git.NewRemote(r.Storer, s.remoteConfig()).FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{spec},
		Auth:       s.auth,
		Tags:       git.NoTags,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return "", err
	}
	ref, err := r.Storer.Reference(tracking)
	if err != nil {
		return "", fmt.Errorf("cache %s: %s: %w", s.cache.repo, tracking, err)
	}
	return ref.Hash().String(), nil
}

// remoteConfig is the remote as go-git talks to it: the URL as given, credentials included.
// It is never saved in the cache.
func (s *Source) remoteConfig() *config.RemoteConfig {
	return &config.RemoteConfig{Name: remoteName, URLs: []string{s.opts.URL}}
}

// await runs fn and returns its error, or ctx's error as soon as ctx ends, whichever comes
// first. go-git's SSH transport ignores the context while it dials and shakes hands (the
// dial has a timeout, the handshake none), so fn may outlive the call: it then finishes in
// the background, and a fetch keeps its turn until it does.
func await(ctx context.Context, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done: // finished just as ctx ended: keep the result
			return err
		default:
			return ctx.Err()
		}
	}
}
