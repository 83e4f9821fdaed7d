package rollout

import (
	"context"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/promtest"
)

func promCheck(address, query string, lo, hi *float64) environments.Check {
	return environments.Check{Name: "error-rate", Prometheus: &environments.PrometheusCheck{Address: address, Query: query}, Min: lo, Max: hi}
}

// startTraffic starts a real Prometheus scraping traffic of namespace: canary requests
// answered 200 and 500, stable ones 200. It returns once Prometheus has scraped some 500s.
func startTraffic(t *testing.T, namespace string) *promtest.Prometheus {
	t.Helper()
	p := promtest.Start(t)
	p.Traffic.SetRate(namespace, "canary", "200", 20)
	p.Traffic.SetRate(namespace, "canary", "500", 5)
	p.Traffic.SetRate(namespace, "stable", "200", 50)
	errors := promCheck(p.URL, `sum(http_requests_total{namespace="{{namespace}}",code="500"})`, ptr(1), nil)
	tgt := Target{Namespace: namespace}
	var last CheckResult
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		last = Evaluate(ctx, errors, tgt, time.Minute)
		return last.Pass, nil
	})
	if err != nil {
		t.Fatalf("Prometheus never saw the 500s: %+v", last)
	}
	return p
}

// TestPrometheusCheck evaluates queries against a real Prometheus: one sample within the
// bounds passes; above max, no data, NaN, several series, a bad query and a Prometheus that is
// down fail with those reasons (and a token in the address never shows).
func TestPrometheusCheck(t *testing.T) {
	p := startTraffic(t, "shop")
	down := "http://" + closedAddress(t)
	errorsQuery := `sum(http_requests_total{namespace="{{namespace}}",track="{{stage}}",code="500"})`
	tests := []struct {
		name      string
		check     environments.Check
		pass      bool
		value     bool           // a value is reported
		reason    *regexp.Regexp // the reason (of a failure) matches
		wantValue func(float64) bool
	}{
		{"one sample within bounds", promCheck(p.URL, errorsQuery, ptr(1), nil), true, true, regexp.MustCompile(`^$`),
			func(v float64) bool { return v >= 1 }},
		{"a scalar counts as one sample", promCheck(p.URL, `scalar(sum(http_requests_total{namespace="{{namespace}}"}))`, ptr(1), nil), true, true, regexp.MustCompile(`^$`), nil},
		{"above max", promCheck(p.URL, errorsQuery, nil, ptr(0.5)), false, true, regexp.MustCompile(`^[0-9.e+]+ > max 0\.5$`),
			func(v float64) bool { return v > 0.5 }},
		{"below min", promCheck(p.URL, errorsQuery, ptr(1e12), nil), false, true, regexp.MustCompile(`^[0-9.e+]+ < min 1e\+12$`), nil},
		{"no data", promCheck(p.URL, `sum(http_requests_total{namespace="{{namespace}}",track="nonexistent"})`, nil, ptr(1)), false, false, regexp.MustCompile(`^no data$`), nil},
		{"NaN", promCheck(p.URL, `0 * sum(http_requests_total{namespace="{{namespace}}"}) / (0 * sum(http_requests_total{namespace="{{namespace}}"}))`, nil, ptr(1)),
			false, true, regexp.MustCompile(`^NaN$`), math.IsNaN},
		{"several series", promCheck(p.URL, `sum by (track) (http_requests_total{namespace="{{namespace}}"})`, nil, ptr(1)), false, false,
			regexp.MustCompile(`^several series \(2\)`), nil},
		{"a bad query", promCheck(p.URL, `sum(`, nil, ptr(1)), false, false, regexp.MustCompile(`^bad_data: .*parse error`), nil},
		{"Prometheus down", promCheck(down+"/prom?token=s3cret", `up`, nil, ptr(1)), false, false,
			regexp.MustCompile(`^Post "` + regexp.QuoteMeta(down) + `/prom/api/v1/query\?token=\*\*\*": dial tcp .*connection refused$`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Evaluate(t.Context(), tt.check, Target{Env: "production", Namespace: "shop", Stage: "canary", Revision: rev2}, time.Minute)
			if got.Check != "error-rate" || got.Pass != tt.pass || (got.Value != nil) != tt.value || !tt.reason.MatchString(got.Reason) {
				t.Fatalf("Evaluate = %+v (value %v), want pass=%v, a value: %v, reason matching %s", got, deref(got.Value), tt.pass, tt.value, tt.reason)
			}
			if tt.wantValue != nil && !tt.wantValue(*got.Value) {
				t.Errorf("value %v is not as expected", *got.Value)
			}
			if strings.Contains(got.Reason, "s3cret") {
				t.Errorf("the reason %q shows the address' token", got.Reason)
			}
		})
	}
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// A canary whose error count (a real Prometheus' answer) is above max halts the rollout: the
// halt names the check, its value and the bound, and the state keeps what the check saw.
func TestPrometheusCheckHaltsTheCanary(t *testing.T) {
	f := newFixture(t, environments.Stage{Soak: 5 * time.Minute}, environments.Stage{})
	p := startTraffic(t, f.env.Namespace)
	check := promCheck(p.URL, `sum(http_requests_total{namespace="{{namespace}}",track="{{stage}}",code=~"5.."})`, nil, ptr(0.5))
	f.env.Rollout.Stages[0].Analysis = &environments.Analysis{Interval: time.Second, FailureLimit: 1, Checks: []environments.Check{check}}
	f.deploy("v1", rev1)
	obs := &observer{}
	err := New(f.syncer, f.env, f.write("v2"), rev2, f.state().Progress, obs, 200*time.Millisecond).Run(t.Context())
	h, ok := IsHalt(err)
	if !ok || h.Stage != "canary" || h.Check != "error-rate" || h.Value == nil || *h.Value <= 0.5 || h.Max == nil || *h.Max != 0.5 || h.Min != nil {
		t.Fatalf("Run = %v (%+v), want a halt at canary by error-rate with a value above max 0.5", err, h)
	}
	if want := "check error-rate failed: " + FormatValue(*h.Value) + " > max 0.5"; h.Reason != want {
		t.Errorf("reason %q, want %q", h.Reason, want)
	}
	if v := f.version("stable"); v != "v1" {
		t.Errorf("stable is at %s, want v1", v)
	}
	a := f.state().Progress.Analysis
	if len(a) != 1 || a[0].Value == nil || *a[0].Value != *h.Value || a[0].Result != "fail" {
		t.Errorf("saved analysis %+v, want the failed value %v", a, *h.Value)
	}
}
