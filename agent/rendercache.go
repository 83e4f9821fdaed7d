package agent

import (
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
)

// renderMemo keeps a worker's last successful render. A render is a pure function of what it
// read from the repository (render.Inputs: the files it read, the entries it looked up, a
// missing one included, the folders it listed), the environment's entry in ferry.yaml and the
// renderer's options, which are the agent's own for its whole life (the SOPS keys among them:
// read from its environment, and a file that decrypted once decrypts to the same plaintext).
// So a scheduled sync of the same revision reuses it, and so does a new revision none of whose
// inputs changed (most commits touch one overlay), instead of running kustomize again:
// a render costs CPU in proportion to the objects (about a second for 4000).
type renderMemo struct {
	revision string // the revision res was rendered or reused at
	spec     string // the environment's entry in ferry.yaml, as JSON
	res      render.Result
}

// renderOutcome says how renderMemo.render came by a render.
type renderOutcome string

const (
	// renderSame is the memo's own revision again: nothing new was rendered or reused.
	renderSame renderOutcome = ""
	// renderReused is another revision, where none of the last render's inputs changed.
	renderReused renderOutcome = "reused"
	// renderRendered is a run of kustomize (the outcome of a failed render too).
	renderRendered renderOutcome = "rendered"
)

// render returns env's render at revision, whose tree is tree: the memo's when revision is the
// one it holds, or when env is the same and none of the render's inputs changed in tree (a
// lookup of each input's hash, without reading any file), else a new one. The objects handed
// out are copies: a sync may modify its objects.
func (m *renderMemo) render(ctx context.Context, tree fs.FS, env *environments.Environment, revision string) (render.Result, renderOutcome, error) {
	spec, err := json.Marshal(env)
	if err != nil {
		return render.Result{}, renderRendered, err
	}
	if string(spec) == m.spec {
		if revision == m.revision {
			return m.res.Clone(), renderSame, nil
		}
		if _, changed := m.res.Inputs.Changed(tree); !changed {
			m.revision = revision
			return m.res.Clone(), renderReused, nil
		}
	}
	res, err := render.Render(ctx, tree, env)
	if err != nil {
		return res, renderRendered, err
	}
	m.revision, m.spec, m.res = revision, string(spec), res
	return m.res.Clone(), renderRendered, nil
}

// noteReuse remembers revision as the one whose sync reused an earlier revision's render (how
// is renderReused), for its sync lines' render=reused (renderNote), and forgets it otherwise.
func (w *worker) noteReuse(revision string, how renderOutcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reused = ""
	if how == renderReused {
		w.reused = revision
	}
}

// renderNote returns the note render=reused for the sync lines of revision when its sync
// reused an earlier revision's render, else none.
func (w *worker) renderNote(revision string) []slog.Attr {
	w.mu.Lock()
	defer w.mu.Unlock()
	if revision == "" || revision != w.reused {
		return nil
	}
	return []slog.Attr{slog.String("render", string(renderReused))}
}
