package promote

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
)

// revisionBody writes a revision promotion's pull request body: the pin move, the source's
// health and where that evidence comes from, the commits being promoted (those that change
// the target's render marked), and the rendered diff of the target between the two revisions,
// Secret values masked.
func revisionBody(ctx context.Context, repo *Repo, from string, to *environments.Environment, src *SourceHealth, oldRev, newRev string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "## Promotion %s → %s (revision)\n\n", from, to.Name)
	fmt.Fprintf(&b, "This pull request moves `%s`'s `pin:` in `%s` from `%s` to `%s`: after the merge, ferry renders %s from the repository as it is at `%s`, the revision `%s` has applied.\n\n",
		to.Name, environments.FileName, oldRev[:7], newRev[:7], to.Name, newRev[:7], from)
	b.WriteString("### Source environment\n\n")
	b.WriteString(sourceLine(from, src))
	commits, err := commitTable(ctx, repo, to, oldRev, newRev)
	if err != nil {
		return "", err
	}
	b.WriteString(commits)
	diff, warnings, err := renderedDiffBetween(ctx, repo, to, oldRev, newRev)
	if err != nil {
		return "", err
	}
	b.WriteString(warnings)
	fmt.Fprintf(&b, "\n### Rendered diff of %s (%s → %s)\n\n", to.Name, oldRev[:7], newRev[:7])
	b.WriteString(diffBlock(to.Name, diff))
	b.WriteString("\nSecret values are masked. Opened by ferry; merging it lets the agent roll " + to.Name + " out, through its rollout stages.\n")
	return b.String(), nil
}

// commitTable lists the promoted commits, newest first, marking those that change env's render.
func commitTable(ctx context.Context, repo *Repo, env *environments.Environment, oldRev, newRev string) (string, error) {
	commits, cut, err := repo.promotedCommits(oldRev, newRev)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Commits promoted (%s..%s)\n\n", oldRev[:7], newRev[:7])
	fmt.Fprintf(&b, "%d commits; **●** marks those that change the render of %s.\n\n| | commit | subject |\n|---|---|---|\n", len(commits), env.Name)
	digests := map[string]string{}
	for i, c := range commits {
		mark := ""
		if i < maxMarkedCommits {
			mark = changeMark(ctx, repo, env, c, digests)
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", mark, c.Hash.String()[:7], escapeCell(subject(c)))
	}
	if cut {
		fmt.Fprintf(&b, "\nOnly the newest %d commits are listed.\n", maxListedCommits)
	}
	if len(commits) > maxMarkedCommits {
		fmt.Fprintf(&b, "\nOnly the newest %d commits were checked for a change of the render.\n", maxMarkedCommits)
	}
	return b.String(), nil
}

// changeMark is "●" when c's render of env differs from its first parent's, "render fails"
// when c does not render, and "" otherwise. digests caches renders by commit.
func changeMark(ctx context.Context, repo *Repo, env *environments.Environment, c *object.Commit, digests map[string]string) string {
	at := digestAt(ctx, repo, env, c.Hash.String(), digests)
	if at == "" {
		return "render fails"
	}
	if c.NumParents() == 0 {
		return "●"
	}
	parent := c.ParentHashes[0].String()
	if digestAt(ctx, repo, env, parent, digests) != at {
		return "●"
	}
	return ""
}

// digestAt returns the digest of env's render at sha, "" when it fails.
func digestAt(ctx context.Context, repo *Repo, env *environments.Environment, sha string, digests map[string]string) string {
	if d, ok := digests[sha]; ok {
		return d
	}
	d := ""
	if tree, err := repo.TreeAt(sha); err == nil {
		if res, err := render.Render(ctx, tree, env); err == nil {
			d = res.Digest
		}
	}
	digests[sha] = d
	return d
}

// escapeCell keeps a commit subject from breaking the Markdown table.
func escapeCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\r", " ").Replace(s)
}
