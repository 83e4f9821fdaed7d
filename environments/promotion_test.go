package environments

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// chain builds a pipeline from "name<-from" specs; a spec without "<-" has no promotion.
func chain(specs ...string) *Pipeline {
	p := &Pipeline{APIVersion: APIVersion, Kind: Kind}
	for _, s := range specs {
		name, from, ok := strings.Cut(s, "<-")
		e := Environment{Name: name}
		if ok {
			e.Promotion = &Promotion{From: from}
		}
		p.Environments = append(p.Environments, e)
	}
	return p
}

func TestPromotionOrder(t *testing.T) {
	tests := []struct {
		name  string
		specs []string
		want  []string
	}{
		{"no promotions keep file order", []string{"b", "a", "c"}, []string{"b", "a", "c"}},
		{"source listed after its target", []string{"production<-staging", "staging"}, []string{"staging", "production"}},
		{"chain listed backwards", []string{"prod<-stage", "stage<-dev", "dev"}, []string{"dev", "stage", "prod"}},
		{"peers in file order", []string{"eu<-staging", "us<-staging", "staging", "dev"}, []string{"staging", "eu", "us", "dev"}},
		{"earliest ready first", []string{"a<-c", "b", "c"}, []string{"b", "c", "a"}},
		{"two chains interleave by file order", []string{"x2<-x1", "y2<-y1", "y1", "x1"}, []string{"y1", "y2", "x1", "x2"}},
		{"unknown source counts as none", []string{"a<-nowhere", "b"}, []string{"a", "b"}},
		{"cycle comes last in file order", []string{"a<-b", "b<-a", "c"}, []string{"c", "a", "b"}},
		{"empty pipeline", nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := chain(tt.specs...).PromotionOrder()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PromotionOrder (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPromotionOrderOfFixture(t *testing.T) {
	p, err := Parse(readFixture(t, "full.yaml"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if diff := cmp.Diff([]string{"staging", "production"}, p.PromotionOrder()); diff != "" {
		t.Errorf("PromotionOrder (-want +got):\n%s", diff)
	}
}

func TestPromotionCycles(t *testing.T) {
	tests := []struct {
		name  string
		specs []string
		want  []string // one message per cycle, in file order of the cycle's first environment
	}{
		{"none", []string{"a", "b<-a", "c<-b"}, nil},
		{"two", []string{"a<-b", "b<-a"}, []string{"a → b → a"}},
		{"three, listed against the flow", []string{"a<-c", "b<-a", "c<-b"}, []string{"a → b → c → a"}},
		{"three, listed with the flow", []string{"a<-b", "b<-c", "c<-a"}, []string{"a → c → b → a"}},
		{"entered from a tail", []string{"tail<-b", "b<-c", "c<-b"}, []string{"b → c → b"}},
		{"two separate cycles", []string{"a<-b", "x<-y", "b<-a", "y<-x"}, []string{"a → b → a", "x → y → x"}},
		{"self is not a cycle", []string{"a<-a"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := chain(tt.specs...)
			var got []string
			for _, c := range cycles(sources(p.Environments)) {
				names := make([]string, len(c))
				for k, i := range c {
					names[k] = p.Environments[i].Name
				}
				got = append(got, strings.Join(names, " → "))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("cycles (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseReportsCycle(t *testing.T) {
	in := pipeline(`- {name: dev, path: dev, namespace: dev, promotion: {from: prod}}
- {name: staging, path: staging, namespace: staging, promotion: {from: dev}}
- {name: prod, path: prod, namespace: prod, promotion: {from: staging}}
`)
	want := "ferry.yaml:4:60: environments[0].promotion.from: promotion cycle dev → staging → prod → dev; promotions must form a graph without cycles"
	_, err := Parse([]byte(in))
	if err == nil || err.Error() != want {
		t.Errorf("Parse:\n got: %v\nwant: %s", err, want)
	}
}
