package main

import (
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	res := runFerry(t, t.Context(), "version")
	if res.code != 0 {
		t.Fatalf("ferry version exited %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"ferry ", "go: go1.26", "client-go: v0.37.2 (Kubernetes v1.37.2)", "kustomize api: v0.21.2"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("ferry version output lacks %q:\n%s", want, res.stdout)
		}
	}
}

func TestBadUsageExitsTwo(t *testing.T) {
	for _, args := range [][]string{
		{"version", "--no-such-flag"},
		{"render"},
		{"version", "-o", "xml"},
		{"render", "nosuchenv", "--repo", "../../examples/gceme"},
	} {
		res := runFerry(t, t.Context(), args...)
		if res.code != 2 {
			t.Errorf("ferry %v exited %d, want 2 (bad usage); stderr: %s", args, res.code, res.stderr)
		}
	}
}
