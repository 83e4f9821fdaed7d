package sync

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDescribeChecks(t *testing.T) {
	v, small := 0.31, 0.0123456
	tests := []struct {
		name   string
		checks []CheckState
		want   string
	}{
		{"none", nil, ""},
		{"before the first evaluation", []CheckState{{Name: "smoke"}}, "smoke pending"},
		{"a value that passes, a webhook that fails", []CheckState{
			{Name: "error-rate", Result: "pass", Value: &small, Evaluations: 3, Passed: true},
			{Name: "smoke", Result: "fail", Message: "webhook answered 500", Failures: 1},
		}, "error-rate=0.01235 pass, smoke fail: webhook answered 500"},
		{"a value out of bounds", []CheckState{{Name: "error-rate", Result: "fail", Value: &v, Message: "0.31 is above max 0.05"}},
			"error-rate=0.31 fail: 0.31 is above max 0.05"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Progress{Analysis: tt.checks}).DescribeChecks(); got != tt.want {
				t.Errorf("DescribeChecks() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestProgressRoundTrip checks that the analysis state survives the state ConfigMap's
// encoding, and that an empty progress encodes to nothing.
func TestProgressRoundTrip(t *testing.T) {
	if got := encodeProgress(Progress{}); got != "" {
		t.Errorf("encodeProgress(Progress{}) = %q, want \"\"", got)
	}
	v := 0.5
	p := Progress{Revision: "abc", StageIndex: 1, StageCount: 3, Phase: PhaseSoaking,
		Since: time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC), Soak: time.Minute,
		Analysis: []CheckState{{Name: "error-rate", Evaluations: 2, Failures: 1, Result: "fail", Value: &v,
			Message: "above max", At: time.Date(2026, 11, 30, 1, 2, 33, 0, time.UTC)}}}
	if diff := cmp.Diff(p, decodeProgress(encodeProgress(p))); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
