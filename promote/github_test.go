package promote

// GitHub cannot be reached from the machines these tests run on and has no server that runs here,
// so these tests use a fake: an httptest.Server mounted at the Enterprise API prefix /api/v3/ that
// answers with the request and response shapes GitHub documents for the endpoints ferry calls
// (https://docs.github.com/rest, API version 2022-11-28):
//
//	GET   /repos/{owner}/{repo}/pulls?state=open&head={owner}:{branch}&base={base}  200 [pull request]
//	POST  /repos/{owner}/{repo}/pulls                 {title, head, base, body}       201 pull request
//	PATCH /repos/{owner}/{repo}/pulls/{pull_number}   {title, body}                   200 pull request
//	POST  /repos/{owner}/{repo}/statuses/{sha}        {state, target_url, description, context}  201 status
//
// and, for a request GitHub refuses, 422 with {"message", "errors", "documentation_url"}. The fake
// keeps its pull requests in memory, so the second EnsurePullRequest finds what the first opened.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	ghToken = "ghp_FAKEtoken0123456789abcdefABCDEF0123"
	ghOwner = "acme"
	ghRepo  = "deploy"
)

// ghPR is the part of GitHub's pull request object ferry reads or the fake checks.
type ghPR struct {
	Number  int    `json:"number"`
	HTMLURL string `json:"html_url"`
	State   string `json:"state"`
	Title   string `json:"title"`
	Body    string `json:"body"`
	Head    struct {
		Ref   string `json:"ref"`
		Label string `json:"label"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

// ghStatus is GitHub's commit status object, as posted and as stored.
type ghStatus struct {
	SHA         string `json:"-"`
	State       string `json:"state"`
	Context     string `json:"context"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

// fakeGitHub is one repository's pull requests and statuses, and every request seen as
// "METHOD path?query".
type fakeGitHub struct {
	t        *testing.T
	mu       sync.Mutex
	prs      []*ghPR
	statuses []ghStatus
	requests []string
	// refuse, when set, answers every request with this status code and GitHub's error JSON.
	refuse  int
	message string
}

func newFakeGitHub(t *testing.T) (*fakeGitHub, *httptest.Server) {
	f := &fakeGitHub{t: t}
	mux := http.NewServeMux()
	prefix := "/api/v3/repos/" + ghOwner + "/" + ghRepo
	mux.HandleFunc("GET "+prefix+"/pulls", f.listPulls)
	mux.HandleFunc("POST "+prefix+"/pulls", f.createPull)
	mux.HandleFunc("PATCH "+prefix+"/pulls/{number}", f.editPull)
	mux.HandleFunc("POST "+prefix+"/statuses/{sha}", f.createStatus)
	mux.HandleFunc("GET "+prefix+"/commits/{ref}/status", f.combinedStatus)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
		refuse, message := f.refuse, f.message
		f.mu.Unlock()
		if got := r.Header.Get("Authorization"); got != "Bearer "+ghToken {
			t.Errorf("%s %s: Authorization = %q, want %q", r.Method, r.URL.Path, got, "Bearer "+ghToken)
			writeGitHubJSON(w, http.StatusUnauthorized, githubError("Bad credentials"))
			return
		}
		if refuse != 0 {
			writeGitHubJSON(w, refuse, githubError(message))
			return
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
			writeGitHubJSON(w, http.StatusNotFound, githubError("Not Found"))
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeGitHub) listPulls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []*ghPR{}
	for _, pr := range f.prs {
		if (q.Get("state") == "" || q.Get("state") == pr.State) &&
			(q.Get("head") == "" || q.Get("head") == pr.Head.Label) &&
			(q.Get("base") == "" || q.Get("base") == pr.Base.Ref) {
			out = append(out, pr)
		}
	}
	writeGitHubJSON(w, http.StatusOK, out)
}

func (f *fakeGitHub) createPull(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if !f.decode(w, r, &body, "title", "head", "base", "body") {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	pr := &ghPR{Number: 40 + len(f.prs) + 1, State: "open", Title: body["title"].(string), Body: body["body"].(string)}
	pr.HTMLURL = fmt.Sprintf("https://github.example/%s/%s/pull/%d", ghOwner, ghRepo, pr.Number)
	pr.Head.Ref, pr.Head.Label = body["head"].(string), ghOwner+":"+body["head"].(string)
	pr.Base.Ref = body["base"].(string)
	f.prs = append(f.prs, pr)
	writeGitHubJSON(w, http.StatusCreated, pr)
}

func (f *fakeGitHub) editPull(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if !f.decode(w, r, &body, "title", "body") {
		return
	}
	n, _ := strconv.Atoi(r.PathValue("number"))
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, pr := range f.prs {
		if pr.Number == n {
			pr.Title, pr.Body = body["title"].(string), body["body"].(string)
			writeGitHubJSON(w, http.StatusOK, pr)
			return
		}
	}
	writeGitHubJSON(w, http.StatusNotFound, githubError("Not Found"))
}

func (f *fakeGitHub) createStatus(w http.ResponseWriter, r *http.Request) {
	var st ghStatus
	if !f.decode(w, r, &st, "state", "context", "description", "target_url") {
		return
	}
	st.SHA = r.PathValue("sha")
	f.mu.Lock()
	f.statuses = append(f.statuses, st)
	f.mu.Unlock()
	writeGitHubJSON(w, http.StatusCreated, st)
}

// combinedStatus answers GitHub's "get the combined status for a specific reference": the
// latest status of each context on the commit, newest first.
func (f *fakeGitHub) combinedStatus(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("ref")
	f.mu.Lock()
	var latest []ghStatus
	seen := map[string]bool{}
	for i := len(f.statuses) - 1; i >= 0; i-- {
		if st := f.statuses[i]; st.SHA == sha && !seen[st.Context] {
			seen[st.Context] = true
			latest = append(latest, st)
		}
	}
	f.mu.Unlock()
	state := "success"
	if len(latest) == 0 {
		state = "pending"
	}
	writeGitHubJSON(w, http.StatusOK, map[string]any{"state": state, "sha": sha, "total_count": len(latest), "statuses": latest})
}

// decode reads a JSON body into v, checking that it has each of the fields GitHub needs (strings,
// as documented); it answers 422 as GitHub does when one is missing.
func (f *fakeGitHub) decode(w http.ResponseWriter, r *http.Request, v any, fields ...string) bool {
	var raw map[string]any
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		f.t.Errorf("%s %s: body is not JSON: %v", r.Method, r.URL.Path, err)
		writeGitHubJSON(w, http.StatusBadRequest, githubError("Problems parsing JSON"))
		return false
	}
	for _, k := range fields {
		if _, ok := raw[k].(string); !ok {
			f.t.Errorf("%s %s: body %v has no string %q", r.Method, r.URL.Path, raw, k)
			writeGitHubJSON(w, http.StatusUnprocessableEntity, githubError("Invalid request.\n\n\""+k+"\" wasn't supplied."))
			return false
		}
	}
	data, _ := json.Marshal(raw)
	if err := json.Unmarshal(data, v); err != nil {
		f.t.Fatal(err)
	}
	return true
}

// refuseWith makes the fake answer every request with code and GitHub's error JSON; 0 undoes it.
func (f *fakeGitHub) refuseWith(code int, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuse, f.message = code, message
}

// state returns copies of the fake's pull requests and statuses, and clears the statuses.
func (f *fakeGitHub) state() ([]ghPR, []ghStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var prs []ghPR
	for _, p := range f.prs {
		prs = append(prs, *p)
	}
	statuses := f.statuses
	f.statuses = nil
	return prs, statuses
}

// seen returns the requests since the last call.
func (f *fakeGitHub) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.requests
	f.requests = nil
	return out
}

// githubError is GitHub's documented error body.
func githubError(message string) map[string]any {
	return map[string]any{
		"message":           message,
		"documentation_url": "https://docs.github.com/rest",
	}
}

func writeGitHubJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func newTestGitHub(t *testing.T, srv *httptest.Server) *GitHub {
	t.Helper()
	g, err := NewGitHub(srv.URL+"/api/v3/", ghOwner, ghRepo, ghToken)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGitHubEnsurePullRequest(t *testing.T) {
	f, srv := newFakeGitHub(t)
	g := newTestGitHub(t, srv)
	ctx := t.Context()
	if g.Name() != "github" {
		t.Errorf("Name() = %q, want github", g.Name())
	}
	list := "GET /api/v3/repos/acme/deploy/pulls?base=main&head=acme%3Aferry%2Fpromote-prod&state=open"

	pr := PullRequest{Head: "ferry/promote-prod", Base: "main", Title: "promote(prod): app 1.0 → 1.1", Body: "first"}
	url, created, err := g.EnsurePullRequest(ctx, pr)
	if err != nil {
		t.Fatal(err)
	}
	wantURL := "https://github.example/acme/deploy/pull/41"
	if url != wantURL || !created {
		t.Errorf("first EnsurePullRequest = %q, %v; want %q, true", url, created, wantURL)
	}
	if diff := cmp.Diff([]string{list, "POST /api/v3/repos/acme/deploy/pulls"}, f.seen()); diff != "" {
		t.Errorf("requests of the first call (-want +got):\n%s", diff)
	}

	pr.Title, pr.Body = "promote(prod): app 1.0 → 1.2", "second"
	url, created, err = g.EnsurePullRequest(ctx, pr)
	if err != nil {
		t.Fatal(err)
	}
	if url != wantURL || created {
		t.Errorf("second EnsurePullRequest = %q, %v; want %q, false", url, created, wantURL)
	}
	if diff := cmp.Diff([]string{list, "PATCH /api/v3/repos/acme/deploy/pulls/41"}, f.seen()); diff != "" {
		t.Errorf("requests of the second call (-want +got):\n%s", diff)
	}

	// What a reviewer sees on GitHub: one open pull request, with the second title and body.
	want := []ghPR{{Number: 41, HTMLURL: wantURL, State: "open", Title: pr.Title, Body: pr.Body}}
	want[0].Head.Ref, want[0].Head.Label, want[0].Base.Ref = "ferry/promote-prod", "acme:ferry/promote-prod", "main"
	got, _ := f.state()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pull requests on the fake (-want +got):\n%s", diff)
	}
}

func TestGitHubSetStatus(t *testing.T) {
	f, srv := newFakeGitHub(t)
	g := newTestGitHub(t, srv)
	sha := "0123456789abcdef0123456789abcdef01234567"
	long := strings.Repeat("é", 150) // 150 characters, 300 bytes: GitHub counts characters
	cases := []struct {
		name string
		st   Status
		want ghStatus
	}{
		{"short",
			Status{Context: "ferry/prod", State: "success", Description: "synced 3 objects", TargetURL: "https://ferry.example/envs/prod"},
			ghStatus{SHA: sha, Context: "ferry/prod", State: "success", Description: "synced 3 objects", TargetURL: "https://ferry.example/envs/prod"}},
		{"running is pending",
			Status{Context: "ferry/prod", State: "running", Description: "stage canary (1/2): applying", TargetURL: "https://ferry.example/envs/prod"},
			ghStatus{SHA: sha, Context: "ferry/prod", State: "pending", Description: "stage canary (1/2): applying", TargetURL: "https://ferry.example/envs/prod"}},
		{"long description",
			Status{Context: "ferry/staging", State: "failure", Description: long, TargetURL: "https://ferry.example/envs/staging"},
			ghStatus{SHA: sha, Context: "ferry/staging", State: "failure", Description: strings.Repeat("é", 139) + "…", TargetURL: "https://ferry.example/envs/staging"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := g.SetStatus(t.Context(), sha, c.st); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"POST /api/v3/repos/acme/deploy/statuses/" + sha}, f.seen()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			_, statuses := f.state()
			if diff := cmp.Diff([]ghStatus{c.want}, statuses); diff != "" {
				t.Errorf("statuses on the fake (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGitHubErrors(t *testing.T) {
	f, srv := newFakeGitHub(t)
	g := newTestGitHub(t, srv)
	pr := PullRequest{Head: "ferry/promote-prod", Base: "main", Title: "t", Body: "b"}

	t.Run("422", func(t *testing.T) {
		f.refuseWith(http.StatusUnprocessableEntity, "Validation Failed")
		_, _, err := g.EnsurePullRequest(t.Context(), pr)
		assertGitHubError(t, err, "github acme/deploy: list open pull requests from ferry/promote-prod into main: ", "422 Validation Failed")
		err = g.SetStatus(t.Context(), "0123456789abcdef", Status{Context: "ferry/prod", State: "bogus"})
		assertGitHubError(t, err, "github acme/deploy: set status ferry/prod on 0123456: ", "422 Validation Failed")
	})

	// Not a documented GitHub answer: a proxy in front of an Enterprise server that echoes the
	// request's Authorization header in its error, to check ferry scrubs the token itself.
	t.Run("echoed token", func(t *testing.T) {
		f.refuseWith(http.StatusUnauthorized, "rejected Authorization: Bearer "+ghToken)
		_, _, err := g.EnsurePullRequest(t.Context(), pr)
		assertGitHubError(t, err, "github acme/deploy: list open pull requests", "Bearer ***")
	})

	t.Run("cancelled", func(t *testing.T) {
		f.refuseWith(0, "")
		f.seen()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, _, err := g.EnsurePullRequest(ctx, pr)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("EnsurePullRequest with a cancelled context = %v, want context.Canceled", err)
		}
		if got := f.seen(); len(got) != 0 {
			t.Errorf("requests sent with a cancelled context: %v", got)
		}
	})
}

func assertGitHubError(t *testing.T, err error, prefix, contains string) {
	t.Helper()
	assertForgeError(t, err, prefix, contains, ghToken)
}

// assertForgeError checks that err starts with prefix, contains contains, and never token.
func assertForgeError(t *testing.T, err error, prefix, contains, token string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one starting %q", prefix)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, contains) {
		t.Errorf("error = %q\nwant it to start %q and contain %q", msg, prefix, contains)
	}
	if strings.Contains(msg, token) {
		t.Errorf("error contains the token: %q", msg)
	}
}

func TestNewGitHub(t *testing.T) {
	cases := []struct {
		name, baseURL, owner, repo, token, wantErr string
	}{
		{"github.com", "", "acme", "deploy", "tok", ""},
		{"enterprise", "https://ghe.example.com/api/v3/", "acme", "deploy", "tok", ""},
		{"no token", "", "acme", "deploy", "", "github acme/deploy: no token: opening pull requests and setting statuses need one"},
		{"no owner", "", "", "deploy", "tok", `github ""/"deploy": owner and repository are both required`},
		{"not a URL", "ghe.example.com/api/v3", "acme", "deploy", "tok",
			`github acme/deploy: API URL "ghe.example.com/api/v3" is not an http(s) URL like https://ghe.example.com/api/v3/`},
		{"credentials in URL", "https://me:tok@ghe.example.com\x7f/", "acme", "deploy", "tok",
			`github acme/deploy: API URL "https://me:***@ghe.example.com\x7f/" is not an http(s) URL like https://ghe.example.com/api/v3/`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewGitHub(c.baseURL, c.owner, c.repo, c.token)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.wantErr {
				t.Errorf("NewGitHub error = %q, want %q", got, c.wantErr)
			}
		})
	}
}

func TestParseRemote(t *testing.T) {
	type want struct{ Host, Owner, Repo, Err string }
	cases := []struct {
		remote string
		want   want
	}{
		{"https://github.com/acme/deploy", want{Host: "github.com", Owner: "acme", Repo: "deploy"}},
		{"https://github.com/acme/deploy.git", want{Host: "github.com", Owner: "acme", Repo: "deploy"}},
		{"https://github.com/acme/deploy/", want{Host: "github.com", Owner: "acme", Repo: "deploy"}},
		{"https://x-access-token:ghs_abc@github.com/acme/deploy.git", want{Host: "github.com", Owner: "acme", Repo: "deploy"}},
		{"git@github.com:acme/deploy.git", want{Host: "github.com", Owner: "acme", Repo: "deploy"}},
		{"git@github.com:acme/deploy", want{Host: "github.com", Owner: "acme", Repo: "deploy"}},
		{"ssh://git@github.com/acme/deploy.git", want{Host: "github.com", Owner: "acme", Repo: "deploy"}},
		{"https://ghe.example.com/platform/deploy.git", want{Host: "ghe.example.com", Owner: "platform", Repo: "deploy"}},
		{"https://ghe.example.com:8443/platform/deploy", want{Host: "ghe.example.com:8443", Owner: "platform", Repo: "deploy"}},
		{"git@ghe.example.com:platform/deploy.git", want{Host: "ghe.example.com", Owner: "platform", Repo: "deploy"}},
		{"ssh://git@ghe.example.com:2222/platform/deploy.git", want{Host: "ghe.example.com", Owner: "platform", Repo: "deploy"}},
		{"https://github.com/acme/deploy/tree/main", want{Err: "remote https://github.com/acme/deploy/tree/main: not a GitHub repository URL"}},
		{"https://github.com/acme", want{Err: "remote https://github.com/acme: not a GitHub repository URL"}},
		{"https://me:s3cret@github.com/acme", want{Err: "remote https://me:***@github.com/acme: not a GitHub repository URL"}},
		{"https://me:s3cret@github.com/%zz", want{Err: "remote https://me:***@github.com/%zz: not a GitHub repository URL"}},
		{"file:///srv/git/deploy.git", want{Err: "remote file:///srv/git/deploy.git: not a GitHub repository URL"}},
		{"/srv/git/acme/deploy.git", want{Err: "remote /srv/git/acme/deploy.git: not a GitHub repository URL"}},
		{"C:/src/acme/deploy", want{Err: "remote C:/src/acme/deploy: not a GitHub repository URL"}},
		{"", want{Err: "remote : not a GitHub repository URL"}},
	}
	for _, c := range cases {
		t.Run(c.remote, func(t *testing.T) {
			var got want
			var err error
			got.Host, got.Owner, got.Repo, err = ParseRemote(c.remote)
			if err != nil {
				// Compare up to the list of accepted forms, which is for people, not tests.
				got.Err, _, _ = strings.Cut(err.Error(), " (want ")
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("ParseRemote(%q) (-want +got):\n%s", c.remote, diff)
			}
			if strings.Contains(got.Err, "s3cret") {
				t.Errorf("error contains the password: %q", got.Err)
			}
		})
	}
}
