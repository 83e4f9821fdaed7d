package testutil

import "strings"

// StripAnalysis returns ferryYAML without its stages' analysis blocks (each `analysis:` line
// and the more indented lines under it, and the comment lines just above it). Tests that play
// examples/gceme's rollout without a Prometheus use it: the example's canary analysis asks
// prometheus.monitoring:9090, which does not exist here. Tests of the analysis itself point it
// at internal/promtest instead.
func StripAnalysis(ferryYAML string) string {
	lines := strings.SplitAfter(ferryYAML, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		indent, ok := key(lines[i], "analysis:")
		if !ok {
			out = append(out, lines[i])
			continue
		}
		for len(out) > 0 && strings.HasPrefix(strings.TrimSpace(out[len(out)-1]), "#") {
			out = out[:len(out)-1] // the block's comment
		}
		for i+1 < len(lines) && (strings.TrimSpace(lines[i+1]) == "" || indentOf(lines[i+1]) > indent) {
			i++
		}
	}
	return strings.Join(out, "")
}

// key reports whether line is the mapping key k (after any indentation), and its indentation.
func key(line, k string) (int, bool) {
	trimmed := strings.TrimLeft(line, " ")
	return len(line) - len(trimmed), strings.HasPrefix(trimmed, k)
}

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }
