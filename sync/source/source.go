package source

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/ferry-cd/ferry/internal/redact"
)

const (
	// DefaultBranch is the branch followed when Options.Branch is empty.
	DefaultBranch = "main"
	// DefaultTimeout bounds each network call when Options.Timeout is zero.
	DefaultTimeout = 30 * time.Second

	// remoteName is the name the cache gives the remote; its branches land in
	// refs/remotes/origin/.
	remoteName = "origin"
)

// Auth holds the credentials for the remote. Only the fields of the URL's protocol are used:
// Username and Password for http(s), the SSH fields for ssh.
type Auth struct {
	// Username and Password are sent as HTTP basic auth. A token goes in Password; Username
	// may then be anything ("git" when empty). When both are empty, credentials in the URL,
	// if any, are used.
	Username, Password string

	// SSHPrivateKey is a PEM private key (OpenSSH, PKCS#1 or PKCS#8); it is required for ssh
	// URLs. SSHKeyPassphrase decrypts it when it is encrypted.
	SSHPrivateKey    []byte
	SSHKeyPassphrase string

	// KnownHosts holds known_hosts lines that the SSH server's host key must match. It is
	// required for ssh URLs unless InsecureIgnoreHostKey is set.
	KnownHosts []byte
	// InsecureIgnoreHostKey accepts any SSH host key. Set it only when the user turns host
	// key checking off explicitly.
	InsecureIgnoreHostKey bool
}

// Options configures a Source.
type Options struct {
	// URL is the repository: https://…, http://… or ssh:// (or scp-like user@host:path).
	// Local paths and file:// are refused, because go-git serves them by running git.
	URL string
	// Branch is the branch followed; DefaultBranch when empty.
	Branch string
	// CacheDir is the folder that keeps fetched objects between runs, in a bare repository
	// of its own for each URL (see cache.go). It is created when missing. Several Sources and
	// processes may share it, for one URL or several; a cache found unusable is rebuilt.
	CacheDir string
	// Auth holds the credentials for URL.
	Auth Auth
	// Timeout bounds each network call (an ls-remote, a fetch); DefaultTimeout when zero.
	Timeout time.Duration
}

// DefaultOptions returns Options with the default branch and timeout; URL and CacheDir are
// left for the caller.
func DefaultOptions() Options {
	return Options{Branch: DefaultBranch, Timeout: DefaultTimeout}
}

// Source reads one branch of one remote repository through a local cache. It is safe for
// concurrent use: fetches run one at a time, and every view opens the cache afresh, so views
// share no go-git state with a running fetch or with each other.
type Source struct {
	opts     Options
	cache    cache
	auth     transport.AuthMethod // nil: none, or credentials in the URL
	shown    string               // URL for messages, credentials removed
	secrets  *redact.Set          // strings scrubbed from every message
	fetching chan struct{}        // holds a token while a fetch runs, even one its caller gave up on
}

// New checks opts, builds the transport's authentication and creates the cache folder when
// missing; the repository in it is checked, and created or rebuilt, by each Fetch. It does no
// network I/O. It returns an error, with credentials removed, when the URL is malformed or of
// an unsupported protocol, when credentials needed for it are missing, or when the cache
// folder cannot be created or written. A cache's content never makes it fail.
func New(opts Options) (*Source, error) {
	if opts.Branch == "" {
		opts.Branch = DefaultBranch
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	installCappedHTTP()
	s := &Source{opts: opts, fetching: make(chan struct{}, 1), secrets: secrets(opts)}
	s.shown = redact.URL(opts.URL)
	ep, err := s.check()
	if err != nil {
		return nil, err
	}
	s.cache = newCache(opts.CacheDir, cacheURL(ep))
	if err := s.cache.prepare(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.shown, s.secrets.Error(err))
	}
	if s.auth, err = transportAuth(ep, opts.Auth, opts.Timeout, opts.CacheDir); err != nil {
		return nil, fmt.Errorf("%s: %w", s.shown, s.secrets.Error(err))
	}
	return s, nil
}

// check validates the options and parses the URL.
func (s *Source) check() (*transport.Endpoint, error) {
	o := s.opts
	switch {
	case o.URL == "":
		return nil, errors.New("source: no repository URL")
	case o.CacheDir == "":
		return nil, fmt.Errorf("%s: no cache folder", s.shown)
	case o.Timeout < 0:
		return nil, fmt.Errorf("%s: negative timeout %s", s.shown, o.Timeout)
	}
	if err := plumbing.NewBranchReferenceName(o.Branch).Validate(); err != nil {
		return nil, fmt.Errorf("%s: branch %q: %w", s.shown, o.Branch, err)
	}
	ep, err := transport.NewEndpoint(o.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: bad URL: %w", s.shown, s.secrets.Error(err))
	}
	if ep.Protocol != "http" && ep.Protocol != "https" && ep.Protocol != "ssh" {
		return nil, fmt.Errorf("%s: unsupported protocol %q: use https, http or ssh", s.shown, ep.Protocol)
	}
	return ep, nil
}

// cacheURL is the URL recorded in the cache: the remote's without any password, nor the
// user of an http(s) URL (often a token).
func cacheURL(ep *transport.Endpoint) string {
	clean := *ep
	clean.Password = ""
	if clean.Protocol != "ssh" {
		clean.User = ""
	}
	return clean.String()
}
