package agent

import (
	"context"
	"strconv"
	gosync "sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// remote is the part of source.Source that talks to the git server.
type remote interface {
	Head(ctx context.Context) (string, error)
	Fetch(ctx context.Context) (string, error)
}

// maxHeadReuse bounds how long a branch head read from the remote answers later syncs.
const maxHeadReuse = 10 * time.Second

// heads shares the agent's one repository and branch among its environments, so that 50
// environments polling on the same schedule cost one ls-remote per tick instead of 50:
//
//   - an ls-remote in flight answers every sync that asks meanwhile (singleflight), and so
//     does a fetch;
//   - the outcome of an ls-remote, a failure included, answers the syncs that ask within the
//     reuse window after it: the environments whose jittered ticks (see jittered) fall into
//     the same tick window. The window is at most maxHeadReuse and at most half the shortest
//     schedule interval (see headReuse), so every tick still reads the remote at least once,
//     and a commit is seen at most one window later than by a read of its own. A failure is
//     reused too: on a git server that times out, one timeout per window is enough to know;
//   - forget (a push webhook, the start) ends the window: the next sync reads the remote, and
//     does not join a read that started before the push.
type heads struct {
	src   remote
	group singleflight.Group

	mu      gosync.Mutex
	reuse   time.Duration
	gen     int       // bumped by forget: reads of an older generation answer no one later
	head    string    // the last head read, or "" after a failure
	err     error     // the last read's failure
	at      time.Time // when the last read ended; zero: none to reuse
	fetched string    // the last commit the cache was fetched at
}

func newHeads(src remote) *heads { return &heads{src: src, reuse: maxHeadReuse} }

// setReuse sets the reuse window (see headReuse).
func (h *heads) setReuse(d time.Duration) {
	h.mu.Lock()
	h.reuse = d
	h.mu.Unlock()
}

// forget makes the next Head read the remote.
func (h *heads) forget() {
	h.mu.Lock()
	h.gen++
	h.at = time.Time{}
	h.mu.Unlock()
}

// Head returns the branch head: a read less than the reuse window old, the read in flight,
// or a new ls-remote. Its error is source.Source.Head's.
func (h *heads) Head(ctx context.Context) (string, error) {
	h.mu.Lock()
	gen := h.gen
	if !h.at.IsZero() && time.Since(h.at) < h.reuse {
		defer h.mu.Unlock()
		return h.head, h.err
	}
	h.mu.Unlock()
	v, err, _ := h.group.Do("head/"+strconv.Itoa(gen), func() (any, error) {
		head, err := h.src.Head(ctx)
		h.mu.Lock()
		if h.gen == gen {
			h.head, h.err, h.at = head, err, time.Now()
		}
		h.mu.Unlock()
		return head, err
	})
	return v.(string), err
}

// Fetch brings head into the cache unless it is there already, sharing a fetch in flight,
// and returns the commit the branch points at. Its error is source.Source.Fetch's.
func (h *heads) Fetch(ctx context.Context, head string) (string, error) {
	h.mu.Lock()
	done := h.fetched == head
	h.mu.Unlock()
	if done {
		return head, nil
	}
	v, err, _ := h.group.Do("fetch/"+head, func() (any, error) {
		h.mu.Lock()
		done := h.fetched == head // by a flight that ended after the check above
		h.mu.Unlock()
		if done {
			return head, nil
		}
		sha, err := h.src.Fetch(ctx)
		if err == nil {
			h.mu.Lock()
			h.fetched = sha
			h.mu.Unlock()
		}
		return sha, err
	})
	return v.(string), err
}

// headReuse returns the reuse window for schedules that tick every interval at the
// shortest: half of it, at most maxHeadReuse.
func headReuse(shortest time.Duration) time.Duration {
	return min(maxHeadReuse, shortest/2)
}
