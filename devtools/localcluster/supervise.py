"""``make run`` as a small cluster: the operator and the API are restarted with backoff
when they die (as a Deployment's pods would be); a demo node that dies is a node failure
for the orchestrator to handle, not a reason to stop. The policy is pure (injected time);
``Supervisor.check`` acts on real processes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

RESET_AFTER = 60.0  # a component that ran this long starts its backoff anew
MAX_DELAY = 30.0


def restart_delay(failures: int) -> float:
    """1, 2, 4, ... seconds, at most MAX_DELAY (CrashLoopBackOff-like)."""
    return min(MAX_DELAY, float(2 ** max(failures - 1, 0)))


@dataclass
class Component:
    name: str
    spawn: Callable[[], subprocess.Popen[bytes]]
    restart: bool  # False: a death is reported and left alone (a demo node)
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    next_start: float | None = None
    done: bool = False


@dataclass
class Supervisor:
    clock: Callable[[], float]
    say: Callable[[str], None] = print
    components: list[Component] = field(default_factory=list)
    restarts: int = 0

    def add(self, component: Component) -> Component:
        component.proc = component.spawn()
        component.started_at = self.clock()
        self.components.append(component)
        return component

    def check(self) -> None:
        """One look at every component: report deaths, restart what is due."""
        now = self.clock()
        for c in self.components:
            if c.done:
                continue
            if c.proc is None:
                if c.next_start is not None and now >= c.next_start:
                    self.restarts += 1
                    self.say(f"restarting {c.name} (restart {c.failures})")
                    c.proc, c.started_at, c.next_start = c.spawn(), now, None
                continue
            code = c.proc.poll()
            if code is None:
                continue
            if not c.restart:
                c.done = True
                self.say(
                    f"{c.name} exited with code {code}; the orchestrator handles it as a "
                    "node failure (its tasks move to other nodes)"
                )
                continue
            c.failures = 1 if now - c.started_at >= RESET_AFTER else c.failures + 1
            delay = restart_delay(c.failures)
            c.proc, c.next_start = None, now + delay
            self.say(f"{c.name} exited with code {code}; restarting in {delay:g}s")

    def running(self) -> list[subprocess.Popen[bytes]]:
        return [c.proc for c in self.components if c.proc is not None and c.proc.poll() is None]
