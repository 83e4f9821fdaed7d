package environments

import (
	"errors"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file string
		want *Pipeline
	}{{
		file: "full.yaml", // the example of DESIGN.md
		want: &Pipeline{
			APIVersion: "ferry.dev/v1alpha1",
			Kind:       "Pipeline",
			Environments: []Environment{{
				Name:          "staging",
				Path:          "environments/staging",
				Namespace:     "staging",
				Schedule:      "@every 1m",
				Prune:         true,
				ClusterScoped: []string{"Namespace"},
			}, {
				Name:        "production",
				Path:        "environments/production",
				Namespace:   "production",
				Schedule:    "@every 1m",
				Prune:       true,
				PinPosition: "ferry.yaml:14:10",
				Promotion:   &Promotion{From: "staging", Mode: PromotionImages, Images: []string{"gceme"}, After: 10 * time.Minute},
				Rollout: &Rollout{
					Stages: []Stage{{
						Name:     "canary",
						Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"track": "canary"}},
						Soak:     2 * time.Minute,
						Position: "ferry.yaml:23:21",
					}, {
						Name:     "all",
						Position: "ferry.yaml:25:11",
					}},
					OnFailure: Halt,
					Timeout:   5 * time.Minute,
				},
			}},
		},
	}, {
		file: "minimal.yaml", // every default applies
		want: &Pipeline{
			APIVersion: "ferry.dev/v1alpha1",
			Kind:       "Pipeline",
			Environments: []Environment{{
				Name:      "staging",
				Path:      "environments/staging",
				Namespace: "staging",
				Schedule:  DefaultSchedule,
				Prune:     true,
			}, {
				Name:      "production",
				Path:      "environments/production",
				Namespace: "production",
				Schedule:  DefaultSchedule,
				Prune:     true,
				Promotion: &Promotion{From: "staging", Mode: PromotionImages, After: DefaultPromotionAfter},
				Rollout:   &Rollout{Stages: []Stage{{Name: "all", Position: "ferry.yaml:15:11"}}, OnFailure: Halt, Timeout: DefaultRolloutTimeout},
			}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Parse(readFixture(t, tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

// pipeline returns a ferry.yaml whose environments list is envs; the first line of envs is
// line 4 of the file.
func pipeline(envs string) string {
	return "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments:\n" + envs
}

// TestParseValues checks the value of one environment for settings that override defaults or
// are easy to get wrong.
func TestParseValues(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  string // the environment to check; its name, path and namespace are all env
		want func(e *Environment)
	}{{
		name: "zero values set explicitly win over defaults",
		yaml: "- {name: a, path: a, namespace: a, prune: false, allowEmpty: true, clusterScoped: []}\n",
		want: func(e *Environment) { e.Prune = false; e.AllowEmpty = true },
	}, {
		name: "null is the same as leaving a field out",
		yaml: "- {name: a, path: a, namespace: a, schedule: ~, prune: null, promotion: ~, rollout: }\n",
		want: func(e *Environment) {},
	}, {
		name: "the repository root may be the overlay",
		yaml: "- {name: a, path: ., namespace: a}\n",
		want: func(e *Environment) { e.Path = "." },
	}, {
		name: "crontab schedule with a time zone",
		yaml: "- {name: a, path: a, namespace: a, schedule: 'CRON_TZ=UTC */5 * * * *'}\n",
		want: func(e *Environment) { e.Schedule = "CRON_TZ=UTC */5 * * * *" },
	}, {
		name: "pin and capitalised YAML 1.2 boolean",
		yaml: "- {name: a, path: a, namespace: a, pin: 3f2a1c9d3f2a1c9d3f2a1c9d3f2a1c9d3f2a1c9d, prune: False}\n",
		want: func(e *Environment) {
			e.Pin, e.PinPosition = "3f2a1c9d3f2a1c9d3f2a1c9d3f2a1c9d3f2a1c9d", "ferry.yaml:4:41"
			e.Prune = false
		},
	}, {
		name: "promotion after 0 and auto",
		yaml: "- {name: a, path: a, namespace: a}\n- {name: b, path: b, namespace: b, promotion: {from: a, auto: true, after: 0}}\n",
		env:  "b",
		want: func(e *Environment) { e.Promotion = &Promotion{From: "a", Mode: PromotionImages, Auto: true, After: 0} },
	}, {
		name: "revision promotion with a pin",
		yaml: "- {name: a, path: a, namespace: a}\n- {name: b, path: b, namespace: b, pin: 3f2a1c9d3f2a1c9d3f2a1c9d3f2a1c9d3f2a1c9d, promotion: {from: a, mode: revision}}\n",
		env:  "b",
		want: func(e *Environment) {
			e.Pin, e.PinPosition = "3f2a1c9d3f2a1c9d3f2a1c9d3f2a1c9d3f2a1c9d", "ferry.yaml:5:41"
			e.Promotion = &Promotion{From: "a", Mode: PromotionRevision, After: DefaultPromotionAfter}
		},
	}, {
		name: "rollout with expressions, revert and a soak on every stage",
		yaml: `- name: a
  path: a
  namespace: a
  rollout:
    onFailure: revert
    timeout: 90s
    stages:
      - name: one
        selector:
          matchExpressions: [{key: tier, operator: In, values: [web]}, {key: canary, operator: Exists}]
        soak: 0s
      - {name: rest, soak: 1h}
`,
		want: func(e *Environment) {
			e.Rollout = &Rollout{
				Stages: []Stage{{
					Name: "one",
					Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"web"}},
						{Key: "canary", Operator: metav1.LabelSelectorOpExists},
					}},
					Position: "ferry.yaml:13:11",
				}, {Name: "rest", Soak: time.Hour, Position: "ferry.yaml:15:9"}},
				OnFailure: Revert,
				Timeout:   90 * time.Second,
			}
		},
	}, {
		name: "analysis with defaults, both kinds of check and placeholders",
		yaml: `- name: a
  path: a
  namespace: a
  rollout:
    stages:
      - name: canary
        selector: {matchLabels: {track: canary}}
        soak: 1m
        approval: manual
        analysis:
          checks:
            - name: error-rate
              prometheus: {address: "http://prom:9090", query: 'sum(rate(x{namespace="{{namespace}}"}[1m]))'}
              max: 0.05
            - name: latency
              prometheus: {address: "https://prom", query: 'p99{stage="{{ stage }}"}'}
              min: 0
              max: 2
            - name: smoke
              webhook: {url: "http://smoke/run?env={{env}}&token=s3cret"}
      - name: all
        soak: 30s
        analysis:
          interval: 10s
          failureLimit: 3
          checks:
            - {name: smoke, webhook: {url: "http://smoke/run", timeout: 5s}}
`,
		want: func(e *Environment) {
			e.Rollout = &Rollout{
				Stages: []Stage{{
					Name:     "canary",
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"track": "canary"}},
					Soak:     time.Minute,
					Approval: ApprovalManual,
					Analysis: &Analysis{Interval: DefaultInterval, FailureLimit: 1, Checks: []Check{
						{Name: "error-rate", Prometheus: &PrometheusCheck{Address: "http://prom:9090", Query: `sum(rate(x{namespace="{{namespace}}"}[1m]))`}, Max: ptr(0.05)},
						{Name: "latency", Prometheus: &PrometheusCheck{Address: "https://prom", Query: `p99{stage="{{ stage }}"}`}, Min: ptr(0), Max: ptr(2)},
						{Name: "smoke", Webhook: &WebhookCheck{URL: "http://smoke/run?env={{env}}&token=s3cret", Timeout: DefaultWebhookTimeout}},
					}},
					Position: "ferry.yaml:10:19",
				}, {
					Name: "all",
					Soak: 30 * time.Second,
					Analysis: &Analysis{Interval: 10 * time.Second, FailureLimit: 3, Checks: []Check{
						{Name: "smoke", Webhook: &WebhookCheck{URL: "http://smoke/run", Timeout: 5 * time.Second}},
					}},
					Position: "ferry.yaml:24:9",
				}},
				OnFailure: Halt,
				Timeout:   DefaultRolloutTimeout,
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(pipeline(tt.yaml)))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			name := tt.env
			if name == "" {
				name = "a"
			}
			got, ok := p.Environment(name)
			if !ok {
				t.Fatalf("Environment(%q) not found", name)
			}
			want := Environment{Name: name, Path: name, Namespace: name, Schedule: DefaultSchedule, Prune: true}
			tt.want(&want)
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("Environment(%q) (-want +got):\n%s", name, diff)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	full := readFixture(t, "full.yaml")
	t.Run("reads ferry.yaml", func(t *testing.T) {
		p, err := Load(fstest.MapFS{FileName: {Data: full}})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		want, _ := Parse(full)
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("Load (-want +got):\n%s", diff)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(fstest.MapFS{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load: got %v, want an error matching fs.ErrNotExist", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		huge := append(full, strings.Repeat("#", MaxFileSize)...)
		_, err := Load(fstest.MapFS{FileName: {Data: huge}})
		if want := "ferry.yaml: larger than the limit of 1048576 bytes"; err == nil || err.Error() != want {
			t.Errorf("Load: got %v, want %q", err, want)
		}
	})
}

func ptr(f float64) *float64 { return &f }

func TestExpand(t *testing.T) {
	vals := map[string]string{"env": "production", "namespace": "prod", "revision": "3f2a1c9", "stage": "canary"}
	got := Expand(`x{namespace="{{namespace}}",stage="{{ stage }}"} {{env}}@{{revision}}`, vals, nil)
	if want := `x{namespace="prod",stage="canary"} production@3f2a1c9`; got != want {
		t.Errorf("Expand = %q, want %q", got, want)
	}
	got = Expand("http://h/run?env={{env}}", map[string]string{"env": "a b&c"}, url.QueryEscape)
	if want := "http://h/run?env=a+b%26c"; got != want {
		t.Errorf("Expand with a quote = %q, want %q", got, want)
	}
}
