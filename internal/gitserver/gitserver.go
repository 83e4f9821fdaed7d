// Package gitserver runs real git servers on loopback for tests: `git http-backend` behind
// net/http/cgi for the smart HTTP protocol (optionally behind basic auth), and an SSH server
// that runs git-upload-pack and git-receive-pack. It also writes commits straight into the
// served bare repositories with go-git, so that tests can move a branch between two calls of
// the code under test. It is test infrastructure: only tests import it.
package gitserver

import (
	"crypto/subtle"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// requestTimeout bounds one request to the HTTP server, so that a stuck client or git process
// cannot hold a test's cleanup forever.
const requestTimeout = 2 * time.Minute

// Options configures a Server.
type Options struct {
	// Username and Password, when either is set, are required from every client as HTTP
	// basic auth; a request without them gets 401.
	Username, Password string
}

// Server is a git smart-HTTP server on 127.0.0.1 serving the bare repositories in a temporary
// folder. Its methods fail the test on error.
type Server struct {
	// URL is the server's root, http://127.0.0.1:PORT, without a trailing slash.
	URL string

	root string // GIT_PROJECT_ROOT: NAME.git folders
	opts Options

	handler  http.Handler
	http     *httptest.Server // nil while stopped
	requests requestCount     // HTTP requests served, by kind

	mu      sync.Mutex // serialises writes to the repositories and the commit clock
	commits int        // commits written so far; each one is a minute later than the last
}

// Start starts a Server that runs `git http-backend` for each request; pushes are enabled.
// The server is closed by t.Cleanup. It fails the test if git is not installed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	s := &Server{root: t.TempDir(), opts: opts}
	backend := &cgi.Handler{
		Path:   gitPath,
		Args:   []string{"http-backend"},
		Dir:    s.root,
		Env:    gitEnv(s.root, "GIT_PROJECT_ROOT="+s.root, "GIT_HTTP_EXPORT_ALL=1"),
		Stderr: testWriter{t},
		Logger: log.New(testWriter{t}, "gitserver: ", 0),
	}
	s.handler = s.requests.count(s.withAuth(backend))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	s.serve(t, ln)
	s.URL = s.http.URL
	return s
}

// serve serves the repositories on ln until Stop or the end of the test.
func (s *Server) serve(t testing.TB, ln net.Listener) {
	srv := httptest.NewUnstartedServer(s.handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Config.ReadTimeout = requestTimeout
	srv.Config.WriteTimeout = requestTimeout
	srv.Start()
	t.Cleanup(srv.Close)
	s.http = srv
}

// Stop takes the server down, as an outage would: it closes the listener, so that clients
// get "connection refused", and ends the connections in progress. Restart brings it back.
// Stop and Restart are meant for the test's goroutine, not for concurrent use.
func (s *Server) Stop() {
	if s.http != nil {
		s.http.CloseClientConnections()
		s.http.Close()
		s.http = nil
	}
}

// Restart serves again on the address of URL after Stop, with the same repositories. It fails
// the test when the address cannot be listened on again.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.http != nil {
		return
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatalf("gitserver: listen again on %s: %v", s.URL, err)
	}
	s.serve(t, ln)
}

// gitEnv is the environment of every git process the servers run: no system or user
// configuration, pushes allowed over HTTP without REMOTE_USER, plus extra.
func gitEnv(home string, extra ...string) []string {
	env := []string{
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=http.receivepack",
		"GIT_CONFIG_VALUE_0=true",
	}
	return append(env, extra...)
}

// withAuth requires the configured basic auth credentials before next runs.
func (s *Server) withAuth(next http.Handler) http.Handler {
	if s.opts.Username == "" && s.opts.Password == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || !equal(user, s.opts.Username) || !equal(pass, s.opts.Password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="gitserver"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// RepoURL returns the clone URL of repository name (NAME.git), without credentials.
func (s *Server) RepoURL(name string) string {
	return s.URL + "/" + name + ".git"
}

// AuthURL returns the clone URL of repository name with the server's username and password
// embedded, or the plain URL when the server requires no auth.
func (s *Server) AuthURL(name string) string {
	if s.opts.Username == "" && s.opts.Password == "" {
		return s.RepoURL(name)
	}
	u, err := url.Parse(s.RepoURL(name))
	if err != nil {
		panic(err) // RepoURL is built from httptest's URL and always parses
	}
	u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	return u.String()
}

// testWriter sends a git process's stderr to the test log, line by line.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Logf("gitserver: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
