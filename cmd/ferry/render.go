package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/redact"
	"github.com/ferry-cd/ferry/internal/repoview"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/rollout"
)

// secretsMaskedNote is what `ferry render` says on stderr when it masked Secret values.
const secretsMaskedNote = "ferry render: Secret values are masked as ***; --show-secrets prints them"

func newRenderCommand() *cobra.Command {
	var repo repoFlags
	var showSecrets bool
	cmd := &cobra.Command{
		Use:   "render ENV",
		Short: "Print the exact objects ferry would apply for ENV, as multi-document YAML (Secret values masked unless --show-secrets)",
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
			out, masked, err := renderOutput(res, showSecrets)
			if err != nil {
				return err
			}
			if masked {
				fmt.Fprintln(cmd.ErrOrStderr(), secretsMaskedNote)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	repo.register(cmd)
	cmd.Flags().BoolVar(&showSecrets, "show-secrets", false, "print Secret values (decrypted, if sops-encrypted) instead of ***")
	return cmd
}

// renderOutput returns the render's YAML as `ferry render` prints it: with every Secret value
// masked as "***", unless show, and whether a Secret was masked. Without a Secret it is the
// render's own YAML, byte for byte.
func renderOutput(res render.Result, show bool) (out []byte, masked bool, err error) {
	if show || !slices.ContainsFunc(res.Objects, redact.IsSecret) {
		return res.YAML(), false, nil
	}
	var b bytes.Buffer
	for i, o := range res.Objects {
		data, err := yaml.Marshal(redact.Secret(o).Object)
		if err != nil {
			return nil, false, err
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(data)
	}
	return b.Bytes(), true, nil
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
				if err := checkPinReachable(out, view, env); err != nil {
					failed++
					fmt.Fprintln(out, err)
					continue
				}
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

// checkPinReachable returns an error, at pin:'s line, when env is promoted by revision and its pin is
// not a commit of the viewed history: the agent could not render it. Without git history to
// look in (a plain folder) it writes a warning instead.
func checkPinReachable(out io.Writer, view *repoview.View, env *environments.Environment) error {
	if env.Promotion == nil || env.Promotion.Mode != environments.PromotionRevision || env.Pin == "" {
		return nil
	}
	err := view.Reachable(env.Pin)
	switch {
	case errors.Is(err, repoview.ErrNoHistory):
		fmt.Fprintf(out, "warning %s: pin %s not checked: %v\n", env.Name, env.Pin[:12], err)
		return nil
	case err != nil:
		return fmt.Errorf("%s: environment %s: pin: %w", env.PinPosition, env.Name, err)
	}
	return nil
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
