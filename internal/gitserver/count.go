package gitserver

import (
	"maps"
	"net/http"
	"strings"
	"sync"
)

// Kinds of requests Requests counts.
const (
	// ListRefs is GET …/info/refs?service=git-upload-pack: an ls-remote, or the first request
	// of a fetch or clone.
	ListRefs = "list-refs"
	// UploadPack is POST …/git-upload-pack: a fetch or clone that wants objects.
	UploadPack = "upload-pack"
	// ReceivePack is a push: GET …/info/refs?service=git-receive-pack and POST …/git-receive-pack.
	ReceivePack = "receive-pack"
)

// requestCount counts the HTTP requests a Server answered, by kind.
type requestCount struct {
	mu     sync.Mutex
	counts map[string]int
}

// count wraps next so that every request is counted before it is served, authorised or not.
func (c *requestCount) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "other"
		switch {
		case strings.Contains(r.URL.RawQuery, "service=git-receive-pack"), strings.HasSuffix(r.URL.Path, "/git-receive-pack"):
			kind = ReceivePack
		case strings.HasSuffix(r.URL.Path, "/info/refs"):
			kind = ListRefs
		case strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
			kind = UploadPack
		}
		c.mu.Lock()
		if c.counts == nil {
			c.counts = map[string]int{}
		}
		c.counts[kind]++
		c.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// Requests returns how many HTTP requests of each kind (ListRefs, UploadPack, ReceivePack,
// "other") the server received since it started or since the last ResetRequests.
func (s *Server) Requests() map[string]int {
	s.requests.mu.Lock()
	defer s.requests.mu.Unlock()
	return maps.Clone(s.requests.counts)
}

// ResetRequests sets every count of Requests to zero.
func (s *Server) ResetRequests() {
	s.requests.mu.Lock()
	s.requests.counts = nil
	s.requests.mu.Unlock()
}
