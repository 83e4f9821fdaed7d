package bench

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// benchAgentRSS is scenario 6: `ferry agent` syncs an environment of 1000 and then one of
// 10,000 objects, idles (60 s by default), and its resident set is read from /proc. The
// schedule is the default "@every 1m", so the idle agent polls git once meanwhile.
func benchAgentRSS(t *testing.T, st settings, tab *table) {
	for _, n := range st.agentSize {
		c := struct {
			n        int
			limitMiB int64
		}{n, 64}
		if n > 1000 {
			c.limitMiB = 256
		}
		name := uniqueName("rss", c.n, 0)
		a := startAgent(t, name, c.n, "@every 1m")
		l := a.waitApplied(t, a.srv.Head(t, "config"), 30*time.Minute)
		applied := l.Time.Sub(a.started)
		ph := a.phases(t)
		m := a.idle(t, st.idle)
		a.stop()
		t.Logf("agent N=%d: applied and healthy %s after the process started (sync %s); after %s idle %+v KiB", c.n, applied, l.Duration, st.idle, m)
		base, r := "n/a", "—"
		note := fmt.Sprintf("of which anonymous (heap, stacks) %s and file-backed (the binary's pages) %s; peak (VmHWM) %s; "+
			"first sync healthy %s after the process started: fetch %s, render %s, apply %s, health wait %s (the rest: start-up, the state read, ferry.yaml)",
			mib(m.Anon), mib(m.File), mib(m.Peak), seconds(applied), seconds(ph["fetch"]), seconds(ph["render"]), seconds(ph["apply"]), seconds(ph["health"]))
		if c.n == 1000 && kubectlRSS > 0 {
			base, r = mib(int64(kubectlRSS)), ratio(float64(m.RSS), kubectlRSS)
			note += "; baseline: kubectl's peak RSS applying the same 1000 objects (scenario 1)"
		}
		tab.add(row{"6. agent RSS (VmRSS), applied + idle " + st.idle.String(), strconv.Itoa(c.n), mib(m.RSS), base, r,
			fmt.Sprintf("≤ %d MiB", c.limitMiB), met(m.RSS <= c.limitMiB*1024), note})
	}
}

// benchLatency is scenario 7: the time from a commit landing in git to the agent's "sync
// finished … result=applied" line for it, in an environment of 1000 objects where the commit
// changes one ConfigMap. With the webhook, the signed push event is posted right after the
// commit (the agent's own schedule is an hour); with polling, the schedule is every 10 s and
// run i commits i/reps of an interval after the previous sync, so that the runs sample the
// whole interval instead of always just missing a tick. The line's duration (apply and health
// wait) is the apply time of the target.
func benchLatency(t *testing.T, st settings, tab *table) {
	const interval = 10 * time.Second
	for _, c := range []struct {
		how, schedule string
		webhook       bool
	}{{"webhook", "@every 1h", true}, {"polling every 10 s", "@every 10s", false}} {
		a := startAgent(t, uniqueName("lat", 1000, len(c.how)), 1000, c.schedule)
		a.waitApplied(t, a.srv.Head(t, "config"), 10*time.Minute)
		var latency, apply, overhead []time.Duration
		for i := range st.reps {
			if !c.webhook {
				time.Sleep(time.Duration(i) * interval / time.Duration(st.reps))
			}
			rev := a.commitChange(t, fmt.Sprintf("r%d", i))
			committed := time.Now()
			if c.webhook {
				a.postWebhook(t, rev)
			}
			l := a.waitApplied(t, rev, 2*time.Minute)
			d, err := time.ParseDuration(l.Duration)
			must(t, err)
			latency, apply, overhead = append(latency, l.Time.Sub(committed)), append(apply, d), append(overhead, l.Time.Sub(committed)-d)
			t.Logf("commit → applied (%s) run %d: %s, of which the sync's duration %s", c.how, i, l.Time.Sub(committed), d)
		}
		a.stop()
		o := time.Duration(median(overhead))
		target, ok := "≤ 1 s + apply", met(o <= time.Second)
		if !c.webhook {
			target, ok = "—", ""
		}
		tab.add(row{"7. commit → applied, " + c.how, "1000", seconds(time.Duration(median(latency))), "n/a", "—", target, ok,
			fmt.Sprintf("apply time (the line's duration) %s; latency minus apply: median %s, max %s; %d runs",
				seconds(time.Duration(median(apply))), seconds(o), seconds(maxDuration(overhead)), len(latency))})
	}
}

// idle lets the agent idle for d, logging its RSS every 10 s (does the Go runtime give memory
// back meanwhile?), and returns its memory at the end.
func (a *agentProcess) idle(t *testing.T, d time.Duration) memory {
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return a.memory(t)
		}
		time.Sleep(min(left, 10*time.Second))
		t.Logf("agent %s idle %s: RSS %s", a.name, (d - time.Until(end)).Round(time.Second), mib(a.memory(t).RSS))
	}
}

func maxDuration(xs []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
