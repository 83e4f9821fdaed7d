package agent

import (
	gosync "sync"
	"testing"
	"time"
)

// TestReleaserFoldsCallsWithinTheInterval: the first call frees at once; calls within
// releaseInterval of it are folded into one free at the interval's end.
func TestReleaserFoldsCallsWithinTheInterval(t *testing.T) {
	var mu gosync.Mutex
	frees := 0
	done := make(chan struct{}, 2)
	r := &releaser{free: func() {
		mu.Lock()
		frees++
		mu.Unlock()
		done <- struct{}{}
	}}
	now := time.Now()
	r.release(now)
	<-done
	// Three more calls just before the interval ends: one free, about 50ms later.
	late := now.Add(releaseInterval - 50*time.Millisecond)
	for range 3 {
		r.release(late)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the folded release never ran")
	}
	time.Sleep(200 * time.Millisecond) // a second folded free would have run by now
	mu.Lock()
	defer mu.Unlock()
	if frees != 2 {
		t.Errorf("%d frees, want 2 (one at once, one for the three folded calls)", frees)
	}
}
