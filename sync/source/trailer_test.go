package source_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/sync/source"
)

// The messages are shaped like those git, GitHub, GitLab and Gerrit write.
func TestTrailer(t *testing.T) {
	for _, tc := range []struct {
		name, message string
		want          string
		found         bool
	}{
		{"trailer after the body", "staging: gceme 1.2.1\n\nThe 1.2.0 frontend leaks connections.\n\nFerry-Override: hotfix\n", "hotfix", true},
		{"among other trailers", "production: gceme 1.2.1\n\nRevert the leak.\n\nReviewed-by: Ana <ana@example.com>\nFerry-Override: incident 4711, approved by on-call\nSigned-off-by: Bo <bo@example.com>\n",
			"incident 4711, approved by on-call", true},
		{"key in another case, no space, CRLF", "fix\r\n\r\nferry-override:hotfix\r\n", "hotfix", true},
		{"space before the colon", "fix\n\nFerry-Override : late change\n", "late change", true},
		{"folded value", "fix\n\nFerry-Override: the payment outage,\n  approved by the CTO\nChange-Id: I0123456789abcdef\n", "the payment outage, approved by the CTO", true},
		{"GitHub merge commit", "Merge pull request #42 from acme/hotfix\n\nstaging: gceme 1.2.1\n\nFerry-Override: hotfix for the outage", "hotfix for the outage", true},
		{"git cherry-pick -x -s", "fix\n\nbody\n\nsome text git accepts beside its own trailers\nFerry-Override: hotfix\nSigned-off-by: Bo <bo@example.com>\n(cherry picked from commit 0123456789abcdef0123456789abcdef01234567)\n", "hotfix", true},
		{"first of two", "fix\n\nFerry-Override: one\nFerry-Override: two\n", "one", true},
		{"empty value", "fix\n\nFerry-Override:\n", "", true},
		{"in the body, not the last paragraph", "fix\n\nFerry-Override: hotfix\n\nSigned-off-by: Bo <bo@example.com>\n", "", false},
		{"in a prose paragraph", "fix\n\nWe could set Ferry-Override: hotfix, but we wait.\n", "", false},
		{"last paragraph is prose with a trailer", "fix\n\nThis waits for the window.\nFerry-Override: hotfix\n", "", false},
		{"subject only", "Ferry-Override: hotfix\n", "", false},
		{"no trailers", "staging: gceme 1.2.0\n", "", false},
		{"empty message", "", "", false},
		{"other trailers only", "fix\n\nChange-Id: I0123\nSigned-off-by: Bo <bo@example.com>\n", "", false},
		{"key with a space is prose", "fix\n\nFerry Override: hotfix\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found := source.Trailer(tc.message, "Ferry-Override")
			if diff := cmp.Diff(tc.want, got); diff != "" || found != tc.found {
				t.Errorf("Trailer(%q) = %q, %v, want %q, %v", tc.message, got, found, tc.want, tc.found)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	s, _ := newSource(t, srv.NewRepo(t, "config", config), nil)
	msg := "staging: gceme 1.2.1\n\nThe leak again.\n\nFerry-Override: hotfix\n"
	sha := srv.Commit(t, "config", msg, map[string]string{"environments/staging/kustomization.yaml": "newTag: 1.2.1\n"})
	fetch(t, s)
	got, err := s.Message(testContext(t), sha)
	if err != nil {
		t.Fatalf("Message: %v", err)
	}
	if diff := cmp.Diff(msg, strings.TrimRight(got, "\n")+"\n"); diff != "" { // the server may end it in another newline
		t.Errorf("Message (-want +got):\n%s", diff)
	}
	if _, err := s.Message(testContext(t), "0000000000000000000000000000000000000000"); err == nil {
		t.Errorf("Message of a commit not fetched succeeded, want an error")
	}
}
