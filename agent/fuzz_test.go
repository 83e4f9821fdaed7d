package agent

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzWebhook feeds readWebhook (and so VerifySignature and pushRef) arbitrary secrets, bodies
// and signature headers. It checks that nothing panics, that a request is accepted only with
// the body's HMAC under the agent's secret, that the right signature is always accepted and
// never under another secret, and that an accepted ref is the body's "ref".
func FuzzWebhook(f *testing.F) {
	push := `{"ref":"refs/heads/main","before":"` + strings.Repeat("0", 40) + `","after":"` + strings.Repeat("1", 40) + `"}`
	for _, s := range []struct {
		secret, other, body, header string
		gitea                       bool
	}{
		{testSecret, "another", push, "", false},
		{testSecret, testSecret + "\x00", push, "", true},
		{"k", "k\x00\x00", `{"zen":"ping"}`, "sha256=00", false},
		{strings.Repeat("s", 65), "t", push, "sha256=" + strings.Repeat("a", 64), false},
		{"s", "s", `{"ref":1}`, " " + strings.Repeat("F", 64) + " ", true},
		{"s", "x", `payload=%7B%7D`, "sha1=abc", false},
		{"s", "x", `[]`, "sha256=", false},
		{"s", "x", "", "", true},
	} {
		f.Add([]byte(s.secret), []byte(s.other), []byte(s.body), s.header, s.gitea)
	}
	f.Fuzz(func(t *testing.T, secret, other, body []byte, header string, gitea bool) {
		if len(secret) == 0 {
			return // no secret: the agent answers 404 before reading anything
		}
		name, prefix := "X-Hub-Signature-256", "sha256="
		if gitea {
			name, prefix = "X-Gitea-Signature", ""
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		want := mac.Sum(nil)

		// An arbitrary header: accepted only when it carries exactly the body's HMAC.
		r := httptest.NewRequest(http.MethodPost, "/hooks/git", bytes.NewReader(body))
		r.Header.Set(name, header)
		p, status, err := readWebhook(r, secret)
		ref := p.Ref
		if len(body) > MaxWebhookBody {
			if status != http.StatusRequestEntityTooLarge {
				t.Fatalf("%d-byte body answered %d, want 413", len(body), status)
			}
			return
		}
		signed := !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrNoSignature)
		if signed {
			got, decErr := hex.DecodeString(strings.TrimSpace(strings.TrimPrefix(r.Header.Get(name), prefix)))
			if decErr != nil || !hmac.Equal(got, want) {
				t.Fatalf("header %q accepted (status %d, %v) for a body whose HMAC is %x", header, status, err, want)
			}
		}
		checkAnswer(t, body, ref, status, err)

		// The right signature is accepted under the secret and refused under any other key.
		good := http.Header{}
		good.Set(name, prefix+hex.EncodeToString(want))
		if err := VerifySignature(secret, body, good); err != nil {
			t.Fatalf("the body's own signature refused: %v", err)
		}
		if err := VerifySignature(other, body, good); err == nil && !sameHMACKey(secret, other) {
			t.Fatalf("signature under secret %q accepted under %q", secret, other)
		}
		r = httptest.NewRequest(http.MethodPost, "/hooks/git", bytes.NewReader(body))
		r.Header = good
		p, status, err = readWebhook(r, secret)
		ref = p.Ref
		checkAnswer(t, body, ref, status, err)
		if status == http.StatusUnauthorized {
			t.Fatalf("a correctly signed body answered 401: %v", err)
		}
	})
}

// checkAnswer checks readWebhook's answer for a body whose signature passed or not: 202 only
// with no error and for a JSON body whose "ref" is ref; 400 only for a body that is not one.
func checkAnswer(t *testing.T, body []byte, ref string, status int, err error) {
	t.Helper()
	var p struct {
		Ref string `json:"ref"`
	}
	jsonErr := json.Unmarshal(body, &p)
	switch status {
	case http.StatusAccepted:
		if err != nil || jsonErr != nil || ref != p.Ref {
			t.Fatalf("accepted with ref %q and error %v; the body's ref is %q (%v)", ref, err, p.Ref, jsonErr)
		}
	case http.StatusBadRequest:
		if !errors.Is(err, ErrNotJSON) || jsonErr == nil {
			t.Fatalf("400 with %v for a body that decodes (%v)", err, jsonErr)
		}
	case http.StatusUnauthorized:
		if err == nil {
			t.Fatal("401 without an error")
		}
	default:
		t.Fatalf("unexpected status %d (%v)", status, err)
	}
}

// sameHMACKey reports whether HMAC-SHA256 treats a and b as one key: a key longer than the
// block is hashed, and a shorter one padded with zero bytes, so "k" and "k\x00" sign alike.
// The webhook secret comes from an environment variable, which holds no NUL byte.
func sameHMACKey(a, b []byte) bool {
	norm := func(k []byte) []byte {
		if len(k) > sha256.BlockSize {
			sum := sha256.Sum256(k)
			k = sum[:]
		}
		return append(bytes.Clone(k), make([]byte, sha256.BlockSize-len(k))...)
	}
	return bytes.Equal(norm(a), norm(b))
}
