#!/usr/bin/env bash
# build.sh builds the local control plane's six programs into a cache folder keyed by the
# Kubernetes version, and skips every program whose recorded module version already matches.
# Usage: build.sh            builds what is missing and prints the bin folder on the last line
#        build.sh --print-dir prints the bin folder only
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_version=v1.37.2
etcd_version=v3.6.8
kwok_version=v0.8.0
cache=${XDG_CACHE_HOME:-$HOME/.cache}
bin="$cache/ferry/controlplane/$k8s_version/bin"

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"

# Kubernetes programs report their version from these variables, as its own build sets them.
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=37"
  k8s_ldflags+=" -X $pkg.gitTreeState=clean"
done

# build MODULE_DIR VERSION PACKAGE NAME [LDFLAGS]: go build PACKAGE from the module in MODULE_DIR into
# $bin/NAME unless $bin/.NAME.version already says VERSION. The stamp is written last, so a
# build that was cut short is redone.
build() {
  local dir=$1 version=$2 pkg=$3 name=$4 ldflags=${5:-}
  local stamp="$bin/.$name.version"
  if [[ -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    echo "controlplane: $name $version is built"
    return
  fi
  echo "controlplane: building $name $version"
  local start=$SECONDS
  (cd "$here/$dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w $ldflags" \
    -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$version" > "$stamp"
  echo "controlplane: built $name in $((SECONDS - start))s"
}

build etcd "$etcd_version" go.etcd.io/etcd/server/v3 etcd
build kwok "$kwok_version" sigs.k8s.io/kwok/cmd/kwok kwok
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build kubernetes "$k8s_version" "k8s.io/kubernetes/cmd/$c" "$c" "$k8s_ldflags"
done

# kwok refuses to start without stage configs; the kwok module ships them. Copy the fast node
# and pod lifecycles, lease heartbeats and the chaos stage that fails labelled pods.
kwok_dir=$(cd "$here/kwok" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
mkdir -p "$bin/kwok-stages"
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml \
  pod/chaos/pod-container-running-failed.yaml; do
  install -m 0644 "$kwok_dir/kustomize/stage/$f" "$bin/kwok-stages/$(basename "$f")"
done
echo "$bin"
