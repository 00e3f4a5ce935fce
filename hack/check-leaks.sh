#!/usr/bin/env bash
# Fails when an etcd or kube-apiserver started by the local control plane
# during this run (work dirs /tmp/web4ai-cp-$WEB4AI_RUN_ID-*) is still running.
#   hack/check-leaks.sh RUN_ID
set -u
run_id=${1:-${WEB4AI_RUN_ID:-}}
sleep 0.5
leaks=$(pgrep -af "web4ai-cp-${run_id}" | grep -E 'etcd|kube-apiserver' | grep -v pgrep || true)
if [[ -n "$leaks" ]]; then
  echo "LEAK: control-plane processes survived the test run:" >&2
  echo "$leaks" >&2
  exit 1
fi
echo "[check-leaks] no etcd or kube-apiserver process left behind"
