package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
	"github.com/ferry-cd/ferry/sync/source"
)

// LogSync writes DESIGN.md's one line per sync attempt:
//
//	msg="sync finished" env=… revision=… stage=… trigger=… result=applied|unchanged created=…
//	configured=… unchanged=… pruned=… health=… duration=…
//	level=ERROR msg="sync failed" env=… revision=… trigger=… phase=source|render|apply|prune|health|state error="…"
//
// revision is shortened to 7 characters; trigger says what started the sync, and phaseOf
// decides a failure's phase. notes end the line: the agent's render=reused when the sync took
// an earlier revision's render because none of its inputs changed. It returns the result
// recorded: applied, unchanged or failed.
func LogSync(log *slog.Logger, env, revision, stage string, trigger Trigger, rep *sync.Report, err error, notes ...slog.Attr) string {
	short := revision
	if len(short) == 40 {
		short = short[:7]
	}
	if err != nil {
		if rep != nil {
			// A prune that failed on one object may have kept or pruned others: say so too.
			logNotes(log, env, short, rep)
		}
		attrs := []any{"env", env, "revision", short, "trigger", string(trigger), "phase", string(phaseOf(err)), "error", err.Error()}
		log.Error("sync failed", withNotes(attrs, notes)...)
		return "failed"
	}
	result := "applied"
	if rep.NoOp {
		result = "unchanged"
	}
	cs := rep.ChangeSet
	logNotes(log, env, short, rep)
	attrs := []any{"env", env, "revision", short, "stage", stage, "trigger", string(trigger), "result", result,
		"created", cs.Count(sync.Created), "configured", cs.Count(sync.Configured),
		"unchanged", cs.Count(sync.Unchanged), "pruned", cs.Count(sync.Pruned)}
	if n := cs.Count(sync.Terminating); n > 0 {
		attrs = append(attrs, "terminating", n)
	}
	attrs = append(attrs, "health", rep.Health, "duration", rep.Duration.Round(10*time.Millisecond).String())
	log.Info("sync finished", withNotes(attrs, notes)...)
	return result
}

func withNotes(attrs []any, notes []slog.Attr) []any {
	for _, n := range notes {
		attrs = append(attrs, n)
	}
	return attrs
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

// phaseOf decides the phase a failed sync is logged and recorded with, for every failure of
// the agent and of `ferry sync`: a *sync.Error's own phase; source for a failure to read the
// repository (a *source.Error: ls-remote, fetch, a commit or tree not in the cache); render
// for what stops a sync before anything is applied (ferry.yaml, the render); apply for the rest.
func phaseOf(err error) sync.Phase {
	var phased *sync.Error
	var repo *source.Error
	var rendering *render.Error
	var config *configError
	switch {
	case errors.As(err, &phased):
		return phased.Phase
	case errors.As(err, &repo):
		return sync.PhaseSource
	case errors.As(err, &rendering), errors.As(err, &config):
		return sync.PhaseRender
	default:
		return sync.PhaseApply
	}
}

// asFailure returns err as the *sync.Error it is recorded as, its phase decided by phaseOf,
// so that the state's last error says the phase as the log line does.
func asFailure(err error) error {
	var phased *sync.Error
	if errors.As(err, &phased) {
		return err
	}
	return &sync.Error{Phase: phaseOf(err), Err: err}
}

// configError is a ferry.yaml that cannot be read or is not valid, at a revision.
type configError struct {
	revision string
	err      error
}

func (e *configError) Error() string {
	return fmt.Sprintf("%s at %s: %v", environments.FileName, short(e.revision), e.err)
}

func (e *configError) Unwrap() error { return e.err }
