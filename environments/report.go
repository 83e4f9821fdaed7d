package environments

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// fieldError is one problem in ferry.yaml, at the position of the YAML node that holds it and
// at the field path of that node, e.g.
//
//	ferry.yaml:21:17: environments[1].rollout.stages[0].soak: must not be negative, got -2m0s
//
// line and column are 1-based; a zero line means the position is unknown (the YAML parser
// reports only a line, and not even that for some errors on the first line).
type fieldError struct {
	line, column int
	path         string
	err          error
}

func (e *fieldError) Error() string {
	var b strings.Builder
	b.WriteString(FileName)
	if e.line > 0 {
		fmt.Fprintf(&b, ":%d", e.line)
		if e.column > 0 {
			fmt.Fprintf(&b, ":%d", e.column)
		}
	}
	b.WriteString(": ")
	if e.path != "" {
		b.WriteString(e.path)
		b.WriteString(": ")
	}
	b.WriteString(e.err.Error())
	return printable(b.String())
}

// printable escapes control characters, such as a newline in a key or in a value that a
// library error quotes raw, so that every problem stays on one line and ferry.yaml cannot send
// escape sequences to a terminal.
func printable(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (e *fieldError) Unwrap() error { return e.err }

// report collects every problem found in one ferry.yaml. The decoder records the node of each
// path it visits, so that validation, which works on the decoded Pipeline, can still point at
// the line and column a value came from.
type report struct {
	nodes  map[string]*yaml.Node // field path -> the node that holds its value
	failed map[string]bool       // field paths whose value could not be decoded
	errs   []*fieldError
}

func newReport() *report {
	return &report{nodes: map[string]*yaml.Node{}, failed: map[string]bool{}}
}

// add records err at node n, or at no position when n is nil.
func (r *report) add(n *yaml.Node, path string, err error) {
	fe := &fieldError{path: path, err: err}
	if n != nil {
		fe.line, fe.column = n.Line, n.Column
	}
	r.errs = append(r.errs, fe)
}

// decodeFailed records that the value at path could not be decoded. Validation stays quiet
// about that path and everything under it, so one mistake yields one message: a list given
// for a name is reported as a wrong type, not also as a missing name.
func (r *report) decodeFailed(n *yaml.Node, path string, format string, args ...any) {
	r.failed[path] = true
	r.add(n, path, fmt.Errorf(format, args...))
}

// errorf records a validation error at path. The position is that of the path's node or, for
// a field the file leaves out, of its closest ancestor that the file has.
func (r *report) errorf(path string, format string, args ...any) {
	for p := path; ; p = parent(p) {
		if r.failed[p] {
			return
		}
		if p == "" {
			break
		}
	}
	n := r.nodes[path]
	for p := path; n == nil && p != ""; {
		p = parent(p)
		n = r.nodes[p]
	}
	r.add(n, path, fmt.Errorf(format, args...))
}

// line returns the line of path's node, or 0 when the file does not have it.
func (r *report) line(path string) int {
	if n := r.nodes[path]; n != nil {
		return n.Line
	}
	return 0
}

// position returns "ferry.yaml:LINE:COL" of path's node, or just the file name when the file
// does not have it.
func (r *report) position(path string) string {
	n := r.nodes[path]
	if n == nil {
		return FileName
	}
	return fmt.Sprintf("%s:%d:%d", FileName, n.Line, n.Column)
}

// maxErrors bounds how many problems err returns: a 1 MiB file can hold half a million
// mistakes, and an error of tens of MiB helps nobody. The rest are counted in a last line.
const maxErrors = 100

// err returns the collected errors joined in file order, or nil when there are none.
func (r *report) err() error {
	slices.SortStableFunc(r.errs, func(a, b *fieldError) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.column, b.column))
	})
	errs := make([]error, 0, min(len(r.errs), maxErrors+1))
	for _, e := range r.errs[:min(len(r.errs), maxErrors)] {
		errs = append(errs, e)
	}
	if more := len(r.errs) - maxErrors; more > 0 {
		errs = append(errs, fmt.Errorf("%s: %d more problems not shown", FileName, more))
	}
	return errors.Join(errs...)
}

// field returns the path of the field name under path.
func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// index returns the path of the i-th item of the list at path.
func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// mapKey returns the path of the map entry k under path, written the way Kubernetes writes
// field paths: matchLabels[app.kubernetes.io/name].
func mapKey(path, k string) string {
	return path + "[" + k + "]"
}

// parent returns path without its last element. It always returns a shorter string, even
// for a map key that itself holds a '.' or '[', which only makes the result a path that no
// node has; lookups then continue upwards.
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}
