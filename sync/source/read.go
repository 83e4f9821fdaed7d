package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ferry-cd/ferry/internal/repoview"
)

// CommitInfo describes a commit for logs and status.
type CommitInfo struct {
	// Revision is the full SHA.
	Revision string
	// Short is the SHA's first seven characters.
	Short string
	// Subject is the first line of the message.
	Subject string
	// Author is the author's name.
	Author string
	// Time is the author time.
	Time time.Time
}

// Tree returns a read-only view of the tree of revision, a commit SHA (full, or abbreviated
// to at least 4 characters) already fetched into the cache. It reads the cache only. The
// view reads objects lazily through its own handle on the cache, unaffected by later
// fetches; use it from one goroutine at a time. Its error is an *Error that names the URL and
// revision, and wraps ErrRevisionNotFound when the commit is not in the cache.
func (s *Source) Tree(ctx context.Context, revision string) (fs.FS, error) {
	c, err := s.commit(ctx, revision)
	if err != nil {
		return nil, failed(err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, failed(fmt.Errorf("%s: commit %s: tree: %w", s.shown, revision, err))
	}
	return repoview.NewTreeFS(tree), nil
}

// Commit returns the SHA, subject, author and time of revision, which Tree would accept. Its
// error is like Tree's.
func (s *Source) Commit(ctx context.Context, revision string) (CommitInfo, error) {
	c, err := s.commit(ctx, revision)
	if err != nil {
		return CommitInfo{}, failed(err)
	}
	sha := c.Hash.String()
	subject, _, _ := strings.Cut(c.Message, "\n")
	return CommitInfo{
		Revision: sha,
		Short:    sha[:7],
		Subject:  strings.TrimSpace(subject),
		Author:   c.Author.Name,
		Time:     c.Author.When,
	}, nil
}

var commitSHA = regexp.MustCompile(`^[0-9a-f]{4,40}$`)

// commit finds revision in a fresh handle on the cache.
func (s *Source) commit(ctx context.Context, revision string) (*object.Commit, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: commit %s: %w", s.shown, revision, err)
	}
	if !commitSHA.MatchString(strings.ToLower(revision)) {
		return nil, fmt.Errorf("%s: revision %q: want a commit SHA (hex, at least 4 characters)", s.shown, revision)
	}
	r, err := git.PlainOpen(s.cache.repo)
	if errors.Is(err, git.ErrRepositoryNotExists) { // nothing fetched yet, or a rebuild under way
		return nil, fmt.Errorf("%s: commit %s: %w", s.shown, revision, ErrRevisionNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: open cache %s: %w", s.shown, s.cache.repo, err)
	}
	hash := plumbing.NewHash(revision)
	if len(revision) < 40 {
		h, err := r.ResolveRevision(plumbing.Revision(strings.ToLower(revision)))
		if err != nil {
			return nil, fmt.Errorf("%s: commit %s: %w", s.shown, revision, ErrRevisionNotFound)
		}
		hash = *h
	}
	c, err := r.CommitObject(hash)
	if err != nil {
		return nil, fmt.Errorf("%s: commit %s: %w", s.shown, revision, ErrRevisionNotFound)
	}
	return c, nil
}
