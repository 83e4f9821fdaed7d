package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/sopstest"
)

// sopsCanaries adds to files, for staging, a Secret manifest and a secretGenerator dotenv file
// that are sops-encrypted for a fresh age identity, whose values exist only inside the encrypted
// files (canaries "sops secret" and "sops env"; the identity itself is the canary "age key"),
// and turns decryption on for staging. The key file is given to the agent and the CLI through
// SOPS_AGE_KEY_FILE. It returns the identity, to encrypt a changed value with.
func sopsCanaries(t *testing.T, files, canary map[string]string, id string) sopstest.Identity {
	t.Helper()
	age := sopstest.NewIdentity(t)
	canary["sops secret"] = "canary-sops-value-" + id
	canary["sops env"] = "canary-sops-env-" + id
	canary["sops diff"] = "canary-sops-diff-" + id
	canary["age key"] = age.Secret
	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(keyFile, sopstest.KeyFile(age), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	files["environments/staging/sops-secret.yaml"] = sopsSecret(t, age, canary["sops secret"])
	files["environments/staging/sops.env"] = string(sopstest.Encrypt(t, []byte("TOKEN="+canary["sops env"]+"\n"), "dotenv", age.Recipient))
	return age
}

// sopsSecret returns the Secret canary-sops with password value, sops-encrypted for age as
// teams commit one: only data and stringData encrypted.
func sopsSecret(t *testing.T, age sopstest.Identity, value string) string {
	t.Helper()
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: canary-sops\nstringData:\n  password: " + value + "\n"
	return string(sopstest.EncryptWith(t, []byte(plain), "yaml", sopstest.Options{EncryptedRegex: "^(data|stringData)$"}, age.Recipient))
}

// assertSecretData checks that the Secret ns/name in the cluster holds want under key.
func assertSecretData(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns, name, key, want string) {
	t.Helper()
	s, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Secret %s/%s: %v", ns, name, err)
	}
	if got := string(s.Data[key]); got != want {
		t.Errorf("Secret %s/%s %s = %d bytes, want the decrypted canary", ns, name, key, len(got))
	}
}

// assertSecretDataPrefix is assertSecretData for the one Secret whose name starts with prefix
// (a generated Secret's name ends with a hash of its content).
func assertSecretDataPrefix(t *testing.T, ctx context.Context, kube kubernetes.Interface, ns, prefix, key, want string) {
	t.Helper()
	list, err := kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		if strings.HasPrefix(s.Name, prefix) {
			assertSecretData(t, ctx, kube, ns, s.Name, key, want)
			return
		}
	}
	t.Errorf("no Secret %s* in %s", prefix, ns)
}
