package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferry-cd/ferry/internal/sopstest"
	"github.com/ferry-cd/ferry/render"
)

// TestAgentAppliesSOPSSecret commits a Secret encrypted in the test with the sops library for
// a fresh age identity, and staging's decryption in ferry.yaml: the agent, given the identity
// through SOPS_AGE_KEY_FILE as in the cluster, applies the Secret with its decrypted value to
// the real API server. Then a commit with the same Secret encrypted for another key fails at
// phase=render naming the file and the recipient, and the Secret in the cluster is unchanged.
func TestAgentAppliesSOPSSecret(t *testing.T) {
	id, other := sopstest.NewIdentity(t), sopstest.NewIdentity(t)
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(keyFile, sopstest.KeyFile(id), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(render.AgeKeyFileEnv, keyFile)
	t.Setenv(render.AgeKeyEnv, "")

	f := newFixture(t, "@every 1s")
	secret := func(value string, to sopstest.Identity) string {
		doc := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: " + value + "\n"
		return string(sopstest.EncryptWith(t, []byte(doc), "yaml", sopstest.Options{EncryptedRegex: "^(data|stringData)$"}, to.Recipient))
	}
	ferryYAML := strings.Replace(f.files["ferry.yaml"], "    prune: true ", "    decryption: {provider: sops, recipients: ["+id.Recipient+"]}\n    secrets: encrypted-only\n    prune: true ", 1)
	if ferryYAML == f.files["ferry.yaml"] {
		t.Fatal("no place for decryption in staging's entry of ferry.yaml")
	}
	const file = "environments/staging/db-secret.yaml"
	kust := addResource(t, f.files[stagingKustomization], "db-secret.yaml")
	sha := f.srv.Commit(t, "config", "staging: an encrypted Secret", map[string]string{
		"ferry.yaml": ferryYAML, stagingKustomization: kust, file: secret("s3cr3t-from-sops", id),
	})
	logs := &logBuffer{}
	f.start(f.options(logs))
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": sha[:7], "result": "applied"}, 2*time.Minute)
	password := func() string {
		s, err := f.kube.CoreV1().Secrets(f.stagingNS).Get(t.Context(), "db", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("Secret db: %v", err)
		}
		return string(s.Data["password"])
	}
	if got := password(); got != "s3cr3t-from-sops" {
		t.Fatalf("Secret db password = %q, want the decrypted value", got)
	}

	bad := f.srv.Commit(t, "config", "staging: a Secret for a key the agent lacks", map[string]string{file: secret("never-applied", other)})
	line := logs.waitLine(t, "sync failed", map[string]any{"env": "staging", "revision": bad[:7], "phase": "render"}, 2*time.Minute)
	msg, _ := line["error"].(string)
	for _, want := range []string{file + ": cannot decrypt: it is encrypted for " + other.Recipient, "decryption.recipients"} {
		if !strings.Contains(msg, want) {
			t.Errorf("render error lacks %q: %s", want, msg)
		}
	}
	if got := password(); got != "s3cr3t-from-sops" {
		t.Errorf("Secret db password = %q after the refused commit, want it unchanged", got)
	}
	if strings.Contains(logs.String(), "s3cr3t-from-sops") || strings.Contains(logs.String(), "AGE-SECRET-KEY") {
		t.Errorf("the agent's log holds a secret:\n%s", logs.String())
	}
	t.Logf("refused: %s", msg)
}
