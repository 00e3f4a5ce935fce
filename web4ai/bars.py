"""Text progress bars for ``web4ai tasks submit --wait`` and ``web4ai tasks wait``:
one bar for one task, a bar per task and a summary line for several. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

WIDTH = 24
MESSAGE_MAX = 48


def bar(percent: float, width: int = WIDTH) -> str:
    """``[#########...............]  37%``."""
    p = min(max(float(percent), 0.0), 100.0)
    filled = round(width * p / 100)
    return f"[{'#' * filled}{'.' * (width - filled)}] {p:3.0f}%"


def task_line(task: dict[str, Any]) -> str:
    """One task: its bar (100 % once completed), status, node and the node's message."""
    progress = task.get("progress") or {}
    status = str(task.get("status", "?"))
    percent = 100.0 if status == "completed" else float(progress.get("percent") or 0.0)
    line = f"{task.get('task_id', '?')}  {bar(percent)}  {task.get('phase', status)}"
    if task.get("node_id"):
        line += f" on {task['node_id']}"
    message = progress.get("message")
    if message and status not in ("completed", "failed"):
        line += f": {str(message)[:MESSAGE_MAX]}"
    return line


def progress_lines(tasks: Sequence[dict[str, Any]]) -> list[str]:
    """A bar per task, then ``2/3 finished (0 failed)`` when there are several."""
    lines = [task_line(t) for t in tasks]
    if len(tasks) > 1:
        done = [t for t in tasks if t.get("status") in ("completed", "failed")]
        failed = sum(1 for t in done if t.get("status") == "failed")
        lines.append(f"{len(done)}/{len(tasks)} finished ({failed} failed)")
    return lines
