package promote

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/redact"
	"github.com/ferry-cd/ferry/render"
)

// MaxDiffBytes caps the rendered diff in a pull request body; a longer diff is cut with a note.
const MaxDiffBytes = 48 << 10

// SourceHealth is the source environment's state: from its state ConfigMap in the cluster,
// or from the commit status its agent set on the forge.
type SourceHealth struct {
	Env, Revision, Health string
	AppliedAt             time.Time
	// From says where the evidence comes from (FromCluster, FromForge, or another
	// description); "" is shown as the cluster.
	From string
	// Detail is the forge status's description, when the evidence comes from the forge.
	Detail string
	// Unchecked, when set, says why the health could not be read (the other fields are empty).
	Unchecked string
}

// promotionBody writes the pull request body: the pin changes, the source environment's health
// when known, and the rendered diff of the target environment between the base and the branch.
func promotionBody(ctx context.Context, repo *Repo, to *environments.Environment, toFile, from string, res *Result, src *SourceHealth) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "## Promotion %s → %s\n\nThis pull request moves image pins from `%s` into `%s` (`%s`).\n\n", from, to.Name, from, to.Name, toFile)
	fmt.Fprintf(&b, "| image | %s now | after merge |\n|---|---|---|\n", to.Name)
	for _, c := range res.Changes {
		old := c.Old
		if old == "" {
			old = "(not set)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | `%s` |\n", c.Image, old, c.New)
	}
	b.WriteString("\n### Source environment\n\n")
	b.WriteString(sourceLine(from, src))
	diff, warnings, err := renderedDiff(ctx, repo, to, res.Commit)
	if err != nil {
		return "", err
	}
	b.WriteString(warnings)
	fmt.Fprintf(&b, "\n### Rendered diff of %s (base %s → this branch)\n\n", to.Name, repo.Base()[:7])
	b.WriteString(diffBlock(to.Name, diff))
	b.WriteString("\nSecret values are masked. Opened by ferry; merging it lets the agent roll " + to.Name + " out.\n")
	return b.String(), nil
}

// diffBlock is the rendered diff as a fenced block, cut at MaxDiffBytes, or a sentence when
// nothing changes.
func diffBlock(env, diff string) string {
	if diff == "" {
		return "The rendered objects do not change.\n"
	}
	if len(diff) > MaxDiffBytes {
		diff = diff[:MaxDiffBytes] + "\n… (cut: the diff is longer than " + fmt.Sprint(MaxDiffBytes) + " bytes; run `ferry render " + env + "` on both revisions to see all of it)\n"
	}
	return "```diff\n" + diff + "```\n"
}

func sourceLine(from string, src *SourceHealth) string {
	if src == nil {
		return "Health of `" + from + "` not checked (no cluster access was given).\n"
	}
	if src.Unchecked != "" {
		return "Health of `" + from + "` not checked: " + src.Unchecked + "\n"
	}
	rev := src.Revision
	if len(rev) > 7 {
		rev = rev[:7]
	}
	line := fmt.Sprintf("`%s` is **%s** at `%s`", src.Env, src.Health, rev)
	if !src.AppliedAt.IsZero() {
		line += fmt.Sprintf(", applied %s ago", time.Since(src.AppliedAt).Round(time.Second))
	}
	if src.Detail != "" {
		line += fmt.Sprintf(" (%q)", src.Detail)
	}
	where := src.From
	if where == "" {
		where = FromCluster
	}
	return line + ". Evidence: " + where + ".\n"
}

// renderedDiff renders env at the base and at commit and diffs the two outputs, Secret values
// masked (see maskSecrets); warnings says what deleting each Namespace or CRD that leaves the
// render would take with it.
func renderedDiff(ctx context.Context, repo *Repo, env *environments.Environment, commit string) (diff, warnings string, err error) {
	return renderedDiffBetween(ctx, repo, env, repo.Base(), commit)
}

// renderedDiffBetween is renderedDiff between the renders of env at two commits.
func renderedDiffBetween(ctx context.Context, repo *Repo, env *environments.Environment, base, commit string) (diff, warnings string, err error) {
	beforeObjs, err := renderAt(ctx, repo, env, base)
	if err != nil {
		return "", "", err
	}
	afterObjs, err := renderAt(ctx, repo, env, commit)
	if err != nil {
		return "", "", err
	}
	maskedBefore, maskedAfter := maskSecrets(beforeObjs, afterObjs)
	before, err := toYAML(maskedBefore)
	if err != nil {
		return "", "", err
	}
	after, err := toYAML(maskedAfter)
	if err != nil {
		return "", "", err
	}
	diff, err = difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(before), B: difflib.SplitLines(after),
		FromFile: env.Name + "@" + base[:7], ToFile: env.Name + "@" + commit[:7], Context: 3,
	})
	return diff, cascadeWarnings(env, beforeObjs, afterObjs), err
}

// renderAt renders env at a commit.
func renderAt(ctx context.Context, repo *Repo, env *environments.Environment, sha string) ([]*unstructured.Unstructured, error) {
	tree, err := repo.TreeAt(sha)
	if err != nil {
		return nil, err
	}
	res, err := render.Render(ctx, tree, env)
	if err != nil {
		return nil, fmt.Errorf("render %s at %s: %w", env.Name, sha[:7], err)
	}
	return res.Objects, nil
}

// maskSecrets returns copies of both renders with every Secret value masked. A Secret in both
// is masked as a pair, so that a value that changes shows as "*** (changed)" (a key added or
// removed as "*** (added)" or "*** (removed)"): a Secret-only change still shows in the diff.
func maskSecrets(before, after []*unstructured.Unstructured) (maskedBefore, maskedAfter []*unstructured.Unstructured) {
	type key struct{ apiVersion, namespace, name string }
	keyOf := func(o *unstructured.Unstructured) key { return key{o.GetAPIVersion(), o.GetNamespace(), o.GetName()} }
	secretsAfter := map[key]*unstructured.Unstructured{}
	for _, o := range after {
		if redact.IsSecret(o) {
			secretsAfter[keyOf(o)] = o
		}
	}
	pairedAfter := map[key]*unstructured.Unstructured{}
	for _, o := range before {
		a, ok := secretsAfter[keyOf(o)]
		switch {
		case ok && redact.IsSecret(o):
			o, pairedAfter[keyOf(o)] = redact.SecretPair(o, a)
		default:
			o = redact.Secret(o)
		}
		maskedBefore = append(maskedBefore, o)
	}
	for _, o := range after {
		m, ok := pairedAfter[keyOf(o)]
		switch {
		case ok && redact.IsSecret(o):
			o = m
		default:
			o = redact.Secret(o)
		}
		maskedAfter = append(maskedAfter, o)
	}
	return maskedBefore, maskedAfter
}

// toYAML writes objs as multi-document YAML.
func toYAML(objs []*unstructured.Unstructured) (string, error) {
	var b strings.Builder
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return "", err
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return b.String(), nil
}
