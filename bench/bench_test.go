package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// artifact is where `make bench` leaves the table, relative to this package (gitignored).
var artifact = filepath.Join("..", "_artifacts", "bench.md")

// TestBench runs every scenario of issue 9 and prints one table: ferry against the baseline a
// user would otherwise run, medians of alternating runs, ratios and targets. It runs only with
// FERRY_BENCH=1 (`make bench`); see settings for the variables that shorten it.
func TestBench(t *testing.T) {
	if lab == nil {
		t.Skip("set FERRY_BENCH=1 (make bench) to run the benchmarks against a local control plane")
	}
	st := loadSettings(t)
	tab := &table{}
	start, loadBefore := time.Now(), loadAverage()
	defer func() {
		// The load average shows whether something else shared the machine: the ratios of
		// alternating runs hold up better than the absolute times when it did.
		tab.header = fmt.Sprintf("ferry benchmarks, %s, %d CPUs, took %s; load average before %s, after %s",
			time.Now().Format(time.DateOnly), runtime.NumCPU(), time.Since(start).Round(time.Second), loadBefore, loadAverage())
		fmt.Printf("\n%s\n", tab.markdown())
		if err := tab.write(artifact); err != nil {
			t.Errorf("write %s: %v", artifact, err)
		}
	}()
	benchApply(t, st, tab)
	if st.runs(5) {
		benchRender(t, st.reps, tab)
	}
	if st.runs(6) {
		benchAgentRSS(t, st, tab)
	}
	if st.runs(7) {
		benchLatency(t, st, tab)
	}
	if st.runs(8) {
		benchIdleEnvironments(t, st, tab)
	}
	if st.runs(10) {
		benchRenderReuse(t, st, tab)
	}
}

// loadAverage returns the 1, 5 and 15 minute load averages ("?" where /proc has none).
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// benchApply runs scenarios 1 to 4 at each size, rendering each size once.
func benchApply(t *testing.T, st settings, tab *table) {
	if !st.runs(1) && !st.runs(2) && !st.runs(3) && !st.runs(4) {
		return
	}
	for _, n := range st.sizes {
		t.Logf("rendering the environment of %d objects", n)
		tp := renderTemplate(t, n)
		reps := st.repsAt(n)
		if st.runs(1) {
			benchFirstSync(t, reps, tp, tab)
		}
		if !st.runs(2) && !st.runs(3) && !st.runs(4) {
			continue
		}
		steady := newSteady(t, tp)
		if st.runs(2) {
			benchNoOp(t, reps, steady, tab)
		}
		if st.runs(3) {
			benchOneChanged(t, reps, steady, tab)
		}
		if st.runs(4) {
			benchPrune(t, reps, steady, tab)
		}
	}
}
