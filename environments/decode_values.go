package environments

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// The setters below decode one scalar value or list of scalars into dst. On a decode error
// they leave dst as it was, at its default.

func (d decoder) setString(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if s, ok := d.str(n, path); ok {
			*dst = s
		}
	}
}

// setBool accepts only YAML 1.2 booleans (true, false and their capitalised forms), not
// YAML 1.1's yes, no, on and off, and not "true" quoted.
func (d decoder) setBool(dst *bool) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, "true or false", "!!bool")
		if !ok {
			return
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			d.decodeFailed(n, path, "must be true or false, got %s", describe(n))
			return
		}
		*dst = b
	}
}

// setDuration accepts a Go duration string such as 90s or 1h30m; it also accepts an unquoted
// integer, so that 0 works and 30 gets the message that it lacks a unit.
func (d decoder) setDuration(dst *time.Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, "a duration such as 90s or 10m", "!!str", "!!int")
		if !ok {
			return
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			d.decodeFailed(n, path, "must be a duration such as 90s or 10m: %w", err)
			return
		}
		*dst = v
	}
}

// setInt accepts a YAML integer.
func (d decoder) setInt(dst *int) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, "an integer", "!!int")
		if !ok {
			return
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			d.decodeFailed(n, path, "must be an integer, got %s", describe(n))
			return
		}
		*dst = v
	}
}

// setFloat accepts a YAML number (integer or float) and sets *dst to it; NaN and the
// infinities are refused, since no value compares with them.
func (d decoder) setFloat(dst **float64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path, "a number", "!!int", "!!float")
		if !ok {
			return
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			d.decodeFailed(n, path, "must be a finite number, got %s", describe(n))
			return
		}
		*dst = &v
	}
}

// setStrings decodes a list of strings. An item that fails to decode stays in the list as ""
// so that the indexes of the others match the file.
func (d decoder) setStrings(dst *[]string) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		var list []string
		if d.sequence(n, path, func(_ int, n *yaml.Node, path string) {
			s, _ := d.str(n, path)
			list = append(list, s)
		}) {
			*dst = list
		}
	}
}

func (d decoder) str(n *yaml.Node, path string) (string, bool) {
	return d.scalar(n, path, "a string", "!!str")
}

// stringMap decodes a mapping of strings to strings, such as matchLabels.
func (d decoder) stringMap(n *yaml.Node, path string) map[string]string {
	m := map[string]string{}
	if !d.entries(n, path, mapKey, func(name string, _, v *yaml.Node, path string) {
		if s, ok := d.str(v, path); ok {
			m[name] = s
		}
	}) {
		return nil
	}
	return m
}

var tagNames = map[string]string{
	"!!str":   "string",
	"!!int":   "integer",
	"!!float": "number",
	"!!bool":  "boolean",
	"!!null":  "null",
}

// describe says what n is, for "must be X, got Y" messages: a list, a mapping, null,
// integer "5", string "yes".
func describe(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return kindNames[n.Kind]
	}
	tag := n.ShortTag()
	if tag == "!!null" {
		return "null"
	}
	name, ok := tagNames[tag]
	if !ok {
		name = "tag " + tag
	}
	return fmt.Sprintf("%s %q", name, truncate(n.Value, 40))
}

// truncate shortens s to at most max runes, marking the cut with an ellipsis.
func truncate(s string, max int) string {
	i := 0
	for j := range s {
		if i == max {
			return s[:j] + "…"
		}
		i++
	}
	return s
}
