package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/repoview"
)

// repoFlags are the --repo and --revision flags shared by the commands that read the config
// repository.
type repoFlags struct {
	repo, revision string
}

func (f *repoFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.repo, "repo", ".", "config repository: a local folder (its work tree, or --revision) or a git URL")
	cmd.Flags().StringVar(&f.revision, "revision", "", "branch, tag or commit SHA to read (default: the work tree of a folder, the default branch of a URL)")
}

// open returns the repository view and its parsed ferry.yaml.
func (f *repoFlags) open(ctx context.Context) (*repoview.View, *environments.Pipeline, error) {
	view, err := repoview.Open(ctx, f.repo, f.revision)
	if err != nil {
		return nil, nil, err
	}
	pipeline, err := environments.Load(view.FS)
	if err != nil {
		view.Close()
		return nil, nil, err
	}
	return view, pipeline, nil
}

// describe names the view for messages: the folder or URL and the revision when there is one.
func describe(v *repoview.View) string {
	if v.Revision == "" {
		return v.Source + " (work tree)"
	}
	return fmt.Sprintf("%s at %s", v.Source, v.Revision[:12])
}
