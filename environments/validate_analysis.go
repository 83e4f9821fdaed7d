package environments

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// placeholder matches one {{name}} in a check's query or URL.
var placeholder = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// Placeholders are the names a check's query and URL may use, as {{name}}.
var Placeholders = []string{"env", "namespace", "revision", "stage"}

// validateAnalysis checks a stage's analysis. It is evaluated every interval while the stage
// soaks, so a stage without a soak at least one interval long would never evaluate it.
func validateAnalysis(r *report, a *Analysis, soak time.Duration, at string) {
	if a.Interval <= 0 {
		r.errorf(field(at, "interval"), "must be positive, got %s", a.Interval)
	} else if soak < a.Interval {
		r.errorf(at, "is evaluated every %s while the stage soaks, but soak is %s: set soak to at least the interval", a.Interval, soak)
	}
	if a.FailureLimit < 1 {
		r.errorf(field(at, "failureLimit"), "must be at least 1, got %d", a.FailureLimit)
	}
	checks := field(at, "checks")
	if len(a.Checks) == 0 {
		r.errorf(checks, "must list at least one check")
	}
	seen := map[string]string{}
	for i := range a.Checks {
		p := index(checks, i)
		validateCheck(r, &a.Checks[i], p)
		r.once(seen, field(p, "name"), "check name", a.Checks[i].Name)
	}
}

func validateCheck(r *report, c *Check, at string) {
	r.dnsLabel(field(at, "name"), c.Name)
	switch {
	case c.Prometheus != nil && c.Webhook != nil:
		r.errorf(field(at, "webhook"), "a check is either prometheus or webhook, not both")
	case c.Prometheus != nil:
		validatePrometheus(r, c, at)
	case c.Webhook != nil:
		validateWebhook(r, c, at)
	default:
		r.errorf(at, "needs prometheus or webhook")
	}
}

func validatePrometheus(r *report, c *Check, at string) {
	p := field(at, "prometheus")
	validateURL(r, field(p, "address"), c.Prometheus.Address)
	if strings.TrimSpace(c.Prometheus.Query) == "" {
		r.errorf(field(p, "query"), "is required")
	} else {
		validatePlaceholders(r, field(p, "query"), c.Prometheus.Query)
	}
	switch {
	case r.failed[field(at, "min")] || r.failed[field(at, "max")]:
		// reported as a bad number already
	case c.Min == nil && c.Max == nil:
		r.errorf(at, "needs min, max or both: the check passes while min ≤ value ≤ max")
	case c.Min != nil && c.Max != nil && *c.Min > *c.Max:
		r.errorf(field(at, "max"), "must not be less than min (%g), got %g", *c.Min, *c.Max)
	}
}

func validateWebhook(r *report, c *Check, at string) {
	w := field(at, "webhook")
	validateURL(r, field(w, "url"), c.Webhook.URL)
	if c.Webhook.Timeout <= 0 {
		r.errorf(field(w, "timeout"), "must be positive, got %s", c.Webhook.Timeout)
	}
	if c.Min != nil {
		r.errorf(field(at, "min"), "applies to prometheus checks only; a webhook check passes on a 2xx answer")
	}
	if c.Max != nil {
		r.errorf(field(at, "max"), "applies to prometheus checks only; a webhook check passes on a 2xx answer")
	}
}

// validateURL checks an http or https URL, placeholders allowed. Messages never quote the URL
// itself: it may carry a secret in its query.
func validateURL(r *report, at, raw string) {
	if raw == "" {
		r.errorf(at, "is required")
		return
	}
	if !validatePlaceholders(r, at, raw) {
		return
	}
	u, err := url.Parse(placeholder.ReplaceAllString(raw, "x"))
	switch {
	case err != nil:
		r.errorf(at, "is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		r.errorf(at, "must be an http or https URL, got scheme %q", u.Scheme)
	case u.Host == "":
		r.errorf(at, "must name a host, as in http://prometheus.monitoring:9090")
	}
}

// validatePlaceholders reports a {{name}} that is not one of Placeholders, and returns
// whether there was none.
func validatePlaceholders(r *report, at, s string) bool {
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		if !isPlaceholder(m[1]) {
			r.errorf(at, "unknown placeholder {{%s}}; known are {{%s}}", m[1], strings.Join(Placeholders, "}}, {{"))
			return false
		}
	}
	return true
}

func isPlaceholder(name string) bool { return slices.Contains(Placeholders, name) }

// Expand returns s with each placeholder replaced by its value in vals (keyed by name);
// quote, when not nil, transforms each value first (URL escaping, for a URL).
func Expand(s string, vals map[string]string, quote func(string) string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		name := placeholder.FindStringSubmatch(m)[1]
		v := vals[name]
		if quote != nil {
			v = quote(v)
		}
		return v
	})
}
