"""What a benchmark run costs, per completed task: CPU of each process from /proc,
the API server's writes by kind and their bytes, the watch events it sent, and an
optional py-spy profile of our two processes.

    before = Costs.sample(procs, server_metrics)   # ... run ...   after = Costs.sample(...)
    per_task = after.minus(before).per(tasks)

The API server's own counters (``/metrics`` of kube-apiserver) are the source for
writes and watch events: they count every client (the API, the operator, Kopf)
the same way, whichever code runs.
"""

from __future__ import annotations

import collections
import json
import os
import pstats
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.common import cpu_seconds

WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION"}
# resources whose traffic a task causes (the rest is the control plane's own)
RESOURCES = {"web4aitasks", "web4ainodes", "web4aiorchestrators", "leases", "events"}


def server_counters(text: str) -> dict[str, float]:
    """The API server's counters that matter here, flattened to ``name|label=..`` keys.

    - ``writes|<VERB> <resource>[/<subresource>]``: requests by verb (any code); the
      same as ``reads|...`` for GET and LIST
    - ``write_bytes|<verb> <resource>``: request body bytes (sum) and ``write_count|...``
    - ``watch_events|<resource>`` and ``watch_bytes|<resource>``: events sent to watchers
    """
    out: dict[str, float] = collections.defaultdict(float)
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = s.labels
            resource = labels.get("resource", "")
            if s.name == "apiserver_request_total" and resource in RESOURCES:
                verb = labels.get("verb", "")
                sub = labels.get("subresource")
                what = f"{verb} {resource}{'/' + sub if sub else ''}"
                if verb in WRITE_VERBS:
                    out[f"writes|{what}"] += s.value
                elif verb in ("GET", "LIST"):
                    out[f"reads|{what}"] += s.value
            elif s.name == "apiserver_request_body_size_bytes_sum" and resource in RESOURCES:
                out[f"write_bytes|{labels.get('verb', '')} {resource}"] += s.value
            elif s.name == "apiserver_request_body_size_bytes_count" and resource in RESOURCES:
                out[f"write_count|{labels.get('verb', '')} {resource}"] += s.value
            elif s.name == "apiserver_watch_events_total":
                kind = labels.get("resource") or labels.get("kind", "")
                if kind in RESOURCES:
                    out[f"watch_events|{kind}"] += s.value
            elif s.name == "apiserver_watch_events_sizes_sum":
                kind = labels.get("resource") or labels.get("kind", "")
                if kind in RESOURCES:
                    out[f"watch_bytes|{kind}"] += s.value
    return dict(out)


def object_sizes(obj: dict[str, Any]) -> dict[str, int]:
    """Bytes of a stored object (as JSON, as a watcher receives it) and of its parts."""
    meta = obj.get("metadata") or {}

    def size(x: Any) -> int:
        return len(json.dumps(x, separators=(",", ":")))

    return {
        "total": size(obj),
        "managedFields": size(meta.get("managedFields") or []),
        "managers": len(meta.get("managedFields") or []),
        "spec": size(obj.get("spec") or {}),
        "status": size(obj.get("status") or {}),
        "attempts": size((obj.get("status") or {}).get("attempts") or []),
    }


@dataclass
class Sample:
    cpu: dict[str, float]  # process group -> CPU seconds so far
    server: dict[str, float]


def sample(groups: Mapping[str, list[int]], scrape: Callable[[], str]) -> Sample:
    cpu = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}
    return Sample(cpu, server_counters(scrape()))


def per_task(before: Sample, after: Sample, tasks: int) -> dict[str, Any]:
    """The costs between two samples, divided by the tasks completed between them."""
    cpu_ms = {k: (after.cpu[k] - before.cpu[k]) * 1000 / tasks for k in after.cpu}
    cpu_ms["all"] = sum(cpu_ms.values())
    diff = {k: v - before.server.get(k, 0.0) for k, v in after.server.items()}
    writes = {
        k.split("|", 1)[1]: round(v / tasks, 3)
        for k, v in sorted(diff.items())
        if k.startswith("writes|") and v
    }
    reads = {
        k.split("|", 1)[1]: round(v / tasks, 3)
        for k, v in sorted(diff.items())
        if k.startswith("reads|") and v
    }
    write_bytes = {}
    for k, v in diff.items():
        if k.startswith("write_bytes|"):
            key = k.split("|", 1)[1]
            count = diff.get(f"write_count|{key}", 0.0)
            if count:
                write_bytes[key] = round(v / count)
    events = {
        k.split("|", 1)[1]: round(v / tasks, 3)
        for k, v in sorted(diff.items())
        if k.startswith("watch_events|") and v
    }
    event_bytes = {
        k.split("|", 1)[1]: round(v / diff[f"watch_events|{k.split('|', 1)[1]}"])
        for k, v in diff.items()
        if k.startswith("watch_bytes|") and diff.get(f"watch_events|{k.split('|', 1)[1]}")
    }
    return {
        "cpu_ms": {k: round(v, 2) for k, v in cpu_ms.items()},
        "writes": writes,
        "writes_total": round(sum(writes.values()), 3),
        "reads": reads,
        "bytes_per_write": write_bytes,
        "watch_events": events,
        "watch_events_total": round(sum(events.values()), 3),
        "bytes_per_watch_event": event_bytes,
    }


def env_py_spy() -> str | None:
    """py-spy: ``$PY_SPY`` or on PATH (a bench-only tool: ``pip install py-spy``)."""
    return os.environ.get("PY_SPY") or shutil.which("py-spy")


@dataclass
class Profiler:
    """py-spy (``record --format raw``: collapsed stacks) on some processes while a run
    lasts; ``top`` summarises a profile by the functions that were on the CPU."""

    out: Path
    binary: str | None = field(default_factory=lambda: env_py_spy())
    rate: int = 97
    _procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, pids: Mapping[str, int]) -> None:
        if self.binary is None:
            raise SystemExit("--profile needs py-spy on PATH (pip install py-spy)")
        self.out.mkdir(parents=True, exist_ok=True)
        for name, pid in pids.items():
            path = self.out / f"{name}.txt"
            cmd = [self.binary, "record", "--pid", str(pid), "--format", "raw", "--nonblocking"]
            cmd += ["--rate", str(self.rate), "--output", str(path)]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self._procs.append((name, proc))

    def stop(self) -> dict[str, dict[str, Any]]:
        for _, proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        tops: dict[str, dict[str, Any]] = {}
        for name, proc in self._procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            path = self.out / f"{name}.txt"
            if path.exists():
                tops[name] = top(path.read_text())
        self._procs.clear()
        return tops


def _frame(raw: str) -> str:
    """``func (path/to/module.py:12)`` -> ``module.py:func`` (short, stable)."""
    name, _, where = raw.partition(" (")
    file = where.split(":")[0]
    parts = Path(file).parts
    short = "/".join(parts[-2:]) if parts else file
    return f"{short}:{name.strip()}"


def top(collapsed: str, count: int = 15) -> dict[str, Any]:
    """Self time (the leaf frame) and inclusive time (anywhere on the stack) per
    function, as shares of all samples."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        weight = int(n)
        frames = [_frame(f) for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        total += weight
        own[frames[-1]] += weight
        for f in set(frames):
            incl[f] += weight
    if not total:
        return {"samples": 0, "self": [], "inclusive": []}

    def share(c: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * n / total, 1)) for f, n in c.most_common(count)]

    return {"samples": total, "self": share(own), "inclusive": share(incl)}


def describe_top(name: str, t: Mapping[str, Any]) -> str:
    lines = [f"[profile] {name}: {t['samples']} samples; self %:"]
    lines += [f"    {pct:5.1f}  {f}" for f, pct in t["self"]]
    lines.append(f"[profile] {name}: inclusive %:")
    lines += [f"    {pct:5.1f}  {f}" for f, pct in t["inclusive"]]
    return "\n".join(lines)


def describe_cprofile(name: str, path: Path, count: int = 25) -> str:
    """The functions that spent the most CPU in a cProfile dump (own and cumulative)."""
    if not path.exists():
        return f"[cprofile] {name}: no profile at {path}"
    stats = pstats.Stats(str(path))
    rows = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in rows.values()) or 1.0

    def label(func: tuple[str, int, str]) -> str:
        file, line, fn = func
        return f"{'/'.join(Path(file).parts[-2:])}:{line}:{fn}"

    lines = [f"[cprofile] {name}: {total:.2f} s CPU; own %:"]
    for func, (_, calls, tt, _, _) in sorted(rows.items(), key=lambda kv: -kv[1][2])[:count]:
        lines.append(f"    {100 * tt / total:5.1f}  {calls:8d}  {label(func)}")
    lines.append(f"[cprofile] {name}: cumulative %:")
    for func, (_, calls, _, ct, _) in sorted(rows.items(), key=lambda kv: -kv[1][3])[:count]:
        lines.append(f"    {100 * ct / total:5.1f}  {calls:8d}  {label(func)}")
    return "\n".join(lines)
