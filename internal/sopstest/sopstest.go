// Package sopstest encrypts files with SOPS and age for tests, through the sops library
// itself (the same steps as `sops --encrypt`: a random data key, AES-GCM over the values, the
// data key wrapped for each age recipient, a MAC over the plaintext values).
package sopstest

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/stores/dotenv"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/getsops/sops/v3/version"
)

// Identity is an age key pair made for one test.
type Identity struct {
	// Secret is the identity as written in a keys.txt file (AGE-SECRET-KEY-1…).
	Secret string
	// Recipient is its public key (age1…), the one files are encrypted for.
	Recipient string
}

// NewIdentity returns a fresh age X25519 identity; it fails the test on error.
func NewIdentity(t testing.TB) Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatalf("sopstest: generate age identity: %v", err)
	}
	return Identity{Secret: id.String(), Recipient: id.Recipient().String()}
}

// KeyFile returns the identities as the contents of a SOPS_AGE_KEY_FILE.
func KeyFile(ids ...Identity) []byte {
	var b []byte
	for _, id := range ids {
		b = fmt.Appendf(b, "# public key: %s\n%s\n", id.Recipient, id.Secret)
	}
	return b
}

// Options tune Encrypt; the zero value encrypts every value.
type Options struct {
	// EncryptedRegex, when set, encrypts only the keys it matches (sops --encrypted-regex),
	// e.g. "^(data|stringData)$" for a Kubernetes Secret.
	EncryptedRegex string
}

// Encrypt encrypts plaintext in format ("yaml", "json", "dotenv" or "binary") for the age
// recipients, as `sops --encrypt --age r1,r2` would, and returns the encrypted file. It fails
// the test on error.
func Encrypt(t testing.TB, plaintext []byte, format string, recipients ...string) []byte {
	t.Helper()
	return EncryptWith(t, plaintext, format, Options{}, recipients...)
}

// EncryptWith is Encrypt with Options.
func EncryptWith(t testing.TB, plaintext []byte, format string, opts Options, recipients ...string) []byte {
	t.Helper()
	out, err := encrypt(plaintext, formats.FormatFromString(format), opts, recipients)
	if err != nil {
		t.Fatalf("sopstest: encrypt %s: %v", format, err)
	}
	return out
}

type store interface {
	sops.PlainFileLoader
	sops.EncryptedFileEmitter
}

func storeFor(f formats.Format) store {
	c := config.NewStoresConfig() // sops' own defaults, as decrypt.DataWithFormat uses them
	switch f {
	case formats.Yaml:
		return sopsyaml.NewStore(&c.YAML)
	case formats.Json:
		return sopsjson.NewStore(&c.JSON)
	case formats.Dotenv:
		return dotenv.NewStore(&c.Dotenv)
	default:
		return sopsjson.NewBinaryStore(&c.JSONBinary)
	}
}

func encrypt(plaintext []byte, f formats.Format, opts Options, recipients []string) ([]byte, error) {
	s := storeFor(f)
	branches, err := s.LoadPlainFile(plaintext)
	if err != nil {
		return nil, err
	}
	var group sops.KeyGroup
	for _, r := range recipients {
		k, err := sopsage.MasterKeyFromRecipient(r)
		if err != nil {
			return nil, err
		}
		group = append(group, keys.MasterKey(k))
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups:      []sops.KeyGroup{group},
		EncryptedRegex: opts.EncryptedRegex,
		Version:        version.Version,
	}}
	if opts.EncryptedRegex == "" {
		tree.Metadata.UnencryptedSuffix = sops.DefaultUnencryptedSuffix
	}
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, err
	}
	for _, k := range group {
		if err := k.Encrypt(dataKey); err != nil {
			return nil, err
		}
	}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		return nil, err
	}
	tree.Metadata.LastModified = time.Now().UTC()
	tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		return nil, err
	}
	return s.EmitEncryptedFile(tree)
}
