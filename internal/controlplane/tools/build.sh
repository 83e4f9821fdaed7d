#!/usr/bin/env bash
# build.sh builds the local control plane's six programs, the Gitea server that tests use as a
# git host (internal/giteatest) and the Prometheus server that analysis tests query, into a
# cache folder keyed by the Kubernetes version, and skips every program whose recorded module
# version already matches.
# Usage: build.sh            builds what is missing and prints the bin folder on the last line
#        build.sh --print-dir prints the bin folder only
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_version=v1.37.2
etcd_version=v3.6.8
kwok_version=v0.8.0
gitea_version=v1.26.0
prometheus_version=v0.316.0
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

# build MODULE_DIR VERSION PACKAGE NAME [LDFLAGS [TAGS [CGO]]]: go build PACKAGE from the module
# in MODULE_DIR into $bin/NAME unless $bin/.NAME.version already says VERSION. The stamp is
# written last, so a build that was cut short is redone. CGO is CGO_ENABLED for the build, 0
# unless given (Gitea's sqlite driver needs 1).
build() {
  local dir=$1 version=$2 pkg=$3 name=$4 ldflags=${5:-} tags=${6:-} cgo=${7:-0}
  local stamp="$bin/.$name.version"
  if [[ -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    echo "controlplane: $name $version is built"
    return
  fi
  echo "controlplane: building $name $version"
  local start=$SECONDS
  (cd "$here/$dir" && CGO_ENABLED=$cgo GOFLAGS=-mod=mod go build -trimpath \
    -tags="$tags" -ldflags="-s -w $ldflags" -o "$bin/$name.tmp" "$pkg")
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

# Prometheus, for the rollout's metric analysis tests: only its HTTP query API is used, so the
# web UI's assets (the builtinassets tag) are left out.
build prometheus "$prometheus_version" github.com/prometheus/prometheus/cmd/prometheus prometheus

# Gitea, for tests that need a git host with pull requests. Its sqlite driver needs cgo. Built
# without the bindata tag, it reads its locales and other options (and its page templates) from
# STATIC_ROOT_PATH at run time: copy them from the module next to the binary, so that the
# binary does not depend on the module cache. internal/giteatest sets STATIC_ROOT_PATH to
# $bin/gitea-static.
gitea_tags="sqlite sqlite_unlock_notify"
build gitea "$gitea_version" code.gitea.io/gitea gitea \
  "-X 'main.Version=${gitea_version#v}' -X 'main.Tags=$gitea_tags'" "$gitea_tags" 1
gitea_static="$bin/gitea-static"
if [[ ! -f "$gitea_static/.version" || "$(cat "$gitea_static/.version")" != "$gitea_version" ]]; then
  gitea_dir=$(cd "$here/gitea" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' code.gitea.io/gitea)
  rm -rf "$gitea_static.tmp" "$gitea_static"
  mkdir -p "$gitea_static.tmp"
  cp -R "$gitea_dir/options" "$gitea_dir/templates" "$gitea_static.tmp/"
  chmod -R u+w "$gitea_static.tmp"
  echo "$gitea_version" > "$gitea_static.tmp/.version"
  mv "$gitea_static.tmp" "$gitea_static"
  echo "controlplane: copied gitea options and templates to $gitea_static"
fi
echo "$bin"
