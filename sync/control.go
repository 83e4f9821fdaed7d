package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"k8s.io/client-go/util/retry"
)

// Control holds the operators' controls of an environment: what `ferry approve`, `ferry
// suspend`, `ferry resume` and `ferry retry` write into the state ConfigMap with the caller's
// own credentials (RBAC decides who may), and the agent reads. Each records who and when.
type Control struct {
	// Suspended, when set, stops the agent from syncing the environment and correcting its
	// drift until `ferry resume` clears it.
	Suspended *Request `json:"suspended,omitempty"`
	// Approval lets the rollout of Approval.Revision go on past its stage Approval.Stage, which
	// waits for it (approval: manual).
	Approval *Request `json:"approval,omitempty"`
	// Retry asks the agent to roll out Retry.Revision again although its rollout halted.
	Retry *Request `json:"retry,omitempty"`
	// Resumed records the last `ferry resume`, so that the agent syncs at once.
	Resumed *Request `json:"resumed,omitempty"`
}

// Request is one operator's control: who (the Kubernetes user, from a SelfSubjectReview), when,
// and what it applies to.
type Request struct {
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason,omitempty"`
	Revision string    `json:"revision,omitempty"`
	Stage    string    `json:"stage,omitempty"`
}

// SyncRecord is one sync attempt in an environment's history, as the status page and
// `ferry status --history` show it.
type SyncRecord struct {
	Revision string        `json:"revision"`
	Subject  string        `json:"subject,omitempty"`
	Trigger  string        `json:"trigger,omitempty"`
	Stage    string        `json:"stage,omitempty"`
	Result   string        `json:"result"` // applied, unchanged, failed, halted, deferred
	Duration time.Duration `json:"duration,omitempty"`
	At       time.Time     `json:"at"`
	Message  string        `json:"message,omitempty"`
}

// MaxHistory bounds State.History: the state ConfigMap must stay small, and ten syncs are what
// a person choosing a revision to revert to looks at.
const MaxHistory = 10

// AddHistory appends rec to st.History, keeping the last MaxHistory records.
func (st *State) AddHistory(rec SyncRecord) {
	st.History = append(st.History, rec)
	if n := len(st.History); n > MaxHistory {
		st.History = append([]SyncRecord(nil), st.History[n-MaxHistory:]...)
	}
}

// Deferral says that a new revision waits for a deploy window.
type Deferral struct {
	Revision string    `json:"revision"`
	Window   string    `json:"window"` // the window holding it back, e.g. deny "0 17 * * FRI" for 64h0m0s
	Until    time.Time `json:"until"`
	Since    time.Time `json:"since"`
}

// Update loads env's state, lets change modify it, and saves it, trying again from a fresh
// load when another writer (the agent, or another operator) saved it in between. change may
// return an error to abort without saving. Operators' commands change Control only through
// Update; the agent never changes Control (Save relies on that).
func (s *StateStore) Update(ctx context.Context, env string, change func(*State) error) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		st, err := s.Load(ctx, env)
		if err != nil {
			return err
		}
		if err := change(st); err != nil {
			return err
		}
		return s.save(ctx, st) // never Save: it would take another operator's controls over these
	})
}

// ConfigMap keys of the fields in this file.
const (
	keyControl  = "control.json"
	keyHistory  = "history.json"
	keyDeferred = "deferred.json"
)

// putJSON stores v as JSON under key, or nothing when v is its zero value.
func putJSON(data map[string]string, key string, v any) error {
	if reflect.ValueOf(v).IsZero() {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	data[key] = string(b)
	return nil
}

// getJSON decodes the JSON under key into v; a missing key leaves v as it is.
func getJSON(data map[string]string, key string, v any) error {
	raw, ok := data[key]
	if !ok || raw == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(raw), v); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}
