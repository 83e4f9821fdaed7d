package sopstest

import (
	"bytes"
	"testing"

	"github.com/getsops/sops/v3/decrypt"
)

// TestEncryptRoundTrip decrypts what Encrypt writes with sops' own decrypt package, the key
// given as sops reads it (SOPS_AGE_KEY), in every format the render supports.
func TestEncryptRoundTrip(t *testing.T) {
	id := NewIdentity(t)
	t.Setenv("SOPS_AGE_KEY", id.Secret)
	for format, plain := range map[string]string{
		"yaml":   "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    password: canary\n",
		"json":   "{\n\t\"password\": \"canary\"\n}\n",
		"dotenv": "PASSWORD=canary\n",
		"binary": "raw canary bytes\x00\x01",
	} {
		enc := Encrypt(t, []byte(plain), format, id.Recipient)
		if bytes.Contains(enc, []byte("canary")) {
			t.Fatalf("%s: the encrypted file holds the plaintext:\n%s", format, enc)
		}
		got, err := decrypt.Data(enc, format)
		if err != nil {
			t.Fatalf("%s: decrypt: %v\n%s", format, err, enc)
		}
		if string(got) != plain {
			t.Errorf("%s: round trip gave %q, want %q", format, got, plain)
		}
	}
}
