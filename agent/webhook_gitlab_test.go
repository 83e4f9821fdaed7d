package agent

// The GitLab payloads in testdata are GitLab's documented examples, copied unchanged from
// "Webhook events" (docs.gitlab.com/user/project/integrations/webhook_events, GitLab 18.x):
// gitlab-push-hook.json is the Push event (X-Gitlab-Event: Push Hook, a push to master) and
// gitlab-tag-push-hook.json the Tag event (X-Gitlab-Event: Tag Push Hook). GitLab sends the
// project's secret token as is in X-Gitlab-Token (docs.gitlab.com/user/project/integrations/webhooks).

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitLabPayload reads a documented GitLab payload from testdata; a non-empty branch replaces
// the push's refs/heads/master.
func gitLabPayload(t *testing.T, name, branch string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if branch != "" {
		data = bytes.Replace(data, []byte(`"ref": "refs/heads/master"`), []byte(`"ref": "refs/heads/`+branch+`"`), 1)
	}
	return data
}

func gitLabHeader(event, token string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"GitLab/18.2.1"}}
	if event != "" {
		h.Set("X-Gitlab-Event", event)
	}
	if token != "" {
		h.Set("X-Gitlab-Token", token)
	}
	return h
}

// TestReadGitLabWebhook checks what each GitLab webhook request is answered: a push with the
// secret token is accepted with its ref, a missing or wrong token is 401 whatever else the
// request carries, and GitLab's other events are answered 200 and ignored.
func TestReadGitLabWebhook(t *testing.T) {
	secret := []byte(testSecret)
	pushBody := gitLabPayload(t, "gitlab-push-hook.json", "")
	tagBody := gitLabPayload(t, "gitlab-tag-push-hook.json", "")
	withHMAC := gitLabHeader("Push Hook", "wrong-token")
	withHMAC.Set("X-Hub-Signature-256", sign(secret, pushBody)) // a valid signature does not excuse a bad token
	tests := []struct {
		name   string
		body   []byte
		header http.Header
		status int
		want   push
		err    error
	}{
		{"push", pushBody, gitLabHeader("Push Hook", testSecret), http.StatusAccepted, push{Ref: "refs/heads/master"}, nil},
		{"tag push", tagBody, gitLabHeader("Tag Push Hook", testSecret), http.StatusOK, push{Ignored: `GitLab event "Tag Push Hook" is not a push`}, nil},
		{"merge request", []byte(`{"object_kind":"merge_request"}`), gitLabHeader("Merge Request Hook", testSecret), http.StatusOK,
			push{Ignored: `GitLab event "Merge Request Hook" is not a push`}, nil},
		{"wrong token", pushBody, gitLabHeader("Push Hook", testSecret+"x"), http.StatusUnauthorized, push{}, ErrBadToken},
		{"token a prefix of the secret", pushBody, gitLabHeader("Push Hook", testSecret[:5]), http.StatusUnauthorized, push{}, ErrBadToken},
		{"no token", pushBody, gitLabHeader("Push Hook", ""), http.StatusUnauthorized, push{}, ErrBadToken},
		{"tag push with a wrong token", tagBody, gitLabHeader("Tag Push Hook", "wrong"), http.StatusUnauthorized, push{}, ErrBadToken},
		{"wrong token with a valid HMAC", pushBody, withHMAC, http.StatusUnauthorized, push{}, ErrBadToken},
		{"push that is not JSON", []byte("payload=" + bodyCanary), gitLabHeader("Push Hook", testSecret), http.StatusBadRequest, push{}, ErrNotJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/hooks/git", bytes.NewReader(tc.body))
			r.Header = tc.header
			got, status, err := readWebhook(r, secret)
			if status != tc.status || got != tc.want || (tc.err == nil) != (err == nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Errorf("readWebhook = %+v, %d, %v; want %+v, %d, %v", got, status, err, tc.want, tc.status, tc.err)
			}
			if err != nil && (strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), bodyCanary)) {
				t.Errorf("error quotes the token or the body: %v", err)
			}
		})
	}
}

// TestGitLabWebhookTriggersASync sends a running agent GitLab's documented push payload: to
// another branch (master, as documented) it is ignored, as are a Tag Push Hook and a wrong
// token (401); pushed to the agent's branch it makes the agent sync the new commit at once,
// with trigger=webhook.
func TestGitLabWebhookTriggersASync(t *testing.T) {
	f := newFixture(t, "@every 1h") // only the start and the webhook trigger syncs
	logs := &logBuffer{}
	opts := f.options(logs)
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied", "trigger": "startup"}, 2*time.Minute)
	sha := f.commitTag("1.3.0")

	main := gitLabPayload(t, "gitlab-push-hook.json", "main")
	post := func(body []byte, h http.Header) (int, string) {
		return postRaw(t, opts.HTTPAddr, bytes.NewReader(body), int64(len(body)), h)
	}
	if code, answer := post(main, gitLabHeader("Push Hook", "not-the-secret")); code != http.StatusUnauthorized {
		t.Errorf("push with a wrong token: %d %q, want 401", code, answer)
	}
	if code, answer := post(main, gitLabHeader("Push Hook", "")); code != http.StatusUnauthorized {
		t.Errorf("push without a token: %d %q, want 401", code, answer)
	}
	logs.waitLine(t, "webhook refused", map[string]any{"status": 401.0, "reason": ErrBadToken.Error()}, 10*time.Second)
	master := gitLabPayload(t, "gitlab-push-hook.json", "")
	if code, answer := post(master, gitLabHeader("Push Hook", testSecret)); code != http.StatusOK || !strings.Contains(answer, "ignored: push to refs/heads/master") {
		t.Errorf("push to master: %d %q, want 200 ignored", code, answer)
	}
	tag := gitLabPayload(t, "gitlab-tag-push-hook.json", "")
	if code, answer := post(tag, gitLabHeader("Tag Push Hook", testSecret)); code != http.StatusOK || !strings.Contains(answer, "ignored") {
		t.Errorf("tag push: %d %q, want 200 ignored", code, answer)
	}
	time.Sleep(2 * time.Second)
	if img := f.frontendImage(t.Context()); !strings.HasSuffix(img, ":1.1.0") {
		t.Fatalf("a refused or ignored GitLab webhook caused a sync: frontend runs %s", img)
	}

	start := time.Now()
	if code, answer := post(main, gitLabHeader("Push Hook", testSecret)); code != http.StatusAccepted {
		t.Fatalf("push to main: %d %q, want 202", code, answer)
	}
	f.waitImage("1.3.0", time.Minute)
	t.Logf("GitLab push hook → applied: %s", time.Since(start).Round(time.Millisecond))
	logs.waitLine(t, "sync finished", map[string]any{"revision": sha[:7], "result": "applied", "trigger": "webhook"}, time.Minute)
	if n := len(filterLines(logs.lines("sync finished"), map[string]any{"trigger": "webhook"})); n != 1 {
		t.Errorf("%d webhook syncs, want 1 (the ignored events triggered none)", n)
	}
}

// FuzzGitLabWebhook checks that a GitLab event is authenticated by its X-Gitlab-Token alone: it
// is refused with 401 unless the token is exactly the secret, and, with the secret, never
// answered 401, whatever the event and the body.
func FuzzGitLabWebhook(f *testing.F) {
	f.Add([]byte("s3cret"), "s3cret", "Push Hook", []byte(`{"ref":"refs/heads/main"}`))
	f.Add([]byte("s3cret"), "s3cret ", "Push Hook", []byte(`{"ref":"refs/heads/main"}`))
	f.Add([]byte("s3cret"), "S3CRET", "Tag Push Hook", []byte(`{"ref":"refs/tags/v1"}`))
	f.Add([]byte("s3cret"), "", "Push Hook", []byte(`{}`))
	f.Add([]byte("s3cret"), "s3cret", "", []byte(`not json`))
	f.Fuzz(func(t *testing.T, secret []byte, token, event string, body []byte) {
		if len(secret) == 0 {
			return // no secret: the agent answers 404 before reading anything
		}
		r := httptest.NewRequest(http.MethodPost, "/hooks/git", bytes.NewReader(body))
		r.Header.Set("X-Gitlab-Token", token)
		r.Header.Set("X-Gitlab-Event", event)
		// What net/http would send: a header value is trimmed and holds no line breaks.
		token, event = r.Header.Get("X-Gitlab-Token"), r.Header.Get("X-Gitlab-Event")
		if token == "" && event == "" {
			return // not a GitLab request: FuzzWebhook covers signatures
		}
		p, status, err := readWebhook(r, secret)
		if len(body) > MaxWebhookBody {
			return
		}
		match := token != "" && token == string(secret)
		if (status == http.StatusUnauthorized) == match {
			t.Fatalf("token %q, secret %q: status %d (%v)", token, secret, status, err)
		}
		if match && event != gitLabPushEvent && (status != http.StatusOK || p.Ignored == "") {
			t.Fatalf("event %q with the secret: %+v %d %v, want 200 ignored", event, p, status, err)
		}
	})
}
