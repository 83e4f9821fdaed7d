// Package gitlabtest is a stand-in for GitLab's REST API v4, for tests. GitLab cannot run on the
// machines ferry's tests run on, so this httptest server answers, for one project, the endpoints
// ferry calls with the request and response shapes GitLab documents (docs.gitlab.com, REST API
// v4, GitLab 18.x: "Merge requests API", "Commits API: set the pipeline status of a commit",
// "Version API", "REST API: pagination headers"), and the state transitions GitLab's own API spec
// (spec/requests/api/commit_statuses_spec.rb) shows for commit statuses:
//
//	GET  /api/v4/version                                     401 without a token, else 200 {version, revision}
//	GET  /api/v4/projects/:id/merge_requests?state&source_branch&target_branch&page&per_page
//	                                                         200 [merge request], X-Page, X-Next-Page, X-Total… headers
//	POST /api/v4/projects/:id/merge_requests                 {source_branch, target_branch, title, description}
//	                                                         201 merge request; 409 {"message":["Another open merge request already exists for this source branch: !IID"]}
//	PUT  /api/v4/projects/:id/merge_requests/:iid            {title, description}  200 merge request
//	GET  /api/v4/projects/:id/repository/commits/:sha/statuses?page&per_page
//	                                                         200 [status], the latest of each name, paginated
//	POST /api/v4/projects/:id/statuses/:sha                  {state, name, description, target_url}
//	                                                         201 status; 400 {"message":"Cannot transition status via :run from :running (…)"}
//
// :id is the project's numeric id or its URL-encoded path (group%2Fsub%2Fname). Authentication
// is PRIVATE-TOKEN or "Authorization: Bearer"; a wrong one is 401 {"message":"401 Unauthorized"}.
// It is test infrastructure: only tests import it.
package gitlabtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Version is what GET /api/v4/version answers: the GitLab release whose documentation the
// shapes come from.
const Version = "18.2.1"

// ProjectID is the fake project's numeric id.
const ProjectID = 4242

// MergeRequest is the part of GitLab's merge request object ferry reads or tests check.
type MergeRequest struct {
	ID              int64  `json:"id"`
	IID             int64  `json:"iid"`
	ProjectID       int64  `json:"project_id"`
	SourceProjectID int64  `json:"source_project_id"`
	TargetProjectID int64  `json:"target_project_id"`
	SourceBranch    string `json:"source_branch"`
	TargetBranch    string `json:"target_branch"`
	Title           string `json:"title"`
	Description     string `json:"description"`
	State           string `json:"state"`
	Draft           bool   `json:"draft"`
	WebURL          string `json:"web_url"`
}

// StatusPost is one POST of a commit status and what the fake answered.
type StatusPost struct {
	SHA, Name, State, Description, TargetURL string
	// Code is the HTTP status of the answer: 201, 400 for a refused transition, 409 for a
	// conflict (see ConflictStatuses).
	Code int
}

// status is a commit status record, as GitLab keeps them (a finished one is kept when a new one
// of the same name follows).
type status struct {
	ID                                       int64
	SHA, Name, State, Description, TargetURL string
	CreatedAt                                time.Time
}

// Server is a fake GitLab holding one project.
type Server struct {
	*httptest.Server
	t       testing.TB
	project string // full path, group/name
	token   string

	mu       sync.Mutex
	mrs      []*MergeRequest
	statuses []*status
	posts    []StatusPost
	requests []string
	// beforeCreate runs before a merge request is created, as another client would act.
	beforeCreate func()
	// conflicts is how many of the next status POSTs answer 409.
	conflicts int
}

// Start serves a fake GitLab whose only project is project (group/name) and whose only valid
// token is token, until the test ends.
func Start(t testing.TB, project, token string) *Server {
	s := &Server{t: t, project: project, token: token}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v4/version", s.version)
	mux.HandleFunc("GET /api/v4/projects/{id}/merge_requests", s.listMRs)
	mux.HandleFunc("POST /api/v4/projects/{id}/merge_requests", s.createMR)
	mux.HandleFunc("PUT /api/v4/projects/{id}/merge_requests/{iid}", s.updateMR)
	mux.HandleFunc("POST /api/v4/projects/{id}/statuses/{sha}", s.setStatus)
	mux.HandleFunc("GET /api/v4/projects/{id}/repository/commits/{sha}/statuses", s.listStatuses)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
		s.mu.Unlock()
		if !s.authorized(r) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "401 Unauthorized"})
			return
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "404 Not Found"})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// APIURL is the API base ferry is given with --forge-url: URL + "/api/v4".
func (s *Server) APIURL() string { return s.URL + "/api/v4" }

// WebURL is the project's web page.
func (s *Server) WebURL() string { return "https://gitlab.example.com/" + s.project }

func (s *Server) authorized(r *http.Request) bool {
	return r.Header.Get("PRIVATE-TOKEN") == s.token || r.Header.Get("Authorization") == "Bearer "+s.token
}

// project reports whether the request's :id names the project, answering 404 when not.
func (s *Server) projectOf(w http.ResponseWriter, r *http.Request) bool {
	id := r.PathValue("id")
	if id != s.project && id != strconv.Itoa(ProjectID) {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "404 Project Not Found"})
		return false
	}
	return true
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": Version, "revision": "0e3ddf6f4a1"})
}

// AddMergeRequest adds a merge request as someone else would open it; zero project ids mean
// this project (a fork's has another SourceProjectID). It returns the stored merge request.
func (s *Server) AddMergeRequest(mr MergeRequest) MergeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.add(mr)
}

// add stores mr with the next iid; s.mu is held.
func (s *Server) add(mr MergeRequest) *MergeRequest {
	mr.IID = int64(len(s.mrs) + 1)
	mr.ID = 90000 + mr.IID
	mr.ProjectID = ProjectID
	if mr.SourceProjectID == 0 {
		mr.SourceProjectID = ProjectID
	}
	mr.TargetProjectID = ProjectID
	if mr.State == "" {
		mr.State = "opened"
	}
	mr.WebURL = fmt.Sprintf("%s/-/merge_requests/%d", s.WebURL(), mr.IID)
	p := &mr
	s.mrs = append(s.mrs, p)
	return p
}

// BeforeCreate sets fn to run before the next merge request is created (then it is cleared),
// as a rival client opening the same merge request in between would.
func (s *Server) BeforeCreate(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeCreate = fn
}

// ConflictStatuses makes the next n status POSTs answer 409, as GitLab does while another
// update of the same commit and ref is in progress ("retry the request", its documentation says).
func (s *Server) ConflictStatuses(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conflicts = n
}

// MergeRequests returns copies of the project's merge requests, in order of iid.
func (s *Server) MergeRequests() []MergeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]MergeRequest, len(s.mrs))
	for i, mr := range s.mrs {
		out[i] = *mr
	}
	return out
}

// StatusPosts returns every status POST so far, with the answer's code.
func (s *Server) StatusPosts() []StatusPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]StatusPost(nil), s.posts...)
}

// Status returns the latest status named name on sha: its state and description ("" when none).
func (s *Server) Status(sha, name string) (state, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.latest(sha, name); st != nil {
		return st.State, st.Description
	}
	return "", ""
}

// Requests returns "METHOD request-URI" of every request since the last call.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.requests
	s.requests = nil
	return out
}

func (s *Server) listMRs(w http.ResponseWriter, r *http.Request) {
	if !s.projectOf(w, r) {
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	var match []*MergeRequest
	for _, mr := range s.mrs {
		if (q.Get("state") == "" || q.Get("state") == "all" || q.Get("state") == mr.State) &&
			(q.Get("source_branch") == "" || q.Get("source_branch") == mr.SourceBranch) &&
			(q.Get("target_branch") == "" || q.Get("target_branch") == mr.TargetBranch) {
			match = append(match, mr)
		}
	}
	page := pageOf(w, r, len(match))
	out := []MergeRequest{}
	for _, mr := range match[page.from:page.to] {
		out = append(out, *mr)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

type window struct{ from, to int }

// pageOf reads page and per_page (default 20, at most 100, as GitLab's offset pagination) and
// sets the pagination headers for n items.
func pageOf(w http.ResponseWriter, r *http.Request, n int) window {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	page, per = max(page, 1), min(max(per, 0), 100)
	if per == 0 {
		per = 20
	}
	pages := max((n+per-1)/per, 1)
	h := w.Header()
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(per))
	h.Set("X-Total", strconv.Itoa(n))
	h.Set("X-Total-Pages", strconv.Itoa(pages))
	h.Set("X-Next-Page", "")
	h.Set("X-Prev-Page", "")
	if page < pages {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
	}
	if page > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(page-1))
	}
	from := min((page-1)*per, n)
	return window{from, min(from+per, n)}
}

func (s *Server) createMR(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if !s.projectOf(w, r) || !decode(w, r, &body, "source_branch", "target_branch", "title") {
		return
	}
	s.mu.Lock()
	if fn := s.beforeCreate; fn != nil {
		s.beforeCreate = nil
		s.mu.Unlock()
		fn()
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	src, dst := body["source_branch"].(string), body["target_branch"].(string)
	for _, mr := range s.mrs {
		if mr.State == "opened" && mr.SourceBranch == src && mr.TargetBranch == dst && mr.SourceProjectID == ProjectID {
			writeJSON(w, http.StatusConflict, map[string]any{
				"message": []string{fmt.Sprintf("Another open merge request already exists for this source branch: !%d", mr.IID)},
			})
			return
		}
	}
	desc, _ := body["description"].(string)
	mr := s.add(MergeRequest{SourceBranch: src, TargetBranch: dst, Title: body["title"].(string), Description: desc})
	writeJSON(w, http.StatusCreated, mr)
}

func (s *Server) updateMR(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if !s.projectOf(w, r) || !decode(w, r, &body) {
		return
	}
	iid, _ := strconv.ParseInt(r.PathValue("iid"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, mr := range s.mrs {
		if mr.IID != iid {
			continue
		}
		if v, ok := body["title"].(string); ok {
			mr.Title = v
		}
		if v, ok := body["description"].(string); ok {
			mr.Description = v
		}
		writeJSON(w, http.StatusOK, mr)
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]any{"message": "404 Not found"})
}

// latest returns the newest status named name on sha; s.mu is held.
func (s *Server) latest(sha, name string) *status {
	for i := len(s.statuses) - 1; i >= 0; i-- {
		if st := s.statuses[i]; st.SHA == sha && st.Name == name {
			return st
		}
	}
	return nil
}

// events are the state machine events GitLab fires for each state it is asked to set.
var events = map[string]string{"pending": "enqueue", "running": "run", "success": "succeed", "failed": "drop", "canceled": "cancel", "skipped": "skip"}

func (s *Server) setStatus(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if !s.projectOf(w, r) || !decode(w, r, &body, "state") {
		return
	}
	post := StatusPost{SHA: r.PathValue("sha"), Name: "default", State: body["state"].(string), Code: http.StatusCreated}
	if v, ok := body["name"].(string); ok {
		post.Name = v
	} else if v, ok := body["context"].(string); ok {
		post.Name = v
	}
	post.Description, _ = body["description"].(string)
	post.TargetURL, _ = body["target_url"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	var code int
	var answer any
	if s.conflicts > 0 {
		s.conflicts--
		code, answer = http.StatusConflict, map[string]any{"message": "409 Conflict"}
	} else {
		code, answer = s.transition(post)
	}
	post.Code = code
	s.posts = append(s.posts, post)
	writeJSON(w, code, answer)
}

// transition applies post as GitLab does: a pending or running status of that name is moved to
// the new state when its state machine allows it (refused with 400 otherwise, keeping its
// description); without one, a new status is created. s.mu is held.
func (s *Server) transition(post StatusPost) (int, any) {
	event, ok := events[post.State]
	switch {
	case !ok:
		return http.StatusBadRequest, map[string]any{"error": "state does not have a valid value"}
	case len([]rune(post.Description)) > 255:
		return http.StatusBadRequest, map[string]any{"message": map[string]any{"description": []string{"is too long (maximum is 255 characters)"}}}
	case len([]rune(post.TargetURL)) > 255:
		return http.StatusBadRequest, map[string]any{"message": map[string]any{"target_url": []string{"is too long (maximum is 255 characters)"}}}
	}
	st := s.latest(post.SHA, post.Name)
	if st == nil || (st.State != "pending" && st.State != "running") {
		st = &status{ID: int64(len(s.statuses) + 1), SHA: post.SHA, Name: post.Name, CreatedAt: time.Now().UTC()}
		s.statuses = append(s.statuses, st)
	} else if post.State == "pending" || post.State == st.State {
		return http.StatusBadRequest, map[string]any{"message": fmt.Sprintf(
			"Cannot transition status via :%s from :%s (Reason(s): Status cannot transition via \"%s\")", event, st.State, event)}
	}
	st.State, st.Description, st.TargetURL = post.State, post.Description, post.TargetURL
	return http.StatusCreated, st.json()
}

// json is the status as GitLab's API shows it.
func (st *status) json() map[string]any {
	return map[string]any{
		"id": st.ID, "sha": st.SHA, "ref": "main", "status": st.State, "name": st.Name,
		"description": nullable(st.Description), "target_url": nullable(st.TargetURL),
		"created_at": st.CreatedAt.Format(time.RFC3339Nano), "allow_failure": false, "coverage": nil,
		"author": map[string]any{"id": 28, "username": "ferry-bot", "name": "ferry", "state": "active"},
	}
}

// listStatuses answers the latest status of each name on the commit (GitLab's default,
// all=false), oldest first, one page at a time.
func (s *Server) listStatuses(w http.ResponseWriter, r *http.Request) {
	if !s.projectOf(w, r) {
		return
	}
	sha := r.PathValue("sha")
	s.mu.Lock()
	var latest []map[string]any
	for _, st := range s.statuses {
		if st.SHA == sha && s.latest(sha, st.Name) == st {
			latest = append(latest, st.json())
		}
	}
	s.mu.Unlock()
	page := pageOf(w, r, len(latest))
	writeJSON(w, http.StatusOK, latest[page.from:page.to])
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// decode reads a JSON body (ferry's client sends JSON) into v, answering 400 as GitLab does
// ({"error":"NAME is missing"}) when one of the required string fields is absent.
func decode(w http.ResponseWriter, r *http.Request, v *map[string]any, required ...string) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "400 Bad request - body is not JSON"})
		return false
	}
	for _, k := range required {
		if _, ok := (*v)[k].(string); !ok {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": k + " is missing"})
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
