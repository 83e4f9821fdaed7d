package promote

import (
	"errors"
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/ferry-cd/ferry/environments"
)

// pinNode returns the value node of environment env's pin: in ferry.yaml's bytes, or nil when
// the environment has no pin: key. The error names ferry.yaml.
func pinNode(data []byte, env string) (*yaml.Node, error) {
	root, err := yaml.Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", environments.FileName, err)
	}
	list, err := root.Pipe(yaml.Lookup("environments"))
	if err != nil || list == nil {
		return nil, fmt.Errorf("%s: no environments: list", environments.FileName)
	}
	items, err := list.Elements()
	if err != nil {
		return nil, fmt.Errorf("%s: environments: %w", environments.FileName, err)
	}
	for _, item := range items {
		if scalar(item, "name") != env {
			continue
		}
		if f := item.Field("pin"); f != nil {
			return f.Value.YNode(), nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%s: environment %q is not in it", environments.FileName, env)
}

// ReadPin returns environment env's pin: in ferry.yaml's bytes ("" when it has none). It reads
// only that key, so it works on old revisions whose ferry.yaml a newer ferry would refuse.
func ReadPin(data []byte, env string) (string, error) {
	n, err := pinNode(data, env)
	if err != nil || n == nil {
		return "", err
	}
	return n.Value, nil
}

// SetPin returns ferry.yaml's bytes with environment env's pin: set to sha. It replaces only
// the value's bytes at the position kyaml reports, keeping its quoting, so comments and every
// other byte survive; the result is parsed again and must pin env at sha. An environment
// without a pin: key is an error: a revision promotion moves a pin, it does not add one.
func SetPin(data []byte, env, sha string) ([]byte, error) {
	n, err := pinNode(data, env)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return nil, fmt.Errorf("%s: environment %s has no pin:; mode revision moves the pin, so set one to the commit %s runs now", environments.FileName, env, env)
	}
	if n.Kind != yaml.ScalarNode || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return nil, fmt.Errorf("%s:%d:%d: pin of %s must be a plain or quoted scalar on one line: edit it by hand", environments.FileName, n.Line, n.Column, env)
	}
	lines := lineOffsets(data)
	start := lines[n.Line-1] + n.Column - 1
	end := start + scalarLength(data[start:], n)
	out := apply(data, []edit{{start: start, end: end, text: quoteLike(n, sha)}})
	if got, err := ReadPin(out, env); err != nil || got != sha {
		return nil, errors.Join(fmt.Errorf("%s: the edited file would not pin %s at %s: edit it by hand", environments.FileName, env, sha), err)
	}
	return out, nil
}
