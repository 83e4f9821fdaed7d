package environments

import "strings"

// validateWindows checks deploy windows at path at. p is the pipeline for top-level windows,
// whose environments must exist; nil for an environment's own.
func validateWindows(r *report, ws []Window, at string, p *Pipeline) {
	for i, w := range ws {
		wp := index(at, i)
		switch {
		case w.both:
			r.errorf(wp, "a window is either deny or allow, not both")
		case w.Kind == "":
			r.errorf(wp, "needs deny or allow: the cron spec of each time the window opens")
		case strings.Contains(w.Start, "@every"):
			r.errorf(field(wp, string(w.Kind)), "a window opens at calendar times: use a cron spec such as \"0 17 * * FRI\", not @every")
		default:
			if _, err := parseSchedule(w.Start); err != nil {
				r.errorf(field(wp, string(w.Kind)), "invalid cron spec %q: %v", w.Start, err)
			}
		}
		if w.Duration <= 0 {
			r.errorf(field(wp, "duration"), "must be positive (how long the window stays open), got %s", w.Duration)
		}
		seen := map[string]string{}
		for j, name := range w.Environments {
			ep := index(field(wp, "environments"), j)
			if _, ok := p.Environment(name); !ok {
				r.errorf(ep, "no environment %q in ferry.yaml", name)
				continue
			}
			r.once(seen, ep, "environment", name)
		}
	}
}
