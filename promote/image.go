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
// pr false the commit is pushed to the tracked branch (it must fast-forward; when another push
// landed first, the pin is set again on the new head and pushed once more, see pushEdit); with
// pr true it goes to ferry/release-<env> and a pull request is opened or updated. An image
// already at that pin is NothingToDo.
func SetImage(ctx context.Context, repo *Repo, forge Forge, envName string, img Image, pr bool) (*Result, error) {
	if !pr {
		return repo.pushEdit(ctx, func() (*Result, error) {
			res, _, err := pinImage(repo, envName, img)
			return res, err
		})
	}
	res, file, err := pinImage(repo, envName, img)
	if err != nil || res.NothingToDo {
		return res, err
	}
	res.Branch = ReleaseBranchFor(envName)
	if err := repo.Push(ctx, res.Branch, true); err != nil {
		return nil, err
	}
	msg := releaseMessage(envName, img)
	res.Body = fmt.Sprintf("Sets `%s` to `%s` in `%s` (`%s`).\n\nOpened by `ferry image set`.\n", img.Name, img.Ref(), envName, file)
	res.URL, res.Created, err = forge.EnsurePullRequest(ctx, PullRequest{Head: res.Branch, Base: repo.Branch, Title: msg, Body: res.Body})
	return res, err
}

func releaseMessage(envName string, img Image) string {
	return fmt.Sprintf("release(%s): %s %s", envName, img.Name, img.Ref())
}

// pinImage pins img in env's overlay of the clone and commits it; it returns the overlay's
// kustomization file too.
func pinImage(repo *Repo, envName string, img Image) (*Result, string, error) {
	pipeline, err := repo.pipeline()
	if err != nil {
		return nil, "", err
	}
	env, ok := pipeline.Environment(envName)
	if !ok {
		return nil, "", fmt.Errorf("environment %q is not in ferry.yaml", envName)
	}
	file, err := repo.kustomizationFile(env.Path)
	if err != nil {
		return nil, "", err
	}
	data, err := repo.ReadFile(file)
	if err != nil {
		return nil, "", err
	}
	edited, changes, err := SetImages(data, []Image{img})
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", file, err)
	}
	res := &Result{Changes: changes, Branch: repo.Branch}
	if len(changes) == 0 {
		res.NothingToDo = true
		return res, file, nil
	}
	if err := repo.WriteFile(file, edited); err != nil {
		return nil, "", err
	}
	if res.Commit, err = repo.Commit(releaseMessage(envName, img)); err != nil {
		return nil, "", err
	}
	return res, file, nil
}
