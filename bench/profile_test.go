package bench

import (
	"bytes"
	"fmt"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// cpuShares runs fn under the CPU profiler and returns, for each of funcs (full function
// names as pprof prints them), the share of fn's CPU time spent under it: in the samples whose
// stack holds it.
func cpuShares(t *testing.T, fn func(), funcs ...string) map[string]float64 {
	t.Helper()
	var buf bytes.Buffer
	must(t, pprof.StartCPUProfile(&buf))
	fn()
	pprof.StopCPUProfile()
	prof, err := profile.Parse(&buf)
	must(t, err)
	cpu := sampleIndex(prof, "cpu")
	if cpu < 0 {
		t.Fatalf("the CPU profile has no cpu sample type: %v", prof.SampleType)
	}
	var total int64
	under := map[string]int64{}
	for _, s := range prof.Sample {
		v := s.Value[cpu]
		total += v
		for _, name := range funcs {
			if stackHolds(s, name) {
				under[name] += v
			}
		}
	}
	shares := map[string]float64{}
	for _, name := range funcs {
		if total > 0 {
			shares[name] = float64(under[name]) / float64(total)
		}
	}
	return shares
}

func sampleIndex(prof *profile.Profile, typ string) int {
	for i, st := range prof.SampleType {
		if st.Type == typ {
			return i
		}
	}
	return -1
}

func stackHolds(s *profile.Sample, name string) bool {
	for _, loc := range s.Location {
		for _, line := range loc.Line {
			if line.Function != nil && line.Function.Name == name {
				return true
			}
		}
	}
	return false
}

// shortName is the last element of a function's import path: resmap.(*resWrangler).Append.
func shortName(name string) string {
	return name[strings.LastIndex(name, "/")+1:]
}

// percent formats a share as "43%".
func percent(share float64) string { return fmt.Sprintf("%.0f%%", 100*share) }
