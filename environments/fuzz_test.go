package environments

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, and that what it accepts holds together: every
// schedule parses, and PromotionOrder lists each environment once with sources first.
func FuzzParse(f *testing.F) {
	fixtures, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range fixtures {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"~",
		"- a",
		pipeline(envA + envA),
		pipeline(envA + "  promotion: {from: b}\n" + envB + "  promotion: {from: a}\n"),
		pipeline("- &env {name: a, path: a, namespace: a}\n- *env\n"),
		pipeline(envA + "  schedule: 'TZ=UTC'\n"),
		pipeline(envA + "  rollout: {stages: [{name: x, selector: {matchExpressions: [{key: a, operator: In}]}}, {name: y}]}\n"),
		"a: [[[[[[[[[[[[[[[[[[[[",
		"apiVersion: ferry.dev/v1alpha1\nkind: [Pipeline\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned a pipeline and the error %v", err)
			}
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, FileName) {
					t.Fatalf("error line does not name %s: %q", FileName, line)
				}
			}
			return
		}
		for i := range p.Environments {
			if _, err := p.Environments[i].CronSchedule(); err != nil {
				t.Fatalf("Parse accepted an environment whose schedule fails: %v", err)
			}
		}
		checkPromotionOrder(t, p)
	})
}

func checkPromotionOrder(t *testing.T, p *Pipeline) {
	order := p.PromotionOrder()
	if len(order) != len(p.Environments) {
		t.Fatalf("PromotionOrder has %d names for %d environments", len(order), len(p.Environments))
	}
	placed := map[string]bool{}
	for _, name := range order {
		e, ok := p.Environment(name)
		if !ok || placed[name] {
			t.Fatalf("PromotionOrder %v: %q unknown or repeated", order, name)
		}
		if e.Promotion != nil && !placed[e.Promotion.From] {
			t.Fatalf("PromotionOrder %v: %q before its source %q", order, name, e.Promotion.From)
		}
		placed[name] = true
	}
}
