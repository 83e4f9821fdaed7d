package rollout

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/environments"
)

// hook is a webhook the tests control (a real HTTP server, as the user's smoke test would be):
// it answers status, or hangs until the request ends when hang is set, and keeps what it got.
type hook struct {
	status int
	hang   bool
	got    chan hookRequest
}

type hookRequest struct {
	contentType, token string
	body               map[string]string
}

func newHook(t *testing.T, status int, hang bool) (*hook, *httptest.Server) {
	h := &hook{status: status, hang: hang, got: make(chan hookRequest, 100)}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	_ = json.NewDecoder(r.Body).Decode(&body)
	h.got <- hookRequest{contentType: r.Header.Get("Content-Type"), token: r.URL.Query().Get("token"), body: body}
	if h.hang {
		<-r.Context().Done()
		return
	}
	w.WriteHeader(h.status)
}

func webhookCheck(u string, timeout time.Duration) environments.Check {
	return environments.Check{Name: "smoke", Webhook: &environments.WebhookCheck{URL: u, Timeout: timeout}}
}

var target = Target{Env: "production", Namespace: "production", Revision: strings.Repeat("3f2a1c9", 5) + "abcde", Stage: "canary"}

func TestWebhookCheck(t *testing.T) {
	ok, okSrv := newHook(t, http.StatusNoContent, false)
	_, failSrv := newHook(t, http.StatusInternalServerError, false)
	_, hangSrv := newHook(t, 0, true)
	closed := closedAddress(t)
	tests := []struct {
		name    string
		check   environments.Check
		want    CheckResult
		noToken bool
	}{
		{"2xx passes", webhookCheck(okSrv.URL+"/run/{{stage}}?token=s3cret", time.Minute), CheckResult{Check: "smoke", Pass: true}, false},
		{"500 fails", webhookCheck(failSrv.URL+"/run?token=s3cret", time.Minute), CheckResult{Check: "smoke", Reason: "webhook answered 500"}, false},
		{"a hanging webhook times out", webhookCheck(hangSrv.URL+"/run?token=s3cret", 300*time.Millisecond), CheckResult{Check: "smoke", Reason: "timed out after 300ms"}, false},
		{"connection refused, without the token", webhookCheck("http://"+closed+"/run?token=s3cret", time.Minute), CheckResult{Check: "smoke"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Evaluate(t.Context(), tt.check, target, time.Minute)
			if tt.noToken {
				want := `Post "http://` + closed + `/run?token=***": dial tcp ` + closed + ": connect: connection refused"
				if got.Pass || got.Reason != want {
					t.Errorf("reason = %q, want %q", got.Reason, want)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	req := <-ok.got
	want := hookRequest{contentType: "application/json", token: "s3cret", body: map[string]string{
		"env": "production", "namespace": "production", "revision": target.Revision, "stage": "canary", "check": "smoke"}}
	if diff := cmp.Diff(want, req, cmp.AllowUnexported(hookRequest{})); diff != "" {
		t.Errorf("the webhook got (-want +got)\n%s", diff)
	}
}

// closedAddress returns host:port where nothing listens.
func closedAddress(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
