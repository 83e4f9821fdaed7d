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
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm, err := encodeState(&tc.state)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := cm.Name, "ferry-"+tc.state.Env; got != want {
				t.Errorf("ConfigMap name = %q, want %q", got, want)
			}
			if got := cm.Labels[stateLabel]; got != tc.state.Env {
				t.Errorf("label %s = %q, want %q", stateLabel, got, tc.state.Env)
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
