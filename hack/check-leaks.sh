#!/usr/bin/env bash
# Fails when an etcd or kube-apiserver started by the local control plane
# (its work dirs are /tmp/web4ai-cp-*) is still running.
set -u
sleep 0.5
leaks=$(pgrep -af 'web4ai-cp-' | grep -E 'etcd|kube-apiserver' | grep -v pgrep || true)
if [[ -n "$leaks" ]]; then
  echo "LEAK: control-plane processes survived the test run:" >&2
  echo "$leaks" >&2
  exit 1
fi
echo "[check-leaks] no etcd or kube-apiserver process left behind"
