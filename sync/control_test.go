package sync

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestDescribeSuspension(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		c    Control
		want string
	}{
		{"none", Control{}, ""},
		{"seconds, no reason", Control{Suspended: &Request{By: "alice", At: now.Add(-40 * time.Second)}}, "suspended by alice 40s ago"},
		{"minutes", Control{Suspended: &Request{By: "alice", At: now.Add(-5*time.Minute - 10*time.Second), Reason: "incident 42"}}, "suspended by alice 5m ago: incident 42"},
		{"hours", Control{Suspended: &Request{By: "bob", At: now.Add(-3 * time.Hour)}}, "suspended by bob 3h ago"},
		{"days", Control{Suspended: &Request{By: "bob", At: now.Add(-50 * time.Hour)}}, "suspended by bob 2d ago"},
		{"clock ahead", Control{Suspended: &Request{By: "bob", At: now.Add(time.Second)}}, "suspended by bob 0s ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.DescribeSuspension(now); got != tt.want {
				t.Errorf("DescribeSuspension = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestControlOnly trims a state ConfigMap to its controls, as the agent's watch caches it, and
// reads them back; ConfigMaps that are not state ConfigMaps are not read.
func TestControlOnly(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	control := Control{Suspended: &Request{By: "alice", At: at, Reason: "incident 42"}, Retry: &Request{By: "bob", At: at, Revision: "abc"}}
	st := &State{Env: "production", AppliedRevision: "abc", Inventory: Inventory{{ObjectID: ObjectID{Name: "x", Kind: "ConfigMap", Namespace: "production"}}}, Control: control}
	cm, err := encodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := ControlOnly(cm)
	trimmed := obj.(*corev1.ConfigMap)
	if diff := cmp.Diff([]string{keyControl}, keysOf(trimmed.Data)); diff != "" {
		t.Errorf("trimmed data keys (-want +got):\n%s", diff)
	}
	env, got, ok, err := ControlOf(trimmed)
	if env != "production" || !ok || err != nil {
		t.Fatalf("ControlOf = %q, %v, %v", env, ok, err)
	}
	if diff := cmp.Diff(control, got); diff != "" {
		t.Errorf("controls (-want +got):\n%s", diff)
	}

	other := cm.DeepCopy()
	other.Name = "ferry-config"
	if _, _, ok, _ := ControlOf(other); ok {
		t.Errorf("ControlOf read a ConfigMap not named after its %s label", StateLabel)
	}
	broken := cm.DeepCopy()
	broken.Data[keyControl] = "{"
	if _, _, ok, err := ControlOf(broken); !ok || err == nil {
		t.Errorf("ControlOf of broken controls = %v, %v; want an error", ok, err)
	}
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
