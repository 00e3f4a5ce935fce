#!/usr/bin/env bash
# Debian's packages that the single-node cluster (`make cluster`) and the image build
# (`make cluster-image`) need: containerd and runc run the pods, the loopback CNI plugin
# marks the runtime network ready, debootstrap makes the image's base, buildah builds the
# Dockerfile on it, skopeo hands the result to containerd. Installed with apt when run
# as root and missing; nothing is configured or started (the cluster keeps its own
# configuration under the cache directory and starts its own processes).
set -euo pipefail
want=(containerd runc containernetworking-plugins debootstrap buildah skopeo)
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "[cluster-deps] missing Debian packages: ${missing[*]} (as root: apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "[cluster-deps] installing with apt: ${missing[*]}" >&2
apt-get update -qq >/dev/null
# policy-rc.d 101: the packages' maintainer scripts must not start a system service
# (containerd's unit); the cluster starts its own containerd with its own config.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap 'if [[ $created_policy == 1 ]]; then rm -f "$policy"; fi' EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "[cluster-deps] installed: ${missing[*]}" >&2
