package promote

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestGitHubCommitStatuses reads back, per context, the latest status set on a commit, as a
// promotion's forge evidence does.
func TestGitHubCommitStatuses(t *testing.T) {
	f, srv := newFakeGitHub(t)
	g := newTestGitHub(t, srv)
	sha := "3f2a1c9d3f2a1c9d3f2a1c9d3f2a1c9d3f2a1c9d"
	for _, st := range []Status{
		{Context: "ferry/staging", State: "pending", Description: "applied; waiting for health", TargetURL: "https://ferry.example/staging"},
		{Context: "ferry/staging", State: "success", Description: "healthy", TargetURL: "https://ferry.example/staging"},
		{Context: "ci/build", State: "failure", Description: "red", TargetURL: "https://ci.example/1"},
	} {
		if err := g.SetStatus(t.Context(), sha, st); err != nil {
			t.Fatal(err)
		}
	}
	got, err := g.CommitStatuses(t.Context(), sha)
	if err != nil {
		t.Fatal(err)
	}
	want := []Status{
		{Context: "ci/build", State: "failure", Description: "red", TargetURL: "https://ci.example/1"},
		{Context: "ferry/staging", State: "success", Description: "healthy", TargetURL: "https://ferry.example/staging"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CommitStatuses (-want +got):\n%s", diff)
	}
	if none, err := g.CommitStatuses(t.Context(), "0000000000000000000000000000000000000000"); err != nil || len(none) != 0 {
		t.Errorf("statuses of a commit without any: %v %v, want none", none, err)
	}
	if reqs := f.seen(); reqs[len(reqs)-1] != "GET /api/v3/repos/acme/deploy/commits/0000000000000000000000000000000000000000/status?per_page=100" {
		t.Errorf("last request %q", reqs[len(reqs)-1])
	}
	f.refuseWith(404, "Not Found")
	if _, err := g.CommitStatuses(t.Context(), sha); err == nil {
		t.Error("CommitStatuses on a 404: no error")
	}
}
