package source_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/sync/source"
)

// All tests talk to a real git server (git http-backend, or an SSH server running
// git-upload-pack) on loopback through go-git, as the agent does.

var config = map[string]string{
	"ferry.yaml": "kind: Pipeline\n",
	"environments/staging/kustomization.yaml":    "newTag: 1.0.0\n",
	"environments/production/kustomization.yaml": "newTag: 0.9.0\n",
}

// testContext bounds a test's calls well above any timeout the tests set.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newSource returns a Source for url with a fresh cache; edit changes its options first.
func newSource(t *testing.T, url string, edit func(*source.Options)) (*source.Source, string) {
	t.Helper()
	opts := source.DefaultOptions()
	opts.URL = url
	opts.CacheDir = filepath.Join(t.TempDir(), "cache")
	if edit != nil {
		edit(&opts)
	}
	s, err := source.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, opts.CacheDir
}

func fetch(t *testing.T, s *source.Source) string {
	t.Helper()
	sha, err := s.Fetch(testContext(t))
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return sha
}

func readFile(t *testing.T, s *source.Source, revision, name string) string {
	t.Helper()
	tree, err := s.Tree(testContext(t), revision)
	if err != nil {
		t.Fatalf("Tree(%s): %v", revision, err)
	}
	data, err := fs.ReadFile(tree, name)
	if err != nil {
		t.Fatalf("Tree(%s): %v", revision, err)
	}
	return string(data)
}

// cachedObjects counts the objects in the packs of the cache folder's repositories; go-git
// stores every fetch as a pack.
func cachedObjects(t *testing.T, cacheDir string) int {
	t.Helper()
	idxs, err := filepath.Glob(filepath.Join(cacheDir, "*.git", "objects", "pack", "*.idx"))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, name := range idxs {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		idx := idxfile.NewMemoryIndex()
		err = idxfile.NewDecoder(f).Decode(idx)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n, err := idx.Count()
		if err != nil {
			t.Fatal(err)
		}
		total += int(n)
	}
	return total
}

func TestHeadDoesNotFetch(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	s, cache := newSource(t, srv.NewRepo(t, "config", config), nil)

	sha, err := s.Head(testContext(t))
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if want := srv.Head(t, "config"); sha != want {
		t.Errorf("Head = %s, want the server's main %s", sha, want)
	}
	if n := cachedObjects(t, cache); n != 0 {
		t.Errorf("cache holds %d objects after Head, want 0", n)
	}
	if _, err := s.Tree(testContext(t), sha); !errors.Is(err, source.ErrRevisionNotFound) {
		t.Errorf("Tree before Fetch: %v, want %v", err, source.ErrRevisionNotFound)
	}
}

func TestFetchNewCommits(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	s, cache := newSource(t, srv.NewRepo(t, "config", config), nil)

	first := fetch(t, s)
	if want := srv.Head(t, "config"); first != want {
		t.Fatalf("Fetch = %s, want the server's main %s", first, want)
	}
	if got := readFile(t, s, first, "environments/staging/kustomization.yaml"); got != "newTag: 1.0.0\n" {
		t.Errorf("staging overlay at %s = %q, want newTag 1.0.0", first, got)
	}
	afterFirst := cachedObjects(t, cache)

	second := srv.Commit(t, "config", "staging: 1.1.0\n\nbody", map[string]string{"environments/staging/kustomization.yaml": "newTag: 1.1.0\n"})
	if head, err := s.Head(testContext(t)); err != nil || head != second {
		t.Fatalf("Head after a commit = %s, %v; want %s", head, err, second)
	}
	if got := fetch(t, s); got != second {
		t.Fatalf("Fetch after a commit = %s, want %s", got, second)
	}
	if got := readFile(t, s, second, "environments/staging/kustomization.yaml"); got != "newTag: 1.1.0\n" {
		t.Errorf("staging overlay at %s = %q, want newTag 1.1.0", second, got)
	}
	if got := readFile(t, s, first[:8], "environments/staging/kustomization.yaml"); got != "newTag: 1.0.0\n" {
		t.Errorf("staging overlay at the first commit, by a short SHA = %q, want newTag 1.0.0", got)
	}
	// The second fetch brings only the new commit, root tree, environments and staging trees,
	// and the changed file.
	if n := cachedObjects(t, cache) - afterFirst; n != 5 {
		t.Errorf("second fetch added %d objects, want the 5 new ones", n)
	}
	if got := fetch(t, s); got != second {
		t.Errorf("Fetch with nothing new = %s, want %s", got, second)
	}
}

func TestCommitInfo(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	s, _ := newSource(t, srv.NewRepo(t, "config", config), nil)
	sha := srv.Commit(t, "config", "production: 1.1.0\n\nPromoted from staging.", map[string]string{"environments/production/kustomization.yaml": "newTag: 1.1.0\n"})
	fetch(t, s)

	got, err := s.Commit(testContext(t), sha)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	want := source.CommitInfo{
		Revision: sha,
		Short:    sha[:7],
		Subject:  "production: 1.1.0",
		Author:   "ferry test",
		Time:     time.Date(2024, 1, 1, 12, 1, 0, 0, time.UTC),
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("Commit (-want +got):\n%s", diff)
	}
	for _, rev := range []string{"0000000000000000000000000000000000000000", "HEAD", "main", ""} {
		if _, err := s.Commit(testContext(t), rev); err == nil {
			t.Errorf("Commit(%q) succeeded, want an error", rev)
		}
	}
}

func TestFetchFollowsForcePush(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	s, _ := newSource(t, srv.NewRepo(t, "config", config), nil)
	old := fetch(t, s)

	rewritten := srv.ForcePush(t, "config", map[string]string{"ferry.yaml": "kind: Pipeline # rewritten\n"})
	if got := fetch(t, s); got != rewritten {
		t.Fatalf("Fetch after a force push = %s, want %s", got, rewritten)
	}
	tree, err := s.Tree(testContext(t), rewritten)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(tree, "environments"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("environments/ after the force push: %v, want it gone", err)
	}
	if got := readFile(t, s, rewritten, "ferry.yaml"); got != "kind: Pipeline # rewritten\n" {
		t.Errorf("ferry.yaml after the force push = %q", got)
	}
	// The old commit stays readable from the cache, e.g. for a rollback's diff.
	if got := readFile(t, s, old, "ferry.yaml"); got != "kind: Pipeline\n" {
		t.Errorf("ferry.yaml at the old commit = %q", got)
	}
}

func TestCacheSurvivesRestart(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config", config)
	s, cache := newSource(t, url, nil)
	sha := fetch(t, s)

	again, err := source.New(source.Options{URL: url, CacheDir: cache})
	if err != nil {
		t.Fatalf("New on an existing cache: %v", err)
	}
	if got := readFile(t, again, sha, "ferry.yaml"); got != "kind: Pipeline\n" {
		t.Errorf("ferry.yaml from the reopened cache = %q", got)
	}
	// Another URL gets a repository of its own in the same folder; the first one stays.
	other := srv.NewRepo(t, "other", map[string]string{"ferry.yaml": "kind: Pipeline # other\n"})
	s2, err := source.New(source.Options{URL: other, CacheDir: cache})
	if err != nil {
		t.Fatalf("New with another URL in the same cache folder: %v", err)
	}
	if got := readFile(t, s2, fetch(t, s2), "ferry.yaml"); got != "kind: Pipeline # other\n" {
		t.Errorf("ferry.yaml of the other URL = %q", got)
	}
	if got := readFile(t, again, fetch(t, again), "ferry.yaml"); got != "kind: Pipeline\n" {
		t.Errorf("ferry.yaml after the other URL's fetch = %q", got)
	}
}

// TestConcurrentUse runs Head, Fetch and Tree from several goroutines while the branch
// moves; run with -race.
func TestConcurrentUse(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	s, _ := newSource(t, srv.NewRepo(t, "config", config), nil)
	first := fetch(t, s)
	ctx := testContext(t)

	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Go(func() {
			switch i % 3 {
			case 0:
				_, errs[i] = s.Fetch(ctx)
			case 1:
				_, errs[i] = s.Head(ctx)
			default:
				tree, err := s.Tree(ctx, first)
				if err == nil {
					_, err = fs.ReadFile(tree, "environments/production/kustomization.yaml")
				}
				errs[i] = err
			}
		})
		if i == 5 {
			srv.Commit(t, "config", "move", map[string]string{"ferry.yaml": "kind: Pipeline # moved\n"})
		}
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if got, want := fetch(t, s), srv.Head(t, "config"); got != want {
		t.Errorf("Fetch after the concurrent calls = %s, want %s", got, want)
	}
}
