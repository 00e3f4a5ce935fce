"""Assumed bindings: decided but not yet seen by the watch (pure bookkeeping).

Like kube-scheduler's assumed pods: once the scheduler decides "task -> node" and
sends the guarded write, the task counts against the node's slots and is no longer
pending, until the watch cache shows a newer version of the task (our write, or
anyone's: the assumption is then dropped and the cache's own counts take over) or
the write fails (dropped at once). The write is guarded by the resourceVersion the
decision was made on, so an assumption that outlives its write can over-reserve
for a moment but never bind a task twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Assumption:
    node_id: str
    version: str  # the task's resourceVersion the decision was made on


@dataclass
class Assumed:
    entries: dict[str, Assumption] = field(default_factory=dict)
    changes: int = 0  # +1 whenever the set of names changes (a pass's memo key)

    def assume(self, name: str, node_id: str, version: str) -> None:
        self.entries[name] = Assumption(node_id, version)
        self.changes += 1

    def forget(self, name: str, version: str | None = None) -> None:
        """Drop ``name``'s assumption (only the one made on ``version``, if given)."""
        entry = self.entries.get(name)
        if entry is not None and (version is None or entry.version == version):
            del self.entries[name]
            self.changes += 1

    def holds(self, name: str, version: str) -> bool:
        """Whether ``name`` at ``version`` is assumed bound (skip it as pending)."""
        entry = self.entries.get(name)
        return entry is not None and entry.version == version

    def expire(
        self, current_version: Callable[[str], str | None], names: Iterable[str] | None = None
    ) -> list[Assumption]:
        """Drop every assumption whose task the cache shows changed or gone (only
        among ``names``, the tasks known to have changed, when given); returns them."""
        entries, dropped = self.entries, []
        for name in list(entries) if names is None else names:
            entry = entries.get(name)
            if entry is not None and current_version(name) != entry.version:
                del entries[name]
                dropped.append(entry)
                self.changes += 1
        return dropped

    def counts(self) -> Counter[str]:
        """Assumed tasks per node id (to add to the cache's bound counts)."""
        return Counter(e.node_id for e in self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)
