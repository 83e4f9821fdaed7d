package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/sync"
)

// TestStatusShowsADeferral checks the table's MESSAGE and -o json for a new revision that a
// deploy window holds back, without a cluster.
func TestStatusShowsADeferral(t *testing.T) {
	now := time.Date(2026, 11, 27, 17, 30, 0, 0, time.UTC)
	d := &sync.Deferral{Revision: "77aa00b1c2d3e4f5061728394a5b6c7d8e9f0a1b", Window: `deny "0 17 * * FRI" for 64h0m0s`,
		Until: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), Since: now.Add(-20 * time.Minute)}
	states := []*sync.State{{Env: "production", AppliedRevision: "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345", AttemptedRevision: "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345",
		AttemptedAt: now.Add(-5 * time.Second), Health: sync.Healthy, Deferred: d}}
	var out bytes.Buffer
	if err := writeStatusTable(&out, states, "ferry-system", now); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"ENV          REVISION   STAGE   HEALTH    LAST SYNC   MESSAGE",
		`production   3f2a1c9    -       Healthy   5s          deferred: 77aa00b waits for deny "0 17 * * FRI" for 64h0m0s until 2026-11-30T09:00:00Z`,
		"",
	}, "\n")
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("status table (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(statusesOf(states, "ferry-system"))
	if err != nil {
		t.Fatal(err)
	}
	var got []struct{ Deferred *sync.Deferral }
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Deferred == nil {
		t.Fatalf("-o json: no deferred in %s", b)
	}
	if diff := cmp.Diff(*d, *got[0].Deferred); diff != "" {
		t.Errorf("-o json deferred (-want +got):\n%s", diff)
	}
}
