package agent

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/sync"
)

// RolloutStatus is a rollout in progress or halted, stage by stage, on the status page.
type RolloutStatus struct {
	Revision string        `json:"revision"`
	Short    string        `json:"short"`
	Subject  string        `json:"subject,omitempty"`
	Stages   []StageStatus `json:"stages"`
}

// StageStatus is one stage of a rollout's timeline.
type StageStatus struct {
	Name string `json:"name"`
	// State is "done", "pending" (not reached yet), or the current stage's phase as the rollout
	// records it: applying, soaking, halted, or any other (waiting for an approval).
	State string `json:"state"`
	// Soak is the soak's progress while soaking ("1m10s of 2m").
	Soak string `json:"soak,omitempty"`
	// Checks are the current stage's analysis checks as last evaluated.
	Checks string `json:"checks,omitempty"`
	// Reason is why the stage halted; Command what an operator runs to let it go on.
	Reason  string `json:"reason,omitempty"`
	Command string `json:"command,omitempty"`
	// Approval is true for a stage that waits for `ferry approve` (approval: manual).
	Approval bool `json:"approval,omitempty"`
}

// SyncEntry is one record of an environment's sync history on the status page.
type SyncEntry struct {
	sync.SyncRecord
	Short string `json:"short"`
	// Age is how long ago the sync ended; Took its duration, both as text.
	Age  string `json:"age"`
	Took string `json:"took,omitempty"`
}

// detail adds to es what the state and the leading agent know beyond revision and health: the
// images of the applied revision (from the images the worker noted at its last renders: none
// on a follower, or before this agent's first render of that revision), the rollout's timeline,
// suspension, deferral and the sync history, newest first. Pending promotions are added by
// addPending, once every environment is known.
func (a *Agent) detail(ctx context.Context, es *EnvStatus, st *sync.State, env *environments.Environment, w *worker, now time.Time) {
	if w != nil {
		es.Images, _ = w.images.at(st.AppliedRevision)
	}
	var stages []environments.Stage
	if env != nil && env.Rollout != nil {
		stages = env.Rollout.Stages
	}
	if stages := timelineOf(st.Env, stages, st.Stage, st.Progress, now); stages != nil {
		rev := cmp.Or(st.Progress.Revision, st.Progress.HaltedRevision)
		es.Rollout = &RolloutStatus{Revision: rev, Short: short(rev), Stages: stages}
		if fullSHA.MatchString(rev) {
			if info, err := a.src.Commit(ctx, rev); err == nil {
				es.Rollout.Subject = info.Subject
			}
		}
	}
	es.Suspended, es.Deferred = st.Control.Suspended, st.Deferred
	es.History = historyEntries(st.History, now)
}

// timelineOf returns the stages of env's rollout with their state, or nil when no rollout is
// in progress or halted. stages are the environment's stages in ferry.yaml when known (the
// leader's); without them, or when they no longer match the progress, only the current stage
// (stage) is listed.
func timelineOf(env string, stages []environments.Stage, stage string, p sync.Progress, now time.Time) []StageStatus {
	if p.Revision == "" && p.Phase != sync.PhaseHalted {
		return nil
	}
	names := make([]string, 0, len(stages))
	for _, s := range stages {
		names = append(names, s.Name)
	}
	first := 0
	if len(names) != p.StageCount || p.StageIndex >= len(names) || names[p.StageIndex] != stage {
		names, first = []string{stage}, p.StageIndex
	}
	out := make([]StageStatus, 0, len(names))
	for i, name := range names {
		s := StageStatus{Name: name, State: "pending"}
		if len(stages) > 0 && first == 0 {
			s.Approval = stages[i].Approval == environments.ApprovalManual
		}
		switch k := first + i; {
		case k < p.StageIndex:
			s.State = "done"
		case k == p.StageIndex:
			s = current(env, s, p, now)
		}
		out = append(out, s)
	}
	return out
}

// current fills the state of the stage a rollout is at: its phase, soak progress, checks, halt
// reason, and the command that lets it go on.
func current(env string, s StageStatus, p sync.Progress, now time.Time) StageStatus {
	s.State = cmp.Or(p.Phase, "applying")
	s.Checks = p.DescribeChecks()
	switch {
	case p.Phase == sync.PhaseSoaking && !p.Since.IsZero():
		s.Soak = fmt.Sprintf("%s of %s", min(now.Sub(p.Since), p.Soak).Round(time.Second), p.Soak)
	case p.Phase == sync.PhaseHalted:
		s.Reason, s.Command = p.HaltReason, "ferry retry "+env
	case strings.Contains(p.Phase, "approv") || strings.HasPrefix(p.Phase, "wait"):
		s.Command = "ferry approve " + env
	}
	return s
}

// historyEntries returns history newest first, with ages relative to now.
func historyEntries(history []sync.SyncRecord, now time.Time) []SyncEntry {
	out := make([]SyncEntry, 0, len(history))
	for _, rec := range slices.Backward(history) {
		e := SyncEntry{SyncRecord: rec, Short: short(rec.Revision), Age: now.Sub(rec.At).Round(time.Second).String()}
		if rec.Duration > 0 {
			e.Took = rec.Duration.Round(10 * time.Millisecond).String()
		}
		out = append(out, e)
	}
	return out
}

// addPending sets, on each environment promoted from another, the images whose version differs
// from its source's (both as their applied revisions' renders say): what a promotion would
// change. only maps an environment to its promotion.images (empty: all).
func addPending(envs []EnvStatus, only map[string][]string) {
	byName := map[string]int{}
	for i, es := range envs {
		byName[es.Name] = i
	}
	for i := range envs {
		es := &envs[i]
		from, ok := byName[es.PromotedFrom]
		if es.PromotedFrom == "" || !ok || es.Images == nil || envs[from].Images == nil {
			continue
		}
		es.Pending = pendingImages(envs[from].Images, es.Images, only[es.Name])
	}
}
