package agent

import (
	"context"
	"strings"
	"time"

	"github.com/ferry-cd/ferry/sync"
)

// Sync history results, beside "applied" and "failed" (LogSync's).
const (
	resultHalted   = "halted"
	resultDeferred = "deferred"
)

// remember records rec, a sync attempt that did something, in the environment's history (the
// last sync.MaxHistory, in its state ConfigMap), with the commit's subject; for a failed attempt
// (cause not nil) the same write records the failure in the state. No-op syncs are not
// recorded: they would write on every tick and push the syncs that mattered out of the
// history. A failure to record is logged, never fatal.
func (w *worker) remember(ctx context.Context, rec sync.SyncRecord, cause error) {
	if rec.At.IsZero() {
		rec.At = time.Now()
	}
	if rec.Subject == "" && fullSHA.MatchString(rec.Revision) {
		if info, err := w.t.a.src.Commit(ctx, rec.Revision); err == nil {
			rec.Subject = info.Subject
		}
	}
	rec.Duration = rec.Duration.Round(time.Millisecond)
	if err := w.t.syncer.RecordAttempt(ctx, w.env, rec, cause); err != nil {
		w.t.a.log.Warn("cannot record the sync in the state ConfigMap", "env", w.env, "error", err.Error())
	}
}

// attemptOf returns the history record of a finished attempt: applied, or failed with err's
// first line.
func attemptOf(trigger Trigger, stage string, rep *sync.Report, err error) sync.SyncRecord {
	rec := sync.SyncRecord{Revision: rep.Revision, Trigger: string(trigger), Stage: stage, Result: "applied", Duration: rep.Duration}
	if err != nil {
		rec.Result, rec.Message = "failed", briefly(err.Error())
	}
	return rec
}

// maxHistoryMessage bounds a history record's message, in runes: the state ConfigMap keeps ten
// of them, and the log line has the whole error.
const maxHistoryMessage = 200

// briefly returns msg's first line, at most maxHistoryMessage runes.
func briefly(msg string) string {
	msg, _, _ = strings.Cut(msg, "\n")
	if r := []rune(msg); len(r) > maxHistoryMessage {
		msg = string(r[:maxHistoryMessage-1]) + "…"
	}
	return msg
}
