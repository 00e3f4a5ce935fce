#!/usr/bin/env bash
# Builds the product's image on this machine, with no registry: the repo's Dockerfile,
# built by buildah on a Debian base made here with debootstrap, plus the pod sandbox
# ("pause") image the local cluster's containerd needs. Each ends as a docker-archive
# that `ctr images import` loads (devtools/localcluster does it at cluster start).
#
#   hack/build-image.sh     build what changed; print the two archives' paths
#
# Everything lives under the cache directory (WEB4AI_TOOLS_DIR, default ~/.cache/web4ai):
# buildah's storage in images/storage, the archives in images/. The base is keyed by its
# inputs (suite, packages, this script), so a warm run reuses it; buildah's layer cache
# makes an unchanged Dockerfile step free.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
cache="${WEB4AI_TOOLS_DIR:-$HOME/.cache/web4ai}"
out="$cache/images"
image="${WEB4AI_IMAGE:-web4ai/orchestrator:dev}"
suite=bookworm
packages=python3,python3-venv
mkdir -p "$out"
# one build at a time in this storage; whatever stops a build (an error, Ctrl-C) leaves no
# working container mounted and no half-made rootfs behind
exec 9>"$out/.build.lock"
flock 9
rootfs=""
cleanup() {
  local m
  if [[ -n $rootfs ]]; then
    # debootstrap mounts /proc and /sys inside the target; never leave them behind
    for m in $(awk -v r="$rootfs" '$2 ~ "^"r {print $2}' /proc/self/mounts | sort -r); do
      umount -l "$m" || true
    done
    rm -rf "$rootfs"
    rootfs=""
  fi
  # working containers live only within one run of this script (from, bud's steps)
  bah rm --all >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[build-image] %s\n' "$*" >&2; }
bah() {
  buildah --root "$out/storage/root" --runroot "$out/storage/run" --storage-driver overlay "$@"
}

# the base: debootstrap's minimal Debian with Python 3.11 and venv, trimmed
make_base() { # rootfs dir -> the base image $1
  local rootfs=$2 ctr mnt
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" >"$out/debootstrap.log" 2>&1 ||
    { tail -20 "$out/debootstrap.log" >&2; return 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
  ctr=$(bah from scratch)
  mnt=$(bah mount "$ctr")
  tar -C "$rootfs" -cf - . | tar -C "$mnt" -xf -
  bah umount "$ctr" >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd /usr/bin/python3 "$ctr"
  bah commit --rm -q "$ctr" "$1" >/dev/null
}
# keyed by its inputs: the suite, the packages and the recipe above
base_key=$(printf '%s\n' "$suite" "$packages" "$(declare -f make_base)" | sha256sum | cut -c1-12)
base="localhost/web4ai-base:$base_key"
if ! bah inspect --type image "$base" >/dev/null 2>&1; then
  log "making the base $base with debootstrap (first time only)"
  start=$SECONDS
  rootfs=$(mktemp -d "$out/rootfs.XXXXXX")
  make_base "$base" "$rootfs"
  cleanup
  log "base $base made in $((SECONDS - start))s"
fi

# the product: the repo's Dockerfile on that base. RUN steps are chroot'ed and use the
# host network for pip to reach the package index, with this machine's pip configuration
# and CA trust mounted read-only (never part of a layer).
mounts=(--volume /etc/ssl/certs:/etc/ssl/certs:ro)
for conf in /etc/pip.conf /etc/xdg/pip/pip.conf; do
  [[ -f $conf ]] && mounts+=(--volume "$conf:$conf:ro")
done
start=$SECONDS
bah bud -q --layers --isolation chroot --network host "${mounts[@]}" \
  --build-arg "BASE=$base" -t "$image" -f "$repo/Dockerfile" "$repo" >/dev/null
id=$(bah inspect --type image --format '{{.FromImageID}}' "$image")
archive="$out/web4ai-orchestrator.tar"
if [[ ! -f "$archive" || "$(cat "$archive.id" 2>/dev/null)" != "$id" ]]; then
  rm -f "$archive"
  bah push -q "$image" "docker-archive:$archive:$image" >/dev/null
  echo "$id" >"$archive.id"
fi
log "image $image (${id:0:12}) ready in $((SECONDS - start))s: $archive"

# the pod sandbox image: the static pause program alone
pause_bin=$(readlink -f "$("$here/build-tools.sh" pause)/pause")
pause_key=$(sha256sum "$pause_bin" | cut -c1-12)
pause="localhost/web4ai-pause:$pause_key"
pause_archive="$out/web4ai-pause-$pause_key.tar"
if [[ ! -f "$pause_archive" ]]; then
  ctr=$(bah from scratch)
  bah copy "$ctr" "$pause_bin" /pause >/dev/null
  bah config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
  bah commit --rm -q "$ctr" "$pause" >/dev/null
  bah push -q "$pause" "docker-archive:$pause_archive.tmp:$pause" >/dev/null
  mv "$pause_archive.tmp" "$pause_archive"
fi
ln -sf "$(basename "$pause_archive")" "$out/web4ai-pause.tar"
echo "$archive"
echo "$out/web4ai-pause.tar"
