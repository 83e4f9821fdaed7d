package sync

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// State is an environment's sync state, kept in the ConfigMap ferry-<env> in ferry's namespace
// (DESIGN.md): what was applied last, what was attempted last, and the inventory.
type State struct {
	Env string
	// AppliedRevision and AppliedDigest describe the last successful apply.
	AppliedRevision string
	AppliedDigest   string
	AppliedAt       time.Time
	// AttemptedRevision is the revision of the last sync attempt, successful or not.
	AttemptedRevision string
	AttemptedAt       time.Time
	// LastError is the last attempt's error, "" after a success.
	LastError string
	// Stage is the rollout stage in progress ("" when none), with the rollout's progress.
	Stage    string
	Progress Progress
	// Health is the last health seen: Healthy, Progressing, Degraded or Unknown.
	Health    string
	Inventory Inventory
	// Pending lists the objects a sync began to apply that Inventory does not list yet. An agent
	// killed mid-apply may have created them; the next successful sync records those still in
	// the overlay and prunes the others, so that none is left behind unowned.
	Pending Inventory
	// Control holds the operators' controls (suspend, approve, retry), History the last
	// MaxHistory syncs, and Deferred a new revision waiting for a deploy window (nil when none).
	Control  Control
	History  []SyncRecord
	Deferred *Deferral
	// Rebuilt counts the inventory entries rebuilt from the cluster because the ConfigMap was
	// missing (see Syncer.loadState); not stored.
	Rebuilt int

	// Err, set by List only, is why the ConfigMap could not be decoded (StateRecovery says what
	// to do); the state then has no inventory, and the other fields are those that could be read.
	Err error
	// RemovedAt, set by List only, is the revision at which the agent found the environment no
	// longer in ferry.yaml (RemovedAnnotation); "" while it is in ferry.yaml.
	RemovedAt string

	resourceVersion string
	// loaded is the ConfigMap as loaded: a save that conflicts only because an operator changed
	// the controls since is retried with the operator's controls (see Save).
	loaded *corev1.ConfigMap
}

// StateConfigMapName returns the name of env's state ConfigMap.
func StateConfigMapName(env string) string { return "ferry-" + env }

// ConfigMap keys. The inventory is JSON, gzipped and base64-encoded (in binaryData) once it is
// larger than inventoryCompressAbove bytes, so thousands of objects stay far below the 1 MiB
// object limit.
const (
	keyAppliedRevision   = "appliedRevision"
	keyAppliedDigest     = "appliedDigest"
	keyAppliedAt         = "appliedAt"
	keyAttemptedRevision = "attemptedRevision"
	keyAttemptedAt       = "attemptedAt"
	keyLastError         = "lastError"
	keyStage             = "stage"
	keyProgress          = "rollout.json"
	keyHealth            = "health"
	keyInventoryCount    = "inventoryCount"
	keyInventoryGzip     = "inventory.json.gz"
	keyInventoryJSON     = "inventory.json"
	keyPendingGzip       = "pending.json.gz"
	keyPendingJSON       = "pending.json"

	inventoryCompressAbove = 32 << 10
)

// StateLabel marks a state ConfigMap; its value is the environment's name. The agent's watch
// of the operators' controls selects the state ConfigMaps by it.
const StateLabel = "ferry.dev/state"

// StateStore reads and writes state ConfigMaps in one namespace.
type StateStore struct {
	client    kubernetes.Interface
	namespace string
}

// NewStateStore returns a StateStore for ConfigMaps in namespace.
func NewStateStore(client kubernetes.Interface, namespace string) *StateStore {
	return &StateStore{client: client, namespace: namespace}
}

// Load returns env's state; a missing ConfigMap is an empty State, not an error.
func (s *StateStore) Load(ctx context.Context, env string) (*State, error) {
	cm, err := s.client.CoreV1().ConfigMaps(s.namespace).Get(ctx, StateConfigMapName(env), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &State{Env: env}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state ConfigMap %s/%s: %w", s.namespace, StateConfigMapName(env), err)
	}
	st, err := decodeState(env, cm)
	if err != nil {
		return nil, fmt.Errorf("%w. %s", err, StateRecovery(s.namespace, env))
	}
	return st, nil
}

// List returns the state of every environment with a state ConfigMap in the store's namespace,
// sorted by environment name; a missing namespace lists none. ConfigMaps that carry the
// ferry.dev/state label but are not named ferry-<its value> are skipped, because Load would
// never read them. A ConfigMap that cannot be decoded (a corrupt inventory) is listed all the
// same, with State.Err set, so that one broken environment does not hide the others. The
// error is for the list itself, and names the namespace.
func (s *StateStore) List(ctx context.Context) ([]*State, error) {
	var states []*State
	// Pages bound the memory a response takes: a state ConfigMap holds up to ~1 MiB of inventory.
	opts := metav1.ListOptions{LabelSelector: StateLabel, Limit: 50}
	for {
		list, err := s.client.CoreV1().ConfigMaps(s.namespace).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("state ConfigMaps in %s: list: %w", s.namespace, err)
		}
		for i := range list.Items {
			cm := &list.Items[i]
			env := cm.Labels[StateLabel]
			if env == "" || cm.Name != StateConfigMapName(env) {
				continue
			}
			st, err := decodeState(env, cm)
			if err != nil {
				st = undecodable(env, cm, err)
			}
			st.RemovedAt = cm.Annotations[RemovedAnnotation]
			states = append(states, st)
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	sort.Slice(states, func(i, j int) bool { return states[i].Env < states[j].Env })
	return states, nil
}

// undecodable returns the state of a ConfigMap whose entries could not be decoded (err): every
// field but the inventory and pending list, and Err.
func undecodable(env string, cm *corev1.ConfigMap, err error) *State {
	rest := &corev1.ConfigMap{ObjectMeta: cm.ObjectMeta, Data: maps.Clone(cm.Data)}
	for _, k := range []string{keyInventoryJSON, keyPendingJSON} {
		delete(rest.Data, k)
	}
	st, _ := decodeState(env, rest) // without entries, decoding does not fail today
	if st == nil {
		st = &State{Env: env}
	}
	st.Err = err
	return st
}

func decodeState(env string, cm *corev1.ConfigMap) (*State, error) {
	st := &State{
		Env:               env,
		AppliedRevision:   cm.Data[keyAppliedRevision],
		AppliedDigest:     cm.Data[keyAppliedDigest],
		AttemptedRevision: cm.Data[keyAttemptedRevision],
		LastError:         cm.Data[keyLastError],
		Stage:             cm.Data[keyStage],
		Progress:          decodeProgress(cm.Data[keyProgress]),
		Health:            cm.Data[keyHealth],
		resourceVersion:   cm.ResourceVersion,
		loaded:            cm,
	}
	st.AppliedAt, _ = time.Parse(time.RFC3339, cm.Data[keyAppliedAt])
	st.AttemptedAt, _ = time.Parse(time.RFC3339, cm.Data[keyAttemptedAt])
	var err error
	if st.Inventory, err = getEntries(cm, keyInventoryJSON, keyInventoryGzip); err != nil {
		return nil, fmt.Errorf("state ConfigMap %s: inventory: %w", cm.Name, err)
	}
	if st.Pending, err = getEntries(cm, keyPendingJSON, keyPendingGzip); err != nil {
		return nil, fmt.Errorf("state ConfigMap %s: pending: %w", cm.Name, err)
	}
	for key, v := range map[string]any{keyControl: &st.Control, keyHistory: &st.History, keyDeferred: &st.Deferred} {
		if err := getJSON(cm.Data, key, v); err != nil {
			return nil, fmt.Errorf("state ConfigMap %s: %w", cm.Name, err)
		}
	}
	return st, nil
}

// getEntries decodes the entries stored under jsonKey in Data or gzipped under gzKey in
// BinaryData (nil when neither is there).
func getEntries(cm *corev1.ConfigMap, jsonKey, gzKey string) (Inventory, error) {
	raw := []byte(cm.Data[jsonKey])
	if gz, ok := cm.BinaryData[gzKey]; ok {
		r, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return nil, err
		}
		if raw, err = io.ReadAll(io.LimitReader(r, 64<<20)); err != nil {
			return nil, err
		}
	}
	if len(raw) == 0 {
		return nil, nil
	}
	var inv Inventory
	if err := json.Unmarshal(raw, &inv); err != nil {
		return nil, err
	}
	return inv, nil
}

// Save writes st, creating the ConfigMap (and the namespace) when missing. It fails with a
// conflict when the ConfigMap changed since Load, so two writers cannot lose each other's work,
// with one exception: when only the operators' controls changed (`ferry approve`, `suspend`,
// `resume`, `retry` wrote them meanwhile), it takes those controls and saves again, since st
// never means to change them (operators write them through Update, which keeps its own).
func (s *StateStore) Save(ctx context.Context, st *State) error {
	err := s.save(ctx, st)
	for range 3 {
		if !apierrors.IsConflict(err) {
			return err
		}
		if ok, ferr := s.takeControl(ctx, st); ferr != nil || !ok {
			return err
		}
		err = s.save(ctx, st)
	}
	return err
}

// takeControl reports whether env's ConfigMap differs from the version st was loaded from only
// in its controls, and then moves st onto the current version with the current controls.
func (s *StateStore) takeControl(ctx context.Context, st *State) (bool, error) {
	if st.loaded == nil {
		return false, nil
	}
	cm, err := s.client.CoreV1().ConfigMaps(s.namespace).Get(ctx, StateConfigMapName(st.Env), metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	if !onlyControlChanged(st.loaded, cm) {
		return false, nil
	}
	var control Control
	if err := getJSON(cm.Data, keyControl, &control); err != nil {
		return false, err
	}
	st.Control, st.resourceVersion, st.loaded = control, cm.ResourceVersion, cm
	return true, nil
}

// onlyControlChanged reports whether now differs from before in the control key only.
func onlyControlChanged(before, now *corev1.ConfigMap) bool {
	if !maps.EqualFunc(before.BinaryData, now.BinaryData, bytes.Equal) || !maps.Equal(before.Annotations, now.Annotations) {
		return false
	}
	b, n := maps.Clone(before.Data), maps.Clone(now.Data)
	delete(b, keyControl)
	delete(n, keyControl)
	return maps.Equal(b, n)
}

func (s *StateStore) save(ctx context.Context, st *State) error {
	cm, err := encodeState(st)
	if err != nil {
		return err
	}
	cm.Namespace = s.namespace
	cms := s.client.CoreV1().ConfigMaps(s.namespace)
	var saved *corev1.ConfigMap
	if st.resourceVersion == "" {
		if err := s.ensureNamespace(ctx); err != nil {
			return err
		}
		saved, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: FieldManager})
	} else {
		cm.ResourceVersion = st.resourceVersion
		saved, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: FieldManager})
	}
	if err != nil {
		return fmt.Errorf("state ConfigMap %s/%s: save: %w", s.namespace, cm.Name, err)
	}
	st.resourceVersion, st.loaded = saved.ResourceVersion, saved
	return nil
}

// Delete removes env's state ConfigMap; one already gone is not an error.
func (s *StateStore) Delete(ctx context.Context, env string) error {
	err := s.client.CoreV1().ConfigMaps(s.namespace).Delete(ctx, StateConfigMapName(env), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("state ConfigMap %s/%s: delete: %w", s.namespace, StateConfigMapName(env), err)
	}
	return nil
}

func (s *StateStore) ensureNamespace(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.namespace}}
	_, err := s.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: create: %w", s.namespace, err)
	}
	return nil
}

func encodeState(st *State) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:   StateConfigMapName(st.Env),
			Labels: map[string]string{"app.kubernetes.io/managed-by": "ferry", StateLabel: st.Env},
		},
		Data: map[string]string{
			keyAppliedRevision:   st.AppliedRevision,
			keyAppliedDigest:     st.AppliedDigest,
			keyAppliedAt:         formatTime(st.AppliedAt),
			keyAttemptedRevision: st.AttemptedRevision,
			keyAttemptedAt:       formatTime(st.AttemptedAt),
			keyLastError:         st.LastError,
			keyStage:             st.Stage,
			keyProgress:          encodeProgress(st.Progress),
			keyHealth:            st.Health,
			keyInventoryCount:    strconv.Itoa(len(st.Inventory)),
		},
	}
	if err := putEntries(cm, keyInventoryJSON, keyInventoryGzip, st.Inventory); err != nil {
		return nil, fmt.Errorf("state of %s: inventory: %w", st.Env, err)
	}
	if len(st.Pending) > 0 {
		if err := putEntries(cm, keyPendingJSON, keyPendingGzip, st.Pending); err != nil {
			return nil, fmt.Errorf("state of %s: pending: %w", st.Env, err)
		}
	}
	for key, v := range map[string]any{keyControl: st.Control, keyHistory: st.History, keyDeferred: st.Deferred} {
		if err := putJSON(cm.Data, key, v); err != nil {
			return nil, fmt.Errorf("state of %s: %w", st.Env, err)
		}
	}
	return cm, nil
}

// putEntries stores inv as JSON under jsonKey in Data, or gzipped under gzKey in BinaryData
// once the JSON is larger than inventoryCompressAbove.
func putEntries(cm *corev1.ConfigMap, jsonKey, gzKey string, inv Inventory) error {
	data, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	if len(data) <= inventoryCompressAbove {
		cm.Data[jsonKey] = string(data)
		return nil
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(data)
	if err := w.Close(); err != nil {
		return fmt.Errorf("compress: %w", err)
	}
	if cm.BinaryData == nil {
		cm.BinaryData = map[string][]byte{}
	}
	cm.BinaryData[gzKey] = gz.Bytes()
	return nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
