package agent

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/notify"
	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/rollout"
	"github.com/ferry-cd/ferry/sync"
)

// receiver is one notification of ferry.yaml whose URL the agent's environment holds.
type receiver struct {
	environments.Notification
	to notify.Receiver
}

// receiversOf returns the notifications of p (ferry.yaml at rev) whose URL variable is set and
// holds an http(s) URL. Each one skipped is logged as an ERROR naming the notification and the
// variable, never the value; pipelineAt calls this once per revision of ferry.yaml.
func (a *Agent) receiversOf(p *environments.Pipeline, rev string) []receiver {
	lookup := a.opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var out []receiver
	for _, n := range p.Notifications {
		url, ok := lookup(n.URLFrom)
		problem := ""
		switch {
		case !ok || url == "":
			problem = "notification skipped: the agent's environment variable named by urlFrom is not set"
		case notify.CheckURL(url) != nil:
			problem = "notification skipped: the agent's environment variable named by urlFrom does not hold an http(s) URL"
		}
		if problem != "" {
			a.log.Error(problem, "notification", n.Name, "urlFrom", n.URLFrom, "revision", short(rev), "position", n.Position)
			continue
		}
		out = append(out, receiver{Notification: n, to: notify.Receiver{Name: n.Name, Type: n.Type, URL: url}})
	}
	return out
}

// notify sends m to every notification of ferry.yaml that wants its event and environment. It
// never blocks on a receiver: the Notifier queues the message. The commit subject is looked up
// (in the local git cache) and the status page is the link, unless m has its own.
func (t *term) notify(ctx context.Context, m notify.Message) {
	t.mu.Lock()
	all := t.receivers
	t.mu.Unlock()
	var to []notify.Receiver
	for _, r := range all {
		if r.Wants(environments.NotificationEvent(m.Event), m.Env) {
			to = append(to, r.to)
		}
	}
	if len(to) == 0 {
		return
	}
	if m.Subject == "" && fullSHA.MatchString(m.Revision) {
		if info, err := t.a.src.Commit(ctx, m.Revision); err == nil {
			m.Subject = info.Subject
		}
	}
	if m.URL == "" {
		m.URL = t.a.opts.StatusURL
	}
	m.Time = time.Now()
	for _, r := range to {
		t.a.notifier.Notify(r, m)
	}
}

// notifySyncFailed tells of a failed sync of revision; not of one that failed because the
// term ended (shutdown, or leadership lost): nothing is wrong with the environment.
func (w *worker) notifySyncFailed(ctx context.Context, revision string, err error) {
	if ctx.Err() != nil {
		return
	}
	w.t.notify(ctx, notify.Message{Event: notify.SyncFailed, Env: w.env, Revision: revision, Text: err.Error()})
}

// notifyRolledOut tells that revision is healthy in the environment after its last stage
// (stage is "" without a staged rollout).
func (w *worker) notifyRolledOut(ctx context.Context, stage string, rep *sync.Report) {
	cs := rep.ChangeSet
	text := fmt.Sprintf("healthy; created %d, configured %d, pruned %d", cs.Count(sync.Created), cs.Count(sync.Configured), cs.Count(sync.Pruned))
	w.t.notify(ctx, notify.Message{Event: notify.RolledOut, Env: w.env, Revision: rep.Revision, Stage: stage, Text: text})
}

// recovered reports whether a healthy report of a sync that changed nothing is news: this
// agent saw the environment fail or be other than healthy before it (a health wait that timed
// out, and then the pods came up). An agent that starts and finds it healthy tells nothing.
func (w *worker) recovered(rep *sync.Report) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return rep.Health == sync.Healthy && (w.lastError != "" || w.lastHealth == sync.Degraded || w.lastHealth == sync.Progressing)
}

// reportNotification logs and counts the outcome of a notification. Deduplicated messages are
// only counted: a sync failing every few seconds would log one each time.
func (a *Agent) reportNotification(r notify.Result) {
	a.metrics.notifications.WithLabelValues(r.Receiver, string(r.Outcome)).Inc()
	args := []any{"notification", r.Receiver, "event", string(r.Event), "env", r.Env, "revision", short(r.Revision)}
	switch r.Outcome {
	case notify.Sent:
		a.log.Info("notification sent", append(args, "attempts", r.Attempts, "latency", r.Latency.Round(time.Millisecond).String())...)
	case notify.Failed:
		a.log.Error("notification failed", append(args, "attempts", r.Attempts, "error", r.Err.Error())...)
	case notify.Dropped:
		a.log.Warn("notification dropped", append(args, "error", r.Err.Error())...)
	}
}

// notifyHalt tells that the rollout of h.Revision halted at h.Stage, and why.
func (o *rolloutObserver) notifyHalt(ctx context.Context, h *rollout.Halt) {
	o.w.t.notify(ctx, notify.Message{Event: notify.RolloutHalted, Env: h.Env, Revision: h.Revision, Stage: h.Stage, Text: h.Reason})
}

// notifyApproval tells that the rollout waits for `ferry approve` after stage.
func (o *rolloutObserver) notifyApproval(ctx context.Context, stage string) {
	text := fmt.Sprintf("stage %s soaked and waits for approval: run `%s`", stage, approveCommand(o.env.Name))
	o.w.t.notify(ctx, notify.Message{Event: notify.ApprovalNeeded, Env: o.env.Name, Revision: o.revision, Stage: stage, Text: text})
}

// notifyRevert tells that the pull request at url reverts the change whose rollout halted.
func (o *rolloutObserver) notifyRevert(ctx context.Context, url string) {
	text := fmt.Sprintf("the rollout of %s halted; this pull request reverts %s's last change", short(o.revision), o.env.Name)
	o.w.t.notify(ctx, notify.Message{Event: notify.RevertProposed, Env: o.env.Name, Revision: o.revision, Text: text, URL: url})
}

// notifyPromotion tells that the pull request res promotes from, healthy at revision, to to.
func (t *term) notifyPromotion(ctx context.Context, from, to, revision string, res *promote.Result) {
	verb := "updated"
	if res.Created {
		verb = "opened"
	}
	text := fmt.Sprintf("%s is healthy at %s; pull request %s to promote it to %s", from, short(revision), verb, to)
	t.notify(ctx, notify.Message{Event: notify.PromotionProposed, Env: to, Revision: revision, Text: text, URL: res.URL})
}
