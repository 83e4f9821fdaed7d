package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// checkAliases refuses a YAML file whose anchors and aliases would expand to more than max
// nodes (a "billion laughs" bomb, CVE-2019-11253). kustomize expands aliases when it turns
// YAML into objects; this check parses the file into its node tree, which does not expand
// them, and counts the expanded size with memoisation, so it costs time and memory linear in
// the file. Files without both '&' and '*' cannot use aliases and are not parsed. Files that
// are not YAML are left to kustomize to judge.
func checkAliases(name string, data []byte, max int) error {
	if !bytes.Contains(data, []byte("&")) || !bytes.Contains(data, []byte("*")) {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	memo := map[*yaml.Node]int{}
	total := 0
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // not YAML, or broken YAML: kustomize reports it with its own context
		}
		total += expandedSize(&doc, memo, max-total)
		if total > max {
			return fmt.Errorf("%s: YAML aliases expand to more than %d nodes: %w", name, max, ErrLimit)
		}
	}
}

// expandedSize counts the nodes n stands for once aliases are expanded, stopping early once
// the count passes budget.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int, budget int) int {
	if n == nil {
		return 0
	}
	if size, ok := memo[n]; ok {
		return size
	}
	if n.Kind == yaml.AliasNode {
		size := expandedSize(n.Alias, memo, budget)
		memo[n] = size
		return size
	}
	size := 1
	for _, child := range n.Content {
		size += expandedSize(child, memo, budget-size)
		if size > budget {
			break // over budget: the caller refuses the file, the exact size does not matter
		}
	}
	memo[n] = size
	return size
}
