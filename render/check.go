package render

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// checker walks an overlay's kustomizations before kustomize runs, because kustomize would act
// on some inputs before any file-system check could stop it: it clones remote bases by running
// `git`, fetches http(s) files, and runs plugins. It refuses remote references, plugins, KRM
// functions and Helm, and reports kustomization cycles with the whole chain.
type checker struct {
	fs    *kustFS
	stack []string        // kustomization folders being walked, outermost first
	done  map[string]bool // folders already checked
	// encryptedOnly refuses plain-text Secrets (secrets: encrypted-only).
	encryptedOnly bool
}

// check walks the kustomization in folder dir (repository-relative) and everything it
// references.
func (c *checker) check(dir string) error {
	resolved, err := c.fs.t.resolve(dir)
	if err != nil {
		return err
	}
	for i, s := range c.stack {
		if s == resolved {
			chain := append(append([]string{}, c.stack[i:]...), resolved)
			return fmt.Errorf("kustomization cycle: %s", strings.Join(chain, " → "))
		}
	}
	if c.done[resolved] {
		return nil
	}
	file, k, err := c.load(resolved)
	if err != nil {
		return err
	}
	c.stack = append(c.stack, resolved)
	defer func() { c.stack = c.stack[:len(c.stack)-1] }()
	if err := c.checkFields(resolved, k); err != nil {
		return &Error{File: file, Err: err}
	}
	c.done[resolved] = true
	return nil
}

// load finds and parses the kustomization file in dir and returns its repository path.
func (c *checker) load(dir string) (string, *types.Kustomization, error) {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		file := path.Join(dir, name)
		data, err := c.fs.ReadFile(path.Join(virtualRoot, file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return file, nil, &Error{File: file, Err: err}
		}
		var k types.Kustomization
		if err := k.Unmarshal(data); err != nil {
			return file, nil, &Error{File: file, Err: err}
		}
		return file, &k, nil
	}
	return "", nil, &Error{File: dirName(dir), Err: errors.New("no kustomization.yaml, kustomization.yml or Kustomization in this folder")}
}

func dirName(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}

// checkFields refuses what must never run and descends into local bases and components.
func (c *checker) checkFields(dir string, k *types.Kustomization) error {
	if len(k.HelmCharts) > 0 || k.HelmGlobals != nil || len(k.HelmChartInflationGenerator) > 0 {
		return errors.New("helmCharts are not supported: ferry renders only plain kustomize (render the chart into the repository instead)")
	}
	for _, field := range [][]string{k.Generators, k.Transformers, k.Validators} {
		for _, entry := range field {
			if err := c.checkPluginEntry(dir, entry); err != nil {
				return err
			}
		}
	}
	c.prefetch(dir, k.Resources)
	for _, field := range [][]string{k.Resources, k.Bases, k.Components} {
		for _, entry := range field {
			if err := c.checkReference(dir, entry); err != nil {
				return err
			}
		}
	}
	for _, p := range filePaths(k) {
		if err := c.checkFile(dir, p); err != nil {
			return err
		}
	}
	if c.encryptedOnly {
		return c.checkEncryptedOnly(dir, k)
	}
	return nil
}

// checkFile checks a path a kustomization loads a file from (a patch, a generator's source):
// local, inside the repository, and within the limits once read. An inline patch is skipped.
func (c *checker) checkFile(dir, p string) error {
	if p == "" || strings.Contains(p, "\n") {
		return nil
	}
	if isRemoteFile(p) {
		return fmt.Errorf("remote file %q is not allowed: every input must be in the repository", p)
	}
	target, err := localPath(dir, p)
	if err != nil {
		return fmt.Errorf("file %q: %w", p, err)
	}
	// A missing file is left to kustomize: some fields also accept inline content.
	if _, err := c.fs.ReadFile(path.Join(virtualRoot, target)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file %q: %w", p, err)
	}
	return nil
}

// localPath joins a relative path p to the kustomization folder dir, refusing absolute paths
// and paths that climb out of the repository.
func localPath(dir, p string) (string, error) {
	if path.IsAbs(p) {
		return "", fmt.Errorf("absolute paths are not allowed: %w", ErrOutsideRepo)
	}
	target := path.Join(dir, p)
	if target == ".." || strings.HasPrefix(target, "../") {
		return "", ErrOutsideRepo
	}
	return target, nil
}

// checkReference checks one resources, bases or components entry: local only, and a folder
// there is a kustomization to check in turn.
func (c *checker) checkReference(dir, entry string) error {
	if looksRemote(entry) {
		return fmt.Errorf("remote resource %q is not allowed: every input must be in the repository", entry)
	}
	target, err := localPath(dir, entry)
	if err != nil {
		return fmt.Errorf("resource %q: %w", entry, err)
	}
	info, _, err := c.fs.t.stat(target)
	if err != nil {
		return fmt.Errorf("resource %q: %w", entry, err)
	}
	if info.IsDir() {
		return c.check(target)
	}
	// Read the file now, so that a size, alias or symlink refusal is reported plainly rather
	// than through kustomize's attempts to load it as a file and then as a folder.
	if _, err := c.fs.ReadFile(path.Join(virtualRoot, target)); err != nil {
		return fmt.Errorf("resource %q: %w", entry, err)
	}
	return nil
}

// prefetch reads the files a kustomization's resources name several at once, into the tree's
// memory, where the checks below and kustomize then find them. It reports nothing: the checks
// read each entry again, in order, and report what fails.
func (c *checker) prefetch(dir string, entries []string) {
	_ = eachParallel(len(entries), func(i int) error {
		if looksRemote(entries[i]) {
			return nil
		}
		target, err := localPath(dir, entries[i])
		if err != nil {
			return nil
		}
		if info, _, err := c.fs.t.stat(target); err == nil && !info.IsDir() {
			_, _ = c.fs.t.readFile(target)
		}
		return nil
	})
}

// builtinAPIVersion is the apiVersion of kustomize's built-in generator and transformer
// configurations; anything else names an external plugin or a KRM function.
const builtinAPIVersion = "builtin"

var functionAnnotations = []string{"config.kubernetes.io/function", "config.k8s.io/function"}

// checkPluginEntry checks one generators, transformers or validators entry: an inline
// configuration, a file of configurations, or a kustomization folder producing them. Only
// kustomize's built-in plugins are allowed.
func (c *checker) checkPluginEntry(dir, entry string) error {
	if strings.Contains(entry, "\n") {
		return checkPluginConfigs("inline configuration", []byte(entry))
	}
	if err := c.checkReference(dir, entry); err != nil {
		return err
	}
	target := path.Join(dir, entry)
	info, _, err := c.fs.t.stat(target)
	if err != nil || info.IsDir() {
		return err
	}
	data, err := c.fs.ReadFile(path.Join(virtualRoot, target))
	if err != nil {
		return err
	}
	return checkPluginConfigs(target, data)
}

// checkPluginConfigs refuses plugin configurations that are not kustomize built-ins or that
// ask for a KRM function (exec or container).
func checkPluginConfigs(where string, data []byte) error {
	for i, doc := range splitDocuments(data) {
		var cfg struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &cfg); err != nil {
			return fmt.Errorf("%s: document %d: %w", where, i+1, err)
		}
		for _, a := range functionAnnotations {
			if _, ok := cfg.Metadata.Annotations[a]; ok {
				return fmt.Errorf("%s: %s %s asks for a KRM function (%s); exec and container functions are not allowed", where, cfg.APIVersion, cfg.Kind, a)
			}
		}
		if cfg.APIVersion != builtinAPIVersion {
			return fmt.Errorf("%s: plugin %s %s is not allowed: only kustomize's built-in generators and transformers run", where, cfg.APIVersion, cfg.Kind)
		}
	}
	return nil
}

func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range strings.Split("\n"+string(data), "\n---") {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// filePaths lists every file a kustomization loads by path.
func filePaths(k *types.Kustomization) []string {
	var out []string
	for _, p := range append(append([]types.Patch{}, k.Patches...), k.PatchesJson6902...) {
		out = append(out, p.Path)
	}
	for _, p := range k.PatchesStrategicMerge {
		out = append(out, string(p))
	}
	for _, r := range k.Replacements {
		out = append(out, r.Path)
	}
	out = append(out, k.Configurations...)
	out = append(out, k.Crds...)
	out = append(out, k.OpenAPI["path"])
	for _, g := range k.ConfigMapGenerator {
		out = append(out, kvFiles(g.KvPairSources)...)
	}
	for _, g := range k.SecretGenerator {
		out = append(out, kvFiles(g.KvPairSources)...)
	}
	return out
}

func kvFiles(src types.KvPairSources) []string {
	out := append([]string{}, src.EnvSources...)
	if src.EnvSource != "" {
		out = append(out, src.EnvSource)
	}
	for _, f := range src.FileSources {
		if _, p, ok := strings.Cut(f, "="); ok {
			f = p
		}
		out = append(out, f)
	}
	return out
}

// isRemoteFile matches what kustomize would fetch over HTTP.
func isRemoteFile(p string) bool {
	u, err := url.Parse(strings.TrimSpace(p))
	return err == nil && (u.Scheme == "http" || u.Scheme == "https")
}

var scpUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// looksRemote matches every reference kustomize would treat as a git repository to clone
// (its repospec rules: a git:: prefix, an ssh/https/http/file scheme, user@host: or github.com),
// and anything else with a URL scheme.
func looksRemote(ref string) bool {
	lower := strings.ToLower(strings.TrimSpace(ref))
	lower = strings.TrimPrefix(lower, "git::")
	return strings.Contains(lower, "://") || scpUser.MatchString(lower) ||
		strings.HasPrefix(lower, "github.com/") || strings.HasPrefix(lower, "github.com:") ||
		strings.HasPrefix(lower, "gh:")
}
