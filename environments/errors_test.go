package environments

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// envA is a valid environment on lines 4 to 6 of pipeline(envA + …); whatever follows it
// starts on line 7.
const envA = "- name: a\n  path: a\n  namespace: a\n"

// stageA starts a rollout of envA with one stage, all, open for more fields at eight spaces
// of indentation from line 10 on (the last stage may soak and analyse too).
const stageA = "  rollout:\n    stages:\n      - name: all\n"

// envB is a valid environment of three lines.
const envB = "- name: b\n  path: b\n  namespace: b\n"

// wantErr is one line of a Parse error: it starts with at (position and field path) and a
// colon, and contains msg.
type wantErr struct{ at, msg string }

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []wantErr
	}{
		// The document as a whole.
		{"empty file", "", []wantErr{{"ferry.yaml", "empty document; want apiVersion: ferry.dev/v1alpha1"}}},
		{"only comments", "# nothing yet\n", []wantErr{{"ferry.yaml", "empty document"}}},
		{"null document", "---\n~\n", []wantErr{{"ferry.yaml", "empty document"}}},
		{"syntax error", "apiVersion: ferry.dev/v1alpha1\nkind: [Pipeline\n", []wantErr{{"ferry.yaml:2", "did not find expected ',' or ']'"}}},
		{"tab indentation", "apiVersion: ferry.dev/v1alpha1\n\tkind: Pipeline\n", []wantErr{{"ferry.yaml:2", "found a tab character that violates indentation"}}},
		{"bad indentation", pipeline("  - name: a\n  path: a\n"), []wantErr{{"ferry.yaml:4", "did not find expected '-' indicator"}}},
		{"syntax error on line 1", "a: b: c\n", []wantErr{{"ferry.yaml", "mapping values are not allowed in this context"}}},
		{"second document", pipeline(envA) + "---\nkind: Pipeline\n", []wantErr{{"ferry.yaml:7:1", "a second YAML document"}}},
		{"root is a list", "- a\n", []wantErr{{"ferry.yaml:1:1", "must be a mapping, got a list"}}},
		{"anchor and alias", pipeline("- &env {name: a, path: a, namespace: a}\n- *env\n"), []wantErr{
			{"ferry.yaml:4:3: environments[0]", "YAML anchors and aliases are not supported"},
			{"ferry.yaml:5:3: environments[1]", "YAML anchors and aliases are not supported"},
		}},
		{"anchor on a scalar", pipeline(envA + "  schedule: &s '@every 1m'\n"), []wantErr{{"ferry.yaml:7:13: environments[0].schedule", "anchors and aliases"}}},
		{"anchor on a key", pipeline(envA + "  &k pin: ''\n"), []wantErr{{"ferry.yaml:7:3: environments[0]", "anchors and aliases"}}},

		// Top-level fields.
		{"wrong apiVersion", "apiVersion: v1\nkind: Pipeline\nenvironments:\n" + envA, []wantErr{{"ferry.yaml:1:13: apiVersion", `must be "ferry.dev/v1alpha1", got "v1"`}}},
		{"missing kind", "apiVersion: ferry.dev/v1alpha1\nenvironments:\n" + envA, []wantErr{{"ferry.yaml:1:1: kind", `is required; want "Pipeline"`}}},
		{"wrong kind", "apiVersion: ferry.dev/v1alpha1\nkind: Deployment\nenvironments:\n" + envA, []wantErr{{"ferry.yaml:2:7: kind", `must be "Pipeline", got "Deployment"`}}},
		{"no environments", "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\n", []wantErr{{"ferry.yaml:1:1: environments", "must list at least one environment"}}},
		{"empty environments", "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments: []\n", []wantErr{{"ferry.yaml:3:15: environments", "must list at least one environment"}}},
		{"environments as a mapping", "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments: {a: {}}\n", []wantErr{{"ferry.yaml:3:15: environments", "must be a list, got a mapping"}}},
		{"unknown top-level field", pipeline(envA) + "environment: []\n", []wantErr{{"ferry.yaml:7:1: environment", "unknown field; known fields are apiVersion, environments, kind"}}},

		// Strict decoding of an environment.
		{"unknown field", pipeline(envA + "  prun: false\n"), []wantErr{{"ferry.yaml:7:3: environments[0].prun", "unknown field; known fields are allowEmpty, clusterScoped,"}}},
		{"duplicate key", pipeline(envA + "  name: b\n"), []wantErr{{"ferry.yaml:7:3: environments[0].name", "duplicate key; first at line 4"}}},
		{"control characters are escaped", pipeline(envA + "  \"pr\\nune\\u001b\": 1\n"), []wantErr{{`ferry.yaml:7:3: environments[0].pr\nune\x1b`, "unknown field"}}},
		{"key not a string", pipeline(envA + "  1: x\n"), []wantErr{{"ferry.yaml:7:3: environments[0]", `keys must be strings, got integer "1"`}}},
		{"environment not a mapping", pipeline("- staging\n"), []wantErr{{"ferry.yaml:4:3: environments[0]", `must be a mapping, got string "staging"`}}},
		{"list for a string", pipeline("- name: [a]\n  path: a\n  namespace: a\n"), []wantErr{{"ferry.yaml:4:9: environments[0].name", "must be a string, got a list"}}},
		{"integer for a string", pipeline("- name: 123\n  path: a\n  namespace: a\n"), []wantErr{{"ferry.yaml:4:9: environments[0].name", `must be a string, got integer "123" (quote it to make it a string)`}}},
		{"quoted boolean", pipeline(envA + "  prune: \"yes\"\n"), []wantErr{{"ferry.yaml:7:10: environments[0].prune", `must be true or false, got string "yes"`}}},
		{"YAML 1.1 boolean", pipeline(envA + "  allowEmpty: yes\n"), []wantErr{{"ferry.yaml:7:15: environments[0].allowEmpty", `must be true or false, got string "yes"`}}},

		// Environment values.
		{"name not a DNS label", pipeline("- name: Staging\n  path: a\n  namespace: a\n"), []wantErr{{"ferry.yaml:4:9: environments[0].name", `"Staging" is not a DNS label`}}},
		{"missing name", pipeline("- path: a\n  namespace: a\n"), []wantErr{{"ferry.yaml:4:3: environments[0].name", "is required"}}},
		{"null name", pipeline("- name: ~\n  path: a\n  namespace: a\n"), []wantErr{{"ferry.yaml:4:9: environments[0].name", "is required"}}},
		{"duplicate name", pipeline(envA + envA), []wantErr{{"ferry.yaml:7:9: environments[1].name", `duplicate environment name "a"; first at line 4`}}},
		{"missing path", pipeline("- name: a\n  namespace: a\n"), []wantErr{{"ferry.yaml:4:3: environments[0].path", "is required"}}},
		{"absolute path", pipeline("- name: a\n  path: /srv/a\n  namespace: a\n"), []wantErr{{"ferry.yaml:5:9: environments[0].path", `must be relative to the repository root, got "/srv/a"`}}},
		{"path leaves the repo", pipeline("- name: a\n  path: envs/../../a\n  namespace: a\n"), []wantErr{{"ferry.yaml:5:9: environments[0].path", "must stay inside the repository"}}},
		{"unclean path", pipeline("- name: a\n  path: envs//a/\n  namespace: a\n"), []wantErr{{"ferry.yaml:5:9: environments[0].path", `must be a clean path, got "envs//a/"; did you mean "envs/a"?`}}},
		{"backslashes", pipeline("- name: a\n  path: 'envs\\a'\n  namespace: a\n"), []wantErr{{"ferry.yaml:5:9: environments[0].path", "must use forward slashes"}}},
		{"namespace not a DNS label", pipeline("- name: a\n  path: a\n  namespace: kube_system\n"), []wantErr{{"ferry.yaml:6:14: environments[0].namespace", `"kube_system" is not a DNS label`}}},
		{"missing namespace", pipeline("- name: a\n  path: a\n"), []wantErr{{"ferry.yaml:4:3: environments[0].namespace", "is required"}}},
		{"shared namespace", pipeline(envA + "- name: b\n  path: b\n  namespace: a\n"), []wantErr{{"ferry.yaml:9:14: environments[1].namespace",
			`namespace "a" is also environment "a"'s, at ferry.yaml:6:14; each environment needs a namespace of its own, because ferry creates and prunes it with the environment: give "a" or "b" another namespace`}}},
		{"namespace shared by three", pipeline("- {name: d, path: d, namespace: shared}\n" + envA + "- {name: e, path: e, namespace: shared}\n- {name: f, path: f, namespace: shared}\n"), []wantErr{
			{"ferry.yaml:8:33: environments[2].namespace", `namespace "shared" is also environment "d"'s, at ferry.yaml:4:33;`},
			{"ferry.yaml:9:33: environments[3].namespace", `namespace "shared" is also environment "d"'s, at ferry.yaml:4:33; each environment needs a namespace of its own`},
		}},
		{"namespace of a bad environment", pipeline("- name: b\n  path: /b\n  namespace: a\n" + envA), []wantErr{
			{"ferry.yaml:5:9: environments[0].path", "must be relative"},
			{"ferry.yaml:9:14: environments[1].namespace", `namespace "a" is also environment "b"'s, at ferry.yaml:6:14`},
		}},
		{"bad schedule", pipeline(envA + "  schedule: every minute\n"), []wantErr{{"ferry.yaml:7:13: environments[0].schedule", `invalid cron schedule "every minute": expected exactly 5 fields`}}},
		{"schedule under a second", pipeline(envA + "  schedule: '@every 500ms'\n"), []wantErr{{"ferry.yaml:7:13: environments[0].schedule", "@every needs an interval of at least 1s, got 500ms"}}},
		{"time zone without schedule", pipeline(envA + "  schedule: TZ=UTC\n"), []wantErr{{"ferry.yaml:7:13: environments[0].schedule", "a time zone prefix must be followed by a space"}}},
		{"lower-case kind", pipeline(envA + "  clusterScoped: [namespace]\n"), []wantErr{{"ferry.yaml:7:19: environments[0].clusterScoped[0]", `"namespace" is not a kind: kinds are CamelCase`}}},
		{"duplicate kind", pipeline(envA + "  clusterScoped: [Namespace, Namespace]\n"), []wantErr{{"ferry.yaml:7:30: environments[0].clusterScoped[1]", `duplicate kind "Namespace"; first at line 7`}}},
		{"empty kind", pipeline(envA + "  clusterScoped: ['']\n"), []wantErr{{"ferry.yaml:7:19: environments[0].clusterScoped[0]", "must not be empty"}}},
		{"short pin", pipeline(envA + "  pin: 3f2a1c9\n"), []wantErr{{"ferry.yaml:7:8: environments[0].pin", `must be a full commit SHA (40 lowercase hex digits) or empty, got "3f2a1c9"`}}},
		{"upper-case pin", pipeline(envA + "  pin: 3F2A1C9D3F2A1C9D3F2A1C9D3F2A1C9D3F2A1C9D\n"), []wantErr{{"ferry.yaml:7:8: environments[0].pin", "must be a full commit SHA"}}},
		{"unquoted all-digit pin", pipeline(envA + "  pin: 1234567890123456789012345678901234567890\n"), []wantErr{{"ferry.yaml:7:8: environments[0].pin", "must be a string, got number"}}},

		// Promotion.
		{"promotion not a mapping", pipeline(envA + "  promotion: staging\n"), []wantErr{{"ferry.yaml:7:14: environments[0].promotion", `must be a mapping, got string "staging"`}}},
		{"promotion without from", pipeline(envA + "  promotion: {auto: true}\n"), []wantErr{{"ferry.yaml:7:14: environments[0].promotion.from", "is required"}}},
		{"from an unknown environment", pipeline(envA + envB + "  promotion: {from: c}\n"), []wantErr{{"ferry.yaml:10:21: environments[1].promotion.from", `no environment is called "c"`}}},
		{"from itself", pipeline(envA + envB + "  promotion: {from: b}\n"), []wantErr{{"ferry.yaml:10:21: environments[1].promotion.from", `must name another environment, not "b" itself`}}},
		{"promotion cycle", pipeline(envA + "  promotion: {from: b}\n" + envB + "  promotion: {from: a}\n"), []wantErr{{"ferry.yaml:7:21: environments[0].promotion.from", "promotion cycle a → b → a"}}},
		{"empty image", pipeline(envA + envB + "  promotion: {from: a, images: [gceme, '']}\n"), []wantErr{{"ferry.yaml:10:40: environments[1].promotion.images[1]", "must not be empty"}}},
		{"duplicate image", pipeline(envA + envB + "  promotion: {from: a, images: [gceme, gceme]}\n"), []wantErr{{"ferry.yaml:10:40: environments[1].promotion.images[1]", `duplicate image "gceme"; first at line 10`}}},
		{"unknown mode", pipeline(envA + envB + "  promotion: {from: a, mode: commits}\n"), []wantErr{{"ferry.yaml:10:30: environments[1].promotion.mode", `must be images or revision, got "commits"`}}},
		{"revision mode without a pin", pipeline(envA + envB + "  promotion: {from: a, mode: revision}\n"), []wantErr{{"ferry.yaml:10:30: environments[1].promotion.mode", "mode revision moves the environment's pin: set pin: to the commit SHA b runs now"}}},
		{"revision mode with images", pipeline(envA + envB + "  pin: 3f2a1c9d3f2a1c9d3f2a1c9d3f2a1c9d3f2a1c9d\n  promotion: {from: a, mode: revision, images: [gceme]}\n"), []wantErr{{"ferry.yaml:11:48: environments[1].promotion.images", "is for mode images only: mode revision promotes the whole revision, every image with it"}}},
		{"negative after", pipeline(envA + envB + "  promotion: {from: a, after: -1m}\n"), []wantErr{{"ferry.yaml:10:31: environments[1].promotion.after", "must not be negative, got -1m0s"}}},
		{"after without a unit", pipeline(envA + envB + "  promotion: {from: a, after: 10}\n"), []wantErr{{"ferry.yaml:10:31: environments[1].promotion.after", `must be a duration such as 90s or 10m: time: missing unit in duration "10"`}}},
		{"after as a list", pipeline(envA + envB + "  promotion: {from: a, after: [10m]}\n"), []wantErr{{"ferry.yaml:10:31: environments[1].promotion.after", "must be a duration such as 90s or 10m, got a list"}}},
		{"auto as a string", pipeline(envA + envB + "  promotion: {from: a, auto: 'true'}\n"), []wantErr{{"ferry.yaml:10:30: environments[1].promotion.auto", `must be true or false, got string "true"`}}},

		// Rollout.
		{"rollout without stages", pipeline(envA + "  rollout: {onFailure: halt}\n"), []wantErr{{"ferry.yaml:7:12: environments[0].rollout.stages", "must list at least one stage"}}},
		{"rollout with no stages", pipeline(envA + "  rollout: {stages: []}\n"), []wantErr{{"ferry.yaml:7:21: environments[0].rollout.stages", "must list at least one stage"}}},
		{"stage without selector", pipeline(envA + "  rollout: {stages: [{name: one}, {name: two}]}\n"), []wantErr{{"ferry.yaml:7:22: environments[0].rollout.stages[0].selector", "is required on every stage but the last"}}},
		{"last stage with selector", pipeline(envA + "  rollout: {stages: [{name: all, selector: {matchLabels: {a: b}}}]}\n"), []wantErr{{"ferry.yaml:7:44: environments[0].rollout.stages[0].selector", "must be left out on the last stage"}}},
		{"empty selector", pipeline(envA + "  rollout: {stages: [{name: one, selector: {}}, {name: all}]}\n"), []wantErr{{"ferry.yaml:7:44: environments[0].rollout.stages[0].selector", "must match some labels"}}},
		{"unknown selector field", pipeline(envA + "  rollout: {stages: [{name: one, selector: {labels: {a: b}}}, {name: all}]}\n"), []wantErr{{"ferry.yaml:7:45: environments[0].rollout.stages[0].selector.labels", "unknown field; known fields are matchExpressions, matchLabels"}}},
		{"bad label value", pipeline(envA + "  rollout: {stages: [{name: one, selector: {matchLabels: {track: 'can ary'}}}, {name: all}]}\n"), []wantErr{{"ferry.yaml:7:66: environments[0].rollout.stages[0].selector.matchLabels[track]", `invalid label selector: values[0][track]: Invalid value: "can ary"`}}},
		{"label value not a string", pipeline(envA + "  rollout: {stages: [{name: one, selector: {matchLabels: {canary: true}}}, {name: all}]}\n"), []wantErr{{"ferry.yaml:7:67: environments[0].rollout.stages[0].selector.matchLabels[canary]", `must be a string, got boolean "true"`}}},
		{"bad operator", pipeline(envA + "  rollout: {stages: [{name: one, selector: {matchExpressions: [{key: a, operator: Is}]}}, {name: all}]}\n"), []wantErr{{"ferry.yaml:7:64: environments[0].rollout.stages[0].selector.matchExpressions[0]", `"Is" is not a valid label selector operator`}}},
		// Analysis, on line 11.
		{"analysis longer than the soak", pipeline(envA + stageA + "        soak: 10s\n        analysis: {checks: [{name: e, prometheus: {address: 'http://p', query: up}, max: 1}]}\n"),
			[]wantErr{{"ferry.yaml:11:19: environments[0].rollout.stages[0].analysis", "is evaluated every 30s while the stage soaks, but soak is 10s"}}},
		{"analysis without checks", pipeline(envA + stageA + "        soak: 1m\n        analysis: {interval: 0s, failureLimit: 0}\n"), []wantErr{
			{"ferry.yaml:11:19: environments[0].rollout.stages[0].analysis.checks", "must list at least one check"},
			{"ferry.yaml:11:30: environments[0].rollout.stages[0].analysis.interval", "must be positive, got 0s"},
			{"ferry.yaml:11:48: environments[0].rollout.stages[0].analysis.failureLimit", "must be at least 1, got 0"},
		}},
		{"check without a kind", pipeline(envA + stageA + "        soak: 1m\n        analysis: {checks: [{name: e}]}\n"),
			[]wantErr{{"ferry.yaml:11:29: environments[0].rollout.stages[0].analysis.checks[0]", "needs prometheus or webhook"}}},
		{"check of both kinds", pipeline(envA + stageA + "        soak: 1m\n        analysis: {checks: [{name: e, prometheus: {address: 'http://p', query: up}, max: 1, webhook: {url: 'http://w'}}]}\n"),
			[]wantErr{{"ferry.yaml:11:102: environments[0].rollout.stages[0].analysis.checks[0].webhook", "either prometheus or webhook, not both"}}},
		{"prometheus check without bounds", pipeline(envA + stageA + "        soak: 1m\n        analysis: {checks: [{name: e, prometheus: {address: 'http://p', query: up}}]}\n"),
			[]wantErr{{"ferry.yaml:11:29: environments[0].rollout.stages[0].analysis.checks[0]", "needs min, max or both"}}},
		{"min above max", pipeline(envA + stageA + "        soak: 1m\n        analysis: {checks: [{name: e, prometheus: {address: 'http://p', query: up}, min: 2, max: 1}]}\n"),
			[]wantErr{{"ferry.yaml:11:98: environments[0].rollout.stages[0].analysis.checks[0].max", "must not be less than min (2), got 1"}}},
		{"bound not a number", pipeline(envA + stageA + "        soak: 1m\n        analysis: {checks: [{name: e, prometheus: {address: 'http://p', query: up}, max: .nan}]}\n"),
			[]wantErr{{"ferry.yaml:11:90: environments[0].rollout.stages[0].analysis.checks[0].max", "must be a finite number"}}},
		{"unknown placeholder", pipeline(envA + stageA + "        soak: 1m\n        analysis: {checks: [{name: e, prometheus: {address: 'http://p', query: 'up{app=\"{{app}}\"}'}, max: 1}]}\n"),
			[]wantErr{{"ferry.yaml:11:80: environments[0].rollout.stages[0].analysis.checks[0].prometheus.query", "unknown placeholder {{app}}; known are {{env}}, {{namespace}}, {{revision}}, {{stage}}"}}},
		{"webhook URL without scheme, secret not repeated", pipeline(envA + stageA + "        soak: 1m\n        analysis: {checks: [{name: e, webhook: {url: 'smoke/run?token=s3cret', timeout: 0s}, max: 1}]}\n"), []wantErr{
			{"ferry.yaml:11:54: environments[0].rollout.stages[0].analysis.checks[0].webhook.url", `must be an http or https URL, got scheme ""`},
			{"ferry.yaml:11:89: environments[0].rollout.stages[0].analysis.checks[0].webhook.timeout", "must be positive, got 0s"},
			{"ferry.yaml:11:99: environments[0].rollout.stages[0].analysis.checks[0].max", "applies to prometheus checks only"},
		}},
		{"check names are unique in a stage", pipeline(envA + stageA + "        soak: 1m\n        analysis: {checks: [{name: e, webhook: {url: 'http://w'}}, {name: e, webhook: {url: 'http://w'}}]}\n"),
			[]wantErr{{"ferry.yaml:11:75: environments[0].rollout.stages[0].analysis.checks[1].name", `duplicate check name "e"; first at line 11`}}},
		// Deploy windows and approval.
		{"window errors", pipeline(envA + "  windows:\n  - {deny: 'not cron', duration: 0s}\n  - {allow: '@every 1h', duration: 1h}\n  - {duration: 1h}\n  - {deny: '0 17 * * FRI', allow: '0 9 * * *', duration: 1h}\n"), []wantErr{
			{"ferry.yaml:8:12: environments[0].windows[0].deny", `invalid cron spec "not cron"`},
			{"ferry.yaml:8:34: environments[0].windows[0].duration", "must be positive (how long the window stays open), got 0s"},
			{"ferry.yaml:9:13: environments[0].windows[1].allow", "not @every"},
			{"ferry.yaml:10:5: environments[0].windows[2]", "needs deny or allow"},
			{"ferry.yaml:11:5: environments[0].windows[3]", "either deny or allow, not both"},
		}},
		{"window of an unknown environment", pipeline(envA) + "windows:\n- {deny: '0 17 * * FRI', duration: 64h, environments: [a, prod]}\n",
			[]wantErr{{"ferry.yaml:8:59: windows[0].environments[1]", `no environment "prod" in ferry.yaml`}}},
		{"environments only on top-level windows", pipeline(envA + "  windows:\n  - {deny: '0 17 * * FRI', duration: 64h, environments: [a]}\n"),
			[]wantErr{{"ferry.yaml:8:43: environments[0].windows[0].environments", "unknown field; known fields are allow, deny, duration"}}},
		{"approval other than manual", pipeline(envA + "  rollout: {stages: [{name: one, selector: {matchLabels: {a: b}}, approval: auto}, {name: all}]}\n"),
			[]wantErr{{"ferry.yaml:7:77: environments[0].rollout.stages[0].approval", `must be manual or left out, got "auto"`}}},
		{"stage name not a DNS label", pipeline(envA + "  rollout: {stages: [{name: All}]}\n"), []wantErr{{"ferry.yaml:7:29: environments[0].rollout.stages[0].name", `"All" is not a DNS label`}}},
		{"duplicate stage name", pipeline(envA + "  rollout: {stages: [{name: x, selector: {matchLabels: {a: b}}}, {name: x}]}\n"), []wantErr{{"ferry.yaml:7:73: environments[0].rollout.stages[1].name", `duplicate stage name "x"; first at line 7`}}},
		{"negative soak", pipeline(envA + "  rollout: {stages: [{name: x, selector: {matchLabels: {a: b}}, soak: -2m}, {name: y}]}\n"), []wantErr{{"ferry.yaml:7:71: environments[0].rollout.stages[0].soak", "must not be negative, got -2m0s"}}},
		{"bad onFailure", pipeline(envA + "  rollout: {stages: [{name: all}], onFailure: rollback}\n"), []wantErr{{"ferry.yaml:7:47: environments[0].rollout.onFailure", `must be halt or revert, got "rollback"`}}},
		{"zero timeout", pipeline(envA + "  rollout: {stages: [{name: all}], timeout: 0s}\n"), []wantErr{{"ferry.yaml:7:45: environments[0].rollout.timeout", "must be positive, got 0s"}}},

		// Limits.
		{"too large", strings.Repeat("#", MaxFileSize+1), []wantErr{{"ferry.yaml", "larger than the limit of 1048576 bytes"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse: got %+v, want an error", p)
			}
			if p != nil {
				t.Errorf("Parse: got a pipeline with the error %v, want nil", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Parse: got %d errors, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w.at+": ") || !strings.Contains(lines[i], w.msg) {
					t.Errorf("Parse error %d:\n got: %s\nwant: %s: …%s…", i, lines[i], w.at, w.msg)
				}
			}
		})
	}
}

// TestParseReportsEveryError checks that one run reports every problem, sorted by position,
// including those found only after the whole file was read (the duplicate name, the cycle).
func TestParseReportsEveryError(t *testing.T) {
	in := `apiVersion: ferry.dev/v2
environments:
  - name: staging
    path: environments/staging
    namespace: staging
    promotion: {from: production}
    prune: "no"
  - name: production
    path: environments/production/
    namespace: production
    promotion: {from: staging}
    rollout:
      stages:
        - name: canary
          soak: 2
        - name: all
  - name: staging
    paht: environments/staging
`
	want := []string{
		`ferry.yaml:1:1: kind: is required; want "Pipeline"`,
		`ferry.yaml:1:13: apiVersion: must be "ferry.dev/v1alpha1", got "ferry.dev/v2"`,
		`ferry.yaml:6:23: environments[0].promotion.from: promotion cycle staging → production → staging; promotions must form a graph without cycles`,
		`ferry.yaml:7:12: environments[0].prune: must be true or false, got string "no"`,
		`ferry.yaml:9:11: environments[1].path: must be a clean path, got "environments/production/"; did you mean "environments/production"?`,
		`ferry.yaml:14:11: environments[1].rollout.stages[0].selector: is required on every stage but the last`,
		`ferry.yaml:15:17: environments[1].rollout.stages[0].soak: must be a duration such as 90s or 10m: time: missing unit in duration "2"`,
		`ferry.yaml:17:5: environments[2].path: is required`,
		`ferry.yaml:17:5: environments[2].namespace: is required`,
		`ferry.yaml:17:11: environments[2].name: duplicate environment name "staging"; first at line 3`,
		`ferry.yaml:18:5: environments[2].paht: unknown field; known fields are allowEmpty, clusterScoped, decryption, name, namespace, path, pin, promotion, prune, rollout, schedule, secrets, windows`,
	}
	_, err := Parse([]byte(in))
	if err == nil {
		t.Fatal("Parse: got no error")
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("Parse errors (-want +got):\n%s", diff)
	}
}
