package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/repoview"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// envRun is what sync and diff share: the repository, the cluster, one environment rendered.
type envRun struct {
	repo repoFlags
	kube kubeFlags
}

func (r *envRun) register(cmd *cobra.Command) {
	r.repo.register(cmd)
	r.kube.register(cmd)
}

// prepared is one environment rendered from the repository, with a Syncer for its cluster.
type prepared struct {
	view     *repoview.View
	pipeline *environments.Pipeline
	env      *environments.Environment
	res      render.Result
	s        *sync.Syncer
}

// prepare opens the repository, renders env and builds a Syncer. The caller closes the view.
func (r *envRun) prepare(cmd *cobra.Command, envName string, opts sync.Options) (*prepared, error) {
	view, pipeline, err := r.repo.open(cmd.Context())
	if err != nil {
		return nil, err
	}
	p, err := r.prepareEnv(cmd, &prepared{view: view, pipeline: pipeline}, envName, opts)
	if err != nil {
		view.Close()
		return nil, err
	}
	return p, nil
}

func (r *envRun) prepareEnv(cmd *cobra.Command, p *prepared, envName string, opts sync.Options) (*prepared, error) {
	env, ok := p.pipeline.Environment(envName)
	if !ok {
		return nil, &usageError{fmt.Errorf("environment %q is not in ferry.yaml", envName)}
	}
	res, err := render.Render(cmd.Context(), p.view.FS, env)
	if err != nil {
		return nil, &sync.Error{Phase: sync.PhaseRender, Err: err}
	}
	cfg, err := r.kube.config()
	if err != nil {
		return nil, err
	}
	opts.Namespace = r.kube.namespace
	s, err := sync.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	p.env, p.res, p.s = env, res, s
	return p, nil
}

// revisionOf names what is synced: the commit, or "worktree" for a folder's work tree.
func revisionOf(v *repoview.View) string {
	if v.Revision == "" {
		return "worktree"
	}
	return v.Revision
}

func newSyncCommand() *cobra.Command {
	var run envRun
	var once, skipRollout bool
	var override string
	opts := sync.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "sync ENV",
		Short: "Sync ENV once from the repository to the cluster, through the agent's code path (stages, soak and halts included)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !once {
				return &usageError{fmt.Errorf("only --once is supported from the CLI; run `ferry agent` to keep syncing")}
			}
			p, err := run.prepare(cmd, args[0], opts)
			if err != nil {
				return err
			}
			defer p.view.Close()
			c := &cliSync{s: p.s, env: p.env, res: p.res, revision: revisionOf(p.view), out: cmd.OutOrStdout(),
				log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)), poll: opts.PollInterval,
				windows: p.pipeline.WindowsOf(p.env.Name), message: p.view.Message, override: override}
			return c.run(cmd.Context(), p.view, skipRollout)
		},
	}
	run.register(cmd)
	cmd.Flags().BoolVar(&once, "once", true, "sync once and exit")
	cmd.Flags().DurationVar(&opts.HealthTimeout, "health-timeout", opts.HealthTimeout, "how long to wait for applied objects to become healthy (0: do not wait)")
	cmd.Flags().StringVar(&override, "override", "", "apply although a deploy window holds new revisions back, for this reason (logged, as a commit's Ferry-Override trailer is)")
	cmd.Flags().BoolVar(&skipRollout, "skip-rollout", false, "apply everything at once, past the environment's rollout stages, a halted revision or a rollout in progress (logged)")
	return cmd
}

func newDiffCommand() *cobra.Command {
	var run envRun
	cmd := &cobra.Command{
		Use:   "diff ENV",
		Short: "Server-side dry-run ENV against the cluster and print a unified diff per object (Secret values masked)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := run.prepare(cmd, args[0], sync.DefaultOptions())
			if err != nil {
				return err
			}
			defer p.view.Close()
			env := p.env
			diffs, err := p.s.Diff(cmd.Context(), env, p.res)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, d := range diffs {
				fmt.Fprintf(out, "%s %s\n%s", d.Object, d.Action, d.Unified)
			}
			if len(diffs) == 0 {
				fmt.Fprintf(out, "%s: no changes\n", env.Name)
			}
			return nil
		},
	}
	run.register(cmd)
	return cmd
}
