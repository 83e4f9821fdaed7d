package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/sync"
)

// TestStatusHistory checks `ferry status --history`'s lines under the table, without a cluster.
func TestStatusHistory(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	good, bad := "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345", "77aa00b1c2d3e4f5061728394a5b6c7d8e9f0a1b"
	states := []*sync.State{
		{Env: "production", History: []sync.SyncRecord{
			{Revision: good, Subject: "production: gceme 1.1.0", Trigger: "webhook", Stage: "all", Result: "applied", Duration: 95 * time.Second, At: now.Add(-2 * time.Hour)},
			{Revision: bad, Subject: "production: gceme 1.3.0, which never becomes ready", Trigger: "schedule", Stage: "canary", Result: "halted",
				Duration: 20 * time.Second, At: now.Add(-3 * time.Minute), Message: "Deployment production/gceme-frontend-canary: not ready"},
		}},
		{Env: "staging"},
	}
	var out bytes.Buffer
	if err := writeStatusHistory(&out, states, now); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"",
		"production: last syncs, newest first",
		"  AGE   REVISION   TRIGGER    STAGE    RESULT    DURATION   SUBJECT                                              MESSAGE",
		"  3m    77aa00b    schedule   canary   halted    20s        production: gceme 1.3.0, which never becomes ready   Deployment production/gceme-frontend-canary: not ready",
		"  2h    3f2a1c9    webhook    all      applied   1m35s      production: gceme 1.1.0                              ",
		"",
		"staging: last syncs, newest first",
		"  none recorded",
		"",
	}, "\n")
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("status history (-want +got):\n%s", diff)
	}
	if got := statusesOf(states, "ferry-system")[0].History; len(got) != 2 || got[0].Revision != bad {
		t.Errorf("status -o json history = %+v, want newest (%s) first", got, bad[:7])
	}
}
