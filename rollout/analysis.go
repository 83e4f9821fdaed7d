package rollout

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/sync"
)

// CheckResult is one evaluation of one analysis check.
type CheckResult struct {
	Check string
	Pass  bool
	// Value is the sample a Prometheus check saw (nil without one, and for a webhook check).
	Value *float64
	// Reason says why the evaluation failed ("" when it passed). It never holds a URL's query.
	Reason string
	// Min and Max are the check's bounds (nil: none).
	Min, Max *float64
}

// Target is what an analysis check evaluates: the values of a query's and a URL's placeholders,
// and the JSON body a webhook check posts (with the check's name).
type Target struct {
	Env       string `json:"env"`
	Namespace string `json:"namespace"`
	// Revision is the full commit SHA being rolled out: {{revision}} expands to all 40
	// characters, so that a query or a webhook can match it against an image or a label
	// exactly (the logs show the 7-character short form).
	Revision string `json:"revision"`
	Stage    string `json:"stage"`
}

func (t Target) values() map[string]string {
	return map[string]string{"env": t.Env, "namespace": t.Namespace, "revision": t.Revision, "stage": t.Stage}
}

// Evaluate runs check c once against t and returns its result. It has no error: a query or a
// request that fails is a failed evaluation whose Reason says why. A Prometheus query gets at
// most min(interval, 30s), a webhook its own Timeout.
func Evaluate(ctx context.Context, c environments.Check, t Target, interval time.Duration) CheckResult {
	switch {
	case c.Prometheus != nil:
		return evaluatePrometheus(ctx, c, t, min(interval, maxQueryTime))
	case c.Webhook != nil:
		return evaluateWebhook(ctx, c, t)
	}
	return CheckResult{Check: c.Name, Reason: "neither prometheus nor webhook"}
}

// maxQueryTime bounds one Prometheus query, whatever the interval.
const maxQueryTime = 30 * time.Second

// Record returns states with r, evaluated at at, recorded in the state of r's check (added
// when the check has none yet), and whether that check has now failed limit times in a row:
// then the stage fails. states is left as it was.
func Record(states []sync.CheckState, r CheckResult, limit int, at time.Time) ([]sync.CheckState, bool) {
	out := make([]sync.CheckState, 0, len(states)+1)
	i := -1
	for j, s := range states {
		if s.Name == r.Check {
			i = j
		}
		out = append(out, s)
	}
	if i < 0 {
		out = append(out, sync.CheckState{Name: r.Check})
		i = len(out) - 1
	}
	s := &out[i]
	s.Evaluations++
	s.Value, s.At, s.Message, s.Result = r.Value, at, r.Reason, "fail"
	if r.Pass {
		s.Failures, s.Passed, s.Message, s.Result = 0, true, "", "pass"
		return out, false
	}
	s.Failures++
	return out, s.Failures >= max(limit, 1)
}

// NextEvaluation returns when a stage soaking since from evaluates its checks next: the first
// point of the soak's grid (from + n×interval, n ≥ 1) after the last evaluation in states, or
// after from when there was none. On a grid, evaluations that take time do not push the later
// ones back (a 2m soak at 30s evaluates 4 times, the last at its end); a resumed soak keeps
// its rhythm, and evaluates at once when the agent was away past a grid point.
func NextEvaluation(from time.Time, interval time.Duration, states []sync.CheckState) time.Time {
	last := from
	for _, s := range states {
		if s.At.After(last) {
			last = s.At
		}
	}
	return from.Add((last.Sub(from)/interval + 1) * interval)
}

// Unproven returns the first of checks that never passed according to states, and its state
// (zero when it was never evaluated): at the end of its soak, a stage passes only when every
// check passed at least once. ok is false when every check did.
func Unproven(checks []environments.Check, states []sync.CheckState) (c environments.Check, st sync.CheckState, ok bool) {
	for _, c := range checks {
		st := sync.CheckState{Name: c.Name, Message: "it was never evaluated"}
		for _, s := range states {
			if s.Name == c.Name {
				st = s
			}
		}
		if !st.Passed {
			return c, st, true
		}
	}
	return environments.Check{}, sync.CheckState{}, false
}

// checkHalt returns the halt (its check's fields and reason) of check c, whose state is st.
// failed says whether it failed its limit of evaluations in a row; otherwise it never passed.
func checkHalt(c environments.Check, st sync.CheckState, failed bool) *Halt {
	h := &Halt{Check: c.Name, Value: st.Value, Min: c.Min, Max: c.Max}
	switch {
	case !failed:
		h.Reason = fmt.Sprintf("check %s never passed: %s", c.Name, st.Message)
	case st.Failures > 1:
		h.Reason = fmt.Sprintf("check %s failed %d times in a row: %s", c.Name, st.Failures, st.Message)
	default:
		h.Reason = fmt.Sprintf("check %s failed: %s", c.Name, st.Message)
	}
	return h
}

// FormatValue renders a check's value as the logs show it: the shortest exact form, e.g. 0.31.
func FormatValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// bounded returns the result of a check whose value is v: it passes when min ≤ v ≤ max.
func bounded(c environments.Check, v float64) CheckResult {
	r := CheckResult{Check: c.Name, Value: &v, Min: c.Min, Max: c.Max, Pass: true}
	switch {
	case c.Min != nil && v < *c.Min:
		r.Pass, r.Reason = false, fmt.Sprintf("%s < min %s", FormatValue(v), FormatValue(*c.Min))
	case c.Max != nil && v > *c.Max:
		r.Pass, r.Reason = false, fmt.Sprintf("%s > max %s", FormatValue(v), FormatValue(*c.Max))
	}
	return r
}
