package environments

import (
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"filippo.io/age"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// commitSHA is a full SHA-1 commit name as git prints it.
var commitSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// validate checks the decoded pipeline p against the rules of DESIGN.md and records every
// problem in r.
func validate(p *Pipeline, r *report) {
	r.exactly("apiVersion", p.APIVersion, APIVersion)
	r.exactly("kind", p.Kind, Kind)
	if len(p.Environments) == 0 {
		r.errorf("environments", "must list at least one environment")
	}
	names := map[string]string{}
	namespaces := map[string]int{}
	for i := range p.Environments {
		e := &p.Environments[i]
		at := index("environments", i)
		validateEnvironment(r, e, at)
		r.once(names, field(at, "name"), "environment name", e.Name)
		validateNamespaceOwner(r, p.Environments, namespaces, i)
	}
	validatePromotions(r, p.Environments)
	validateWindows(r, p.Windows, "windows", p)
	validateNotifications(r, p.Notifications, "notifications", p)
}

// validateNamespaceOwner reports the i-th environment when an earlier one, recorded in owner
// (namespace -> index), has the same namespace. Each environment owns its namespace: ferry
// creates it and may prune it, so a shared one would let pruning one environment delete the
// other's objects. The error names both positions and says how to fix it. A copy of an
// earlier environment (same name too) is reported only as a duplicate name.
func validateNamespaceOwner(r *report, envs []Environment, owner map[string]int, i int) {
	ns := envs[i].Namespace
	if ns == "" {
		return
	}
	j, dup := owner[ns]
	if !dup {
		owner[ns] = i
		return
	}
	if envs[j].Name == envs[i].Name {
		return // a duplicate name, reported once as such
	}
	first := field(index("environments", j), "namespace")
	r.errorf(field(index("environments", i), "namespace"),
		"namespace %q is also environment %q's, at %s; each environment needs a namespace of its own, "+
			"because ferry creates and prunes it with the environment: give %q or %q another namespace",
		ns, envs[j].Name, r.position(first), envs[j].Name, envs[i].Name)
}

func validateEnvironment(r *report, e *Environment, at string) {
	r.dnsLabel(field(at, "name"), e.Name)
	validateOverlayPath(r, field(at, "path"), e.Path)
	r.dnsLabel(field(at, "namespace"), e.Namespace)
	if _, err := parseSchedule(e.Schedule); err != nil {
		r.errorf(field(at, "schedule"), "invalid cron schedule %q: %w", e.Schedule, err)
	}
	validateKinds(r, field(at, "clusterScoped"), e.ClusterScoped)
	if e.Pin != "" && !commitSHA.MatchString(e.Pin) {
		r.errorf(field(at, "pin"), "must be a full commit SHA (40 lowercase hex digits) or empty, got %q", e.Pin)
	}
	if pr := e.Promotion; pr != nil {
		validatePromotion(r, pr, field(at, "promotion"))
		validatePromotionMode(r, e, field(at, "promotion"))
	}
	if ro := e.Rollout; ro != nil {
		validateRollout(r, ro, field(at, "rollout"))
	}
	validateWindows(r, e.Windows, field(at, "windows"), nil)
	if dc := e.Decryption; dc != nil {
		validateDecryption(r, dc, field(at, "decryption"))
	}
	if e.Secrets != SecretsAny && e.Secrets != SecretsEncryptedOnly {
		r.errorf(field(at, "secrets"), "must be %s or left out, got %q", SecretsEncryptedOnly, e.Secrets)
	}
}

// validateDecryption checks the provider and that every recipient is an age public key, so
// that a typo cannot silently leave an environment without a key.
func validateDecryption(r *report, dc *Decryption, at string) {
	if dc.Provider != DecryptionSOPS {
		r.errorf(field(at, "provider"), "must be %s, got %q", DecryptionSOPS, dc.Provider)
	}
	seen := map[string]string{}
	for i, rcpt := range dc.Recipients {
		p := index(field(at, "recipients"), i)
		if _, err := age.ParseRecipients(strings.NewReader(rcpt)); err != nil || strings.ContainsAny(strings.TrimSpace(rcpt), "\n#") {
			r.errorf(p, "%q is not an age recipient (a public key like age1…)", rcpt)
			continue
		}
		r.once(seen, p, "recipient", rcpt)
	}
}

// validateOverlayPath allows "." for a repository whose root is itself the only overlay.
func validateOverlayPath(r *report, at, p string) {
	switch {
	case p == "":
		r.errorf(at, "is required")
	case strings.Contains(p, `\`):
		r.errorf(at, "must use forward slashes, got %q", p)
	case path.IsAbs(p):
		r.errorf(at, "must be relative to the repository root, got %q", p)
	case slices.Contains(strings.Split(p, "/"), ".."):
		r.errorf(at, "must stay inside the repository (no \"..\"), got %q", p)
	case path.Clean(p) != p:
		r.errorf(at, "must be a clean path, got %q; did you mean %q?", p, path.Clean(p))
	}
}

// validateKinds checks the clusterScoped kinds. Kubernetes requires a CRD's kind to be a
// DNS-1035 label once lower-cased; ferry also wants its first letter upper-case, as every
// built-in and conventional custom kind has it, because a lower-case entry like "namespace"
// would silently match nothing.
func validateKinds(r *report, at string, kinds []string) {
	seen := map[string]string{}
	for i, k := range kinds {
		p := index(at, i)
		if k == "" {
			r.errorf(p, "must not be empty")
			continue
		}
		if errs := validation.IsDNS1035Label(strings.ToLower(k)); len(errs) > 0 {
			r.errorf(p, "%q is not a kind: %s", k, strings.Join(errs, "; "))
			continue
		}
		if k[0] < 'A' || k[0] > 'Z' {
			r.errorf(p, "%q is not a kind: kinds are CamelCase, like ClusterRole", k)
			continue
		}
		r.once(seen, p, "kind", k)
	}
}

func validatePromotion(r *report, pr *Promotion, at string) {
	if pr.From == "" {
		r.errorf(field(at, "from"), "is required")
	}
	seen := map[string]string{}
	for i, img := range pr.Images {
		p := index(field(at, "images"), i)
		if img == "" {
			r.errorf(p, "must not be empty")
			continue
		}
		r.once(seen, p, "image", img)
	}
	if pr.After < 0 {
		r.errorf(field(at, "after"), "must not be negative, got %s", pr.After)
	}
}

func validateRollout(r *report, ro *Rollout, at string) {
	stages := field(at, "stages")
	if len(ro.Stages) == 0 {
		r.errorf(stages, "must list at least one stage; the last one selects everything")
	}
	seen := map[string]string{}
	for i := range ro.Stages {
		s := &ro.Stages[i]
		p := index(stages, i)
		validateStage(r, s, p, i == len(ro.Stages)-1)
		r.once(seen, field(p, "name"), "stage name", s.Name)
	}
	if ro.OnFailure != Halt && ro.OnFailure != Revert {
		r.errorf(field(at, "onFailure"), "must be %s or %s, got %q", Halt, Revert, ro.OnFailure)
	}
	if ro.Timeout <= 0 {
		r.errorf(field(at, "timeout"), "must be positive, got %s", ro.Timeout)
	}
}

func validateStage(r *report, s *Stage, at string, last bool) {
	r.dnsLabel(field(at, "name"), s.Name)
	sel := field(at, "selector")
	switch {
	case last && s.Selector != nil:
		r.errorf(sel, "must be left out on the last stage, which always selects everything")
	case !last && s.Selector == nil:
		r.errorf(sel, "is required on every stage but the last")
	case !last:
		validateSelector(r, s.Selector, sel)
	}
	if s.Soak < 0 {
		r.errorf(field(at, "soak"), "must not be negative, got %s", s.Soak)
	}
	if s.Analysis != nil {
		validateAnalysis(r, s.Analysis, s.Soak, field(at, "analysis"))
	}
	if s.Approval != "" && s.Approval != ApprovalManual {
		r.errorf(field(at, "approval"), "must be %s or left out, got %q", ApprovalManual, s.Approval)
	}
}

// validateSelector checks each label and expression on its own, so that every bad one is
// reported at its own position, in a stable order.
func validateSelector(r *report, s *metav1.LabelSelector, at string) {
	if len(s.MatchLabels)+len(s.MatchExpressions) == 0 {
		r.errorf(at, "must match some labels; only the last stage selects everything")
		return
	}
	for _, k := range slices.Sorted(maps.Keys(s.MatchLabels)) {
		one := &metav1.LabelSelector{MatchLabels: map[string]string{k: s.MatchLabels[k]}}
		if _, err := metav1.LabelSelectorAsSelector(one); err != nil {
			r.errorf(mapKey(field(at, "matchLabels"), k), "invalid label selector: %w", err)
		}
	}
	for i, req := range s.MatchExpressions {
		one := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req}}
		if _, err := metav1.LabelSelectorAsSelector(one); err != nil {
			r.errorf(index(field(at, "matchExpressions"), i), "invalid label selector: %w", err)
		}
	}
}

// exactly reports the field at path unless it holds want.
func (r *report) exactly(path, got, want string) {
	switch got {
	case want:
	case "":
		r.errorf(path, "is required; want %q", want)
	default:
		r.errorf(path, "must be %q, got %q", want, got)
	}
}

// dnsLabel reports the field at path unless it holds a DNS-1123 label.
func (r *report) dnsLabel(path, value string) {
	if value == "" {
		r.errorf(path, "is required")
		return
	}
	if errs := validation.IsDNS1123Label(value); len(errs) > 0 {
		r.errorf(path, "%q is not a DNS label: %s", value, strings.Join(errs, "; "))
	}
}

// once reports value, found at path, when seen holds it already, and otherwise adds it with
// its path. Empty values are left to the required-field checks.
func (r *report) once(seen map[string]string, path, what, value string) {
	if value == "" {
		return
	}
	if first, dup := seen[value]; dup {
		r.errorf(path, "duplicate %s %q; first at line %d", what, value, r.line(first))
		return
	}
	seen[value] = path
}
