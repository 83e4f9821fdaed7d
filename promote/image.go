package promote

import (
	"context"
	"fmt"
	"strings"
)

// ParseImageArg parses NAME=TAG or NAME@sha256:DIGEST as given to `ferry image set`.
func ParseImageArg(arg string) (Image, error) {
	if name, digest, ok := strings.Cut(arg, "@"); ok && strings.HasPrefix(digest, "sha256:") && name != "" {
		return Image{Name: name, Digest: digest}, nil
	}
	name, tag, ok := strings.Cut(arg, "=")
	if !ok || name == "" || tag == "" {
		return Image{}, fmt.Errorf("%q: want NAME=TAG or NAME@sha256:DIGEST", arg)
	}
	return Image{Name: name, NewTag: tag}, nil
}

// ReleaseBranchFor returns the branch `ferry image set --pr` proposes from.
func ReleaseBranchFor(env string) string { return "ferry/release-" + env }

// SetImage pins one image in env's overlay and commits "release(<env>): <image> <pin>". With
// pr false the commit is pushed to the tracked branch (it must fast-forward); with pr true it
// goes to ferry/release-<env> and a pull request is opened or updated. An image already at that
// pin is NothingToDo.
func SetImage(ctx context.Context, repo *Repo, forge Forge, envName string, img Image, pr bool) (*Result, error) {
	pipeline, err := repo.pipeline()
	if err != nil {
		return nil, err
	}
	env, ok := pipeline.Environment(envName)
	if !ok {
		return nil, fmt.Errorf("environment %q is not in ferry.yaml", envName)
	}
	file, err := repo.kustomizationFile(env.Path)
	if err != nil {
		return nil, err
	}
	data, err := repo.ReadFile(file)
	if err != nil {
		return nil, err
	}
	edited, changes, err := SetImages(data, []Image{img})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	res := &Result{Changes: changes, Branch: repo.Branch}
	if len(changes) == 0 {
		res.NothingToDo = true
		return res, nil
	}
	if err := repo.WriteFile(file, edited); err != nil {
		return nil, err
	}
	msg := fmt.Sprintf("release(%s): %s %s", envName, img.Name, img.Ref())
	if res.Commit, err = repo.Commit(msg); err != nil {
		return nil, err
	}
	if !pr {
		return res, repo.Push(ctx, repo.Branch, false)
	}
	res.Branch = ReleaseBranchFor(envName)
	if err := repo.Push(ctx, res.Branch, true); err != nil {
		return nil, err
	}
	res.Body = fmt.Sprintf("Sets `%s` to `%s` in `%s` (`%s`).\n\nOpened by `ferry image set`.\n", img.Name, img.Ref(), envName, file)
	res.URL, res.Created, err = forge.EnsurePullRequest(ctx, PullRequest{Head: res.Branch, Base: repo.Branch, Title: msg, Body: res.Body})
	return res, err
}
