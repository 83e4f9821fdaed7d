package environments

import "go.yaml.in/yaml/v3"

// windows decodes a list of deploy windows; only top-level ones may narrow themselves to some
// environments.
func (d decoder) windows(n *yaml.Node, path string, top bool) []Window {
	var ws []Window
	d.sequence(n, path, func(_ int, n *yaml.Node, path string) {
		w := Window{Position: position(n)}
		f := fields{
			"deny":     d.setWindowStart(&w, Deny),
			"allow":    d.setWindowStart(&w, Allow),
			"duration": d.setDuration(&w.Duration),
		}
		if top {
			f["environments"] = d.setStrings(&w.Environments)
		}
		d.mapping(n, path, f)
		ws = append(ws, w)
	})
	return ws
}

// setWindowStart decodes a window's start spec and records its kind; a window with both deny
// and allow keeps the first, and validation reports the second.
func (d decoder) setWindowStart(w *Window, kind WindowKind) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		s, ok := d.str(n, path)
		if !ok {
			return
		}
		if w.Kind != "" {
			w.both = true
			return
		}
		w.Kind, w.Start = kind, s
	}
}
