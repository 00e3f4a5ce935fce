#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-scheduler,
# kubectl), helm and promtool from the Go module proxy into a cache outside the repo.
# Each binary is keyed by its version and rebuilt only when missing.
#
#   hack/build-tools.sh            build what is missing, print the bin dir
#   hack/build-tools.sh NAME...    only these; the single-node cluster's parts
#                                  (kube-controller-manager, kubelet, pause) are
#                                  built only when named (`make cluster-tools`)
#   WEB4AI_TOOLS_DIR=/path ...     use another cache (default ~/.cache/web4ai)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.env
source "$here/versions.env"

cache="${WEB4AI_TOOLS_DIR:-$HOME/.cache/web4ai}"
bin="$cache/bin"
mkdir -p "$bin"
export GOFLAGS="${GOFLAGS:-} -mod=readonly -trimpath"
export CGO_ENABLED=0

log() { printf '[build-tools] %s\n' "$*" >&2; }

build() { # name version dir package [ldflags]
  local name=$1 version=$2 dir=$3 pkg=$4 ldflags=${5:-}
  local out="$bin/$name-$version"
  if [[ -x "$out" ]]; then
    ln -sf "$name-$version" "$bin/$name"
    return
  fi
  log "building $name $version (first time only; cached in $bin)"
  local start=$SECONDS
  (cd "$dir" && go build -o "$out.tmp" -ldflags "-s -w $ldflags" "$pkg")
  mv "$out.tmp" "$out"
  ln -sf "$name-$version" "$bin/$name"
  log "built $name in $((SECONDS - start))s"
}

kube_ldflags() {
  local v=$KUBERNETES_VERSION major minor
  major=${v#v}; major=${major%%.*}
  minor=${v#v$major.}; minor=${minor%%.*}
  local f="" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    f+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$f"
}

only=("$@")
want() { [[ ${#only[@]} -eq 0 ]] || [[ " ${only[*]} " == *" $1 "* ]]; }

want etcd && build etcd "$ETCD_VERSION" "$here/tools/etcd" go.etcd.io/etcd/server/v3
for cmd in kube-apiserver kubectl kube-scheduler; do
  want "$cmd" && build "$cmd" "$KUBERNETES_VERSION" "$here/tools/kube" \
    "k8s.io/kubernetes/cmd/$cmd" "$(kube_ldflags)"
done
if want helm && [[ ! -x "$bin/helm-$HELM_VERSION" ]]; then
  log "building helm $HELM_VERSION"
  GOBIN="$bin/.helm-$HELM_VERSION" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$bin/.helm-$HELM_VERSION/helm" "$bin/helm-$HELM_VERSION"
  rmdir "$bin/.helm-$HELM_VERSION"
fi
# The single-node cluster's parts, only when named.
named() { [[ " ${only[*]} " == *" $1 "* ]]; }
for cmd in kube-controller-manager kubelet; do
  if named "$cmd"; then
    build "$cmd" "$KUBERNETES_VERSION" "$here/tools/kube" "k8s.io/kubernetes/cmd/$cmd" "$(kube_ldflags)"
  fi
done
# the pod sandbox program, keyed by its source
if named pause; then
  build pause "$(cat "$here/tools/pause/main.go" "$here/tools/pause/go.mod" | sha256sum | cut -c1-12)" \
    "$here/tools/pause" .
fi
want helm && ln -sf "helm-$HELM_VERSION" "$bin/helm"
# promtool checks the metrics' exposition and unit-tests the chart's alerts.
if want promtool && [[ ! -x "$bin/promtool-$PROMETHEUS_VERSION" ]]; then
  log "building promtool $PROMETHEUS_VERSION (first time only; cached in $bin)"
  start=$SECONDS
  GOBIN="$bin/.promtool-$PROMETHEUS_VERSION" go install -ldflags "-s -w" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
  mv "$bin/.promtool-$PROMETHEUS_VERSION/promtool" "$bin/promtool-$PROMETHEUS_VERSION"
  rmdir "$bin/.promtool-$PROMETHEUS_VERSION"
  log "built promtool in $((SECONDS - start))s"
fi
want promtool && ln -sf "promtool-$PROMETHEUS_VERSION" "$bin/promtool"
echo "$bin"
