#!/usr/bin/env bash
# kustomize-patch-size.sh prints ferry's patch to kustomize api: the files of third_party/
# kustomize-api that differ from sigs.k8s.io/kustomize/api v0.21.2 as the Go module proxy serves
# it, with lines added and removed, and fails when more than MAX_LINES (default 1000) changed, so
# that the patch stays small enough to re-apply on a new kustomize release. PATCHES.md, the
# patch's own notes, is not counted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pristine=$(cd "$here/kustomize-pristine" && ${GO:-go} mod download -json sigs.k8s.io/kustomize/api@v0.21.2 |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$pristine" ] || { echo "no module cache copy of sigs.k8s.io/kustomize/api v0.21.2" >&2; exit 1; }
diff -ruN -x PATCHES.md "$pristine" "$here/kustomize-api" >"${TMPDIR:-/tmp}/kustomize-api.patch" || true
awk '
  /^\+\+\+ / { file = $2; sub(".*/kustomize-api/", "", file); next }
  /^--- / { next }
  /^\+/ { add[file]++; total_add++ }
  /^-/ { del[file]++; total_del++ }
  END {
    for (f in add) files[f] = 1
    for (f in del) files[f] = 1
    for (f in files) printf "  %-55s +%d -%d\n", f, add[f], del[f]
    printf "kustomize api patch: %d lines added, %d removed, %d changed in all\n", total_add, total_del, total_add + total_del
    if (total_add + total_del > max) { printf "more than %d changed lines\n", max; exit 1 }
  }' max="${MAX_LINES:-1000}" "${TMPDIR:-/tmp}/kustomize-api.patch"
