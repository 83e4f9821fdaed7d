package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/notify"
)

var update = flag.Bool("update", false, "rewrite the golden payloads in testdata")

// halted is a rollout-halted message whose text holds a URL with a token, which every
// payload must mask, and markup that Slack must not read.
var halted = notify.Message{
	Event: notify.RolloutHalted, Env: "production", Revision: "3f2a1c9d4e5f60718293a4b5c6d7e8f901234567",
	Stage: "canary", Subject: "production: gceme 1.2.0 <!channel>",
	Text: `check error-rate failed: value 0.8 above max 0.5 (Post "http://smoke/run?token=s3cret": 500)`,
	URL:  "https://ferry.example.com/", Time: time.Date(2026, 11, 30, 3, 4, 5, 0, time.UTC),
}

// TestPayloads pins each receiver's JSON against testdata/<type>.json (go test -update
// rewrites them) and checks the shapes Slack and Teams document.
func TestPayloads(t *testing.T) {
	for _, kind := range []string{notify.Slack, notify.Teams, notify.Webhook} {
		t.Run(kind, func(t *testing.T) {
			body, err := notify.Payload(kind, halted)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(body, []byte("s3cret")) {
				t.Errorf("the payload holds the token of a URL in the text:\n%s", body)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", kind+".json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), pretty.String()); diff != "" {
				t.Errorf("%s payload (-want +got):\n%s", kind, diff)
			}
			var v map[string]any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			checkShape(t, kind, v)
		})
	}
	if _, err := notify.Payload("email", halted); err == nil {
		t.Error("an unknown type gave a payload")
	}
}

func checkShape(t *testing.T, kind string, v map[string]any) {
	t.Helper()
	switch kind {
	case notify.Slack:
		blocks, _ := v["blocks"].([]any)
		if text, _ := v["text"].(string); !strings.HasPrefix(text, "Rollout of 3f2a1c9 halted in production at stage canary") || len(blocks) == 0 {
			t.Errorf("slack: want a text fallback and blocks, got %v", v)
		}
		if s, _ := json.Marshal(v); bytes.Contains(s, []byte("<!channel>")) {
			t.Errorf("slack: markup from the commit subject is not escaped: %s", s)
		}
	case notify.Teams:
		att, _ := v["attachments"].([]any)
		if v["type"] != "message" || len(att) != 1 {
			t.Fatalf("teams: want a message with one attachment, got %v", v)
		}
		a := att[0].(map[string]any)
		card, _ := a["content"].(map[string]any)
		if a["contentType"] != "application/vnd.microsoft.card.adaptive" || card["type"] != "AdaptiveCard" || card["version"] == nil {
			t.Errorf("teams: want an Adaptive Card attachment, got %v", a)
		}
	case notify.Webhook:
		for _, k := range []string{"event", "env", "revision", "stage", "subject", "message", "url", "time"} {
			if _, ok := v[k]; !ok {
				t.Errorf("webhook: no %q in %v", k, v)
			}
		}
	}
}

// TestEventsMatchFerryYAML keeps the events notify sends and those ferry.yaml accepts the same.
func TestEventsMatchFerryYAML(t *testing.T) {
	var want []notify.Event
	for _, e := range environments.NotificationEvents {
		want = append(want, notify.Event(e))
	}
	if diff := cmp.Diff(want, notify.Events); diff != "" {
		t.Errorf("events (-ferry.yaml +notify):\n%s", diff)
	}
	if environments.NotifySlack != notify.Slack || environments.NotifyTeams != notify.Teams || environments.NotifyWebhook != notify.Webhook {
		t.Error("the receiver types of ferry.yaml and notify differ")
	}
}

// receiver is a local HTTP receiver that records the bodies it takes; answer decides the
// status of the n-th post (1-based).
type receiver struct {
	*httptest.Server
	mu     gosync.Mutex
	posts  int
	bodies []string
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.posts++
		n := rc.posts
		rc.mu.Unlock()
		code := answer(n, w, r)
		if code == 0 {
			return // the handler answered, or the client went away
		}
		if code/100 == 2 {
			rc.mu.Lock()
			rc.bodies = append(rc.bodies, string(body))
			rc.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) counts() (posts, taken int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.posts, len(rc.bodies)
}

func ok(int, http.ResponseWriter, *http.Request) int { return http.StatusOK }

// results collects a Notifier's reports.
type results struct {
	mu  gosync.Mutex
	all []notify.Result
	ch  chan notify.Result
}

func newResults() *results { return &results{ch: make(chan notify.Result, 100)} }

func (r *results) report(res notify.Result) {
	r.mu.Lock()
	r.all = append(r.all, res)
	r.mu.Unlock()
	r.ch <- res
}

// next waits for the next result (a minute at most: the machine may be loaded).
func (r *results) next(t *testing.T) notify.Result {
	t.Helper()
	select {
	case res := <-r.ch:
		return res
	case <-time.After(time.Minute):
		t.Fatal("no result within a minute")
	}
	return notify.Result{}
}

// start runs a Notifier with opts (fast retries) until the test ends.
func start(t *testing.T, opts notify.Options, res *results) *notify.Notifier {
	t.Helper()
	opts.Report = res.report
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	}
	n := notify.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func TestDeduplicates(t *testing.T) {
	rc := newReceiver(t, ok)
	res := newResults()
	n := start(t, notify.Options{}, res)
	to := notify.Receiver{Name: "chat", Type: notify.Webhook, URL: rc.URL + "/hook"}
	failed := notify.Message{Event: notify.SyncFailed, Env: "staging", Revision: "abc", Text: "render failed"}
	n.Notify(to, failed)
	if got := res.next(t); got.Outcome != notify.Sent || got.Attempts != 1 {
		t.Fatalf("first: %+v, want sent at the first attempt", got)
	}
	for range 3 { // the sync retried, with another error even: the same event at the same revision
		failed.Text = "render failed again"
		n.Notify(to, failed)
		if got := res.next(t); got.Outcome != notify.Deduplicated {
			t.Errorf("again: %+v, want deduplicated", got)
		}
	}
	for _, m := range []notify.Message{
		{Event: notify.SyncFailed, Env: "staging", Revision: "def"},    // another revision
		{Event: notify.SyncFailed, Env: "production", Revision: "abc"}, // another environment
		{Event: notify.RolloutHalted, Env: "staging", Revision: "abc"}, // another event
		{Event: notify.ApprovalNeeded, Env: "staging", Revision: "abc", Stage: "one"},
		{Event: notify.ApprovalNeeded, Env: "staging", Revision: "abc", Stage: "two"}, // approval: per stage
	} {
		n.Notify(to, m)
		if got := res.next(t); got.Outcome != notify.Sent {
			t.Errorf("%+v: %+v, want sent", m, got)
		}
	}
	n.Notify(notify.Receiver{Name: "other", Type: notify.Slack, URL: rc.URL}, failed) // another receiver
	if got := res.next(t); got.Outcome != notify.Sent || got.Receiver != "other" {
		t.Errorf("another receiver: %+v, want sent", got)
	}
	if posts, taken := rc.counts(); posts != 7 || taken != 7 {
		t.Errorf("receiver got %d posts (%d taken), want 7", posts, taken)
	}
}

// TestQueueFullDrops fills the queue of a Notifier that does not run: Notify must return at
// once and drop what does not fit, and a dropped message may be sent later.
func TestQueueFullDrops(t *testing.T) {
	res := newResults()
	n := notify.New(notify.Options{QueueSize: 2, Report: res.report})
	to := notify.Receiver{Name: "chat", Type: notify.Webhook, URL: "http://127.0.0.1:1/"}
	for i := range 5 {
		n.Notify(to, notify.Message{Event: notify.SyncFailed, Env: "staging", Revision: string(rune('a' + i))})
	}
	var dropped []string
	for range 3 {
		got := res.next(t)
		if got.Outcome != notify.Dropped || got.Err == nil {
			t.Errorf("%+v, want dropped with a reason", got)
		}
		dropped = append(dropped, got.Revision)
	}
	if !slices.Equal(dropped, []string{"c", "d", "e"}) {
		t.Errorf("dropped %v, want the three that did not fit", dropped)
	}
	// Not remembered as sent: the same message may be queued again once there is room.
	rc := newReceiver(t, ok)
	n2 := start(t, notify.Options{QueueSize: 1}, res)
	n2.Notify(notify.Receiver{Name: "chat", Type: notify.Webhook, URL: rc.URL}, notify.Message{Event: notify.SyncFailed, Env: "staging", Revision: "c"})
	if got := res.next(t); got.Outcome != notify.Sent {
		t.Errorf("%+v, want sent", got)
	}
}

// TestRetriesUntilTaken: a receiver answering 500, then 200, gets the message exactly once.
func TestRetriesUntilTaken(t *testing.T) {
	rc := newReceiver(t, func(n int, _ http.ResponseWriter, _ *http.Request) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	res := newResults()
	n := start(t, notify.Options{}, res)
	n.Notify(notify.Receiver{Name: "chat", Type: notify.Slack, URL: rc.URL}, halted)
	got := res.next(t)
	if got.Outcome != notify.Sent || got.Attempts != 2 || got.Err != nil {
		t.Errorf("%+v, want sent at the second attempt", got)
	}
	n.Notify(notify.Receiver{Name: "chat", Type: notify.Slack, URL: rc.URL}, halted)
	if got := res.next(t); got.Outcome != notify.Deduplicated {
		t.Errorf("%+v, want deduplicated", got)
	}
	if posts, taken := rc.counts(); posts != 2 || taken != 1 {
		t.Errorf("receiver: %d posts, %d taken; want 2 posts and the message once", posts, taken)
	}
}

// TestRefusalsAndTheURL: a 4xx is not retried, attempts are bounded, and no error holds the
// receiver's URL, even when the receiver echoes it.
func TestRefusalsAndTheURL(t *testing.T) {
	const token = "T0000/B0000/XXXXsecretXXXX"
	echo := func(_ int, w http.ResponseWriter, r *http.Request) int {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "no_service for "+r.URL.Path)
		return 0
	}
	down := func(int, http.ResponseWriter, *http.Request) int { return http.StatusServiceUnavailable }
	res := newResults()
	n := start(t, notify.Options{Attempts: 3}, res)
	for _, tc := range []struct {
		name     string
		answer   func(int, http.ResponseWriter, *http.Request) int
		attempts int
		err      string
	}{
		{"refused", echo, 1, "the receiver answered 404 Not Found: no_service for /***/"},
		{"down", down, 3, "attempt 3 of 3: the receiver answered 503 Service Unavailable"},
	} {
		rc := newReceiver(t, tc.answer)
		n.Notify(notify.Receiver{Name: tc.name, Type: notify.Webhook, URL: rc.URL + "/services/" + token}, halted)
		got := res.next(t)
		if got.Outcome != notify.Failed || got.Attempts != tc.attempts || got.Err == nil || !strings.Contains(got.Err.Error(), tc.err) {
			t.Errorf("%s: %+v, want failed after %d attempts with %q", tc.name, got, tc.attempts, tc.err)
		}
		if got.Err != nil && strings.Contains(got.Err.Error(), "secret") {
			t.Errorf("%s: the error holds the URL's token: %v", tc.name, got.Err)
		}
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	n.Notify(notify.Receiver{Name: "gone", Type: notify.Teams, URL: closed.URL + "/services/" + token}, halted)
	if got := res.next(t); got.Outcome != notify.Failed || got.Attempts != 3 || strings.Contains(got.Err.Error(), "secret") {
		t.Errorf("connection refused: %+v, want failed after 3 attempts, without the URL", got)
	}
	n.Notify(notify.Receiver{Name: "bad", Type: notify.Webhook, URL: "hooks.example.com/" + token}, halted)
	if got := res.next(t); got.Outcome != notify.Failed || got.Attempts != 0 || strings.Contains(got.Err.Error(), "secret") {
		t.Errorf("a URL without a scheme: %+v, want failed before any post, without the URL", got)
	}
}

// TestHangingReceiver: a receiver that never answers times out at each attempt, and holds up
// neither Notify nor the delivery to another receiver meanwhile.
func TestHangingReceiver(t *testing.T) {
	release := make(chan struct{})
	hang := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) int {
		select {
		case <-r.Context().Done():
		case <-release:
		}
		return 0
	})
	defer close(release)
	rc := newReceiver(t, ok)
	res := newResults()
	n := start(t, notify.Options{Attempts: 2, Timeout: 300 * time.Millisecond}, res)
	n.Notify(notify.Receiver{Name: "hang", Type: notify.Webhook, URL: hang.URL}, halted)
	n.Notify(notify.Receiver{Name: "ok", Type: notify.Webhook, URL: rc.URL}, halted)
	first, second := res.next(t), res.next(t)
	if first.Receiver != "ok" || first.Outcome != notify.Sent {
		t.Errorf("first result %+v, want the other receiver's message sent while the first hangs", first)
	}
	if second.Receiver != "hang" || second.Outcome != notify.Failed || !strings.Contains(second.Err.Error(), "no answer within 300ms") || second.Attempts != 2 {
		t.Errorf("second result %+v, want the hanging receiver failed after 2 timeouts", second)
	}
}
