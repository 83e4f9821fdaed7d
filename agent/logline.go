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
		if rep != nil {
			// A prune that failed on one object may have kept or pruned others: say so too.
			logNotes(log, env, short, rep)
		}
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
	logNotes(log, env, short, rep)
	attrs := []any{"env", env, "revision", short, "stage", stage, "result", result,
		"created", cs.Count(sync.Created), "configured", cs.Count(sync.Configured),
		"unchanged", cs.Count(sync.Unchanged), "pruned", cs.Count(sync.Pruned)}
	if n := cs.Count(sync.Terminating); n > 0 {
		attrs = append(attrs, "terminating", n)
	}
	attrs = append(attrs, "health", rep.Health, "duration", rep.Duration.Round(10*time.Millisecond).String())
	log.Info("sync finished", attrs...)
	return result
}

// logNotes writes, before the sync line, a line for what the report says beyond counts: an
// inventory rebuilt from the cluster, objects that left the overlay but were kept, what a
// pruned Namespace or CRD took with it, and deletions that finalizers hold.
func logNotes(log *slog.Logger, env, revision string, rep *sync.Report) {
	if rep.Rebuilt > 0 {
		log.Warn("inventory rebuilt from the cluster", "env", env, "revision", revision, "objects", rep.Rebuilt,
			"reason", "the state ConfigMap "+sync.StateConfigMapName(env)+" was missing; objects labelled for the environment and applied by ferry are its inventory again, and those that left the overlay are pruned as usual")
	}
	for _, c := range rep.ChangeSet.Explained() {
		switch c.Action {
		case sync.Skipped:
			log.Info("not pruned", "env", env, "revision", revision, "object", c.Object.String(), "reason", c.Reason)
		case sync.Terminating:
			log.Warn("pruned object is terminating", "env", env, "revision", revision, "object", c.Object.String(), "reason", c.Reason)
		default:
			log.Warn("pruned", "env", env, "revision", revision, "object", c.Object.String(), "reason", c.Reason)
		}
	}
}
