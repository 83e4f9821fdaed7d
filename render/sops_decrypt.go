package render

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/formats"
)

// decrypt decrypts a loaded SOPS file the way sops' decrypt.DataWithFormat does (data key,
// values, MAC check, emit), except that the data key is unwrapped only with the identities
// the environment may use, never with whatever the process environment holds.
func (d *decrypter) decrypt(name string, format formats.Format, tree sops.Tree) ([]byte, error) {
	recipients := strings.Join(recipientsOf(tree), ", ")
	key, err := d.dataKey(tree)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot decrypt: it is encrypted for %s, and %w", name, recipients, err)
	}
	cipher := aes.NewCipher()
	mac, err := tree.Decrypt(key, cipher)
	if err == nil {
		var stored any
		stored, err = cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, key, tree.Metadata.LastModified.Format(time.RFC3339))
		if err == nil && stored != mac {
			err = sops.MacMismatch
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: SOPS integrity check failed (MAC mismatch): the file (encrypted for %s) was changed after it was encrypted; encrypt it again with sops", name, recipients)
	}
	plain, err := storeFor(format).EmitPlainFile(tree.Branches)
	if err != nil {
		return nil, fmt.Errorf("%s: decrypted, but sops cannot write it out: %w", name, err)
	}
	return plain, nil
}

// dataKey unwraps the file's data key with the offered identities whose recipients the file
// lists. Its error completes "it is encrypted for …, and ".
func (d *decrypter) dataKey(tree sops.Tree) ([]byte, error) {
	if len(tree.Metadata.KeyGroups) != 1 {
		return nil, fmt.Errorf("it has %d key groups: ferry decrypts files with one key group only (no Shamir secret sharing)", len(tree.Metadata.KeyGroups))
	}
	offered, err := d.offeredKeys()
	if err != nil {
		return nil, err
	}
	var tried bool
	for _, k := range tree.Metadata.KeyGroups[0] {
		ak, ok := k.(*sopsage.MasterKey)
		if !ok {
			continue
		}
		i := slices.Index(offered.recipients, ak.Recipient)
		if i < 0 {
			continue
		}
		tried = true
		// Never apply an empty set: sops would then load identities from the process.
		sopsage.ParsedIdentities{offered.ids[i]}.ApplyToMasterKey(ak)
		if key, err := ak.Decrypt(); err == nil {
			return key, nil
		}
	}
	if tried {
		return nil, errors.New("the age identity for it does not unwrap its data key (the sops metadata was changed)")
	}
	return nil, d.noKey()
}

// noKey says why the environment has no identity for a file.
func (d *decrypter) noKey() error {
	switch {
	case d.total == 0:
		return fmt.Errorf("no age identity is set: put one in the file %s names, or in %s", AgeKeyFileEnv, AgeKeyEnv)
	case len(d.env.Decryption.Recipients) > 0:
		return fmt.Errorf("environment %s may use only the identities of its decryption.recipients (%s), and the file is encrypted for none of those",
			d.env.Name, strings.Join(d.env.Decryption.Recipients, ", "))
	default:
		return fmt.Errorf("none of the %d age identities in %s / %s is one of them", d.total, AgeKeyFileEnv, AgeKeyEnv)
	}
}

// offeredKeys loads the identities once per render and keeps those env may use: all of them
// without decryption.recipients, else those whose public key is listed.
func (d *decrypter) offeredKeys() (AgeKeys, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loaded {
		return d.offered, d.loadErr
	}
	d.loaded = true
	all, err := d.keys()
	if err != nil {
		d.loadErr = err
		return AgeKeys{}, err
	}
	d.total = len(all.ids)
	allowed := d.env.Decryption.Recipients
	for i, r := range all.recipients {
		if len(allowed) == 0 || slices.Contains(allowed, r) {
			d.offered.ids = append(d.offered.ids, all.ids[i])
			d.offered.recipients = append(d.offered.recipients, r)
		}
	}
	return d.offered, nil
}
