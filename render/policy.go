package render

import (
	"fmt"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// policyHint ends every refusal of secrets: encrypted-only.
const policyHint = "environment has secrets: encrypted-only"

// checkEncryptedOnly enforces secrets: encrypted-only on the kustomization in dir, whose files
// the checker has already read (and so decrypted): a secretGenerator literal, a secretGenerator
// source that is not a SOPS file, and a Secret manifest or a patch of a Secret that is not a
// SOPS file are each an error naming the file.
func (c *checker) checkEncryptedOnly(dir string, k *types.Kustomization) error {
	for _, g := range k.SecretGenerator {
		if len(g.LiteralSources) > 0 {
			return fmt.Errorf("secretGenerator %q: literals are plain text and the %s: move them to a sops-encrypted envs: or files: source", g.Name, policyHint)
		}
		for _, p := range kvFiles(g.KvPairSources) {
			if target, err := localPath(dir, p); err == nil && !c.fs.sops.encrypted(target) {
				return fmt.Errorf("secretGenerator %q: %s is not sops-encrypted and the %s: encrypt it with sops", g.Name, target, policyHint)
			}
		}
	}
	var files []string
	files = append(files, k.Resources...)
	for _, p := range k.PatchesStrategicMerge {
		files = append(files, string(p))
	}
	for _, p := range append(append([]types.Patch{}, k.Patches...), k.PatchesJson6902...) {
		if p.Patch != "" && (p.Target != nil && p.Target.Kind == "Secret" || secretIn([]byte(p.Patch)) != "") {
			return fmt.Errorf("an inline patch of a Secret is plain text and the %s: put it in a sops-encrypted patch file", policyHint)
		}
		files = append(files, p.Path)
	}
	for _, f := range files {
		if err := c.checkPlainSecret(dir, f); err != nil {
			return err
		}
	}
	return nil
}

// checkPlainSecret refuses entry, a resources or patches entry of the kustomization in dir,
// when it is a file, not a SOPS file, and holds a Secret.
func (c *checker) checkPlainSecret(dir, entry string) error {
	if entry == "" {
		return nil
	}
	if strings.Contains(entry, "\n") { // an inline strategic-merge patch
		if name := secretIn([]byte(entry)); name != "" {
			return fmt.Errorf("an inline patch of Secret %s is plain text and the %s: put it in a sops-encrypted patch file", name, policyHint)
		}
		return nil
	}
	target, err := localPath(dir, entry)
	if err != nil {
		return nil // refused elsewhere
	}
	info, _, err := c.fs.t.stat(target)
	if err != nil || info.IsDir() || c.fs.sops.encrypted(target) {
		return nil
	}
	data, err := c.fs.ReadFile(path.Join(virtualRoot, target))
	if err != nil {
		return nil // reported by kustomize
	}
	if name := secretIn(data); name != "" {
		return fmt.Errorf("%s: Secret %s is plain text (the file is not sops-encrypted) and the %s: encrypt it with sops", target, name, policyHint)
	}
	return nil
}

// secretIn returns the name of the first Secret in a YAML stream, or "".
func secretIn(data []byte) string {
	for _, doc := range splitDocuments(data) {
		var o struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if yaml.Unmarshal(doc, &o) == nil && o.Kind == "Secret" && o.APIVersion == "v1" {
			if o.Metadata.Name == "" {
				return "(unnamed)"
			}
			return o.Metadata.Name
		}
	}
	return ""
}
