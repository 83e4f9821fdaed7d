package source_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/sync/source"
)

// The git cache is only a cache: these tests start Sources together on one fresh folder, as
// agents (or CLI runs) started at the same moment do, and damage the cache in the ways a
// killed process, a full disk or a person can, and expect every start and fetch to work.

// startAndFetch is an agent's start: New on cache, a Fetch that must land on want, and a read
// of ferry.yaml at that commit.
func startAndFetch(ctx context.Context, url, cache, want string) error {
	opts := source.DefaultOptions()
	opts.URL, opts.CacheDir = url, cache
	s, err := source.New(opts)
	if err != nil {
		return fmt.Errorf("New: %w", err)
	}
	return fetchAndRead(ctx, s, want)
}

// fetchAndRead fetches with s, expects want, and reads ferry.yaml at it.
func fetchAndRead(ctx context.Context, s *source.Source, want string) error {
	sha, err := s.Fetch(ctx)
	if err != nil {
		return fmt.Errorf("Fetch: %w", err)
	}
	if sha != want {
		return fmt.Errorf("Fetch = %s, want %s", sha, want)
	}
	tree, err := s.Tree(ctx, sha)
	if err != nil {
		return err
	}
	data, err := fs.ReadFile(tree, "ferry.yaml")
	if err != nil {
		return fmt.Errorf("Tree(%s): %w", sha, err)
	}
	if string(data) != config["ferry.yaml"] {
		return fmt.Errorf("ferry.yaml at %s = %q", sha, data)
	}
	return nil
}

// cacheRepo returns the bare repository inside the cache folder: the folder itself (the
// layout of older ferry versions) or the one repository in it.
func cacheRepo(t *testing.T, cache string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(cache, "HEAD")); err == nil {
		return cache
	}
	repos, err := filepath.Glob(filepath.Join(cache, "*.git"))
	if err != nil || len(repos) != 1 {
		t.Fatalf("cache %s: repositories %v, %v; want one", cache, repos, err)
	}
	return repos[0]
}

func TestRacingStarts(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config", config)
	want := srv.Head(t, "config")
	ctx := testContext(t)
	for round := range 20 {
		cache := filepath.Join(t.TempDir(), "cache")
		errs := make([]error, 2+round%3)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { errs[i] = startAndFetch(ctx, url, cache, want) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, start %d of %d: %v", round, i+1, len(errs), err)
			}
		}
	}
}

// TestRacingProcesses starts this test binary several times at once on one fresh cache
// folder (see TestCacheHelperProcess): separate processes, as two agents are.
func TestRacingProcesses(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config", config)
	want := srv.Head(t, "config")
	ctx := testContext(t)
	for round := range 8 {
		cache := filepath.Join(t.TempDir(), "cache")
		outs := make([][]byte, 3)
		errs := make([]error, len(outs))
		var wg sync.WaitGroup
		for i := range outs {
			wg.Go(func() {
				cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCacheHelperProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), "FERRY_CACHE_HELPER_URL="+url, "FERRY_CACHE_HELPER_DIR="+cache, "FERRY_CACHE_HELPER_WANT="+want)
				outs[i], errs[i] = cmd.CombinedOutput()
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, process %d: %v\n%s", round, i+1, err, outs[i])
			}
		}
	}
}

// TestCacheHelperProcess is one process of TestRacingProcesses; it does nothing in a normal
// test run.
func TestCacheHelperProcess(t *testing.T) {
	url := os.Getenv("FERRY_CACHE_HELPER_URL")
	if url == "" {
		t.Skip("a helper process of TestRacingProcesses")
	}
	err := startAndFetch(testContext(t), url, os.Getenv("FERRY_CACHE_HELPER_DIR"), os.Getenv("FERRY_CACHE_HELPER_WANT"))
	if err != nil {
		t.Fatal(err)
	}
}

// TestHalfMadeCacheOfOlderFerry starts on what an older ferry killed (or raced) between
// creating the cache and recording its remote left behind: a bare repository without remote.
func TestHalfMadeCacheOfOlderFerry(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config", config)
	cache := filepath.Join(t.TempDir(), "cache")
	if _, err := git.PlainInit(cache, true); err != nil {
		t.Fatal(err)
	}
	if err := startAndFetch(testContext(t), url, cache, srv.Head(t, "config")); err != nil {
		t.Fatal(err)
	}
}

func TestUnusableCacheIsRebuilt(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config", config)
	want := srv.Head(t, "config")
	write := func(t *testing.T, name, content string) {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, repo string)
	}{
		{"half-made: no remote", func(t *testing.T, repo string) {
			if err := os.RemoveAll(repo); err != nil {
				t.Fatal(err)
			}
			if _, err := git.PlainInit(repo, true); err != nil {
				t.Fatal(err)
			}
		}},
		{"corrupt config", func(t *testing.T, repo string) {
			write(t, filepath.Join(repo, "config"), "[remote \"origin\"\n\turl = \x00\x01garbage\n")
		}},
		{"empty config", func(t *testing.T, repo string) { write(t, filepath.Join(repo, "config"), "") }},
		{"not a repository", func(t *testing.T, repo string) {
			if err := os.RemoveAll(repo); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(repo, "junk"), 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(repo, "HEAD"), "garbage")
		}},
		{"removed", func(t *testing.T, repo string) {
			if err := os.RemoveAll(repo); err != nil {
				t.Fatal(err)
			}
		}},
		{"ref file left empty", func(t *testing.T, repo string) {
			write(t, filepath.Join(repo, "refs", "remotes", "origin", "main"), "")
		}},
		{"build cut short", func(t *testing.T, repo string) {
			if err := os.RemoveAll(repo); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(repo+".tmp-12345", "objects"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"another remote", func(t *testing.T, repo string) {
			r, err := git.PlainOpen(repo)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := r.Config()
			if err != nil {
				t.Fatal(err)
			}
			cfg.Remotes["origin"].URLs = []string{srv.RepoURL("other")}
			if err := r.SetConfig(cfg); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			s, cache := newSource(t, url, nil)
			fetch(t, s)
			repo := cacheRepo(t, cache)

			// The running agent's next fetch repairs the cache.
			tc.damage(t, repo)
			if err := fetchAndRead(ctx, s, want); err != nil {
				t.Errorf("running Source after the damage: %v", err)
			}
			// So does a restarted agent's start.
			tc.damage(t, repo)
			if err := startAndFetch(ctx, url, cache, want); err != nil {
				t.Errorf("new Source after the damage: %v", err)
			}
			if left, _ := filepath.Glob(filepath.Join(cache, "*.tmp-*")); len(left) > 0 {
				t.Errorf("temporary folders left in the cache: %v", left)
			}
		})
	}
}

// TestFetchWaitsForTheCacheLock holds the cache's lock as another process would: a fetch
// waits for it (up to its timeout) and says what it waited for; once the lock is free,
// fetches work again.
func TestFetchWaitsForTheCacheLock(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config", config)
	s, cache := newSource(t, url, func(o *source.Options) { o.Timeout = 2 * time.Second })
	fetch(t, s)
	locks, err := filepath.Glob(filepath.Join(cache, "*.lock"))
	if err != nil || len(locks) != 1 {
		t.Fatalf("lock files %v, %v; want one", locks, err)
	}
	f, err := os.Open(locks[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	_, err = s.Fetch(testContext(t))
	if want := "fetch: wait for the cache lock " + locks[0]; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Fetch while another process holds the lock: %v, want an error saying %q", err, want)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if err := fetchAndRead(testContext(t), s, srv.Head(t, "config")); err != nil {
		t.Errorf("after the lock was released: %v", err)
	}
}
