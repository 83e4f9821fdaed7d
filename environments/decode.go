package environments

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlLine matches the "yaml: line N: " prefix of the YAML parser's syntax errors, which
// carry no column.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parseYAML returns the root node of data's single YAML document. It returns an error for a
// syntax error, an empty document and a stream of more than one document.
//
// Parsing into a yaml.Node never expands aliases, so an alias bomb costs no more than its
// size here; the decoder then refuses every anchor and alias it meets.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil, emptyDocument()
	}
	if err != nil {
		return nil, syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(err)
	default:
		return nil, &fieldError{line: next.Line, column: next.Column,
			err: errors.New("a second YAML document; ferry.yaml holds exactly one")}
	}
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		return nil, emptyDocument()
	}
	return doc.Content[0], nil
}

func emptyDocument() error {
	return fmt.Errorf("%s: empty document; want apiVersion: %s, kind: %s and environments", FileName, APIVersion, Kind)
}

// syntaxError rewrites the YAML library's "yaml: line N: msg" as "ferry.yaml:N: msg".
//
// go.yaml.in/yaml/v3 (v3.0.6) prints 1-based lines for scanner errors but 0-based ones for
// parser errors, and leaves the line out when it is 0. Parser errors are told apart by their
// fixed messages, and their lines corrected: the result is the line where the enclosing list
// or mapping starts, or where the unexpected token is. TestParseErrors pins this behaviour.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = err.Error()[len(m[0]):]
	}
	if parserProblems[msg] {
		line++
	}
	return &fieldError{line: line, err: errors.New(msg)}
}

// parserProblems are the messages of the YAML parser's errors, as opposed to its scanner's.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// decoder walks the YAML node tree into a Pipeline. It is strict: unknown fields, duplicate
// keys, wrong types, anchors and aliases are errors. It never stops at the first error, and
// leaves a value that fails to decode at its default, so that one run reports everything.
type decoder struct {
	*report
}

// fields maps each known key of a mapping to the function that decodes its value.
type fields map[string]func(n *yaml.Node, path string)

func decodePipeline(root *yaml.Node, r *report) *Pipeline {
	d := decoder{r}
	d.nodes[""] = root
	p := &Pipeline{}
	d.mapping(root, "", fields{
		"apiVersion":    d.setString(&p.APIVersion),
		"kind":          d.setString(&p.Kind),
		"environments":  func(n *yaml.Node, path string) { p.Environments = d.environments(n, path) },
		"windows":       func(n *yaml.Node, path string) { p.Windows = d.windows(n, path, true) },
		"notifications": func(n *yaml.Node, path string) { p.Notifications = d.notifications(n, path) },
	})
	return p
}

// mapping decodes the mapping n at path by calling the function in known for each key. It
// reports unknown keys, skips null values (a null is the same as leaving the field out), and
// returns false when n is not a mapping.
func (d decoder) mapping(n *yaml.Node, path string, known fields) bool {
	return d.entries(n, path, field, func(name string, k, v *yaml.Node, path string) {
		decode, ok := known[name]
		switch {
		case !ok:
			d.add(k, path, fmt.Errorf("unknown field; known fields are %s", strings.Join(sortedKeys(known), ", ")))
		case !isNull(v):
			decode(v, path)
		}
	})
}

// entries calls entry for each key and value of the mapping n at path, with the path that
// child builds from path and the key. It reports keys that are not plain strings and
// duplicate keys, and returns false when n is not a mapping.
func (d decoder) entries(n *yaml.Node, path string, child func(path, name string) string,
	entry func(name string, k, v *yaml.Node, path string)) bool {
	if !d.kind(n, path, yaml.MappingNode) {
		return false
	}
	seen := map[string]int{} // key -> line
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := d.key(k, path)
		if !ok {
			continue
		}
		p := child(path, name)
		if first, dup := seen[name]; dup {
			d.add(k, p, fmt.Errorf("duplicate key; first at line %d", first))
			continue
		}
		seen[name] = k.Line
		d.nodes[p] = v
		entry(name, k, v, p)
	}
	return true
}

// key returns the name of the mapping key k, which must be a plain string.
func (d decoder) key(k *yaml.Node, path string) (string, bool) {
	if !d.plain(k, path) {
		return "", false
	}
	if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
		d.add(k, path, fmt.Errorf("keys must be strings, got %s", describe(k)))
		return "", false
	}
	return k.Value, true
}

// sequence calls item for each item of the sequence n at path; it returns false when n is
// not a sequence.
func (d decoder) sequence(n *yaml.Node, path string, item func(i int, n *yaml.Node, path string)) bool {
	if !d.kind(n, path, yaml.SequenceNode) {
		return false
	}
	for i, v := range n.Content {
		p := index(path, i)
		d.nodes[p] = v
		item(i, v, p)
	}
	return true
}

// kind reports whether n is of kind k, and records a decode error when it is not.
func (d decoder) kind(n *yaml.Node, path string, k yaml.Kind) bool {
	if !d.plain(n, path) {
		return false
	}
	if n.Kind != k {
		d.decodeFailed(n, path, "must be %s, got %s", kindNames[k], describe(n))
		return false
	}
	return true
}

// plain reports whether n is free of anchors and aliases, and records a decode error when it
// is not. ferry.yaml has no use for them, and refusing them outright is simpler and safer than
// bounding their expansion.
func (d decoder) plain(n *yaml.Node, path string) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.decodeFailed(n, path, "YAML anchors and aliases are not supported in %s", FileName)
		return false
	}
	return true
}

// scalar returns n's value when n is a scalar whose tag is one of tags, and otherwise
// records a decode error saying that the field must be want.
func (d decoder) scalar(n *yaml.Node, path, want string, tags ...string) (string, bool) {
	if !d.plain(n, path) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || !slices.Contains(tags, n.ShortTag()) {
		hint := ""
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" && slices.Equal(tags, []string{"!!str"}) {
			hint = " (quote it to make it a string)"
		}
		d.decodeFailed(n, path, "must be %s, got %s%s", want, describe(n), hint)
		return "", false
	}
	return n.Value, true
}

// isNull reports whether n is a plain null: "~", "null" or nothing at all.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Anchor == ""
}

func sortedKeys(m fields) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var kindNames = map[yaml.Kind]string{
	yaml.DocumentNode: "a document",
	yaml.SequenceNode: "a list",
	yaml.MappingNode:  "a mapping",
	yaml.ScalarNode:   "a scalar",
	yaml.AliasNode:    "an alias",
}
