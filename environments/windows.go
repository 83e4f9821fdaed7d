package environments

import (
	"fmt"
	"slices"
	"time"
)

// WindowKind says whether a window denies or allows new revisions.
type WindowKind string

// The kinds of Window.
const (
	Deny  WindowKind = "deny"  // no new revision while the window is open
	Allow WindowKind = "allow" // new revisions only while some allow window is open
)

// Window is a deploy window of ferry.yaml: it opens at each time its Start (a robfig/cron spec,
// as for schedules) names and stays open for Duration.
type Window struct {
	Kind     WindowKind
	Start    string
	Duration time.Duration
	// Environments narrows a top-level window to these environments; empty means all.
	Environments []string
	// Position is where the window is in ferry.yaml, "ferry.yaml:LINE:COL".
	Position string

	both bool // the file gave both deny and allow; validation reports it
}

// String names the window for logs and status, e.g. `deny "0 17 * * FRI" for 64h0m0s`.
func (w Window) String() string {
	return fmt.Sprintf("%s %q for %s", w.Kind, w.Start, w.Duration)
}

// WindowsOf returns the windows that apply to environment env: the top-level ones that name
// it or name no environment, then its own.
func (p *Pipeline) WindowsOf(env string) []Window {
	var ws []Window
	for _, w := range p.Windows {
		if len(w.Environments) == 0 || slices.Contains(w.Environments, env) {
			ws = append(ws, w)
		}
	}
	if e, ok := p.Environment(env); ok {
		ws = append(ws, e.Windows...)
	}
	return ws
}

// Verdict is what the deploy windows say about applying a new revision at a moment.
type Verdict struct {
	// Permitted is true when no deny window is open and, if there are allow windows, one is.
	Permitted bool
	// Window is the window that holds new revisions back (the open deny window, or the allow
	// window that opens next), and Until when that ends: the deny window's end or the allow
	// window's next opening. Both are zero when Permitted.
	Window Window
	Until  time.Time
}

// CheckWindows returns the verdict of windows at now. An open deny window wins over any allow window;
// of several open deny windows, the one that closes last is reported. Windows whose Start does
// not parse are skipped (a Pipeline returned by Parse has none).
func CheckWindows(windows []Window, now time.Time) Verdict {
	var v Verdict
	var allowed, anyAllow bool
	var next Verdict // the allow window opening soonest
	for _, w := range windows {
		sched, err := parseSchedule(w.Start)
		if err != nil || w.Duration <= 0 {
			continue
		}
		end, open := openUntil(sched.Next, w.Duration, now)
		switch {
		case w.Kind == Deny && open && end.After(v.Until):
			v = Verdict{Window: w, Until: end}
		case w.Kind == Allow:
			anyAllow = true
			allowed = allowed || open
			if at := sched.Next(now); !open && (next.Until.IsZero() || at.Before(next.Until)) {
				next = Verdict{Window: w, Until: at}
			}
		}
	}
	switch {
	case !v.Until.IsZero():
		return v
	case anyAllow && !allowed:
		return next
	}
	return Verdict{Permitted: true}
}

// openUntil reports whether a window starting at the times next yields, each open for d, is
// open at now, and when it closes: the last start in (now-d, now] plus d.
func openUntil(next func(time.Time) time.Time, d time.Duration, now time.Time) (time.Time, bool) {
	start := next(now.Add(-d))
	if start.IsZero() || start.After(now) {
		return time.Time{}, false
	}
	for s := next(start); !s.IsZero() && !s.After(now); s = next(s) {
		start = s
	}
	return start.Add(d), true
}
