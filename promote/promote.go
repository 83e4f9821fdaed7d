package promote

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/ferry-cd/ferry/environments"
)

// Options say what to promote: From's images (all of To's promotion.images, or Images when set)
// into To.
type Options struct {
	From, To string
	Images   []string
	// Source, when set, is the state of From in the cluster, shown in the PR body as evidence.
	Source *SourceHealth
	// SourceFunc, when set and Source is not, looks From's state up once From is known (the
	// CLI reads it from the state ConfigMap when given a kubeconfig).
	// SourceFunc returns an error wrapping ErrNotSynced when the cluster has no state of env.
	SourceFunc func(ctx context.Context, env string) (*SourceHealth, error)
	// Evidence says where From's state is read when Source is not set: the cluster (through
	// SourceFunc), the forge's commit statuses, or auto ("": the cluster when From is synced
	// there, else the forge). A revision promotion needs it; an image promotion shows it when
	// it can be read, and says why not otherwise.
	Evidence Evidence
}

// Result is what a promotion did.
type Result struct {
	Branch, URL, Commit string
	Created             bool
	Changes             []Change
	// Pin is set by a revision promotion or rollback: the pin it moves.
	Pin  *PinChange
	Body string
	// NothingToDo is set when To already has From's pins: no commit, no PR.
	NothingToDo bool
}

// BranchFor returns ferry's promotion branch of environment to.
func BranchFor(to string) string { return "ferry/promote-" + to }

// Promote copies image pins from one environment's overlay into another's on the branch
// ferry/promote-<to> (force-pushed, so running it again updates the same branch), and opens or
// updates the pull request with the evidence a reviewer needs. Errors name the file or remote.
func Promote(ctx context.Context, repo *Repo, forge Forge, opts Options) (*Result, error) {
	pipeline, err := repo.pipeline()
	if err != nil {
		return nil, err
	}
	from, to, err := pair(pipeline, opts)
	if err != nil {
		return nil, err
	}
	if to.Promotion != nil && to.Promotion.Mode == environments.PromotionRevision {
		return promoteRevision(ctx, repo, forge, from, to, opts)
	}
	toFile, changes, err := repo.movePins(from, to, opts.Images)
	if err != nil {
		return nil, err
	}
	res := &Result{Branch: BranchFor(to.Name), Changes: changes}
	if len(changes) == 0 {
		res.NothingToDo = true
		return res, nil
	}
	if res.Commit, err = repo.Commit(commitMessage(to.Name, changes)); err != nil {
		return nil, err
	}
	if err := repo.Push(ctx, res.Branch, true); err != nil {
		return nil, err
	}
	src, err := imageEvidence(ctx, repo, forge, from.Name, opts)
	if err != nil {
		return nil, err
	}
	res.Body, err = promotionBody(ctx, repo, to, toFile, from.Name, res, src)
	if err != nil {
		return nil, err
	}
	res.URL, res.Created, err = forge.EnsurePullRequest(ctx, PullRequest{
		Head: res.Branch, Base: repo.Branch, Title: strings.SplitN(commitMessage(to.Name, changes), "\n", 2)[0], Body: res.Body,
	})
	return res, err
}

// imageEvidence is the source's state for an image promotion's body. The evidence is shown,
// not required: in auto mode, no forge to ask (or no status found) leaves it unchecked, as
// before forge evidence existed, and a forge that fails is named in the body instead. An
// explicit mode that fails is an error.
func imageEvidence(ctx context.Context, repo *Repo, forge Forge, env string, opts Options) (*SourceHealth, error) {
	src, err := sourceEvidence(ctx, repo, forge, env, opts)
	if err == nil || opts.Evidence != "" && opts.Evidence != EvidenceAuto {
		return src, err
	}
	if forgeUnanswered(err) {
		return nil, nil
	}
	return &SourceHealth{Env: env, Unchecked: err.Error()}, nil
}

// pair finds the two environments; From defaults to To's promotion.from.
func pair(p *environments.Pipeline, opts Options) (*environments.Environment, *environments.Environment, error) {
	to, ok := p.Environment(opts.To)
	if !ok {
		return nil, nil, fmt.Errorf("environment %q is not in ferry.yaml", opts.To)
	}
	fromName := opts.From
	if fromName == "" && to.Promotion != nil {
		fromName = to.Promotion.From
	}
	if fromName == "" {
		return nil, nil, fmt.Errorf("environment %s has no promotion.from in ferry.yaml; pass --from", to.Name)
	}
	from, ok := p.Environment(fromName)
	if !ok {
		return nil, nil, fmt.Errorf("environment %q is not in ferry.yaml", fromName)
	}
	return from, to, nil
}

// movePins edits to's kustomization with from's pins of the chosen images and stages it. It
// returns the edited file's path and the changes.
func (r *Repo) movePins(from, to *environments.Environment, only []string) (string, []Change, error) {
	fromFile, err := r.kustomizationFile(from.Path)
	if err != nil {
		return "", nil, err
	}
	toFile, err := r.kustomizationFile(to.Path)
	if err != nil {
		return "", nil, err
	}
	fromData, err := r.ReadFile(fromFile)
	if err != nil {
		return "", nil, err
	}
	pins, err := ReadImages(fromData)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", fromFile, err)
	}
	names := only
	if len(names) == 0 && to.Promotion != nil {
		names = to.Promotion.Images
	}
	toData, err := r.ReadFile(toFile)
	if err != nil {
		return "", nil, err
	}
	edited, changes, err := SetImages(toData, selectImages(pins, names))
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", toFile, err)
	}
	if len(changes) > 0 {
		if err := r.WriteFile(toFile, edited); err != nil {
			return "", nil, err
		}
	}
	return toFile, changes, nil
}

// selectImages keeps the pins named in names (all when names is empty).
func selectImages(pins []Image, names []string) []Image {
	if len(names) == 0 {
		return pins
	}
	var out []Image
	for _, p := range pins {
		for _, n := range names {
			if p.Name == n {
				out = append(out, p)
			}
		}
	}
	return out
}

// kustomizationFile returns the kustomization file of an overlay folder.
func (r *Repo) kustomizationFile(dir string) (string, error) {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		p := path.Join(dir, name)
		if _, err := r.wt.Filesystem.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: no kustomization.yaml", dir)
}

func (r *Repo) pipeline() (*environments.Pipeline, error) {
	tree, err := r.TreeAt(r.Base())
	if err != nil {
		return nil, err
	}
	p, err := environments.Load(tree)
	if err != nil {
		return nil, fmt.Errorf("%s at %s: %w", r.URL, r.Base()[:7], err)
	}
	return p, nil
}

// commitMessage is "promote(<to>): <image> <old> → <new>", one line per image.
func commitMessage(to string, changes []Change) string {
	lines := make([]string, 0, len(changes))
	for _, c := range changes {
		old := c.Old
		if old == "" {
			old = "(none)"
		}
		lines = append(lines, fmt.Sprintf("promote(%s): %s %s → %s", to, c.Image, old, c.New))
	}
	return strings.Join(lines, "\n")
}
