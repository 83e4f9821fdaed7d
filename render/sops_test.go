package render

import (
	"bytes"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/sopstest"
)

const plainSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: canary-yaml
`

const dataSecret = `apiVersion: v1
kind: Secret
metadata:
  name: api
data:
  token: Y2FuYXJ5LXJlZ2V4
`

// secretsRepo returns a repository whose overlay env/ lists resources and generates secrets
// from the given kustomization body; files are added under env/.
func secretsRepo(kustomization string, files map[string][]byte) fstest.MapFS {
	fsys := fstest.MapFS{"env/kustomization.yaml": {Data: []byte(kustomization)}}
	for name, data := range files {
		fsys["env/"+name] = &fstest.MapFile{Data: data}
	}
	return fsys
}

// sopsEnv is an environment with decryption, limited to recipients when some are given.
func sopsEnv(policy environments.SecretsPolicy, recipients ...string) *environments.Environment {
	e := testEnv()
	e.Decryption = &environments.Decryption{Provider: environments.DecryptionSOPS, Recipients: recipients}
	e.Secrets = policy
	return e
}

// keysOf returns an AgeKeys source holding ids, as a SOPS_AGE_KEY_FILE with them would.
func keysOf(t *testing.T, ids ...sopstest.Identity) func() (AgeKeys, error) {
	k, err := ParseAgeKeys(sopstest.KeyFile(ids...))
	if err != nil {
		t.Fatal(err)
	}
	return func() (AgeKeys, error) { return k, nil }
}

func renderWith(t *testing.T, keys func() (AgeKeys, error), fsys fstest.MapFS, env *environments.Environment) (Result, error) {
	t.Helper()
	opts := DefaultOptions()
	opts.AgeKeys = keys
	return New(opts).Render(t.Context(), fsys, env)
}

// secretData returns the decoded data of the Secret called name in res.
func secretData(t *testing.T, res Result, name string) map[string]string {
	t.Helper()
	for _, o := range res.Objects {
		if o.GetKind() != "Secret" || !strings.HasPrefix(o.GetName(), name) {
			continue
		}
		out := map[string]string{}
		data, _ := o.Object["data"].(map[string]any)
		for k, v := range data {
			b, err := base64.StdEncoding.DecodeString(v.(string))
			if err != nil {
				t.Fatalf("Secret %s: data %s: %v", name, k, err)
			}
			out[k] = string(b)
		}
		stringData, _ := o.Object["stringData"].(map[string]any)
		for k, v := range stringData {
			out[k] = v.(string)
		}
		return out
	}
	t.Fatalf("no Secret %s in the render:\n%s", name, res.YAML())
	return nil
}

// TestRenderDecryptsSOPS renders Secrets from files encrypted in the test with the sops
// library for a fresh age identity: a whole Secret manifest, one encrypted with
// encrypted_regex, and secretGenerator sources in dotenv, json, yaml and binary formats.
func TestRenderDecryptsSOPS(t *testing.T) {
	id := sopstest.NewIdentity(t)
	regex := sopstest.Options{EncryptedRegex: "^(data|stringData)$"}
	fsys := secretsRepo(`resources:
- db.yaml
- api.yaml
secretGenerator:
- name: gen
  envs: [app.env]
  files: [config.json, settings.yaml, tls.key]
`, map[string][]byte{
		"db.yaml":       sopstest.Encrypt(t, []byte(plainSecret), "yaml", id.Recipient),
		"api.yaml":      sopstest.EncryptWith(t, []byte(dataSecret), "yaml", regex, id.Recipient),
		"app.env":       sopstest.Encrypt(t, []byte("USER=admin\nPASSWORD=canary-env\n"), "dotenv", id.Recipient),
		"config.json":   sopstest.Encrypt(t, []byte(`{"key": "canary-json"}`), "json", id.Recipient),
		"settings.yaml": sopstest.Encrypt(t, []byte("key: canary-yaml-file\n"), "yaml", id.Recipient),
		"tls.key":       sopstest.Encrypt(t, []byte("canary-binary\x00\x01"), "binary", id.Recipient),
	})
	res, err := renderWith(t, keysOf(t, id), fsys, sopsEnv(environments.SecretsEncryptedOnly, id.Recipient))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]map[string]string{
		"db":  {"password": "canary-yaml"},
		"api": {"token": "canary-regex"},
		"gen": {
			"USER": "admin", "PASSWORD": "canary-env",
			"config.json":   "{\n\t\"key\": \"canary-json\"\n}\n",
			"settings.yaml": "key: canary-yaml-file\n",
			"tls.key":       "canary-binary\x00\x01",
		},
	} {
		if diff := cmp.Diff(want, secretData(t, res, name)); diff != "" {
			t.Errorf("Secret %s (-want +got):\n%s", name, diff)
		}
	}
	if bytes.Contains(res.YAML(), []byte("ENC[")) || bytes.Contains(res.YAML(), []byte("sops")) {
		t.Errorf("the render still holds sops data:\n%s", res.YAML())
	}
}

// TestRenderSOPSKeysFromEnv reads the identity as the agent does, from SOPS_AGE_KEY_FILE.
func TestRenderSOPSKeysFromEnv(t *testing.T) {
	id := sopstest.NewIdentity(t)
	keyFile := t.TempDir() + "/keys.txt"
	must(t, os.WriteFile(keyFile, sopstest.KeyFile(id), 0o600))
	t.Setenv(AgeKeyFileEnv, keyFile)
	t.Setenv(AgeKeyEnv, "")
	fsys := secretsRepo("resources: [db.yaml]\n", map[string][]byte{"db.yaml": sopstest.Encrypt(t, []byte(plainSecret), "yaml", id.Recipient)})
	res, err := Render(t.Context(), fsys, sopsEnv(environments.SecretsAny))
	if err != nil {
		t.Fatal(err)
	}
	if got := secretData(t, res, "db")["password"]; got != "canary-yaml" {
		t.Errorf("password = %q, want canary-yaml", got)
	}
}

// TestRenderSOPSErrors checks that every way a SOPS file cannot be used fails the render with
// a message naming the file, and the recipients where the file is readable.
func TestRenderSOPSErrors(t *testing.T) {
	staging, production := sopstest.NewIdentity(t), sopstest.NewIdentity(t)
	enc := sopstest.Encrypt(t, []byte(plainSecret), "yaml", production.Recipient)
	tampered := tamper(t, enc)
	oneFile := func(data []byte) fstest.MapFS {
		return secretsRepo("resources: [db.yaml]\n", map[string][]byte{"db.yaml": data})
	}
	noDecryption := testEnv()
	noDecryption.Name = "staging"
	tests := []struct {
		name string
		keys []sopstest.Identity
		env  *environments.Environment
		fsys fstest.MapFS
		want []string
	}{
		{"wrong key", []sopstest.Identity{staging}, sopsEnv(""), oneFile(enc),
			[]string{"env/db.yaml: cannot decrypt: it is encrypted for " + production.Recipient + ", and none of the 1 age identities in SOPS_AGE_KEY_FILE / SOPS_AGE_KEY is one of them"}},
		{"no key", nil, sopsEnv(""), oneFile(enc),
			[]string{"env/db.yaml: cannot decrypt: it is encrypted for " + production.Recipient + ", and no age identity is set"}},
		{"staging may not use production's key", []sopstest.Identity{staging, production}, sopsEnv("", staging.Recipient), oneFile(enc),
			[]string{"env/db.yaml: cannot decrypt: it is encrypted for " + production.Recipient + ", and environment app may use only the identities of its decryption.recipients (" + staging.Recipient + ")"}},
		{"tampered", []sopstest.Identity{production}, sopsEnv(""), oneFile(tampered),
			[]string{"env/db.yaml: SOPS integrity check failed (MAC mismatch): the file (encrypted for " + production.Recipient + ") was changed after it was encrypted"}},
		{"truncated", []sopstest.Identity{production}, sopsEnv(""), oneFile(enc[:len(enc)*2/3]),
			[]string{"env/db.yaml: ", "truncated"}},
		{"no decryption", []sopstest.Identity{production}, noDecryption, oneFile(enc),
			[]string{"env/db.yaml: is encrypted with SOPS (for " + production.Recipient + "), but environment staging has no decryption: set decryption.provider: sops"}},
		{"plain Secret under encrypted-only", nil, sopsEnv(environments.SecretsEncryptedOnly), oneFile([]byte(plainSecret)),
			[]string{"env/db.yaml: Secret db is plain text (the file is not sops-encrypted) and the environment has secrets: encrypted-only"}},
		{"literal under encrypted-only", nil, sopsEnv(environments.SecretsEncryptedOnly),
			secretsRepo("secretGenerator:\n- name: gen\n  literals: [password=canary]\n", nil),
			[]string{"env/kustomization.yaml: secretGenerator \"gen\": literals are plain text and the environment has secrets: encrypted-only"}},
		{"plain generator file under encrypted-only", nil, sopsEnv(environments.SecretsEncryptedOnly),
			secretsRepo("secretGenerator:\n- name: gen\n  envs: [app.env]\n", map[string][]byte{"app.env": []byte("PASSWORD=canary\n")}),
			[]string{"env/kustomization.yaml: secretGenerator \"gen\": env/app.env is not sops-encrypted and the environment has secrets: encrypted-only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderWith(t, keysOf(t, tt.keys...), tt.fsys, tt.env)
			if err == nil {
				t.Fatal("render succeeded, want an error")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "canary") || strings.Contains(err.Error(), "AGE-SECRET-KEY") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

// tamper changes one character of the first encrypted value's ciphertext, as an attacker
// editing the file in git would.
func tamper(t *testing.T, enc []byte) []byte {
	t.Helper()
	i := bytes.Index(enc, []byte(encMarker+"data:"))
	if i < 0 {
		t.Fatalf("no encrypted value in:\n%s", enc)
	}
	out := bytes.Clone(enc)
	j := i + len(encMarker+"data:")
	if out[j] == 'A' {
		out[j] = 'B'
	} else {
		out[j] = 'A'
	}
	return out
}
