package promote

import (
	"strings"
	"testing"

	"github.com/ferry-cd/ferry/internal/gitserver"
)

// revisionRepo is examples/gceme on a real git server with production promoted by revision:
// c1 the example, c2 pins production at c1 in mode revision, c3 adds an environment variable
// to the shared frontend Deployment (a base edit, in neither overlay).
type revisionRepo struct {
	srv        *gitserver.Server
	c1, c2, c3 string
}

func newRevisionRepo(t *testing.T) *revisionRepo {
	t.Helper()
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: gitPassword})
	files := exampleFiles(t)
	r := &revisionRepo{srv: srv}
	srv.NewRepo(t, "config", files)
	r.c1 = srv.Head(t, "config")
	r.c2 = srv.Commit(t, "config", "production: promote whole revisions", map[string]string{"ferry.yaml": RevisionMode(files["ferry.yaml"], r.c1)})
	r.c3 = srv.Commit(t, "config", "base: FEATURE_GREETING on the frontend", map[string]string{
		frontend: WithGreeting(files[frontend]),
	})
	return r
}

const frontend = "apps/gceme/base/frontend-deployment.yaml"

// RevisionMode turns examples/gceme's ferry.yaml to mode revision with production pinned at pin.
func RevisionMode(y, pin string) string {
	y = strings.Replace(y, `    pin: ""`, "    pin: "+pin, 1)
	y = strings.Replace(y, "      images:                     # which images' tags move; must equal the `name:` in the overlays' images: entries\n        - gcr.io/cloud-solutions-images/gceme\n", "", 1)
	return strings.Replace(y, "      from: staging ", "      mode: revision\n      from: staging ", 1)
}

// WithGreeting adds the environment variable FEATURE_GREETING to a gceme Deployment's file.
func WithGreeting(deployment string) string {
	return strings.Replace(deployment, "          envFrom:\n", "          env:\n            - name: FEATURE_GREETING\n              value: \"hello\"\n          envFrom:\n", 1)
}

func healthy(rev string) *SourceHealth {
	return &SourceHealth{Env: "staging", Revision: rev, Health: "Healthy", From: "test"}
}

// TestPromoteRevision moves production's pin to staging's revision: the branch changes only
// the pin: line, and the body lists the commits (the base edit marked) and the rendered diff.
func TestPromoteRevision(t *testing.T) {
	r := newRevisionRepo(t)
	base := clone(t, r.srv)
	before, err := base.ReadFile("ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Promote(t.Context(), clone(t, r.srv), NoForge{RepoURL: r.srv.RepoURL("config")}, Options{To: "production", Source: healthy(r.c3)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pin == nil || res.Pin.Old != r.c1 || res.Pin.New != r.c3 || len(res.Changes) != 0 {
		t.Fatalf("result %+v, want the pin moved %s → %s", res, r.c1[:7], r.c3[:7])
	}
	for _, want := range []string{
		"moves `production`'s `pin:` in `ferry.yaml` from `" + r.c1[:7] + "` to `" + r.c3[:7] + "`",
		"`staging` is **Healthy** at `" + r.c3[:7] + "`. Evidence: test.",
		"| ● | `" + r.c3[:7] + "` | base: FEATURE_GREETING on the frontend |",
		"|  | `" + r.c2[:7] + "` | production: promote whole revisions |",
		"+        - name: FEATURE_GREETING", "```diff",
	} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("PR body lacks %q:\n%s", want, res.Body)
		}
	}
	t.Logf("PR body:\n%s", res.Body)

	branch := clone(t, r.srv)
	if err := branch.checkout(t.Context(), BranchFor("production")); err != nil {
		t.Fatal(err)
	}
	after, err := branch.ReadFile("ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(string(before), "pin: "+r.c1, "pin: "+r.c3, 1); string(after) != want {
		t.Errorf("the promotion branch's ferry.yaml is not main's with only the pin moved:\n%s", after)
	}
	if got, _ := branch.ReadFile(frontend); !strings.Contains(string(got), "FEATURE_GREETING") {
		t.Error("the promotion branch lost main's commits")
	}
	again, err := Promote(t.Context(), clone(t, r.srv), NoForge{}, Options{To: "production", Source: healthy(r.c1)})
	if err != nil || !again.NothingToDo {
		t.Errorf("promotion of the pinned revision: %+v %v, want nothing to do", again, err)
	}
}

// TestPromoteRevisionRefuses refuses, naming the revision, what must not move the pin.
func TestPromoteRevisionRefuses(t *testing.T) {
	r := newRevisionRepo(t)
	// A commit on another branch, pushed as a user would.
	other := clone(t, r.srv)
	if err := other.WriteFile("README.md", []byte("elsewhere\n")); err != nil {
		t.Fatal(err)
	}
	elsewhere, err := other.Commit("on another branch")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Push(t.Context(), "other", true); err != nil {
		t.Fatal(err)
	}
	// Production pinned at c3: c2, staging's revision below, is older than the pin.
	ahead := clone(t, r.srv)
	y, _ := ahead.ReadFile("ferry.yaml")
	r.srv.Commit(t, "config", "pin production at c3", map[string]string{"ferry.yaml": strings.Replace(string(y), r.c1, r.c3, 1)})

	unknown := strings.Repeat("ab", 20)
	tests := []struct {
		name string
		src  *SourceHealth
		want string
	}{
		{"unhealthy source", &SourceHealth{Env: "staging", Revision: r.c3, Health: "Progressing"}, "source staging is Progressing at revision " + r.c3 + ", not Healthy"},
		{"unknown revision", healthy(unknown), "revision " + unknown + " (applied by staging) is not on branch main"},
		{"revision on another branch", healthy(elsewhere), "revision " + elsewhere + " (applied by staging) is not on branch main"},
		{"not a descendant of the pin", healthy(r.c2), "revision " + r.c2 + " (applied by staging) is not a descendant of production's pin " + r.c3},
		{"no revision", &SourceHealth{Env: "staging", Health: "Healthy"}, "source staging has applied no revision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Promote(t.Context(), clone(t, r.srv), NoForge{}, Options{To: "production", Source: tt.src})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Promote: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	_, err = Promote(t.Context(), clone(t, r.srv), NoForge{}, Options{To: "production"})
	if err == nil || !strings.Contains(err.Error(), ErrNoForge.Error()) {
		t.Errorf("Promote without evidence: %v, want %q", err, ErrNoForge)
	}
}

// TestRollbackRevision moves the pin back to the one before the last promotion, on the branch.
func TestRollbackRevision(t *testing.T) {
	r := newRevisionRepo(t)
	res, err := Promote(t.Context(), clone(t, r.srv), NoForge{}, Options{To: "production", Source: healthy(r.c3)})
	if err != nil {
		t.Fatal(err)
	}
	// Merge by fast-forward: the promotion commit sits on main's head.
	merged := clone(t, r.srv)
	if err := merged.checkout(t.Context(), res.Branch); err != nil {
		t.Fatal(err)
	}
	if err := merged.Push(t.Context(), "main", false); err != nil {
		t.Fatal(err)
	}
	r.srv.Commit(t, "config", "an unrelated change", map[string]string{"README.md": "notes\n"})

	back, err := Rollback(t.Context(), clone(t, r.srv), NoForge{}, "production", "", true)
	if err != nil {
		t.Fatal(err)
	}
	if back.Pin == nil || back.Pin.Old != r.c3 || back.Pin.New != r.c1 {
		t.Fatalf("rollback %+v, want the pin moved back %s → %s", back.Pin, r.c3[:7], r.c1[:7])
	}
	y, err := clone(t, r.srv).ReadFile("ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if pin, _ := ReadPin(y, "production"); pin != r.c1 {
		t.Errorf("main pins production at %s after the rollback, want %s", pin, r.c1)
	}
}
