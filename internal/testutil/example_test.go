package testutil

import (
	"os"
	"strings"
	"testing"

	"github.com/ferry-cd/ferry/environments"
)

// TestStripAnalysis strips examples/gceme's canary analysis and nothing else: the result still
// parses, with the same stages and soak, and no stage analyses.
func TestStripAnalysis(t *testing.T) {
	data, err := os.ReadFile("../../examples/gceme/ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := StripAnalysis(string(data))
	if strings.Contains(got, "analysis") || strings.Contains(got, "prometheus") {
		t.Errorf("StripAnalysis left analysis lines:\n%s", got)
	}
	p, err := environments.Parse([]byte(got))
	if err != nil {
		t.Fatalf("stripped ferry.yaml: %v", err)
	}
	prod, _ := p.Environment("production")
	if n := len(prod.Rollout.Stages); n != 2 || prod.Rollout.Stages[0].Analysis != nil || prod.Rollout.Stages[0].Soak == 0 {
		t.Errorf("stripped production rollout = %+v, want two stages, a soak, no analysis", prod.Rollout.Stages)
	}
	if want := "        - name: all\n"; !strings.Contains(got, want) {
		t.Errorf("stripped ferry.yaml lost %q", want)
	}
}
