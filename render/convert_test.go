package render

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// trickyValues are YAML values whose type or printing a shortcut could get wrong: numbers of
// every size and base, YAML 1.1 booleans, timestamps, binary, explicit tags, block scalars,
// anchors, keys that look like other types, and strings YAML must quote.
const trickyValues = `apiVersion: example.com/v1
kind: Tricky
metadata:
  name: tricky
  annotations:
    quoted-int: "123"
spec:
  int: 42
  negative: -7
  maxInt64: 9223372036854775807
  overInt64: 9223372036854775808
  maxUint64: 18446744073709551615
  huge: 100000000000000000000000
  float: 1.5
  integralFloat: 2.0
  exponent: 1e3
  small: 0.000001
  tiny: 1.0e-12
  e21: 1e21
  e300: -1.5e300
  twoTo64: 18446744073709551616
  negativeZero: -0.0
  hex: 0x1F
  octal: 0o17
  oldOctal: 017
  underscore: 1_000
  bool: true
  yes: yes
  on: on
  "null": null
  tilde: ~
  empty:
  timestamp: 2001-12-14t21:59:43.10-05:00
  date: 2002-12-14
  binary: !!binary aGVsbG8gd29ybGQ=
  taggedString: !!str 123
  taggedFloat: !!float 3
  quotedBool: "false"
  quotedNull: "null"
  quotedFloat: "1e3"
  quotedYes: "yes"
  literal: |
    line one
      indented "quoted"
    line three
  folded: >
    folded
    text
  keepTrailing: |+
    kept

  unicode: "héllo ✓ 日本"
  escapes: "tab\there <html> & \u00e9"
  anchor: &a {x: 1, y: [2, three]}
  alias: *a
  list: [1, "2", 3.0, null, true, "", []]
  emptyMap: {}
  emptyList: []
  nested: {deep: {deeper: [a, {b: c}, [d, e]]}}
  keys: {"1": one, "true": t, "": blank, "a b": spaced, "-": dash, "~": tilde}
  leadingZero: "0123"
  colon: "a: b"
  hash: "a #b"
  dash: "- x"
  star: "*x"
  spaces: "  padded  "
  newlineOnly: "\n"
  longLine: "` + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" + `"
`

// TestConversionMatchesKyaml checks ferry's shortcuts against the long way round, for every
// resource of every corpus overlay and of a document of tricky values: toUnstructured must give
// exactly (types included) what kyaml's RNode.MarshalJSON and unstructured's JSON decoding give,
// and printYAML must print exactly what sigs.k8s.io/yaml's Marshal prints.
func TestConversionMatchesKyaml(t *testing.T) {
	fsys := filesys.MakeFsInMemory()
	must(t, fsys.WriteFile("/tricky/kustomization.yaml", []byte("resources: [tricky.yaml]\n")))
	must(t, fsys.WriteFile("/tricky/tricky.yaml", []byte(trickyValues)))
	maps := map[string]resmap.ResMap{"tricky": krustyRun(t, fsys, "/tricky")}
	for _, overlay := range corpusOverlays(t) {
		abs, err := filepath.Abs(filepath.Join(corpusDir, overlay))
		must(t, err)
		maps[overlay] = krustyRun(t, filesys.MakeFsOnDisk(), abs)
	}
	checked := 0
	for name, m := range maps {
		for _, res := range m.Resources() {
			data, err := res.MarshalJSON()
			must(t, err)
			want := &unstructured.Unstructured{}
			must(t, want.UnmarshalJSON(data))
			got, err := toUnstructured(res)
			must(t, err)
			if !reflect.DeepEqual(want.Object, got.Object) {
				t.Errorf("%s %s: toUnstructured\n%#v\nwant (kyaml's MarshalJSON)\n%#v", name, res.CurId(), got.Object, want.Object)
			}
			wantYAML, err := sigsyaml.Marshal(want.Object)
			must(t, err)
			gotYAML, err := printYAML(want.Object)
			must(t, err)
			if !bytes.Equal(wantYAML, gotYAML) {
				t.Errorf("%s %s: printYAML\n%s\nwant (sigs.k8s.io/yaml)\n%s", name, res.CurId(), gotYAML, wantYAML)
			}
			checkPrintsAlike(t, name+" "+res.CurId().String(), want.Object)
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d resources checked", checked)
	}
	t.Logf("%d resources converted and printed alike", checked)
}

// checkPrintsAlike prints every value inside v on its own (an object that takes printYAML's
// detour as a whole still has its plain parts printed without it) and compares with
// sigs.k8s.io/yaml.
func checkPrintsAlike(t *testing.T, where string, v any) {
	t.Helper()
	wrapped := map[string]any{"v": v}
	want, err := sigsyaml.Marshal(wrapped)
	must(t, err)
	if got, err := printYAML(wrapped); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s: printYAML(%#v) = %q, %v; want %q", where, v, got, err, want)
	}
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			checkPrintsAlike(t, where, e)
		}
	case []any:
		for _, e := range v {
			checkPrintsAlike(t, where, e)
		}
	}
}

func krustyRun(t *testing.T, fsys filesys.FileSystem, dir string) resmap.ResMap {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return m
}
