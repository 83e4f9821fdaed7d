package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// row is one line of the printed table.
type row struct {
	Scenario, N, Ferry, Baseline, Ratio, Target, Met, Note string
}

// table collects rows in the order the scenarios ran.
type table struct {
	header string // a line above the table: when, where, how long
	rows   []row
}

func (t *table) add(r row) { t.rows = append(t.rows, r) }

// markdown renders the table as GitHub markdown.
func (t *table) markdown() string {
	var b strings.Builder
	if t.header != "" {
		b.WriteString(t.header + "\n\n")
	}
	b.WriteString("| scenario | N | ferry (median) | baseline (median) | ratio | target | met? | note |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range t.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Scenario, r.N, r.Ferry, r.Baseline, r.Ratio, r.Target, r.Met, r.Note)
	}
	return b.String()
}

// write saves the table to path, making its folder.
func (t *table) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(t.markdown()), 0o644)
}

// median returns the middle value of xs (the mean of the two middle ones for an even count),
// or the zero value when xs is empty.
func median[T int | int64 | time.Duration](xs []T) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return float64(s[mid])
	}
	return (float64(s[mid-1]) + float64(s[mid])) / 2
}

func medianDuration(xs []time.Duration) time.Duration { return time.Duration(median(xs)) }

// seconds formats d for the table.
func seconds(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func count(x float64) string {
	if x == float64(int64(x)) {
		return fmt.Sprintf("%d", int64(x))
	}
	return fmt.Sprintf("%.1f", x)
}

// ratio formats a/b; "—" when b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }
