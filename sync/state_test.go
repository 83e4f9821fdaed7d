package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
)

// testInventory returns an inventory of n ConfigMaps in namespace app, with realistic hashes.
func testInventory(n int) Inventory {
	inv := make(Inventory, n)
	for i := range inv {
		name := fmt.Sprintf("config-%05d", i)
		sum := sha256.Sum256([]byte(name))
		inv[i] = Entry{
			ObjectID: ObjectID{Kind: "ConfigMap", Namespace: "app", Name: name},
			Version:  "v1", Hash: hex.EncodeToString(sum[:]),
		}
	}
	inv.sort()
	return inv
}

// TestStateRoundTrip encodes states into ConfigMaps and decodes them back. It needs no
// cluster: encodeState and decodeState are pure.
func TestStateRoundTrip(t *testing.T) {
	// The ConfigMap keeps times in RFC 3339 at second precision; the zone does not matter.
	applied := time.Date(2025, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600))
	attempted := applied.Add(90 * time.Second)
	for _, tc := range []struct {
		name    string
		state   State
		gzipped bool
	}{
		{name: "never synced", state: State{Env: "empty"}},
		{
			name: "small inventory as plain JSON",
			state: State{
				Env: "staging", AppliedRevision: "worktree", AppliedDigest: "sha256:abc", AppliedAt: applied,
				AttemptedRevision: "worktree", AttemptedAt: applied, Health: Healthy, Inventory: testInventory(3),
			},
		},
		{
			name: "objects pending after an interrupted sync",
			state: State{
				Env: "staging", AppliedRevision: "3f2a1c9e0b", AttemptedRevision: "77aa00b1c2", AttemptedAt: attempted,
				Inventory: testInventory(3), Pending: testInventory(5)[3:],
			},
		},
		{
			name: "large inventory gzipped",
			state: State{
				Env: "production", AppliedRevision: "3f2a1c9e0b", AppliedDigest: "sha256:def", AppliedAt: applied,
				AttemptedRevision: "77aa00b1c2", AttemptedAt: attempted, Stage: "canary", Health: Degraded,
				LastError: "apply: Deployment production/web: create: forbidden\nsecond line",
				Inventory: testInventory(3000),
			},
			gzipped: true,
		},
		{
			name: "operators' controls, history and a deferral",
			state: State{
				Env: "production", AppliedRevision: "3f2a1c9e0b", AppliedAt: applied, Inventory: testInventory(2),
				Control: Control{
					Suspended: &Request{By: "alice", At: attempted.UTC(), Reason: "incident 42"},
					Approval:  &Request{By: "bob", At: attempted.UTC(), Revision: "77aa00b1c2", Stage: "canary"},
				},
				History: []SyncRecord{{Revision: "3f2a1c9e0b", Subject: "release 1.1.0", Trigger: "webhook", Result: "applied",
					Duration: 1420 * time.Millisecond, At: applied.UTC()}},
				Deferred: &Deferral{Revision: "77aa00b1c2", Window: `deny "0 17 * * FRI" for 64h0m0s`, Until: attempted.UTC(), Since: applied.UTC()},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm, err := encodeState(&tc.state)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := cm.Name, "ferry-"+tc.state.Env; got != want {
				t.Errorf("ConfigMap name = %q, want %q", got, want)
			}
			if got := cm.Labels[StateLabel]; got != tc.state.Env {
				t.Errorf("label %s = %q, want %q", StateLabel, got, tc.state.Env)
			}
			if got, want := cm.Data[keyInventoryCount], fmt.Sprint(len(tc.state.Inventory)); got != want {
				t.Errorf("%s = %q, want %q", keyInventoryCount, got, want)
			}
			gz, hasGzip := cm.BinaryData[keyInventoryGzip]
			plain, hasPlain := cm.Data[keyInventoryJSON]
			if tc.gzipped {
				if !hasGzip || hasPlain {
					t.Fatalf("inventory of %d entries: binaryData %s present=%v, data %s present=%v; want only the gzipped one",
						len(tc.state.Inventory), keyInventoryGzip, hasGzip, keyInventoryJSON, hasPlain)
				}
				// Far below the 1 MiB object limit, and much smaller than the JSON.
				if len(gz) > 256<<10 {
					t.Errorf("gzipped inventory of %d entries is %d bytes", len(tc.state.Inventory), len(gz))
				}
			} else {
				if hasGzip || !hasPlain {
					t.Fatalf("inventory of %d entries: binaryData %s present=%v, data %s present=%v; want only the plain JSON",
						len(tc.state.Inventory), keyInventoryGzip, hasGzip, keyInventoryJSON, hasPlain)
				}
				if !json.Valid([]byte(plain)) {
					t.Errorf("data %s is not JSON: %s", keyInventoryJSON, plain)
				}
			}

			cm.ResourceVersion = "42"
			got, err := decodeState(tc.state.Env, cm)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tc.state, got, cmpopts.IgnoreUnexported(State{})); diff != "" {
				t.Errorf("decoded state (-want +got):\n%s", diff)
			}
			if got.resourceVersion != "42" {
				t.Errorf("decoded resourceVersion = %q, want 42 (Save needs it to detect conflicts)", got.resourceVersion)
			}
		})
	}
}

// TestStateDecodeCorruptInventory checks that a damaged inventory is an error naming the
// ConfigMap, not an empty inventory, which would make the next sync forget what to prune.
func TestStateDecodeCorruptInventory(t *testing.T) {
	for name, cm := range map[string]*corev1.ConfigMap{
		"bad gzip": {
			ObjectMeta: metav1.ObjectMeta{Name: "ferry-staging"},
			BinaryData: map[string][]byte{keyInventoryGzip: []byte("not gzip")},
		},
		"bad JSON": {
			ObjectMeta: metav1.ObjectMeta{Name: "ferry-staging"},
			Data:       map[string]string{keyInventoryJSON: "[{"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeState("staging", cm)
			if err == nil || !strings.Contains(err.Error(), "state ConfigMap ferry-staging: inventory:") {
				t.Errorf("decodeState = %v, want an error naming the ConfigMap and its inventory", err)
			}
		})
	}
}

// TestStateListKeepsUndecodable: of three state ConfigMaps, one with an inventory that is not
// JSON and one marked removed, List returns all three: the broken one with its error and the
// fields it could read, the marked one with the revision of the mark, which ClearRemoved lifts.
func TestStateListKeepsUndecodable(t *testing.T) {
	kube, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := "ferry-list-" + strings.ToLower(rand.String(5))
	store := NewStateStore(kube, ns)
	rev := "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345"
	for _, env := range []string{"a", "b", "c"} {
		if err := store.Save(t.Context(), &State{Env: env, AppliedRevision: rev, Health: Healthy, Inventory: testInventory(2)}); err != nil {
			t.Fatal(err)
		}
	}
	cms := kube.CoreV1().ConfigMaps(ns)
	cm, err := cms.Get(t.Context(), "ferry-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data[keyInventoryJSON] = "[{"
	if _, err := cms.Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkRemoved(t.Context(), "c", "77aa00b"); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkRemoved(t.Context(), "missing", "77aa00b"); err != nil {
		t.Errorf("MarkRemoved of an environment without state: %v, want nil", err)
	}

	list := func() map[string]*State {
		t.Helper()
		states, err := store.List(t.Context())
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		byEnv := map[string]*State{}
		for _, st := range states {
			byEnv[st.Env] = st
		}
		return byEnv
	}
	got := list()
	if len(got) != 3 {
		t.Fatalf("List returned %d states, want a, b and c", len(got))
	}
	if a := got["a"]; a.Err != nil || len(a.Inventory) != 2 || a.RemovedAt != "" {
		t.Errorf("a = %+v, want it whole", a)
	}
	if b := got["b"]; b.Err == nil || !strings.Contains(b.Err.Error(), "state ConfigMap ferry-b: inventory:") ||
		b.AppliedRevision != rev || b.Health != Healthy || b.Inventory != nil {
		t.Errorf("b = %+v, want the decode error, the revision and health, no inventory", b)
	}
	if c := got["c"]; c.Err != nil || c.RemovedAt != "77aa00b" {
		t.Errorf("c = %+v, want it marked removed at 77aa00b", c)
	}
	if err := store.ClearRemoved(t.Context(), "c"); err != nil {
		t.Fatal(err)
	}
	if c := list()["c"]; c.RemovedAt != "" || len(c.Inventory) != 2 {
		t.Errorf("c after ClearRemoved = %+v, want it unmarked and whole", c)
	}
}

// TestLoadOfCorruptStateSaysHowToRecover: the agent's sync meets the broken state through
// Load; its error names the ConfigMap and the documented recovery.
func TestLoadOfCorruptStateSaysHowToRecover(t *testing.T) {
	f := newFixture(t, false)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: StateConfigMapName(f.env.Name)},
		Data: map[string]string{keyInventoryJSON: "[{"}}
	if err := f.syncer.state.ensureNamespace(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.kube.CoreV1().ConfigMaps("ferry-system").Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := f.syncer.state.Load(t.Context(), f.env.Name)
	want := "kubectl -n ferry-system delete configmap " + StateConfigMapName(f.env.Name)
	if err == nil || !strings.Contains(err.Error(), "inventory:") || !strings.Contains(err.Error(), want) {
		t.Errorf("Load = %v, want the decode error and %q", err, want)
	}
}

func TestAddHistoryKeepsTheLast(t *testing.T) {
	var st State
	for i := range MaxHistory + 3 {
		st.AddHistory(SyncRecord{Revision: fmt.Sprint(i)})
	}
	if len(st.History) != MaxHistory || st.History[0].Revision != "3" || st.History[MaxHistory-1].Revision != fmt.Sprint(MaxHistory+2) {
		t.Errorf("history = %+v, want the last %d records", st.History, MaxHistory)
	}
}

// TestUpdateKeepsConcurrentWrites has an operator's control and the agent's save race on one
// state ConfigMap: Update tries again from a fresh load, so neither write is lost.
func TestUpdateKeepsConcurrentWrites(t *testing.T) {
	kube, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	store := NewStateStore(kube, "ferry-update-"+strings.ToLower(rand.String(5)))
	if err := store.Save(t.Context(), &State{Env: "race", AppliedRevision: "a"}); err != nil {
		t.Fatal(err)
	}
	stale, err := store.Load(t.Context(), "race")
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	err = store.Update(t.Context(), "race", func(st *State) error {
		calls++
		if calls == 1 { // another writer saves in between
			stale.Health = Healthy
			if err := store.Save(t.Context(), stale); err != nil {
				t.Fatal(err)
			}
		}
		st.Control.Suspended = &Request{By: "alice", At: time.Now().UTC().Truncate(time.Second), Reason: "incident"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.Load(t.Context(), "race")
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || got.Health != Healthy || got.Control.Suspended == nil || got.Control.Suspended.By != "alice" {
		t.Errorf("after a conflicting save: %d calls, health %q, suspended %+v; want 2 calls and both writes kept", calls, got.Health, got.Control.Suspended)
	}
}

// TestSaveTakesTheOperatorsControls has the agent save a state it loaded before an operator
// suspended the environment: the save goes through and keeps the suspension. A save that
// conflicts on anything else still fails.
func TestSaveTakesTheOperatorsControls(t *testing.T) {
	kube, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	store := NewStateStore(kube, "ferry-control-"+strings.ToLower(rand.String(5)))
	if err := store.Save(t.Context(), &State{Env: "p", AppliedRevision: "a"}); err != nil {
		t.Fatal(err)
	}
	agentCopy, err := store.Load(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Update(t.Context(), "p", func(st *State) error {
		st.Control.Suspended = &Request{By: "alice", At: time.Now().UTC().Truncate(time.Second)}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	agentCopy.AppliedRevision = "b"
	if err := store.Save(t.Context(), agentCopy); err != nil {
		t.Fatalf("the agent's save after an operator's control: %v", err)
	}
	got, err := store.Load(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	if got.AppliedRevision != "b" || got.Control.Suspended == nil || got.Control.Suspended.By != "alice" {
		t.Errorf("state = revision %q, suspended %+v; want b and alice's suspension", got.AppliedRevision, got.Control.Suspended)
	}

	other, err := store.Load(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	got.Health = Healthy
	if err := store.Save(t.Context(), got); err != nil {
		t.Fatal(err)
	}
	other.Health = Degraded
	if err := store.Save(t.Context(), other); err == nil || !strings.Contains(err.Error(), "the object has been modified") {
		t.Errorf("a save over another writer's health: %v, want a conflict", err)
	}
}
