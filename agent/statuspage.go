package agent

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"time"

	"github.com/ferry-cd/ferry/internal/repoview"
	"github.com/ferry-cd/ferry/sync"
)

//go:embed static/index.html
var statusPage []byte

// EnvStatus is one environment on the status page and in /api/status.
type EnvStatus struct {
	Name           string    `json:"name"`
	Namespace      string    `json:"namespace"`
	PromotedFrom   string    `json:"promotedFrom,omitempty"`
	Revision       string    `json:"revision"`
	Short          string    `json:"short"`
	Subject        string    `json:"subject,omitempty"`
	Stage          string    `json:"stage,omitempty"`
	Progress       string    `json:"progress,omitempty"`
	Health         string    `json:"health"`
	LastSync       time.Time `json:"lastSync,omitzero"`
	LastSyncAge    string    `json:"lastSyncAge,omitempty"`
	LastError      string    `json:"lastError,omitempty"`
	PromotionPR    string    `json:"promotionPR,omitempty"`
	AppliedObjects int       `json:"objects"`
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
// this agent knows the pipeline (it leads), else by name. Secrets are never part of it.
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
	rep := &StatusReport{Repository: repoview.Redact(a.opts.Source.URL), Branch: a.opts.Source.Branch, Leading: a.Leading(), Generated: time.Now()}
	for _, name := range a.statusOrder(states) {
		if st := byName[name]; st != nil && a.selected(name) {
			rep.Environments = append(rep.Environments, a.envStatus(r, st))
		}
	}
	return rep, nil
}

// statusOrder returns environment names in promotion order (sources first) when known.
func (a *Agent) statusOrder(states []*sync.State) []string {
	if t := a.currentTerm(); t != nil {
		t.mu.Lock()
		p := t.pipeline
		t.mu.Unlock()
		if p != nil {
			return p.PromotionOrder()
		}
	}
	names := make([]string, 0, len(states))
	for _, st := range states {
		names = append(names, st.Env)
	}
	return names
}

func (a *Agent) envStatus(r *http.Request, st *sync.State) EnvStatus {
	now := time.Now()
	es := EnvStatus{
		Name: st.Env, Revision: st.AppliedRevision, Short: short(st.AppliedRevision), Stage: st.Stage,
		Health: st.Health, LastSync: st.AttemptedAt, LastError: st.LastError, AppliedObjects: len(st.Inventory),
	}
	if es.Health == "" {
		es.Health = sync.Unknown
	}
	if st.Progress.Revision != "" || st.Progress.Phase == sync.PhaseHalted {
		es.Progress = st.Progress.Describe(st.Stage, now)
	}
	if !st.AttemptedAt.IsZero() {
		es.LastSyncAge = now.Sub(st.AttemptedAt).Round(time.Second).String()
	}
	if fullSHA.MatchString(st.AppliedRevision) {
		if info, err := a.src.Commit(r.Context(), st.AppliedRevision); err == nil {
			es.Subject = info.Subject
		}
	}
	if t := a.currentTerm(); t != nil {
		t.mu.Lock()
		if p := t.pipeline; p != nil {
			if e, ok := p.Environment(st.Env); ok {
				es.Namespace = e.Namespace
				if e.Promotion != nil {
					es.PromotedFrom = e.Promotion.From
				}
			}
		}
		es.PromotionPR = t.prs[st.Env]
		t.mu.Unlock()
	}
	return es
}
