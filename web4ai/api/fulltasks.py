"""Finished tasks read whole from the API server.

The API's store keeps a finished task lean (``web4ai.core.lean.api_task``: no input,
result, metrics or attempts), which is all the lists and summaries read. What must
show a task whole (``GET /tasks/{id}``) reads it from the API server, through a small
cache: the newest ``size`` tasks read, each valid while the store holds no newer
version of it (a new version means a GET again). An unfinished task is whole in the
store (a node's long-poll hands out its input from there): no read.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from web4ai.core import bodies
from web4ai.core.crs import TaskBody
from web4ai.core.lean import api_trimmed
from web4ai.core.resources import TASKS
from web4ai.k8s.store import newer
from web4ai.k8s.writing import Writer


@dataclass
class FullTasks:
    size: int = 256  # finished tasks kept whole
    reads: int = 0  # GETs made (the rest were served from the store or the cache)
    _memo: OrderedDict[str, TaskBody] = field(default_factory=OrderedDict)

    def cached(self, lean: TaskBody) -> TaskBody | None:
        """The whole body of ``lean``'s task when one at least as new is held."""
        name = bodies.name_of(lean)
        hit = self._memo.get(name)
        if hit is None or newer(dict(lean), dict(hit)):
            return None
        self._memo.move_to_end(name)
        return hit

    def keep(self, body: TaskBody) -> None:
        name = bodies.name_of(body)
        self._memo[name] = body
        self._memo.move_to_end(name)
        while len(self._memo) > self.size:
            self._memo.popitem(last=False)

    async def whole(self, writer: Writer, lean: TaskBody) -> TaskBody | None:
        """The task whole: the store's body when it lacks nothing, else the cache's or
        the API server's (None when the task is gone)."""
        if not api_trimmed(lean):
            return lean
        hit = self.cached(lean)
        if hit is not None:
            return hit
        self.reads += 1
        raw = await writer.get(TASKS, bodies.name_of(lean))
        if raw is None:
            return None
        body = bodies.as_task(raw)
        self.keep(body)
        return body
