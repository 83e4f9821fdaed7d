package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
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

// DescribeSuspension says who suspended the environment, how long ago and why, as `ferry status`
// and the status page show it: "suspended by alice 5m ago: incident 42"; "" when it is not.
func (c Control) DescribeSuspension(now time.Time) string {
	r := c.Suspended
	if r == nil {
		return ""
	}
	s := "suspended by " + r.By + " " + ago(now, r.At)
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}

// ago formats how long before now t was, in its largest whole unit: "40s ago", "5m ago",
// "3h ago", "2d ago".
func ago(now, t time.Time) string {
	d := max(now.Sub(t), 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
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

// ControlOf returns the environment whose state ConfigMap cm is, and the controls it holds. ok
// is false for a ConfigMap that is not a state ConfigMap (no StateLabel, or not named
// ferry-<its value>: Load would never read it). The error names the ConfigMap and says why its
// controls cannot be decoded.
func ControlOf(cm *corev1.ConfigMap) (env string, c Control, ok bool, err error) {
	env = cm.Labels[StateLabel]
	if env == "" || cm.Name != StateConfigMapName(env) {
		return "", Control{}, false, nil
	}
	if err := getJSON(cm.Data, keyControl, &c); err != nil {
		return env, Control{}, true, fmt.Errorf("state ConfigMap %s: %w", cm.Name, err)
	}
	return env, c, true, nil
}

// ControlOnly returns a copy of obj, when it is a ConfigMap, that keeps only what ControlOf
// reads: name, namespace, labels, resource version and the controls. A watch that caches state
// ConfigMaps for their controls uses it (a client-go transform) so as not to hold their
// inventories. Any other object is returned as it is; the error is always nil.
func ControlOnly(obj any) (any, error) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return obj, nil
	}
	trimmed := &corev1.ConfigMap{}
	trimmed.Name, trimmed.Namespace, trimmed.Labels = cm.Name, cm.Namespace, cm.Labels
	trimmed.ResourceVersion, trimmed.UID = cm.ResourceVersion, cm.UID
	if raw, ok := cm.Data[keyControl]; ok {
		trimmed.Data = map[string]string{keyControl: raw}
	}
	return trimmed, nil
}

// Stored reports whether st was loaded from a state ConfigMap (or saved to one): false for the
// empty State that Load returns when the ConfigMap is missing.
func (st *State) Stored() bool { return st.resourceVersion != "" }

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
