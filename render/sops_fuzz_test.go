package render

import (
	"testing"
	"testing/fstest"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/sopstest"
)

// FuzzRenderSOPS renders one input as a SOPS-encrypted Secret manifest, as the dotenv, json,
// yaml and binary sources of a secretGenerator, under secrets: encrypted-only, with a key that
// opens the seeds. Any input must render or fail with an error: never panic, never hang.
func FuzzRenderSOPS(f *testing.F) {
	id := sopstest.NewIdentity(f)
	keys, err := ParseAgeKeys(sopstest.KeyFile(id))
	must(f, err)
	for _, seed := range [][]byte{
		sopstest.Encrypt(f, []byte(plainSecret), "yaml", id.Recipient),
		sopstest.EncryptWith(f, []byte(dataSecret), "yaml", sopstest.Options{EncryptedRegex: "^data$"}, id.Recipient),
		sopstest.Encrypt(f, []byte("A=1\nB=2\n"), "dotenv", id.Recipient),
		sopstest.Encrypt(f, []byte(`{"a": [1, {"b": null}]}`), "json", id.Recipient),
		sopstest.Encrypt(f, []byte("\x00binary"), "binary", id.Recipient),
		[]byte("sops:\n  mac: x\n  lastmodified: nonsense\n"),
		[]byte("{\"sops\": {\"mac\": 1}, \"data\": \"ENC[AES256_GCM,data:\"}"),
		[]byte("sops_mac=ENC[AES256_GCM,\nsops_version=3\n"),
	} {
		f.Add(seed)
	}
	env := testEnv()
	env.Decryption = &environments.Decryption{Provider: environments.DecryptionSOPS}
	env.Secrets = environments.SecretsEncryptedOnly
	opts := Options{Limits: fuzzLimits, AgeKeys: func() (AgeKeys, error) { return keys, nil }}
	r := New(opts)
	f.Fuzz(func(t *testing.T, data []byte) {
		file := func() *fstest.MapFile { return &fstest.MapFile{Data: data} }
		fsys := fstest.MapFS{
			"env/kustomization.yaml": {Data: []byte("resources: [secret.yaml]\nsecretGenerator:\n- name: gen\n  envs: [app.env]\n  files: [config.json, settings.yaml, tls.key]\n")},
			"env/secret.yaml":        file(),
			"env/app.env":            file(),
			"env/config.json":        file(),
			"env/settings.yaml":      file(),
			"env/tls.key":            file(),
		}
		_, _ = r.Render(t.Context(), fsys, env)
	})
}
