package agent

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// sign returns the GitHub-style signature header value of body under secret.
func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// zeros is an endless body of zero bytes that counts what was read from it.
type zeros struct{ read int64 }

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.read += int64(len(p))
	return len(p), nil
}

// bodyCanary is in every refused body: no error may quote it.
const bodyCanary = "body-canary-7f3d"

// TestReadWebhook checks what each bad webhook request is answered, and that no error quotes
// the body.
func TestReadWebhook(t *testing.T) {
	secret := []byte(testSecret)
	push := []byte(`{"ref":"refs/heads/main","after":"` + bodyCanary + `"}`)
	tests := []struct {
		name   string
		method string
		body   []byte
		length int64 // Content-Length; -1: unknown (chunked)
		header func(body []byte) http.Header
		status int
		ref    string
		err    error
	}{
		{name: "push", body: push, status: http.StatusAccepted, ref: "refs/heads/main"},
		{name: "ping without a ref", body: []byte(`{"zen":"` + bodyCanary + `","hook_id":1}`), status: http.StatusAccepted},
		{name: "GET", method: http.MethodGet, body: push, status: http.StatusMethodNotAllowed},
		{name: "no signature", body: push, header: func([]byte) http.Header { return http.Header{} }, status: http.StatusUnauthorized, err: ErrNoSignature},
		{name: "signature of another body", body: push, header: func([]byte) http.Header {
			return http.Header{"X-Hub-Signature-256": {sign(secret, []byte(`{"ref":"refs/heads/other"}`))}}
		}, status: http.StatusUnauthorized, err: ErrBadSignature},
		{name: "signature with another secret", body: push, header: func(b []byte) http.Header {
			return http.Header{"X-Hub-Signature-256": {sign([]byte("another-secret"), b)}}
		}, status: http.StatusUnauthorized, err: ErrBadSignature},
		{name: "signature without sha256=", body: push, header: func(b []byte) http.Header {
			return http.Header{"X-Hub-Signature-256": {strings.TrimPrefix(sign(secret, b), "sha256=")}}
		}, status: http.StatusUnauthorized, err: ErrBadSignature},
		{name: "Gitea signature not hex", body: push, header: func([]byte) http.Header {
			return http.Header{"X-Gitea-Signature": {"zz" + bodyCanary}}
		}, status: http.StatusUnauthorized, err: ErrBadSignature},
		{name: "signed malformed JSON", body: []byte(`{"ref":"refs/heads/main",` + bodyCanary), status: http.StatusBadRequest, err: ErrNotJSON},
		{name: "signed form-encoded payload", body: []byte(`payload=%7B%22ref%22%3A%22` + bodyCanary + `%22%7D`), status: http.StatusBadRequest, err: ErrNotJSON},
		{name: "signed JSON array", body: []byte(`["` + bodyCanary + `"]`), status: http.StatusBadRequest, err: ErrNotJSON},
		{name: "signed ref not a string", body: []byte(`{"ref":{"name":"` + bodyCanary + `"}}`), status: http.StatusBadRequest, err: ErrNotJSON},
		{name: "signed binary", body: []byte("\x00\xff\xfe" + bodyCanary), status: http.StatusBadRequest, err: ErrNotJSON},
		{name: "oversized, announced", body: append(bytes.Repeat([]byte(" "), MaxWebhookBody), push...), status: http.StatusRequestEntityTooLarge, err: ErrBodyTooLarge},
		{name: "oversized, chunked", body: append(bytes.Repeat([]byte(" "), MaxWebhookBody), push...), length: -1, status: http.StatusRequestEntityTooLarge, err: ErrBodyTooLarge},
		{name: "exactly the cap", body: append(push, bytes.Repeat([]byte(" "), MaxWebhookBody-len(push))...), status: http.StatusAccepted, ref: "refs/heads/main"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/hooks/git", bytes.NewReader(tc.body))
			if tc.length != 0 {
				r.ContentLength = tc.length
			}
			if tc.header != nil {
				r.Header = tc.header(tc.body)
			} else {
				r.Header.Set("X-Hub-Signature-256", sign(secret, tc.body))
			}
			p, status, err := readWebhook(r, secret)
			ref := p.Ref
			if status != tc.status || ref != tc.ref {
				t.Errorf("readWebhook = %q, %d, %v; want %q, %d", ref, status, err, tc.ref, tc.status)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			if (status == http.StatusAccepted) != (err == nil) {
				t.Errorf("status %d with error %v", status, err)
			}
			if err != nil && strings.Contains(err.Error(), bodyCanary) {
				t.Errorf("error quotes the body: %v", err)
			}
		})
	}
}

// TestOversizedWebhookIsNotRead checks that a body announced over the cap is refused without
// reading it, and that an endless chunked body is read no further than the cap.
func TestOversizedWebhookIsNotRead(t *testing.T) {
	announced := &zeros{}
	r := httptest.NewRequest(http.MethodPost, "/hooks/git", io.LimitReader(announced, 1<<30))
	r.ContentLength = 1 << 30
	if _, status, _ := readWebhook(r, []byte(testSecret)); status != http.StatusRequestEntityTooLarge || announced.read != 0 {
		t.Errorf("1 GiB announced: status %d after reading %d bytes, want 413 after none", status, announced.read)
	}
	endless := &zeros{}
	r = httptest.NewRequest(http.MethodPost, "/hooks/git", endless)
	r.ContentLength = -1
	if _, status, _ := readWebhook(r, []byte(testSecret)); status != http.StatusRequestEntityTooLarge || endless.read > 2*MaxWebhookBody {
		t.Errorf("endless body: status %d after reading %d bytes, want 413 after about %d", status, endless.read, MaxWebhookBody)
	}
}

// postRaw sends body to the agent's webhook with headers and returns the status and answer.
func postRaw(t *testing.T, addr string, body io.Reader, length int64, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+"/hooks/git", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /hooks/git: %v", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(answer))
}

// TestWebhookBadBodies sends a running agent a signed body that is not JSON and bodies far over
// the cap, announced and chunked: each is refused with its status and a log line, in bounded
// time and memory, and none causes a sync; a good webhook afterwards still does.
func TestWebhookBadBodies(t *testing.T) {
	f := newFixture(t, "@every 1h") // only the start and the webhook trigger syncs
	logs := &logBuffer{}
	opts := f.options(logs)
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied"}, 2*time.Minute)
	f.commitTag("1.3.1")

	malformed := []byte(`payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D`) // a form-encoded push
	status, answer := postRaw(t, opts.HTTPAddr, bytes.NewReader(malformed), int64(len(malformed)),
		http.Header{"X-Hub-Signature-256": {sign([]byte(testSecret), malformed)}, "Content-Type": {"application/x-www-form-urlencoded"}})
	if status != http.StatusBadRequest || !strings.Contains(answer, "not a JSON object") {
		t.Errorf("signed form-encoded body: %d %q, want 400 saying it is not a JSON object", status, answer)
	}
	line := logs.waitLine(t, "webhook refused", map[string]any{"status": 400.0}, 10*time.Second)
	t.Logf("malformed body: %d %q; log: %v", status, answer, line)

	var before, after runtime.MemStats
	for _, tc := range []struct {
		name   string
		length int64
	}{{"announced", 64 << 20}, {"chunked", -1}} {
		body := &zeros{}
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		status, answer := postRaw(t, opts.HTTPAddr, io.LimitReader(body, 64<<20), tc.length,
			http.Header{"X-Hub-Signature-256": {"sha256=" + strings.Repeat("0", 64)}})
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if status != http.StatusRequestEntityTooLarge || !strings.Contains(answer, "body larger than") {
			t.Errorf("64 MiB %s body: %d %q, want 413", tc.name, status, answer)
		}
		// Generous bounds: the refusal reads at most 1 MiB; 64 MiB read or kept would show.
		if took > 10*time.Second || body.read > 16<<20 {
			t.Errorf("64 MiB %s body: refused after %s having sent %d bytes", tc.name, took, body.read)
		}
		t.Logf("64 MiB %s body: %d in %s; client sent %d KiB; heap allocated %d KiB during the request",
			tc.name, status, took.Round(time.Millisecond), body.read>>10, (after.TotalAlloc-before.TotalAlloc)>>10)
	}
	logs.waitLine(t, "webhook refused", map[string]any{"status": 413.0}, 10*time.Second)

	time.Sleep(2 * time.Second)
	if img := f.frontendImage(t.Context()); !strings.HasSuffix(img, ":1.1.0") {
		t.Fatalf("a refused webhook caused a sync: frontend runs %s", img)
	}
	if code := postHook(t, opts.HTTPAddr, "github", "refs/heads/main"); code != http.StatusAccepted {
		t.Fatalf("signed push after the bad ones answered %d, want 202", code)
	}
	f.waitImage("1.3.1", time.Minute)
}
