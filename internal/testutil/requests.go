package testutil

import (
	"net/http"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// RequestCounter counts the API requests a client makes, by HTTP method and by kind of call,
// so that tests can assert how much a sync costs. Watch streams count once, when opened.
type RequestCounter struct {
	mu     sync.Mutex
	counts map[string]int
	calls  []string
}

// CountRequests returns a copy of cfg whose transport counts every request into the returned
// counter.
func CountRequests(cfg *rest.Config) (*rest.Config, *RequestCounter) {
	c := &RequestCounter{counts: map[string]int{}}
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			c.add(req)
			return rt.RoundTrip(req)
		})
	})
	return out, c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (c *RequestCounter) add(req *http.Request) {
	key := req.Method
	switch {
	case req.URL.Query().Get("watch") == "true":
		key = "WATCH"
	case strings.Contains(req.URL.RawQuery, "dryRun="):
		key = "DRYRUN"
	}
	c.mu.Lock()
	c.counts[key]++
	if len(c.calls) < maxCalls {
		c.calls = append(c.calls, key+" "+req.URL.Path)
	}
	c.mu.Unlock()
}

// maxCalls bounds the calls a counter remembers for Calls.
const maxCalls = 100

// Calls returns the first 100 requests counted since the last Reset, as "KEY path", for
// messages that explain a count.
func (c *RequestCounter) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.calls...)
}

// Reset sets every count to zero.
func (c *RequestCounter) Reset() {
	c.mu.Lock()
	c.counts = map[string]int{}
	c.calls = nil
	c.mu.Unlock()
}

// Counts returns the counts by key: GET, POST, PUT, PATCH, DELETE, DRYRUN, WATCH.
func (c *RequestCounter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// Total returns all requests counted.
func (c *RequestCounter) Total() int {
	n := 0
	for _, v := range c.Counts() {
		n += v
	}
	return n
}

// Writes returns the requests that may change the cluster: POST, PUT, PATCH and DELETE
// without dry-run.
func (c *RequestCounter) Writes() int {
	counts := c.Counts()
	return counts["POST"] + counts["PUT"] + counts["PATCH"] + counts["DELETE"]
}
