package agent

import (
	"fmt"
	"testing"
	"time"
)

func TestJitteredSchedules(t *testing.T) {
	start := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		spec     string
		interval time.Duration
		spread   time.Duration // the jitter's bound
	}{
		{"@every 1m", time.Minute, 6 * time.Second},
		{"@every 10s", 10 * time.Second, time.Second},
		{"@every 1h", time.Hour, maxJitter},
		{"*/5 * * * *", 5 * time.Minute, maxJitter},
		{"@hourly", time.Hour, maxJitter},
	} {
		t.Run(c.spec, func(t *testing.T) {
			offsets := map[time.Duration]bool{}
			for i := range 50 {
				env := fmt.Sprintf("env-%02d", i)
				s, interval, err := jittered(c.spec, env)
				if err != nil {
					t.Fatal(err)
				}
				if interval != c.interval {
					t.Errorf("interval %s, want %s", interval, c.interval)
				}
				first := s.Next(start)
				off := first.Sub(start.Truncate(c.interval))
				if off <= 0 || off > c.interval+c.spread {
					t.Fatalf("%s: first tick %s after the grid, want in (0, interval+%s)", env, off, c.spread)
				}
				j := off % c.interval
				if j >= c.spread {
					t.Errorf("%s: jitter %s, want below %s", env, j, c.spread)
				}
				offsets[j] = true
				// Later ticks keep the offset: one interval apart, even when the cron fires late.
				next := s.Next(first.Add(30 * time.Millisecond))
				if next.Sub(first) != c.interval {
					t.Errorf("%s: ticks %s and %s are not %s apart", env, first, next, c.interval)
				}
				again, _, _ := jittered(c.spec, env)
				if again.Next(start) != first {
					t.Errorf("%s: jitter not stable: %s, then %s", env, first, again.Next(start))
				}
			}
			if len(offsets) < 40 {
				t.Errorf("50 environments got %d distinct offsets, want them spread", len(offsets))
			}
		})
	}
	if _, _, err := jittered("every minute", "x"); err == nil {
		t.Error("a bad spec parsed")
	}
}
