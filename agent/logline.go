package agent

import (
	"errors"
	"log/slog"
	"time"

	"github.com/ferry-cd/ferry/sync"
)

// LogSync writes DESIGN.md's one line per sync attempt:
//
//	msg="sync finished" env=… revision=… stage=… result=applied|unchanged created=… configured=…
//	unchanged=… pruned=… health=… duration=…
//	level=ERROR msg="sync failed" env=… revision=… phase=render|apply|prune|health error="…"
//
// revision is shortened to 7 characters. It returns the result recorded: applied, unchanged or
// failed.
func LogSync(log *slog.Logger, env, revision, stage string, rep *sync.Report, err error) string {
	short := revision
	if len(short) == 40 {
		short = short[:7]
	}
	if err != nil {
		phase := sync.PhaseApply
		var se *sync.Error
		if errors.As(err, &se) {
			phase = se.Phase
		}
		log.Error("sync failed", "env", env, "revision", short, "phase", string(phase), "error", err.Error())
		return "failed"
	}
	result := "applied"
	if rep.NoOp {
		result = "unchanged"
	}
	cs := rep.ChangeSet
	log.Info("sync finished", "env", env, "revision", short, "stage", stage, "result", result,
		"created", cs.Count(sync.Created), "configured", cs.Count(sync.Configured),
		"unchanged", cs.Count(sync.Unchanged), "pruned", cs.Count(sync.Pruned),
		"health", rep.Health, "duration", rep.Duration.Round(10*time.Millisecond).String())
	return result
}
