package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/rollout"
)

func newRenderCommand() *cobra.Command {
	var repo repoFlags
	cmd := &cobra.Command{
		Use:   "render ENV",
		Short: "Print the exact objects ferry would apply for ENV, as multi-document YAML",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			view, pipeline, err := repo.open(cmd.Context())
			if err != nil {
				return err
			}
			defer view.Close()
			env, ok := pipeline.Environment(args[0])
			if !ok {
				return &usageError{fmt.Errorf("environment %q is not in ferry.yaml", args[0])}
			}
			res, err := render.Render(cmd.Context(), view.FS, env)
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			_, err = cmd.OutOrStdout().Write(res.YAML())
			return err
		},
	}
	repo.register(cmd)
	return cmd
}

func newValidateCommand() *cobra.Command {
	var repo repoFlags
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Parse ferry.yaml, render every environment offline and check its rollout stages against the render; exit 1 on any error",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			view, pipeline, err := repo.open(cmd.Context())
			if err != nil {
				return err
			}
			defer view.Close()
			out := cmd.OutOrStdout()
			failed := 0
			for i := range pipeline.Environments {
				env := &pipeline.Environments[i]
				res, err := render.Render(cmd.Context(), view.FS, env)
				if err != nil {
					failed++
					fmt.Fprintf(out, "error %s: %v\n", env.Name, err)
					continue
				}
				for _, w := range res.Warnings {
					fmt.Fprintf(out, "warning %s: %s\n", env.Name, w)
				}
				// A stage that selects nothing (or everything) is known only with the render.
				if err := rollout.CheckStages(env, res.Objects); err != nil {
					failed++
					fmt.Fprintln(out, err) // ferry.yaml:LINE:COL: environment …: stage …
					continue
				}
				fmt.Fprintf(out, "ok %s %d objects %s\n", env.Name, len(res.Objects), res.Digest)
			}
			if failed > 0 {
				return fmt.Errorf("%s: %d of %d environments failed validation", describe(view), failed, len(pipeline.Environments))
			}
			return nil
		},
	}
	repo.register(cmd)
	return cmd
}

// exactArgs is cobra.ExactArgs with exit code 2.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}
