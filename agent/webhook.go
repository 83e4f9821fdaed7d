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

// pushRef extracts the "ref" of a push payload (GitHub and Gitea both send it); "" when the
// body is not a push event.
func pushRef(body []byte) string {
	var p struct {
		Ref string `json:"ref"`
	}
	if json.Unmarshal(body, &p) != nil {
		return ""
	}
	return p.Ref
}

// readWebhook reads a bounded body and verifies it. The returned status is what to answer.
func readWebhook(r *http.Request, secret []byte) ([]byte, int, error) {
	if r.Method != http.MethodPost {
		return nil, http.StatusMethodNotAllowed, errors.New("only POST is accepted")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	if len(body) > MaxWebhookBody {
		return nil, http.StatusRequestEntityTooLarge, ErrBodyTooLarge
	}
	if err := VerifySignature(secret, body, r.Header); err != nil {
		return nil, http.StatusUnauthorized, err
	}
	return body, http.StatusAccepted, nil
}
