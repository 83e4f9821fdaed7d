package source_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/sync/source"
)

// advertisement is the content type of a smart-HTTP ref advertisement.
const advertisement = "application/x-git-upload-pack-advertisement"

// pktLine frames s as a git pkt-line.
func pktLine(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

// flushWriter writes to w and flushes after every write, so that a client sees each byte.
func flush(w http.ResponseWriter, s string) bool {
	if _, err := io.WriteString(w, s); err != nil {
		return false
	}
	w.(http.Flusher).Flush()
	return true
}

// badServer starts a loopback HTTP server that answers every request with handler.
func badServer(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL + "/config.git"
}

// endless writes a stream of valid ref advertisement lines until the client goes away or the
// test ends; it counts the bytes written.
func endless(written *atomic.Int64, done <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", advertisement)
		bw := bufio.NewWriterSize(w, 64<<10)
		head := pktLine("# service=git-upload-pack\n") + "0000" + pktLine(strings.Repeat("f", 40)+" HEAD\x00multi_ack ofs-delta side-band-64k\n")
		bw.WriteString(head)
		for i := 0; ; i++ {
			line := pktLine(fmt.Sprintf("%040x refs/heads/b%d\n", i+1, i))
			if _, err := bw.WriteString(line); err != nil {
				return
			}
			written.Add(int64(len(line)))
			select {
			case <-done:
				return
			case <-r.Context().Done():
				return
			default:
			}
		}
	}
}

// TestBadServers points Head and Fetch at servers that answer slowly, never, or with garbage:
// each call ends within the timeout (plus scheduling slack) with an error that names the URL
// and branch and says what went wrong.
func TestBadServers(t *testing.T) {
	const timeout = 2 * time.Second
	real := gitserver.Start(t, gitserver.Options{})
	real.NewRepo(t, "config", config)
	realURL, err := url.Parse(real.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(realURL)
	random := make([]byte, 64<<10)
	rand.Read(random)
	testDone := make(chan struct{})
	t.Cleanup(func() { close(testDone) })

	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string // in the error; "deadline": errors.Is context.DeadlineExceeded
		calls   []call // default: Head and Fetch
	}{
		{"headers then silence", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", advertisement)
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-testDone:
			}
		}, "deadline", nil},
		{"one byte every 200ms", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", advertisement)
			body := pktLine("# service=git-upload-pack\n") + "0000" + strings.Repeat(pktLine(strings.Repeat("0", 40)+" refs/heads/x\n"), 100)
			for i := range len(body) {
				if !flush(w, body[i:i+1]) {
					return
				}
				select {
				case <-r.Context().Done():
					return
				case <-testDone:
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		}, "deadline", nil},
		{"random bytes", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", advertisement)
			w.Write(random)
		}, "not git's protocol", nil},
		{"HTML login page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, "<!DOCTYPE html><html><body><form action=/login>Sign in</form></body></html>\n")
		}, "not git's protocol", nil},
		{"empty 200", func(w http.ResponseWriter, r *http.Request) {}, "not git's protocol", nil},
		{"500", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "internal error", http.StatusInternalServerError)
		}, "500", nil},
		{"refs from a real server, random pack", func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				proxy.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
			w.Write(random)
		}, "not git's protocol", []call{calls[1]}},
		{"refs from a real server, pack cut off", func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				proxy.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, r)
			w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
			w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
		}, "", []call{calls[1]}},
	}
	for _, tc := range tests {
		url := badServer(t, tc.handler)
		cs := tc.calls
		if cs == nil {
			cs = calls
		}
		for _, c := range cs {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				s, _ := newSource(t, url, func(o *source.Options) { o.Timeout = timeout })
				start := time.Now()
				_, err := c.run(s, testContext(t))
				took := time.Since(start)
				t.Logf("%s after %s: %v", c.name, took.Round(time.Millisecond), err)
				if err == nil {
					t.Fatalf("%s succeeded against a bad server", c.name)
				}
				// Generous: the bound is the 2s timeout; a loaded machine may add a few.
				if took > timeout+10*time.Second {
					t.Errorf("%s took %s with a %s timeout", c.name, took, timeout)
				}
				if !strings.HasPrefix(err.Error(), url+" (branch main): ") {
					t.Errorf("error does not start with the URL and branch: %v", err)
				}
				switch tc.want {
				case "deadline":
					if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 2s") {
						t.Errorf("error %v, want no answer within 2s", err)
					}
				case "":
				default:
					if !strings.Contains(err.Error(), tc.want) {
						t.Errorf("error %v, want it to contain %q", err, tc.want)
					}
				}
			})
		}
	}

	// A server that advertises refs without end: the read stops at source.MaxAdvertisement
	// (the timeout is long here, so that only the cap can end the call), and the heap stays
	// bounded by what was read.
	for _, c := range calls {
		t.Run("endless refs/"+c.name, func(t *testing.T) {
			var written atomic.Int64
			url := badServer(t, endless(&written, testDone))
			s, _ := newSource(t, url, func(o *source.Options) { o.Timeout = time.Minute })
			peak := heapPeak(t, func() {
				start := time.Now()
				_, err := c.run(s, testContext(t))
				t.Logf("%s after %s, %d MiB advertised: %v", c.name, time.Since(start).Round(time.Millisecond), written.Load()>>20, err)
				if !errors.Is(err, source.ErrAdvertisementTooLarge) || !strings.HasPrefix(err.Error(), url+" (branch main): ") {
					t.Errorf("error %v, want the URL, the branch and %v", err, source.ErrAdvertisementTooLarge)
				}
			})
			t.Logf("peak heap during the call: %d MiB", peak>>20)
			if peak > 8*source.MaxAdvertisement {
				t.Errorf("peak heap %d MiB reading a capped advertisement of %d MiB", peak>>20, source.MaxAdvertisement>>20)
			}
		})
	}
}

// heapPeak runs fn and returns the highest heap in use seen while it ran, sampled every 10ms.
func heapPeak(t *testing.T, fn func()) uint64 {
	t.Helper()
	runtime.GC()
	done := make(chan struct{})
	var peak atomic.Uint64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	fn()
	close(done)
	<-sampled
	return peak.Load()
}
