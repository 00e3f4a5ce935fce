#!/usr/bin/env bash
# Fails when anything that the local control plane or the local cluster started during
# this run (work dirs .../web4ai-cp-$WEB4AI_RUN_ID-*) is still there: a process (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, containerd, a shim, a kubelet),
# a container (a process in the nodes' cgroups web4ai-cp-$WEB4AI_RUN_ID-*-n<i>), a cgroup,
# a mount, or a container log link.
#   hack/check-leaks.sh RUN_ID
set -u
run_id=${1:-${WEB4AI_RUN_ID:-}}
marker="web4ai-cp-${run_id}"
sleep 0.5
rc=0
report() { # what, lines
  if [[ -n "$2" ]]; then
    echo "LEAK: $1 survived the test run:" >&2
    echo "$2" >&2
    rc=1
  fi
}
report "processes" "$(pgrep -af -- "$marker" | grep -v -e pgrep -e check-leaks || true)"
containers=$(grep -l -- "/$marker" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 |
  while read -r pid; do ps -o pid=,args= -p "$pid" 2>/dev/null; done || true)
report "container processes" "$containers"
report "cgroups" "$(find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name "$marker*" 2>/dev/null || true)"
report "mounts" "$(awk -v m="$marker" 'index($5, m) {print $5}' /proc/self/mountinfo)"
report "container log links" "$(find /var/log/containers -maxdepth 1 -lname "*$marker*" 2>/dev/null || true)"
if [[ $rc == 0 ]]; then
  echo "[check-leaks] no process, container, cgroup or mount of the run left behind"
fi
exit $rc
