package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/sync"
)

// AwaitingApproval logs the wait for `ferry approve`, records it as an Event and sets the
// commit status pending.
func (o *rolloutObserver) AwaitingApproval(ctx context.Context, _ int, st environments.Stage) {
	LogApprovalNeeded(o.w.t.a.log, o.env.Name, o.revision, st.Name)
	o.notifyApproval(ctx, st.Name)
	o.w.event(ctx, "Normal", "ApprovalNeeded", fmt.Sprintf("stage %s of %s soaked and waits for approval: run `%s`", st.Name, short(o.revision), approveCommand(o.env.Name)))
	o.w.setStatus(ctx, o.revision, "pending", "waiting for approval")
}

// Approved logs who approved the stage and when, and records an Event; the rollout's next
// lines (the next stage's sync line) say trigger=approval.
func (o *rolloutObserver) Approved(ctx context.Context, st environments.Stage, a sync.Request) {
	LogApproved(o.w.t.a.log, o.env.Name, o.revision, st.Name, a)
	o.w.event(ctx, "Normal", "Approved", fmt.Sprintf("stage %s of %s approved by %s", st.Name, short(o.revision), a.By))
	o.w.setStatus(ctx, o.revision, "pending", "approved by "+a.By+"; rolling out")
	o.trigger = TriggerApproval
}

// LogApprovalNeeded logs that a rollout waits for approval: `msg="approval needed" env=…
// revision=… stage=… command="ferry approve ENV"`.
func LogApprovalNeeded(log *slog.Logger, env, revision, stage string) {
	log.Info("approval needed", "env", env, "revision", short(revision), "stage", stage, "command", approveCommand(env))
}

// LogApproved logs the approval a rollout took: `msg="approved" env=… revision=… stage=… by=…
// at=…`.
func LogApproved(log *slog.Logger, env, revision, stage string, a sync.Request) {
	log.Info("approved", "env", env, "revision", short(revision), "stage", stage, "by", a.By, "at", a.At.UTC().Format(time.RFC3339))
}

func approveCommand(env string) string { return "ferry approve " + env }
