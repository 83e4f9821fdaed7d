package promote

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Image is one entry of a kustomization's images: list.
type Image struct {
	Name    string
	NewName string
	NewTag  string
	Digest  string
}

// Ref renders what the entry pins: "TAG", "@sha256:…", or "TAG@sha256:…".
func (i Image) Ref() string {
	switch {
	case i.Digest != "" && i.NewTag != "":
		return i.NewTag + "@" + i.Digest
	case i.Digest != "":
		return "@" + i.Digest
	default:
		return i.NewTag
	}
}

// Change is one image whose pin an edit moved.
type Change struct {
	Image    string
	Old, New string // Image.Ref() before and after; Old is "" for an image added to the list
}

// ReadImages returns the images: entries of a kustomization file. The error names the entry.
func ReadImages(data []byte) ([]Image, error) {
	root, err := yaml.Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("parse kustomization: %w", err)
	}
	list, err := root.Pipe(yaml.Lookup("images"))
	if err != nil || list == nil {
		return nil, err
	}
	items, err := list.Elements()
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	out := make([]Image, 0, len(items))
	for i, item := range items {
		img := Image{
			Name: scalar(item, "name"), NewName: scalar(item, "newName"),
			NewTag: scalar(item, "newTag"), Digest: scalar(item, "digest"),
		}
		if img.Name == "" {
			return nil, fmt.Errorf("images[%d]: no name", i)
		}
		out = append(out, img)
	}
	return out, nil
}

func scalar(n *yaml.RNode, field string) string {
	v, err := n.Pipe(yaml.Lookup(field))
	if err != nil || v == nil {
		return ""
	}
	return v.YNode().Value
}

// SetImages moves the pins of images into the kustomization data and returns the new bytes and
// what changed. It edits the file as text at the positions kyaml reports, so comments, key order,
// quoting and every unrelated byte survive: only the tag and digest values change. A pin moves
// whole: a tag replaces a digest and the other way round. An image missing from the file is
// appended to its images: list (created when absent). Images already at their pin are no change.
func SetImages(data []byte, images []Image) ([]byte, []Change, error) {
	var changes []Change
	for _, want := range images {
		current, err := ReadImages(data)
		if err != nil {
			return nil, nil, err
		}
		var change *Change
		data, change, err = setImage(data, current, want)
		if err == nil && change != nil {
			err = checkPinned(data, want)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", want.Name, err)
		}
		if change != nil {
			changes = append(changes, *change)
		}
	}
	return data, changes, nil
}

// checkPinned reads the edited file back: the edit is textual, so a layout it does not foresee
// is refused here rather than written.
func checkPinned(data []byte, want Image) error {
	images, err := ReadImages(data)
	if err != nil {
		return fmt.Errorf("the edited file would not parse (%w): edit it by hand", err)
	}
	for _, img := range images {
		if img.Name == want.Name {
			if img.NewTag != want.NewTag || img.Digest != want.Digest {
				return fmt.Errorf("the edited file would pin %q, not %q: edit it by hand", img.Ref(), want.Ref())
			}
			return nil
		}
	}
	return errors.New("the edited file would not list the image: edit it by hand")
}

func setImage(data []byte, current []Image, want Image) ([]byte, *Change, error) {
	for _, img := range current {
		if img.Name != want.Name {
			continue
		}
		if img.NewTag == want.NewTag && img.Digest == want.Digest {
			return data, nil, nil
		}
		edited, err := editEntry(data, want)
		return edited, &Change{Image: want.Name, Old: img.Ref(), New: want.Ref()}, err
	}
	edited, err := appendEntry(data, want)
	return edited, &Change{Image: want.Name, New: want.Ref()}, err
}

// edit is a replacement of the bytes [start, end) of a file.
type edit struct {
	start, end int
	text       string
}

func apply(data []byte, edits []edit) []byte {
	sort.Slice(edits, func(i, j int) bool { return edits[i].start > edits[j].start })
	out := append([]byte{}, data...)
	for _, e := range edits {
		out = append(out[:e.start], append([]byte(e.text), out[e.end:]...)...)
	}
	return out
}

var errNotFound = errors.New("entry not found")

// editEntry rewrites the newTag and digest fields of the entry named want.Name.
func editEntry(data []byte, want Image) ([]byte, error) {
	root, err := yaml.Parse(string(data))
	if err != nil {
		return nil, err
	}
	items, err := root.Pipe(yaml.Lookup("images"))
	if err != nil || items == nil {
		return nil, errNotFound
	}
	elems, _ := items.Elements()
	for _, item := range elems {
		if scalar(item, "name") != want.Name {
			continue
		}
		lines := lineOffsets(data)
		var edits []edit
		for _, f := range []struct{ key, value string }{{"newTag", want.NewTag}, {"digest", want.Digest}} {
			e, err := fieldEdit(data, lines, item, f.key, f.value)
			if err != nil {
				return nil, err
			}
			edits = append(edits, e...)
		}
		return apply(data, edits), nil
	}
	return nil, errNotFound
}

// fieldEdit sets key to value in the mapping item: the value's bytes are replaced (keeping its
// quoting), a missing key is added after the name line, and an empty value removes the line.
func fieldEdit(data []byte, lines []int, item *yaml.RNode, key, value string) ([]edit, error) {
	field := item.Field(key)
	if field == nil {
		if value == "" {
			return nil, nil
		}
		name := item.Field("name")
		at := lineEnd(data, lines, name.Value.YNode().Line)
		indent := strings.Repeat(" ", name.Key.YNode().Column-1)
		return []edit{{start: at, end: at, text: "\n" + indent + key + ": " + quoteLike(name.Value.YNode(), value)}}, nil
	}
	node := field.Value.YNode()
	if node.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		// Its value starts on a later line than the indicator kyaml reports: write it by hand.
		return nil, fmt.Errorf("%s of %s is a block scalar (| or >): write it on one line", key, scalar(item, "name"))
	}
	if value == "" {
		start := lines[field.Key.YNode().Line-1]
		// The line and its newline; the last line of a file may have none.
		return []edit{{start: start, end: min(lineEnd(data, lines, node.Line)+1, len(data))}}, nil
	}
	start := lines[node.Line-1] + node.Column - 1
	end := start + scalarLength(data[start:], node)
	return []edit{{start: start, end: end, text: quoteLike(node, value)}}, nil
}

// scalarLength returns how many bytes the scalar node takes in the source at its position.
func scalarLength(src []byte, node *yaml.Node) int {
	switch node.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		q := src[0]
		for i := 1; i < len(src); i++ {
			if src[i] == '\\' && q == '"' {
				i++
				continue
			}
			if src[i] == q {
				return i + 1
			}
		}
		return len(src)
	default:
		return len(node.Value)
	}
}

// quoteLike renders value in the quoting style of node, so an edit keeps the file's style.
func quoteLike(node *yaml.Node, value string) string {
	switch node.Style {
	case yaml.DoubleQuotedStyle:
		return `"` + strings.ReplaceAll(value, `"`, `\"`) + `"`
	case yaml.SingleQuotedStyle:
		return "'" + strings.ReplaceAll(value, "'", "''") + "'"
	default:
		return value
	}
}

// appendEntry adds want to the images: list, or adds the list at the end of the file.
func appendEntry(data []byte, want Image) ([]byte, error) {
	root, err := yaml.Parse(string(data))
	if err != nil {
		return nil, err
	}
	field := root.Field("images")
	entry := func(indent string) string {
		s := indent + "- name: " + want.Name + "\n"
		if want.NewTag != "" {
			s += indent + "  newTag: " + fmt.Sprintf("%q", want.NewTag) + "\n"
		}
		if want.Digest != "" {
			s += indent + "  digest: " + want.Digest + "\n"
		}
		return s
	}
	if field == nil {
		out := append([]byte{}, data...)
		if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
			out = append(out, '\n')
		}
		return append(out, []byte("images:\n"+entry(""))...), nil
	}
	elems, _ := field.Value.Elements()
	if len(elems) == 0 {
		return nil, errors.New("images: is not a list with entries; add the entry by hand")
	}
	lines := lineOffsets(data)
	first := elems[0].YNode()
	indent := strings.Repeat(" ", max(first.Column-3, 0)) // "- " precedes the first key
	at := lineEnd(data, lines, lastLine(elems[len(elems)-1].YNode())) + 1
	if at > len(data) {
		at = len(data)
	}
	return apply(data, []edit{{start: at, end: at, text: entry(indent)}}), nil
}

// lastLine returns the last source line of a node (its deepest, last descendant).
func lastLine(n *yaml.Node) int {
	line := n.Line
	for _, c := range n.Content {
		line = max(line, lastLine(c))
	}
	return line
}

// lineOffsets returns the byte offset of the start of each line.
func lineOffsets(data []byte) []int {
	offsets := []int{0}
	for i, b := range data {
		if b == '\n' {
			offsets = append(offsets, i+1)
		}
	}
	return offsets
}

// lineEnd returns the offset of the newline ending line (1-based), or len(data).
func lineEnd(data []byte, lines []int, line int) int {
	if line >= len(lines) {
		return len(data)
	}
	return lines[line] - 1
}
