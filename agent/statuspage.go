package agent

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/redact"
	"github.com/ferry-cd/ferry/sync"
)

//go:embed static/index.html
var statusPage []byte

// EnvStatus is one environment on the status page and in /api/status.
type EnvStatus struct {
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	PromotedFrom string `json:"promotedFrom,omitempty"`
	Revision     string `json:"revision"`
	Short        string `json:"short"`
	Subject      string `json:"subject,omitempty"`
	Stage        string `json:"stage,omitempty"`
	Progress     string `json:"progress,omitempty"`
	// Checks describes each analysis check of the current (or halted) stage as last evaluated
	// ("error-rate=0.012 pass"), and Analysis holds their state.
	Checks   string            `json:"checks,omitempty"`
	Analysis []sync.CheckState `json:"analysis,omitempty"`
	// Approval is a rollout's wait for `ferry approve` (with the command to run), or who
	// approved its stage and when; nil when there is neither.
	Approval       *sync.Approval `json:"approval,omitempty"`
	Health         string         `json:"health"`
	LastSync       time.Time      `json:"lastSync,omitzero"`
	LastSyncAge    string         `json:"lastSyncAge,omitempty"`
	LastError      string         `json:"lastError,omitempty"`
	PromotionPR    string         `json:"promotionPR,omitempty"`
	AppliedObjects int            `json:"objects"`
	// StateError is why the state ConfigMap cannot be read; the fields it would fill are then
	// empty, and Action says how to recover.
	StateError string `json:"stateError,omitempty"`
	// Removed is true for an environment that has a state ConfigMap but is not in ferry.yaml at
	// the branch head (RemovedAt, when known): it is no longer synced, and Action says what to do.
	Removed   bool   `json:"removed,omitempty"`
	RemovedAt string `json:"removedAt,omitempty"`
	Action    string `json:"action,omitempty"`

	// Images is what the environment runs: the images of its applied revision's render (see
	// detail). Pending lists those whose version differs in PromotedFrom: what a promotion
	// would change.
	Images  []Image       `json:"images,omitempty"`
	Pending []ImageChange `json:"pending,omitempty"`
	// Rollout is the rollout in progress or halted, stage by stage (nil when none).
	Rollout *RolloutStatus `json:"rollout,omitempty"`
	// Suspended is the operator's `ferry suspend` (who, when, why) while it holds, and
	// Suspension says it as `ferry status` does: "suspended by alice 5m ago: incident 42".
	// Deferred is a new revision waiting for a deploy window.
	Suspended  *sync.Request  `json:"suspended,omitempty"`
	Suspension string         `json:"suspension,omitempty"`
	Deferred   *sync.Deferral `json:"deferred,omitempty"`
	// History is the last syncs that did something, newest first.
	History []SyncEntry `json:"history,omitempty"`
}

// StatusReport is what /api/status serves: the environments in promotion order.
type StatusReport struct {
	Repository   string      `json:"repository"`
	Branch       string      `json:"branch"`
	Leading      bool        `json:"leading"`
	Environments []EnvStatus `json:"environments"`
	Generated    time.Time   `json:"generated"`
}

func (a *Agent) handleStatusPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline' 'self'")
	_, _ = w.Write(statusPage)
}

func (a *Agent) handleAPIStatus(w http.ResponseWriter, r *http.Request) {
	rep, err := a.Status(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}

// Status collects the report from the state ConfigMaps, in the pipeline's promotion order when
// this agent knows the pipeline (it leads), else by name; environments that left ferry.yaml
// come last. A state ConfigMap that cannot be decoded is reported with its error, beside the
// others. Secrets are never part of it. The error is for listing the state ConfigMaps.
func (a *Agent) Status(r *http.Request) (*StatusReport, error) {
	ctx := r.Context()
	states, err := sync.NewStateStore(a.kube, a.opts.Namespace).List(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*sync.State{}
	for _, st := range states {
		byName[st.Env] = st
	}
	rep := &StatusReport{Repository: redact.URL(a.opts.Source.URL), Branch: a.opts.Source.Branch, Leading: a.Leading(), Generated: time.Now()}
	only := map[string][]string{}
	for _, name := range a.statusOrder(states) {
		if st := byName[name]; st != nil && a.selected(name) {
			es, images := a.envStatus(r, st)
			rep.Environments = append(rep.Environments, es)
			only[name] = images
		}
	}
	addPending(rep.Environments, only)
	return rep, nil
}

// statusOrder returns environment names in promotion order (sources first) when known, then
// those of states whose environment is not in the pipeline, by name.
func (a *Agent) statusOrder(states []*sync.State) []string {
	p, _ := a.knownPipeline()
	if p == nil {
		names := make([]string, 0, len(states))
		for _, st := range states {
			names = append(names, st.Env)
		}
		return names
	}
	names := p.PromotionOrder()
	for _, st := range states {
		if _, in := p.Environment(st.Env); !in {
			names = append(names, st.Env)
		}
	}
	return names
}

// knownPipeline returns ferry.yaml at the branch head and its revision while this agent leads,
// else nil.
func (a *Agent) knownPipeline() (*environments.Pipeline, string) {
	t := a.currentTerm()
	if t == nil {
		return nil, ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pipeline, t.rev
}

// removedAt reports whether st's environment left ferry.yaml, and at which revision when known:
// the leader knows ferry.yaml at the branch head; a follower has only the mark the leader left
// on the state ConfigMap.
func (a *Agent) removedAt(st *sync.State) (bool, string) {
	p, rev := a.knownPipeline()
	if p == nil {
		return st.RemovedAt != "", st.RemovedAt
	}
	if _, in := p.Environment(st.Env); in {
		return false, ""
	}
	if st.RemovedAt != "" {
		return true, st.RemovedAt
	}
	return true, rev
}

// envStatus returns st's environment as the status page shows it, and its promotion.images.
func (a *Agent) envStatus(r *http.Request, st *sync.State) (EnvStatus, []string) {
	now := time.Now()
	es := EnvStatus{
		Name: st.Env, Revision: st.AppliedRevision, Short: short(st.AppliedRevision), Stage: st.Stage,
		Health: st.Health, LastSync: st.AttemptedAt, LastError: st.LastError, AppliedObjects: len(st.Inventory),
	}
	if es.Health == "" {
		es.Health = sync.Unknown
	}
	if st.Err != nil {
		es.StateError = st.Err.Error()
	}
	es.Removed, es.RemovedAt = a.removedAt(st)
	es.Action = strings.Join(sync.Advice(a.opts.Namespace, st, es.Removed), " ")
	if es.Removed {
		es.Action = removedNote(es.RemovedAt) + es.Action
	}
	if st.Progress.Revision != "" || st.Progress.Phase == sync.PhaseHalted {
		es.Progress = st.Progress.Describe(st.Stage, now)
		es.Checks, es.Analysis = st.Progress.DescribeChecks(), st.Progress.Analysis
	}
	es.Approval = sync.ApprovalOf(st)
	es.Suspension = st.Control.DescribeSuspension(now)
	if !st.AttemptedAt.IsZero() {
		es.LastSyncAge = now.Sub(st.AttemptedAt).Round(time.Second).String()
	}
	if fullSHA.MatchString(st.AppliedRevision) {
		if info, err := a.src.Commit(r.Context(), st.AppliedRevision); err == nil {
			es.Subject = info.Subject
		}
	}
	var env *environments.Environment
	var w *worker
	var promoted []string
	if t := a.currentTerm(); t != nil {
		t.mu.Lock()
		if p := t.pipeline; p != nil {
			if e, ok := p.Environment(st.Env); ok {
				env, es.Namespace = e, e.Namespace
				if e.Promotion != nil {
					es.PromotedFrom, promoted = e.Promotion.From, e.Promotion.Images
				}
			}
		}
		es.PromotionPR, w = t.prs[st.Env], t.workers[st.Env]
		t.mu.Unlock()
	}
	a.detail(r.Context(), &es, st, env, w, now)
	return es, promoted
}

// removedNote says that an environment left ferry.yaml, at revision when known.
func removedNote(revision string) string {
	if revision == "" {
		return "Not in ferry.yaml. "
	}
	return "Not in ferry.yaml at " + short(revision) + ". "
}
