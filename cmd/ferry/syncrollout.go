package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ferry-cd/ferry/agent"
	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/repoview"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/rollout"
	"github.com/ferry-cd/ferry/sync"
)

// cliSync is one `ferry sync ENV --once`: the agent's gates (pin, halted revision, a rollout
// in progress, stages) before the agent's sync or rollout.
type cliSync struct {
	s        *sync.Syncer
	env      *environments.Environment
	res      render.Result
	revision string
	out      io.Writer
	log      *slog.Logger
	poll     time.Duration
	windows  []environments.Window // the environment's deploy windows
	message  string                // the commit's message, for a Ferry-Override trailer
	override string                // --override's reason
}

// run checks the gates and syncs, in stages when the environment has them. A refused sync, a
// failed one and a halted rollout are errors (exit 1).
func (c *cliSync) run(ctx context.Context, view *repoview.View, skipRollout bool) error {
	if err := checkPin(c.env, view); err != nil {
		return err
	}
	if err := c.gates(ctx, time.Now()); err != nil {
		return err
	}
	if rollout.Staged(c.env) {
		st, err := c.s.State().Load(ctx, c.env.Name)
		if err != nil {
			return &sync.Error{Phase: sync.PhaseState, Err: err}
		}
		if skipRollout {
			c.log.Warn("rollout skipped: applying everything at once", "env", c.env.Name, "revision", shortRev(c.revision),
				"stages", stageNames(c.env), "by", "--skip-rollout")
			if err := c.sync(ctx); err != nil {
				return err
			}
			// Everything is applied: no stage is in progress or halted any more, so the agent
			// neither resumes nor holds a rollout of it.
			return c.s.SaveProgress(ctx, c.env.Name, func(s *sync.State) { s.Stage, s.Progress = "", sync.Progress{} })
		}
		if err := c.refuse(st); err != nil {
			return err
		}
		deployed := st.AppliedRevision != ""
		if !deployed {
			if deployed, err = c.s.AnyExists(ctx, c.res.Objects); err != nil {
				return &sync.Error{Phase: sync.PhaseApply, Err: err}
			}
		}
		if rollout.Needed(c.env, st, c.res, deployed) {
			err := rollout.New(c.s, c.env, c.res, c.revision, st.Progress, c, c.poll).Run(ctx)
			if _, halted := rollout.IsHalt(err); err != nil && !halted {
				c.recordFailure(ctx, err)
			}
			return err
		}
	}
	return c.sync(ctx)
}

// checkPin refuses to sync a pinned environment at another revision than its pin: the agent
// syncs only the pin, so the CLI does the same (the pin is read from ferry.yaml at the revision
// synced, given with --revision).
func checkPin(env *environments.Environment, view *repoview.View) error {
	if env.Pin == "" || view.Revision != "" && strings.HasPrefix(view.Revision, env.Pin) {
		return nil
	}
	return fmt.Errorf("environment %s is pinned at %s (pin: in ferry.yaml), and %s is not that commit: run `ferry sync %s --revision %s`, or change pin: in git",
		env.Name, env.Pin, describe(view), env.Name, env.Pin)
}

// refuse returns why the CLI must not roll out now: a rollout of the agent in progress, or a
// revision whose rollout halted (the agent does not roll it out again until the branch moves).
func (c *cliSync) refuse(st *sync.State) error {
	p := st.Progress
	if p.Revision != "" {
		return fmt.Errorf("environment %s: a rollout of %s is in progress (stage %s); the agent drives it: wait until it is done, or pass --skip-rollout to apply %s everywhere at once",
			c.env.Name, shortRev(p.Revision), p.Describe(st.Stage, time.Now()), shortRev(c.revision))
	}
	if p.HaltedRevision != "" && p.HaltedRevision == c.revision {
		return fmt.Errorf("environment %s: the rollout of %s halted at stage %s (%s) and is not rolled out again until the branch moves: fix forward or revert in git, or pass --skip-rollout to apply it everywhere at once",
			c.env.Name, shortRev(c.revision), st.Stage, p.HaltReason)
	}
	return nil
}

// sync is the agent's sync without stages: apply, health wait, and health evaluated again
// when nothing was waited for.
func (c *cliSync) sync(ctx context.Context) error {
	rep, err := c.s.Sync(ctx, c.env, c.res, c.revision)
	if err == nil && rep.Health != sync.Healthy {
		rep.Health, _, err = c.s.RefreshHealth(ctx, c.env.Name)
	}
	if rep != nil {
		fmt.Fprint(c.out, rep.ChangeSet.Changed())
	}
	agent.LogSync(c.log, c.env.Name, c.revision, "", agent.TriggerCLI, rep, err)
	if err != nil {
		c.recordFailure(ctx, err)
	}
	return err
}

func (c *cliSync) recordFailure(ctx context.Context, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	if rerr := c.s.RecordFailure(ctx, c.env.Name, c.revision, err); rerr != nil {
		c.log.Warn("cannot record the failure in the state ConfigMap", "env", c.env.Name, "error", rerr.Error())
	}
}

// Progress logs each stage's phase, so that a soak of minutes is not silence.
func (c *cliSync) Progress(_ context.Context, k int, st environments.Stage, phase string) {
	c.log.Info("rollout stage", "env", c.env.Name, "revision", shortRev(c.revision), "stage", st.Name,
		"step", fmt.Sprintf("%d/%d", k+1, len(c.env.Rollout.Stages)), "phase", phase, "soak", st.Soak.String())
}

// StageApplied prints the stage's changes and logs its sync line.
func (c *cliSync) StageApplied(_ context.Context, st environments.Stage, rep *sync.Report) {
	fmt.Fprint(c.out, rep.ChangeSet.Changed())
	agent.LogSync(c.log, c.env.Name, c.revision, st.Name, agent.TriggerCLI, rep, nil)
}

// NotSaved logs that the rollout's progress could not be saved.
func (c *cliSync) NotSaved(_ context.Context, st environments.Stage, err error) {
	c.log.Warn("cannot record rollout progress", "env", c.env.Name, "stage", st.Name, "error", err.Error())
}

// Evaluated logs an analysis check's evaluation as the agent does.
func (c *cliSync) Evaluated(_ context.Context, st environments.Stage, r rollout.CheckResult) {
	agent.LogEvaluation(c.log, c.env.Name, c.revision, st.Name, r)
}

// StageSoaked logs the end of a soak.
func (c *cliSync) StageSoaked(_ context.Context, st environments.Stage) {
	c.log.Info("stage soaked", "env", c.env.Name, "revision", shortRev(c.revision), "stage", st.Name, "soak", st.Soak.String())
}

// AwaitingApproval logs the wait as the agent does, and says where to approve: this command
// waits until `ferry approve` runs in another terminal.
func (c *cliSync) AwaitingApproval(_ context.Context, _ int, st environments.Stage) {
	agent.LogApprovalNeeded(c.log, c.env.Name, c.revision, st.Name)
	c.log.Info("waiting: run `ferry approve "+c.env.Name+"` from another terminal to go on, or interrupt to stop waiting",
		"env", c.env.Name, "stage", st.Name)
}

// Approved logs the approval as the agent does.
func (c *cliSync) Approved(_ context.Context, st environments.Stage, a sync.Request) {
	agent.LogApproved(c.log, c.env.Name, c.revision, st.Name, a)
}

// Halted logs the halt as the agent does.
func (c *cliSync) Halted(_ context.Context, h *rollout.Halt) {
	agent.LogHalt(c.log, h)
}

// ProposeRevert says how to revert: the CLI opens no pull request by itself.
func (c *cliSync) ProposeRevert(context.Context) {
	c.log.Warn("onFailure is revert: the CLI opens no pull request; run `ferry rollback "+c.env.Name+"` to propose the revert", "env", c.env.Name)
}

// Finished prints the last stage's changes and logs its sync line.
func (c *cliSync) Finished(_ context.Context, st environments.Stage, rep *sync.Report) {
	fmt.Fprint(c.out, rep.ChangeSet.Changed())
	agent.LogSync(c.log, c.env.Name, c.revision, st.Name, agent.TriggerCLI, rep, nil)
}

func stageNames(env *environments.Environment) string {
	names := make([]string, len(env.Rollout.Stages))
	for i, st := range env.Rollout.Stages {
		names[i] = st.Name
	}
	return strings.Join(names, ",")
}

func shortRev(rev string) string {
	if len(rev) == 40 {
		return rev[:7]
	}
	return rev
}
