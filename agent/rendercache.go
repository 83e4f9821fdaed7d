package agent

import (
	"context"
	"encoding/json"
	"io/fs"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
)

// renderMemo keeps a worker's last successful render. A render is a pure function of the
// commit's content and the environment's definition in ferry.yaml, so a scheduled sync of an
// unchanged revision reuses it instead of running kustomize again: kustomize's cost grows with
// the square of the number of objects (seconds for thousands), which a sync that changes
// nothing should not pay every tick.
type renderMemo struct {
	key string
	res render.Result
}

// render returns env's render at revision, from the memo when revision and env are the ones it
// holds; fresh is true when kustomize ran. The objects handed out are copies: a sync may
// modify its objects.
func (m *renderMemo) render(ctx context.Context, tree fs.FS, env *environments.Environment, revision string) (res render.Result, fresh bool, err error) {
	spec, err := json.Marshal(env)
	if err != nil {
		return render.Result{}, false, err
	}
	key := revision + "\x00" + string(spec)
	if key != m.key {
		res, err := render.Render(ctx, tree, env)
		if err != nil {
			return res, true, err
		}
		m.key, m.res, fresh = key, res, true
	}
	return m.res.Clone(), fresh, nil
}
