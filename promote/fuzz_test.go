package promote

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Image references as `ferry image set` and promotions write them; other values are refused
// before an edit (by ParseImageArg and the tag and digest grammar), so the fuzzer keeps to them.
var (
	fuzzName   = regexp.MustCompile(`^[a-z0-9]+([._/:-][a-z0-9]+)*$`)
	fuzzTag    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	fuzzDigest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// FuzzSetImages edits arbitrary kustomization bytes with SetImages and checks, for every edit
// it accepts: the result parses and pins the image exactly, the other images and every line
// without a tag or digest are kept byte for byte, and a second edit changes nothing.
func FuzzSetImages(f *testing.F) {
	ins, err := filepath.Glob("testdata/edit/*.in.yaml")
	if err != nil {
		f.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("2", 64)
	for _, name := range ins {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, gceme, "1.2.0", "")
		f.Add(data, gceme, "", digest)
		f.Add(data, "redis", "7.4", digest)
	}
	for _, s := range []string{
		"images: [{name: " + gceme + ", newTag: '1.0'}]\n",
		"images:\n- name: " + gceme + "\n  newTag: \"1.0\" # pinned\n  digest: sha256:" + strings.Repeat("1", 64) + "\n",
		"images:\r\n- name: " + gceme + "\r\n  newTag: 1.0\r\n",
		"resources: [a.yaml]\nimages: []\n",
		"images:\n  - name: " + gceme + "\n    newTag: >-\n      1.0\n",
		"",
	} {
		f.Add([]byte(s), gceme, "1.2.0", "")
	}
	f.Fuzz(func(t *testing.T, data []byte, name, tag, digest string) {
		if !fuzzName.MatchString(name) || (tag == "" && digest == "") ||
			(tag != "" && !fuzzTag.MatchString(tag)) || (digest != "" && !fuzzDigest.MatchString(digest)) {
			return
		}
		want := Image{Name: name, NewTag: tag, Digest: digest}
		before, readErr := ReadImages(data)
		out, changes, err := SetImages(data, []Image{want})
		if err != nil {
			return
		}
		if readErr != nil {
			t.Fatalf("edited a file ReadImages refuses (%v)", readErr)
		}
		after, err := ReadImages(out)
		if err != nil {
			t.Fatalf("edited file does not parse: %v\n%s", err, out)
		}
		var pinned []Image
		for _, img := range after {
			if img.Name == name {
				pinned = append(pinned, img)
			}
		}
		if len(pinned) == 0 || pinned[0].NewTag != tag || pinned[0].Digest != digest {
			t.Fatalf("image %s pinned as %+v, want tag %q digest %q\n--- in\n%s\n--- out\n%s", name, pinned, tag, digest, data, out)
		}
		if others(before, name) != others(after, name) {
			t.Fatalf("other images changed:\n%s\n%s\n--- in\n%s\n--- out\n%s", others(before, name), others(after, name), data, out)
		}
		if len(changes) > 1 || (len(changes) == 0 && !bytes.Equal(data, out)) {
			t.Fatalf("%d changes reported; output differs: %t", len(changes), !bytes.Equal(data, out))
		}
		kept := map[string]int{}
		for _, l := range strings.Split(string(out), "\n") {
			kept[l]++
		}
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "newTag") || strings.Contains(l, "digest") {
				continue
			}
			if kept[l] == 0 {
				t.Fatalf("input line lost or changed: %q\n--- in\n%s\n--- out\n%s", l, data, out)
			}
			kept[l]--
		}
		again, more, err := SetImages(out, []Image{want})
		if err != nil || len(more) != 0 || !bytes.Equal(again, out) {
			t.Fatalf("second edit not a no-op: %d changes, %v\n--- out\n%s\n--- again\n%s", len(more), err, out, again)
		}
	})
}

// others lists the images other than name, as text.
func others(images []Image, name string) string {
	var b strings.Builder
	for _, img := range images {
		if img.Name != name {
			b.WriteString(img.Name + "|" + img.NewName + "|" + img.NewTag + "|" + img.Digest + "\n")
		}
	}
	return b.String()
}
