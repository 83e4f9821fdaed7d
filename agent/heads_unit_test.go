package agent

import (
	"context"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingRemote stands in for the git server where only the number of calls matters: each
// call blocks until release is closed, so that concurrent callers overlap for certain. The
// real server's count is in TestEnvironmentsShareTheirHeadReads.
type countingRemote struct {
	heads, fetches atomic.Int32
	release        chan struct{}
}

func (r *countingRemote) Head(context.Context) (string, error) {
	r.heads.Add(1)
	<-r.release
	return "abc", nil
}

func (r *countingRemote) Fetch(context.Context) (string, error) {
	r.fetches.Add(1)
	<-r.release
	return "abc", nil
}

func TestHeadsShareReads(t *testing.T) {
	r := &countingRemote{release: make(chan struct{})}
	h := newHeads(r)
	h.setReuse(time.Hour)
	var wg gosync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if head, err := h.Head(t.Context()); head != "abc" || err != nil {
				t.Errorf("Head = %q, %v", head, err)
			}
			if sha, err := h.Fetch(t.Context(), "abc"); sha != "abc" || err != nil {
				t.Errorf("Fetch = %q, %v", sha, err)
			}
		})
	}
	for r.heads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// The other callers join the read in flight, or arrive after it and reuse its outcome.
	close(r.release)
	wg.Wait()
	if _, err := h.Head(t.Context()); err != nil { // within the window: no read
		t.Fatal(err)
	}
	if got := r.heads.Load(); got != 1 {
		t.Errorf("%d ls-remotes for 21 Heads in one window, want 1", got)
	}
	if got := r.fetches.Load(); got != 1 {
		t.Errorf("%d fetches of one commit, want 1", got)
	}
	h.forget()
	if _, err := h.Head(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := r.heads.Load(); got != 2 {
		t.Errorf("%d ls-remotes after forget, want 2", got)
	}
}
