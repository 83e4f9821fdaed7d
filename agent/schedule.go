package agent

import (
	"hash/fnv"
	"time"

	"github.com/robfig/cron/v3"
)

// maxJitter bounds an environment's offset from its schedule.
const maxJitter = 10 * time.Second

// jittered parses an environment's schedule (robfig/cron, as ferry.yaml documents it) and
// offsets every activation by a jitter of its own, so that environments on one schedule do
// not all sync in the same second. The jitter is stable: a hash of the environment's name
// picks it in [0, spread), where spread is a tenth of the schedule's interval and at most
// maxJitter, so every agent and every restart ticks the environment at the same moments.
// "@every D" ticks at multiples of D (counted from the zero time, as time.Truncate does) plus
// the jitter, instead of D after the agent started: environments with the same or multiple
// intervals then tick together, and share their reads of the branch head (see heads).
// It returns the schedule's interval too (the gap between its next two activations), and
// the parser's error for a bad spec.
func jittered(spec, env string) (cron.Schedule, time.Duration, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, 0, err
	}
	if every, ok := s.(cron.ConstantDelaySchedule); ok {
		s = grid{every: every.Delay}
	}
	now := time.Now()
	next := s.Next(now)
	interval := s.Next(next).Sub(next)
	return offset{s: s, by: jitterOf(env, min(interval/10, maxJitter))}, interval, nil
}

// jitterOf returns env's stable offset in [0, spread).
func jitterOf(env string, spread time.Duration) time.Duration {
	if spread <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(env))
	return time.Duration(h.Sum64() % uint64(spread))
}

// offset is a schedule whose activations all come by later.
type offset struct {
	s  cron.Schedule
	by time.Duration
}

func (o offset) Next(t time.Time) time.Time { return o.s.Next(t.Add(-o.by)).Add(o.by) }

// grid activates at every multiple of every.
type grid struct{ every time.Duration }

func (g grid) Next(t time.Time) time.Time { return t.Truncate(g.every).Add(g.every) }
