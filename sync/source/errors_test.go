package source_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/sync/source"
)

// call is Head or Fetch.
type call struct {
	name string
	run  func(*source.Source, context.Context) (string, error)
}

var calls = []call{
	{"Head", (*source.Source).Head},
	{"Fetch", (*source.Source).Fetch},
}

// assertClean fails the test when msg holds any of secrets.
func assertClean(t *testing.T, msg string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(msg, secret) {
			t.Errorf("message holds the credential %q: %s", secret, msg)
		}
	}
}

func TestBasicAuth(t *testing.T) {
	const user, password = "ci", "glpat-s3cret-token-1234"
	srv := gitserver.Start(t, gitserver.Options{Username: user, Password: password})
	url := srv.NewRepo(t, "config", config)
	host := strings.TrimPrefix(srv.URL, "http://")

	good := []struct {
		name string
		url  string
		auth source.Auth
	}{
		{"credentials in Auth", url, source.Auth{Username: user, Password: password}},
		{"credentials in the URL", srv.AuthURL("config"), source.Auth{}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			s, cache := newSource(t, tc.url, func(o *source.Options) { o.Auth = tc.auth })
			if got, want := fetch(t, s), srv.Head(t, "config"); got != want {
				t.Errorf("Fetch = %s, want %s", got, want)
			}
			cfgs, err := filepath.Glob(filepath.Join(cache, "*.git", "config"))
			if err != nil || len(cfgs) != 1 {
				t.Fatalf("cache configs %v, %v; want one", cfgs, err)
			}
			cfg, err := os.ReadFile(cfgs[0])
			if err != nil {
				t.Fatal(err)
			}
			assertClean(t, string(cfg), password)
		})
	}

	const wrong = "wrong-password-5678"
	bad := []struct {
		name    string
		url     string
		auth    source.Auth
		secrets []string
	}{
		{"no credentials", url, source.Auth{}, nil},
		{"wrong password in Auth", url, source.Auth{Username: user, Password: wrong}, []string{wrong}},
		{"wrong token alone in Auth", url, source.Auth{Password: wrong}, []string{wrong}},
		{"wrong password in the URL", "http://" + user + ":" + wrong + "@" + host + "/config.git", source.Auth{}, []string{wrong}},
		{"token as the URL's user", "http://" + wrong + "@" + host + "/config.git", source.Auth{}, []string{wrong}},
	}
	for _, tc := range bad {
		for _, c := range calls {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				s, _ := newSource(t, tc.url, func(o *source.Options) { o.Auth = tc.auth })
				_, err := c.run(s, testContext(t))
				if !errors.Is(err, source.ErrAuthentication) {
					t.Fatalf("%s: %v, want %v", c.name, err, source.ErrAuthentication)
				}
				assertClean(t, err.Error(), append(tc.secrets, password)...)
				if !strings.Contains(err.Error(), host+"/config.git (branch main)") {
					t.Errorf("error does not name the URL and branch: %v", err)
				}
			})
		}
	}
}

func TestRemoteErrors(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config", config)
	empty := srv.NewEmptyRepo(t, "empty")
	tests := []struct {
		name, url, branch string
		want              error
	}{
		{"missing branch", url, "release", source.ErrBranchNotFound},
		{"empty repository", empty, "main", source.ErrEmptyRepository},
		{"missing repository", srv.RepoURL("nothing-here"), "main", source.ErrRepositoryNotFound},
	}
	for _, tc := range tests {
		for _, c := range calls {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				s, _ := newSource(t, tc.url, func(o *source.Options) { o.Branch = tc.branch })
				_, err := c.run(s, testContext(t))
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: %v, want %v", c.name, err, tc.want)
				}
				if prefix := tc.url + " (branch " + tc.branch + ")"; !strings.HasPrefix(err.Error(), prefix) {
					t.Errorf("error %q does not start with %q", err, prefix)
				}
			})
		}
	}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentServer returns a loopback address that accepts connections and never answers.
func silentServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func TestUnreachable(t *testing.T) {
	const password = "hunter2-token"
	key, knownHosts := sshClientConfig(t)
	tests := []struct {
		name, url string
		wantErr   error // besides naming the URL; nil: any error
	}{
		{"closed port", "http://ci:" + password + "@" + closedPort(t) + "/config.git", nil},
		{"silent HTTP server", "http://ci:" + password + "@" + silentServer(t) + "/config.git", context.DeadlineExceeded},
		{"silent SSH server", "ssh://git@" + silentServer(t) + "/config.git", context.DeadlineExceeded},
	}
	for _, tc := range tests {
		for _, c := range calls {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				s, _ := newSource(t, tc.url, func(o *source.Options) {
					o.Timeout = time.Second
					o.Auth = source.Auth{SSHPrivateKey: key, KnownHosts: knownHosts}
				})
				start := time.Now()
				_, err := c.run(s, testContext(t))
				// Generous: the bound is the 1s timeout; a loaded machine may add a few.
				if took := time.Since(start); took > 20*time.Second {
					t.Errorf("%s took %s with a 1s timeout", c.name, took)
				}
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("%s: %v, want %v", c.name, err, tc.wantErr)
				}
				assertClean(t, err.Error(), password)
				shown := strings.Replace(tc.url, password, "***", 1)
				if !strings.HasPrefix(err.Error(), shown+" (branch main): ") {
					t.Errorf("error %q does not start with the redacted URL %q and branch", err, shown)
				}
			})
		}
	}
}

func TestNewRejects(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	key, knownHosts := sshClientConfig(t)
	const password = "pa55-word-token"
	cache := filepath.Join(dir, "cache")
	tests := []struct {
		name string
		opts source.Options
		want string
	}{
		{"no URL", source.Options{CacheDir: cache}, "no repository URL"},
		{"no cache", source.Options{URL: "https://example.com/r.git"}, "no cache folder"},
		{"local path", source.Options{URL: "/srv/git/r.git", CacheDir: cache}, `unsupported protocol "file"`},
		{"file URL", source.Options{URL: "file:///srv/git/r.git", CacheDir: cache}, `unsupported protocol "file"`},
		{"bad branch", source.Options{URL: "https://example.com/r.git", Branch: "a..b", CacheDir: cache}, `branch "a..b"`},
		{"negative timeout", source.Options{URL: "https://example.com/r.git", CacheDir: cache, Timeout: -time.Second}, "negative timeout"},
		{"ssh without key", source.Options{URL: "ssh://git@example.com/r.git", CacheDir: cache}, "needs an SSH private key"},
		{"ssh without known_hosts", source.Options{URL: "git@example.com:r.git", CacheDir: cache, Auth: source.Auth{SSHPrivateKey: key}}, "needs known_hosts"},
		{"bad known_hosts", source.Options{URL: "git@example.com:r.git", CacheDir: cache, Auth: source.Auth{SSHPrivateKey: key, KnownHosts: []byte("example.com ssh-ed25519 !!!\n")}}, "known_hosts"},
		{"bad key", source.Options{URL: "git@example.com:r.git", CacheDir: cache, Auth: source.Auth{SSHPrivateKey: []byte("nope"), KnownHosts: knownHosts}}, "SSH private key"},
		{"cache folder a file", source.Options{URL: "https://example.com/r.git", CacheDir: notDir}, "cache folder: mkdir " + notDir + ": not a directory"},
		{"credentials kept out", source.Options{URL: "https://ci:" + password + "@example.com/r.git", CacheDir: notDir}, "https://ci:***@example.com/r.git"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.CacheDir == cache {
				tc.opts.CacheDir = filepath.Join(t.TempDir(), "cache") // one each: New may create it
			}
			_, err := source.New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
			assertClean(t, err.Error(), password)
		})
	}
}
