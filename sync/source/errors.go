package source

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ferry-cd/ferry/internal/repoview"
)

// Errors a caller can tell apart with errors.Is. Errors from the remote never wrap go-git's
// error itself, whose message may hold a credential: its text is copied, scrubbed, instead.
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

// redacted replaces a credential in messages.
const redacted = "REDACTED"

// secrets lists the strings no message may contain: the password, token and passphrase of
// opts, and a password or token in the URL, also as they appear escaped in a URL.
func secrets(opts Options) []string {
	a := opts.Auth
	raw := []string{a.Password, a.SSHKeyPassphrase}
	u, err := url.Parse(opts.URL)
	web := err == nil && (u.Scheme == "http" || u.Scheme == "https")
	if web && a.Password == "" {
		raw = append(raw, a.Username) // a token alone may go in the user name
	}
	if err == nil && u.User != nil {
		if p, has := u.User.Password(); has {
			raw = append(raw, p)
		} else if web {
			raw = append(raw, u.User.Username())
		}
	}
	var out []string
	for _, s := range raw {
		if s != "" {
			out = append(out, s, url.PathEscape(s), url.QueryEscape(s))
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// displayURL is rawURL for messages: with its credentials removed, but an ssh user name
// (not secret, and often "git") kept.
func displayURL(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.Scheme == "ssh" && u.User != nil {
		if _, has := u.User.Password(); !has {
			return rawURL
		}
	}
	return repoview.Redact(rawURL)
}

// scrub removes credentials from msg: those of any URL in it, and every known secret.
func (s *Source) scrub(msg string) string {
	msg = repoview.Redact(msg)
	for _, secret := range s.secrets {
		msg = strings.ReplaceAll(msg, secret, redacted)
	}
	return msg
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
	detail := strings.TrimRight(strings.TrimSpace(s.scrub(err.Error())), ": ")
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
