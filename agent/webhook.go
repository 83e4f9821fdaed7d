package agent

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxWebhookBody caps a webhook request body; larger ones are refused with 413 before their
// signature is checked.
const MaxWebhookBody = 1 << 20

// Webhook errors, matched with errors.Is.
var (
	ErrNoSignature  = errors.New("no X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token header")
	ErrBadSignature = errors.New("signature does not match the body")
	// ErrBadToken is returned for a GitLab event whose X-Gitlab-Token is missing or is not the
	// secret.
	ErrBadToken     = errors.New("X-Gitlab-Token does not match the secret")
	ErrBodyTooLarge = fmt.Errorf("body larger than %d bytes", MaxWebhookBody)
	// ErrNotJSON is wrapped when a correctly signed body is not a JSON object, as when the
	// forge's webhook sends form-encoded payloads.
	ErrNotJSON = errors.New("body is not a JSON object (set the webhook's content type to application/json)")
)

// VerifySignature checks a push webhook's HMAC-SHA256 signature over body with secret, in
// GitHub's style (X-Hub-Signature-256: sha256=HEX) or Gitea's (X-Gitea-Signature: HEX). The
// comparison is constant-time.
func VerifySignature(secret, body []byte, header http.Header) error {
	var got string
	switch {
	case header.Get("X-Hub-Signature-256") != "":
		sig, ok := strings.CutPrefix(header.Get("X-Hub-Signature-256"), "sha256=")
		if !ok {
			return ErrBadSignature
		}
		got = sig
	case header.Get("X-Gitea-Signature") != "":
		got = header.Get("X-Gitea-Signature")
	default:
		return ErrNoSignature
	}
	sig, err := hex.DecodeString(strings.TrimSpace(got))
	if err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// pushRef extracts the "ref" of a push payload (GitHub and Gitea both send it); "" for a JSON
// object without one, such as a ping. A body that is not a JSON object, or whose ref is not a
// string, is an error wrapping ErrNotJSON; the error quotes no byte of the body.
func pushRef(body []byte) (string, error) {
	var p struct {
		Ref string `json:"ref"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "", fmt.Errorf("%w: %s", ErrNotJSON, jsonProblem(err))
	}
	return p.Ref, nil
}

// jsonProblem describes a decoding error by kind and offset only: encoding/json's messages
// quote a character or a type, never a value, but the body is the sender's and stays out of
// logs all the same.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("syntax error at byte %d", syntax.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return fmt.Sprintf("%s is a JSON %s", typ.Field, typ.Value)
	case errors.As(err, &typ):
		return fmt.Sprintf("a JSON %s", typ.Value)
	default:
		return "not JSON"
	}
}

// gitLabPushEvent is the X-Gitlab-Event of a push to a branch; GitLab sends every other event
// (Tag Push Hook, Merge Request Hook, …) under another name.
const gitLabPushEvent = "Push Hook"

// VerifyGitLabToken checks a GitLab webhook's X-Gitlab-Token against secret. GitLab sends the
// secret itself, not a signature; the comparison is constant-time over the SHA-256 of both, so
// that neither the secret's bytes nor its length leak through timing.
func VerifyGitLabToken(secret []byte, header http.Header) error {
	got := sha256.Sum256([]byte(header.Get("X-Gitlab-Token")))
	want := sha256.Sum256(secret)
	if header.Get("X-Gitlab-Token") == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return ErrBadToken
	}
	return nil
}

// push is what an authenticated webhook asks of the agent.
type push struct {
	// Ref is the pushed ref; "" for an event without one, as GitHub's and Gitea's ping.
	Ref string
	// Ignored says why the event asks for nothing ("" when it may trigger a sync): a GitLab
	// event other than a push to a branch.
	Ignored string
}

// readWebhook reads a bounded body, authenticates it (an HMAC signature, or GitLab's token when
// the request has an X-Gitlab-Event or X-Gitlab-Token header) and returns the push. The
// returned status is what to answer. A body announced larger than MaxWebhookBody is refused
// before any of it is read, and an authenticated body that is not JSON gets 400: the sender
// holds the secret but is misconfigured.
func readWebhook(r *http.Request, secret []byte) (push, int, error) {
	if r.Method != http.MethodPost {
		return push{}, http.StatusMethodNotAllowed, errors.New("only POST is accepted")
	}
	if r.ContentLength > MaxWebhookBody {
		return push{}, http.StatusRequestEntityTooLarge, ErrBodyTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		return push{}, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	if len(body) > MaxWebhookBody {
		return push{}, http.StatusRequestEntityTooLarge, ErrBodyTooLarge
	}
	event := r.Header.Get("X-Gitlab-Event")
	gitLab := event != "" || r.Header.Get("X-Gitlab-Token") != ""
	if gitLab {
		err = VerifyGitLabToken(secret, r.Header)
	} else {
		err = VerifySignature(secret, body, r.Header)
	}
	if err != nil {
		return push{}, http.StatusUnauthorized, err
	}
	if gitLab && event != gitLabPushEvent {
		return push{Ignored: fmt.Sprintf("GitLab event %q is not a push", event)}, http.StatusOK, nil
	}
	ref, err := pushRef(body)
	if err != nil {
		return push{}, http.StatusBadRequest, err
	}
	return push{Ref: ref}, http.StatusAccepted, nil
}
