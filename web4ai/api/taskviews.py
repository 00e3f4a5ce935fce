"""The public view of a task (``public.task_public``), made once per version.

One version of a task is shown several times: its binding in the ``task_assigned``
message and in the node's poll, its result in the node's answer and in the
``task_completed`` message. The view is kept for the newest tasks touched, keyed by
name and valid only for the very body it was made from (the stores replace a body by
a new object for every version), so memory stays bounded however many tasks exist.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from web4ai.core.crs import TaskBody
from web4ai.core.schemas import public

Doc = dict[str, Any]


@dataclass
class TaskViews:
    size: int = 1024  # tasks whose latest view is kept
    made: int = 0  # views made (the rest were reused)
    _memo: OrderedDict[str, tuple[TaskBody, Doc]] = field(default_factory=OrderedDict)

    def of(self, body: TaskBody) -> Doc:
        """The task's public view; callers only serialize it, never change it."""
        name = str(body["metadata"]["name"])
        hit = self._memo.get(name)
        if hit is not None and hit[0] is body:
            self._memo.move_to_end(name)
            return hit[1]
        view = public.task_public(body)
        self.made += 1
        self._memo[name] = (body, view)
        self._memo.move_to_end(name)
        if len(self._memo) > self.size:
            self._memo.popitem(last=False)
        return view
