package agent

import (
	"crypto/hmac"
	"crypto/sha256"
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
	ErrNoSignature  = errors.New("no X-Hub-Signature-256 or X-Gitea-Signature header")
	ErrBadSignature = errors.New("signature does not match the body")
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

// readWebhook reads a bounded body, verifies its signature and returns the push's ref ("" when
// the event has none, as a ping). The returned status is what to answer. A body announced
// larger than MaxWebhookBody is refused before any of it is read, and a signed body that is
// not JSON gets 400: the sender holds the secret but is misconfigured.
func readWebhook(r *http.Request, secret []byte) (string, int, error) {
	if r.Method != http.MethodPost {
		return "", http.StatusMethodNotAllowed, errors.New("only POST is accepted")
	}
	if r.ContentLength > MaxWebhookBody {
		return "", http.StatusRequestEntityTooLarge, ErrBodyTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		return "", http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	if len(body) > MaxWebhookBody {
		return "", http.StatusRequestEntityTooLarge, ErrBodyTooLarge
	}
	if err := VerifySignature(secret, body, r.Header); err != nil {
		return "", http.StatusUnauthorized, err
	}
	ref, err := pushRef(body)
	if err != nil {
		return "", http.StatusBadRequest, err
	}
	return ref, http.StatusAccepted, nil
}
