package rollout

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/sync"
)

func ptr(v float64) *float64 { return &v }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestRecord(t *testing.T) {
	pass := CheckResult{Check: "error-rate", Pass: true, Value: ptr(0.01)}
	fail := CheckResult{Check: "error-rate", Value: ptr(0.31), Reason: "0.31 > max 0.05"}
	smoke := sync.CheckState{Name: "smoke", Evaluations: 2, Passed: true, Result: "pass", At: t0}
	tests := []struct {
		name       string
		states     []sync.CheckState
		r          CheckResult
		limit      int
		want       []sync.CheckState
		wantFailed bool
	}{
		{"first pass", nil, pass, 1,
			[]sync.CheckState{{Name: "error-rate", Evaluations: 1, Passed: true, Result: "pass", Value: ptr(0.01), At: t0}}, false},
		{"first failure at limit 1 fails the stage", nil, fail, 1,
			[]sync.CheckState{{Name: "error-rate", Evaluations: 1, Failures: 1, Result: "fail", Value: ptr(0.31), Message: "0.31 > max 0.05", At: t0}}, true},
		{"a failure under the limit", nil, fail, 2,
			[]sync.CheckState{{Name: "error-rate", Evaluations: 1, Failures: 1, Result: "fail", Value: ptr(0.31), Message: "0.31 > max 0.05", At: t0}}, false},
		{"the limit reached in a row", []sync.CheckState{{Name: "error-rate", Evaluations: 3, Failures: 2, Passed: true, Result: "fail"}}, fail, 3,
			[]sync.CheckState{{Name: "error-rate", Evaluations: 4, Failures: 3, Passed: true, Result: "fail", Value: ptr(0.31), Message: "0.31 > max 0.05", At: t0}}, true},
		{"a pass resets the failures, not the evaluations", []sync.CheckState{{Name: "error-rate", Evaluations: 2, Failures: 2, Result: "fail", Message: "no data"}}, pass, 3,
			[]sync.CheckState{{Name: "error-rate", Evaluations: 3, Passed: true, Result: "pass", Value: ptr(0.01), At: t0}}, false},
		{"a failure without a value clears the last value", []sync.CheckState{{Name: "error-rate", Evaluations: 1, Passed: true, Result: "pass", Value: ptr(0.01)}},
			CheckResult{Check: "error-rate", Reason: "no data"}, 2,
			[]sync.CheckState{{Name: "error-rate", Evaluations: 2, Failures: 1, Passed: true, Result: "fail", Message: "no data", At: t0}}, false},
		{"other checks are left as they were", []sync.CheckState{smoke}, fail, 1,
			[]sync.CheckState{smoke, {Name: "error-rate", Evaluations: 1, Failures: 1, Result: "fail", Value: ptr(0.31), Message: "0.31 > max 0.05", At: t0}}, true},
		{"a limit below 1 is 1", nil, fail, 0,
			[]sync.CheckState{{Name: "error-rate", Evaluations: 1, Failures: 1, Result: "fail", Value: ptr(0.31), Message: "0.31 > max 0.05", At: t0}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneStates(tt.states)
			got, failed := Record(tt.states, tt.r, tt.limit, t0)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("states (-want +got)\n%s", diff)
			}
			if failed != tt.wantFailed {
				t.Errorf("failed = %v, want %v", failed, tt.wantFailed)
			}
			if diff := cmp.Diff(before, tt.states); diff != "" {
				t.Errorf("Record changed its input (-before +after)\n%s", diff)
			}
		})
	}
}

func cloneStates(s []sync.CheckState) []sync.CheckState {
	if s == nil {
		return nil
	}
	return append([]sync.CheckState{}, s...)
}

func TestNextEvaluation(t *testing.T) {
	tests := []struct {
		name   string
		states []sync.CheckState
		want   time.Time
	}{
		{"first: one interval after the soak began", nil, t0.Add(30 * time.Second)},
		{"then the grid point after the last, however long it took", []sync.CheckState{{Name: "a", At: t0.Add(31 * time.Second)}, {Name: "b", At: t0.Add(32 * time.Second)}}, t0.Add(60 * time.Second)},
		{"an evaluation on the grid point", []sync.CheckState{{Name: "a", At: t0.Add(60 * time.Second)}}, t0.Add(90 * time.Second)},
		{"an agent away for long: the grid point after the last, past already", []sync.CheckState{{Name: "a", At: t0.Add(35 * time.Second)}}, t0.Add(60 * time.Second)},
		{"a check never evaluated does not count", []sync.CheckState{{Name: "a"}}, t0.Add(30 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NextEvaluation(t0, 30*time.Second, tt.states); !got.Equal(tt.want) {
				t.Errorf("NextEvaluation = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestStageDecision is the analysis' decision at the end of a soak, and when a check fails:
// the halt it leads to, with the check's name, value and bounds.
func TestStageDecision(t *testing.T) {
	rate := environments.Check{Name: "error-rate", Max: ptr(0.05), Prometheus: &environments.PrometheusCheck{}}
	smoke := environments.Check{Name: "smoke", Webhook: &environments.WebhookCheck{}}
	checks := []environments.Check{rate, smoke}
	tests := []struct {
		name   string
		states []sync.CheckState
		failed bool // the last evaluation failed the check's limit, else the soak ended
		want   *Halt
	}{
		{"every check passed once", []sync.CheckState{
			{Name: "error-rate", Passed: true, Failures: 1, Message: "no data"},
			{Name: "smoke", Passed: true}}, false, nil},
		{"a check never passed", []sync.CheckState{
			{Name: "error-rate", Passed: true},
			{Name: "smoke", Evaluations: 3, Failures: 1, Message: "webhook answered 500"}}, false,
			&Halt{Check: "smoke", Reason: "check smoke never passed: webhook answered 500"}},
		{"a check never evaluated", []sync.CheckState{{Name: "smoke", Passed: true}}, false,
			&Halt{Check: "error-rate", Max: ptr(0.05), Reason: "check error-rate never passed: it was never evaluated"}},
		{"a check failed once at limit 1", []sync.CheckState{
			{Name: "error-rate", Evaluations: 1, Failures: 1, Value: ptr(0.31), Message: "0.31 > max 0.05"}}, true,
			&Halt{Check: "error-rate", Value: ptr(0.31), Max: ptr(0.05), Reason: "check error-rate failed: 0.31 > max 0.05"}},
		{"a check failed three times in a row", []sync.CheckState{
			{Name: "error-rate", Evaluations: 5, Failures: 3, Passed: true, Message: "no data"}}, true,
			&Halt{Check: "error-rate", Max: ptr(0.05), Reason: "check error-rate failed 3 times in a row: no data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *Halt
			if tt.failed {
				got = checkHalt(rate, stateOf(tt.states, rate.Name), true)
			} else {
				got = (&Rollout{analysis: tt.states}).verdict(&environments.Analysis{Checks: checks})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("halt (-want +got)\n%s", diff)
			}
		})
	}
}

func TestBounded(t *testing.T) {
	tests := []struct {
		name     string
		min, max *float64
		v        float64
		want     CheckResult
	}{
		{"under max", nil, ptr(0.05), 0.01, CheckResult{Check: "c", Pass: true, Value: ptr(0.01), Max: ptr(0.05)}},
		{"max is inclusive", nil, ptr(0.05), 0.05, CheckResult{Check: "c", Pass: true, Value: ptr(0.05), Max: ptr(0.05)}},
		{"above max", nil, ptr(0.05), 0.31, CheckResult{Check: "c", Value: ptr(0.31), Max: ptr(0.05), Reason: "0.31 > max 0.05"}},
		{"below min", ptr(10), nil, 2, CheckResult{Check: "c", Value: ptr(2), Min: ptr(10), Reason: "2 < min 10"}},
		{"min is inclusive", ptr(10), ptr(20), 10, CheckResult{Check: "c", Pass: true, Value: ptr(10), Min: ptr(10), Max: ptr(20)}},
		{"+Inf above max", nil, ptr(1), math.Inf(1), CheckResult{Check: "c", Value: ptr(math.Inf(1)), Max: ptr(1), Reason: "+Inf > max 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bounded(environments.Check{Name: "c", Min: tt.min, Max: tt.max}, tt.v)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestOneSample(t *testing.T) {
	sample := func(v float64, track string) *model.Sample {
		return &model.Sample{Metric: model.Metric{"track": model.LabelValue(track)}, Value: model.SampleValue(v)}
	}
	tests := []struct {
		name       string
		val        model.Value
		want       float64
		wantReason string
	}{
		{"one sample", model.Vector{sample(0.2, "canary")}, 0.2, ""},
		{"a scalar", &model.Scalar{Value: 3}, 3, ""},
		{"an empty vector", model.Vector{}, 0, "no data"},
		{"nothing", nil, 0, "no data"},
		{"several series", model.Vector{sample(1, "canary"), sample(2, "stable")}, 0, "several series (2): the query must return one sample, e.g. sum(...)"},
		{"a range vector", model.Matrix{}, 0, "the query returned a matrix, not one sample"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := oneSample(tt.val)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("oneSample = %v, %q; want %v, %q", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestExpandURL(t *testing.T) {
	target := Target{Env: "production", Namespace: "prod ns", Revision: "3f2a1c9", Stage: "canary"}
	tests := []struct{ raw, want string }{
		{"http://smoke/run/{{env}}/{{stage}}", "http://smoke/run/production/canary"},
		{"http://smoke/{{namespace}}?ns={{namespace}}&rev={{revision}}", "http://smoke/prod%20ns?ns=prod+ns&rev=3f2a1c9"},
		{"http://smoke/run", "http://smoke/run"},
	}
	for _, tt := range tests {
		if got := expandURL(tt.raw, target); got != tt.want {
			t.Errorf("expandURL(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
