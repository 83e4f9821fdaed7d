package environments

import (
	"fmt"
	"io"
	"io/fs"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FileName is the name of the pipeline file at the root of the config repository.
const FileName = "ferry.yaml"

// MaxFileSize is the size limit of ferry.yaml, 1 MiB: a pipeline of a hundred environments
// fits in a few dozen KiB, so anything larger is a mistake or an attack, and refusing it keeps
// parsing time and memory bounded.
const MaxFileSize = 1 << 20

// APIVersion and Kind are the only apiVersion and kind ferry.yaml may declare.
const (
	APIVersion = "ferry.dev/v1alpha1"
	Kind       = "Pipeline"
)

// Defaults for the fields that ferry.yaml may leave out; applyDefaults applies them.
const (
	DefaultSchedule       = "@every 1m"      // Environment.Schedule
	DefaultPromotionAfter = 10 * time.Minute // Promotion.After
	DefaultRolloutTimeout = 5 * time.Minute  // Rollout.Timeout
	DefaultInterval       = 30 * time.Second // Analysis.Interval
	DefaultFailureLimit   = 1                // Analysis.FailureLimit
	DefaultWebhookTimeout = 30 * time.Second // WebhookCheck.Timeout
)

// Pipeline is a parsed and validated ferry.yaml.
type Pipeline struct {
	APIVersion   string
	Kind         string
	Environments []Environment // in file order
	// Windows are the top-level deploy windows; each applies to its Environments, or to all.
	Windows []Window
	// Notifications are the receivers the agent tells about events (see Notification).
	Notifications []Notification
}

// Environment is one kustomize overlay that ferry syncs into one namespace.
type Environment struct {
	Name      string // DNS label, unique in the pipeline
	Path      string // overlay directory, slash-separated and relative to the repository root
	Namespace string // namespaced objects land here; a DNS label
	Schedule  string // robfig/cron spec, as accepted by cron.ParseStandard; default "@every 1m"
	Prune     bool   // delete objects removed from the overlay; default true
	// AllowEmpty lets a render yield zero objects; otherwise that is an error (and it never
	// prunes either way). Default false.
	AllowEmpty bool
	// ClusterScoped lists the kinds allowed outside a namespace. Empty allows only the
	// environment's own Namespace object.
	ClusterScoped []string
	Pin           string // "" follows the branch; else a full 40-hex commit SHA
	// PinPosition is where pin: is in ferry.yaml, "ferry.yaml:LINE:COL"; "" when the file
	// has no pin: for this environment. `ferry validate` points there when the pin is unknown.
	PinPosition string
	Promotion   *Promotion // nil when ferry.yaml has no promotion for this environment
	Rollout     *Rollout   // nil when ferry.yaml has no rollout for this environment
	// Windows are the environment's own deploy windows (see Pipeline.WindowsOf for all that
	// apply to it).
	Windows []Window
	// Decryption is how the render decrypts SOPS-encrypted files; nil when ferry.yaml has
	// none, and then an encrypted file is an error.
	Decryption *Decryption
	// Secrets is the policy for plain-text Secrets: SecretsAny (the default) or
	// SecretsEncryptedOnly.
	Secrets SecretsPolicy
}

// Decryption says how an environment's render decrypts SOPS files.
type Decryption struct {
	Provider string // DecryptionSOPS, the only provider
	// Recipients are the age public keys (age1…) whose identities this environment may use:
	// of the identities in SOPS_AGE_KEY_FILE and SOPS_AGE_KEY, only those whose recipient is
	// listed are offered to sops, so that one environment cannot decrypt another's files.
	// Empty offers every identity.
	Recipients []string
}

// DecryptionSOPS is the value of Decryption.Provider for SOPS with age keys.
const DecryptionSOPS = "sops"

// SecretsPolicy is an environment's policy for Secrets in its render.
type SecretsPolicy string

// The values of SecretsPolicy.
const (
	SecretsAny SecretsPolicy = "" // plain-text and encrypted Secrets are both applied
	// SecretsEncryptedOnly refuses a Secret manifest that is not sops-encrypted, a
	// secretGenerator literal, and a secretGenerator source file that is not sops-encrypted.
	SecretsEncryptedOnly SecretsPolicy = "encrypted-only"
)

// Promotion says where an environment's changes come from and how they move.
type Promotion struct {
	From string // the source environment
	// Mode is PromotionImages (the default: image tags are copied from From's overlay) or
	// PromotionRevision (the environment's pin moves to the revision From is healthy at).
	Mode   PromotionMode
	Images []string // image names whose tags move; empty moves all of From's images (images mode only)
	Auto   bool     // the agent opens the pull request once From is healthy for After
	After  time.Duration
}

// PromotionMode is what a promotion moves.
type PromotionMode string

// The values of PromotionMode.
const (
	// PromotionImages copies image tags from the source's overlay into the target's.
	PromotionImages PromotionMode = "images"
	// PromotionRevision moves the target's pin: to the revision the source has applied and is
	// healthy at, so every change (bases, ConfigMaps, limits) passes the source first. The
	// target must have a pin.
	PromotionRevision PromotionMode = "revision"
)

// Rollout is the staged rollout of an environment.
type Rollout struct {
	Stages    []Stage // at least one; the last selects everything and prunes
	OnFailure OnFailure
	Timeout   time.Duration // health wait per stage; default 5m
}

// Stage is one step of a rollout.
type Stage struct {
	Name string
	// Selector picks the objects this stage applies. It is set on every stage but the last,
	// which is nil and means "everything".
	Selector *metav1.LabelSelector
	Soak     time.Duration // how long the stage stays healthy before the next one starts
	// Approval is ApprovalManual when the stage waits, after its soak and analysis, for
	// `ferry approve`; "" when it goes on by itself.
	Approval string
	// Analysis holds the checks evaluated while the stage soaks; nil when there are none.
	Analysis *Analysis
	// Position is where the stage's selector (or, without one, the stage) is in ferry.yaml,
	// as "ferry.yaml:LINE:COL": errors found only once the render is known point there.
	Position string
}

// Analysis is the set of checks a stage evaluates every Interval while it soaks.
type Analysis struct {
	Interval time.Duration // between evaluations; default 30s
	// FailureLimit is how many consecutive failed evaluations of one check fail the stage;
	// default 1.
	FailureLimit int
	Checks       []Check // at least one
}

// Check is one analysis check: exactly one of Prometheus and Webhook is set.
type Check struct {
	Name       string // DNS label, unique in the stage
	Prometheus *PrometheusCheck
	Webhook    *WebhookCheck
	// Min and Max bound a Prometheus check's value (nil: no bound); at least one is set.
	Min, Max *float64
}

// PrometheusCheck is an instant query whose result must be one sample within the check's
// bounds. Query may hold the placeholders {{env}}, {{namespace}}, {{revision}}, {{stage}}.
type PrometheusCheck struct {
	Address string // base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090
	Query   string
}

// WebhookCheck is a POST of the rollout's JSON description to URL; a 2xx answer within Timeout
// passes. URL may hold the placeholders and a secret (never logged).
type WebhookCheck struct {
	URL     string
	Timeout time.Duration // default 30s
}

// ApprovalManual is the value of Stage.Approval for a stage that waits for `ferry approve`.
const ApprovalManual = "manual"

// OnFailure is what a rollout does when a stage does not become healthy in time.
type OnFailure string

// The values of OnFailure.
const (
	Halt   OnFailure = "halt"   // stop the rollout where it is (the default)
	Revert OnFailure = "revert" // stop and open a pull request that reverts the change
)

// applyDefaults sets the documented defaults on a value the decoder has just allocated,
// before it decodes the file's fields over it. A field the file sets therefore wins even when
// it sets the zero value (prune: false, after: 0s), and a field the file leaves out, or sets
// to null, keeps its default. This is the only place defaults live.
func applyDefaults(v any) {
	switch v := v.(type) {
	case *Environment:
		v.Schedule = DefaultSchedule
		v.Prune = true
	case *Promotion:
		v.After = DefaultPromotionAfter
		v.Mode = PromotionImages
	case *Rollout:
		v.OnFailure = Halt
		v.Timeout = DefaultRolloutTimeout
	case *Analysis:
		v.Interval = DefaultInterval
		v.FailureLimit = DefaultFailureLimit
	case *WebhookCheck:
		v.Timeout = DefaultWebhookTimeout
	case *Decryption:
		v.Provider = DecryptionSOPS
	}
}

// Parse decodes ferry.yaml's bytes strictly, applies defaults and validates the pipeline.
// On error it returns nil and every problem found, joined with errors.Join in file order, one
// per line, each as "ferry.yaml:LINE:COL: field.path: message"; past 100 problems, a last
// line counts the rest. YAML syntax errors carry a line but no column. Input larger than
// MaxFileSize and documents with YAML anchors or aliases are refused.
func Parse(data []byte) (*Pipeline, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than the limit of %d bytes", FileName, MaxFileSize)
	}
	root, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	r := newReport()
	p := decodePipeline(root, r)
	validate(p, r)
	if err := r.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// Load reads FileName from the root of fsys and parses it with Parse. It reads at most
// MaxFileSize+1 bytes, so a huge file costs no more than that. On error it returns nil and
// the error from fsys (naming the file, matching fs.ErrNotExist when it is missing) or Parse.
func Load(fsys fs.FS) (*Pipeline, error) {
	f, err := fsys.Open(FileName)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", FileName, err)
	}
	return Parse(data)
}

// Environment returns the environment called name, and false when the pipeline has none.
func (p *Pipeline) Environment(name string) (*Environment, bool) {
	for i := range p.Environments {
		if p.Environments[i].Name == name {
			return &p.Environments[i], true
		}
	}
	return nil, false
}
