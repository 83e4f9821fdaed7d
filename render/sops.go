package render

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/stores/dotenv"
	"github.com/getsops/sops/v3/stores/ini"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"

	"github.com/ferry-cd/ferry/environments"
)

// The variables sops reads age identities from; ferry reads the same two and nothing else
// (not SOPS_AGE_KEY_CMD, which would run a command, nor ~/.config/sops/age/keys.txt).
const (
	AgeKeyFileEnv = "SOPS_AGE_KEY_FILE"
	AgeKeyEnv     = "SOPS_AGE_KEY"
)

// AgeKeys are the age identities a render may decrypt SOPS files with.
type AgeKeys struct {
	ids        []age.Identity
	recipients []string // recipients[i] is the public key of ids[i]
}

// ParseAgeKeys parses identities written as in an age keys.txt: one AGE-SECRET-KEY-1… per
// line, "#" comments and blank lines ignored. The error never holds a key.
func ParseAgeKeys(data []byte) (AgeKeys, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return AgeKeys{}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return AgeKeys{}, err
	}
	var k AgeKeys
	for _, id := range ids {
		var rcpt string
		switch id := id.(type) {
		case *age.X25519Identity:
			rcpt = id.Recipient().String()
		case *age.HybridIdentity:
			rcpt = id.Recipient().String()
		default:
			continue
		}
		k.ids = append(k.ids, id)
		k.recipients = append(k.recipients, rcpt)
	}
	return k, nil
}

// AgeKeysFromEnv reads the identities in the file named by SOPS_AGE_KEY_FILE and in
// SOPS_AGE_KEY, as sops does. Neither set gives no keys and no error; an unreadable file or a
// malformed identity is an error naming the variable.
func AgeKeysFromEnv() (AgeKeys, error) {
	var all AgeKeys
	if name := os.Getenv(AgeKeyFileEnv); name != "" {
		data, err := os.ReadFile(name)
		if err != nil {
			return AgeKeys{}, fmt.Errorf("%s: %w", AgeKeyFileEnv, err)
		}
		k, err := ParseAgeKeys(data)
		if err != nil {
			return AgeKeys{}, fmt.Errorf("%s %s: %w", AgeKeyFileEnv, name, err)
		}
		all = k
	}
	if v := os.Getenv(AgeKeyEnv); v != "" {
		k, err := ParseAgeKeys([]byte(v))
		if err != nil {
			return AgeKeys{}, fmt.Errorf("%s: %w", AgeKeyEnv, err)
		}
		all.ids = append(all.ids, k.ids...)
		all.recipients = append(all.recipients, k.recipients...)
	}
	return all, nil
}

// decrypter decrypts the SOPS files of one render in memory, with the identities its
// environment may use, and remembers which files were encrypted. It is safe for concurrent use.
type decrypter struct {
	env  *environments.Environment
	keys func() (AgeKeys, error)

	mu      sync.Mutex
	loaded  bool
	offered AgeKeys // the identities env may use, loaded on the first encrypted file
	loadErr error
	total   int               // identities loaded, offered or not
	plain   map[string][]byte // plaintext of the encrypted files, by repository path
}

func newDecrypter(env *environments.Environment, keys func() (AgeKeys, error)) *decrypter {
	return &decrypter{env: env, keys: keys, plain: map[string][]byte{}}
}

// encrypted reports whether the file at repository path name was a SOPS file, decrypted.
func (d *decrypter) encrypted(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.plain[name]
	return ok
}

// file returns data, the contents of name, decrypted when it is a SOPS file, and unchanged
// otherwise. Errors name the file and the recipients it is encrypted for.
func (d *decrypter) file(name string, data []byte) ([]byte, error) {
	d.mu.Lock()
	plain, ok := d.plain[name]
	d.mu.Unlock()
	if ok {
		return plain, nil
	}
	format, ok := sopsFormat(name, data)
	if !ok {
		return data, nil
	}
	tree, err := loadSOPS(format, data)
	if errors.Is(err, sops.MetadataNotFound) {
		if bytes.Contains(data, []byte(encMarker)) {
			return nil, fmt.Errorf("%s: holds SOPS-encrypted values (%s…) but no sops metadata: the file is truncated or damaged; encrypt it again with sops", name, encMarker)
		}
		return data, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: a damaged SOPS file (truncated?): %w", name, err)
	}
	if d.env.Decryption == nil {
		return nil, fmt.Errorf("%s: is encrypted with SOPS (for %s), but environment %s has no decryption: set decryption.provider: sops on it in %s",
			name, strings.Join(recipientsOf(tree), ", "), d.env.Name, environments.FileName)
	}
	plain, err = d.decrypt(name, format, tree)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.plain[name] = plain
	d.mu.Unlock()
	return plain, nil
}

// encMarker starts every value sops encrypts.
const encMarker = "ENC[AES256_GCM,"

// sopsFormat tells a SOPS file's format as sops does, by its extension (binary for the rest),
// after a cheap test that keeps plain files away from sops' parsers.
func sopsFormat(name string, data []byte) (formats.Format, bool) {
	if !bytes.Contains(data, []byte(encMarker)) && !(bytes.Contains(data, []byte("sops")) && bytes.Contains(data, []byte("mac"))) {
		return 0, false
	}
	f := formats.FormatForPath(name)
	if f == formats.Binary && !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return 0, false // sops writes a binary file as JSON
	}
	return f, true
}

// sopsStore is the part of a sops store a render uses.
type sopsStore interface {
	sops.EncryptedFileLoader
	sops.PlainFileEmitter
}

func storeFor(f formats.Format) sopsStore {
	c := config.NewStoresConfig() // sops' own defaults, as decrypt.DataWithFormat uses them
	switch f {
	case formats.Yaml:
		return sopsyaml.NewStore(&c.YAML)
	case formats.Json:
		return sopsjson.NewStore(&c.JSON)
	case formats.Dotenv:
		return dotenv.NewStore(&c.Dotenv)
	case formats.Ini:
		return ini.NewStore(&c.INI)
	default:
		return sopsjson.NewBinaryStore(&c.JSONBinary)
	}
}

// loadSOPS parses a SOPS file; sops' parsers are third-party code fed with repository
// content, so a panic is turned into an error.
func loadSOPS(f formats.Format, data []byte) (tree sops.Tree, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sops failed to parse it: %v", p)
		}
	}()
	return storeFor(f).LoadEncryptedFile(data)
}

// recipientsOf lists the master keys a file is encrypted for: age recipients, and the ARNs,
// fingerprints or URLs of other key types, which ferry cannot use.
func recipientsOf(tree sops.Tree) []string {
	var out []string
	for _, g := range tree.Metadata.KeyGroups {
		for _, k := range g {
			out = append(out, k.ToString())
		}
	}
	if len(out) == 0 {
		return []string{"no recipient"}
	}
	return out
}
