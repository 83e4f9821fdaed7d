package source

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ferry-cd/ferry/internal/redact"
)

// Errors a caller can tell apart with errors.Is. Errors from the remote never wrap go-git's
// error itself, whose message may hold a credential: its text is copied, scrubbed, instead
// (internal/redact's rule: the error is flattened, and a sentinel classified first keeps errors.Is).
var (
	// ErrBranchNotFound is wrapped when the remote has no such branch.
	ErrBranchNotFound = errors.New("branch not found on the remote")
	// ErrEmptyRepository is wrapped when the remote repository has no commits.
	ErrEmptyRepository = errors.New("remote repository is empty")
	// ErrRepositoryNotFound is wrapped when the remote has no such repository (some forges
	// also say so for a private repository and missing credentials).
	ErrRepositoryNotFound = errors.New("repository not found")
	// ErrAuthentication is wrapped when the remote refuses the credentials or wants some.
	ErrAuthentication = errors.New("authentication failed")
	// ErrHostKey is wrapped when the SSH server's host key is not in known_hosts, or
	// another key is listed for the server.
	ErrHostKey = errors.New("host key not accepted by known_hosts")
	// ErrRevisionNotFound is wrapped when a commit is not in the cache (fetch it first).
	ErrRevisionNotFound = errors.New("commit not in the cache")
	// ErrNotGit is wrapped when the server answers, but not in git's protocol: a login page,
	// a proxy's error page, an empty body or garbage.
	ErrNotGit = errors.New("the server's answer is not git's protocol (a login page or a proxy in the way?)")
)

// Error is every error of Head, Fetch, Tree and Commit: the repository could not be read (the
// remote, the network, the cache, or a commit missing from it), as opposed to a problem with
// what the repository holds. Its message is the wrapped error's; a caller tells it apart with
// errors.As, as the agent does to log such a failure as the sync's source phase.
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// failed returns err as an *Error (nil stays nil).
func failed(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err}
}

// secrets returns the strings no message may contain: the password, token and passphrase of
// opts, and a password or token in the URL.
func secrets(opts Options) *redact.Set {
	a := opts.Auth
	set := redact.NewSet(a.Password, a.SSHKeyPassphrase)
	if u, err := url.Parse(opts.URL); err == nil && (u.Scheme == "http" || u.Scheme == "https") && a.Password == "" {
		set.Add(a.Username) // a token alone may go in the user name
	}
	set.Add(redact.Credentials(opts.URL)...)
	return set
}

// fail turns the error of network operation op into an *Error that names the URL and branch
// first, carries a sentinel where one applies, and holds no credential. ctx is the
// operation's bounded context: when it has ended, that is the cause given.
func (s *Source) fail(ctx context.Context, op string, err error) error {
	return failed(s.failure(ctx, op, err))
}

// failure is fail's error before it is wrapped in an *Error.
func (s *Source) failure(ctx context.Context, op string, err error) error {
	prefix := fmt.Sprintf("%s (branch %s): %s", s.shown, s.opts.Branch, op)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer within %s: %w", prefix, s.opts.Timeout, context.DeadlineExceeded)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", prefix, ctx.Err())
	}
	kind := classify(err)
	// go-git ends some messages with the server's empty or newline-ended reason.
	detail := strings.TrimRight(strings.TrimSpace(s.secrets.String(err.Error())), ": ")
	switch {
	case kind == nil:
		return errors.New(prefix + ": " + detail)
	case detail == kind.Error():
		return fmt.Errorf("%s: %w", prefix, kind)
	default:
		return fmt.Errorf("%s: %w (%s)", prefix, kind, detail)
	}
}

// classify maps go-git's errors to this package's sentinels, or nil.
func classify(err error) error {
	for _, m := range []struct{ from, to error }{
		{ErrBranchNotFound, ErrBranchNotFound},
		{git.NoMatchingRefSpecError{}, ErrBranchNotFound},
		{transport.ErrEmptyRemoteRepository, ErrEmptyRepository},
		{transport.ErrRepositoryNotFound, ErrRepositoryNotFound},
		{transport.ErrAuthenticationRequired, ErrAuthentication},
		{transport.ErrAuthorizationFailed, ErrAuthentication},
	} {
		if errors.Is(err, m.from) {
			return m.to
		}
	}
	// go-git may copy the text of the advertisement's read error rather than wrap it.
	if errors.Is(err, ErrAdvertisementTooLarge) || strings.Contains(err.Error(), ErrAdvertisementTooLarge.Error()) {
		return ErrAdvertisementTooLarge
	}
	var keyErr *knownhosts.KeyError
	if errors.As(err, &keyErr) {
		return ErrHostKey
	}
	var unexpected *packp.ErrUnexpectedData
	if errors.As(err, &unexpected) || errors.Is(err, packp.ErrEmptyInput) || errors.Is(err, packp.ErrEmptyAdvRefs) ||
		errors.Is(err, pktline.ErrInvalidPktLen) ||
		// go-git copies the text of an upload-pack response's decoding error, without wrapping it.
		strings.Contains(err.Error(), pktline.ErrInvalidPktLen.Error()) {
		return ErrNotGit
	}
	// x/crypto/ssh has no sentinel for a refused client key.
	if strings.Contains(err.Error(), "ssh: unable to authenticate") {
		return ErrAuthentication
	}
	return nil
}
