package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-cd/ferry/agent"
	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/sync"
	"github.com/ferry-cd/ferry/sync/source"
)

// gates refuses what the agent would not do either: sync a suspended environment, or apply a
// new revision while a deploy window holds new revisions back. Syncing the revision the
// environment is at (drift correction) passes a window, as in the agent; so does --override
// REASON or a Ferry-Override trailer on the commit, logged as the agent logs it.
func (c *cliSync) gates(ctx context.Context, now time.Time) error {
	st, err := c.s.State().Load(ctx, c.env.Name)
	if err != nil {
		return &sync.Error{Phase: sync.PhaseState, Err: err}
	}
	if s := st.Control.Suspended; s != nil {
		return fmt.Errorf("environment %s: %s; neither the agent nor `ferry sync` syncs it: run `ferry resume %s` first",
			c.env.Name, st.Control.DescribeSuspension(now), c.env.Name)
	}
	verdict := environments.CheckWindows(c.windows, now)
	if verdict.Permitted || c.revision == st.AppliedRevision {
		return nil
	}
	reason, by := c.override, "--override"
	if reason == "" {
		reason, _ = source.Trailer(c.message, agent.OverrideTrailer)
		by = agent.OverrideTrailer + " trailer"
	}
	if reason == "" {
		at := c.env.Name + " stays at " + shortRev(st.AppliedRevision)
		if st.AppliedRevision == "" {
			at = "nothing of " + c.env.Name + " is applied"
		}
		return fmt.Errorf("environment %s: the deploy window %s (%s) holds new revisions back until %s; %s: pass --override REASON, or commit with a `%s: <reason>` trailer, to apply %s now",
			c.env.Name, verdict.Window, verdict.Window.Position, verdict.Until.UTC().Format(time.RFC3339), at,
			agent.OverrideTrailer, shortRev(c.revision))
	}
	c.log.Warn("window overridden", "env", c.env.Name, "revision", shortRev(c.revision), "window", verdict.Window.String(),
		"by", by, "reason", reason)
	return nil
}
