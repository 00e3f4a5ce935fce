"""make run's supervision policy (injected time, fake processes)."""

from __future__ import annotations

import subprocess
from typing import Any

from devtools.localcluster.supervise import Component, Supervisor, restart_delay


class FakeProc:
    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


def test_restart_delays_double_up_to_a_cap() -> None:
    assert [restart_delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_the_api_is_restarted_with_backoff_and_a_dead_node_is_left_alone() -> None:
    now = [0.0]
    said: list[str] = []
    spawned: list[FakeProc] = []

    def spawn() -> Any:
        spawned.append(FakeProc())
        return spawned[-1]

    sup = Supervisor(lambda: now[0], said.append)
    api = sup.add(Component("api", spawn, restart=True))
    node = sup.add(Component("demo-node-1", spawn, restart=False))
    assert isinstance(api.proc, FakeProc) and isinstance(node.proc, FakeProc)
    node.proc.code = -9  # SIGKILLed node
    api.proc.code = 1
    now[0] = 5.0
    sup.check()
    assert said == [
        "api exited with code 1; restarting in 1s",
        "demo-node-1 exited with code -9; the orchestrator handles it as a node failure "
        "(its tasks move to other nodes)",
    ]
    now[0] = 5.5
    sup.check()
    assert len(spawned) == 2  # not yet
    now[0] = 6.0
    sup.check()
    assert len(spawned) == 3 and said[-1] == "restarting api (restart 1)"
    spawned[-1].code = 1  # dies again at once: a longer wait
    now[0] = 6.1
    sup.check()
    assert said[-1] == "api exited with code 1; restarting in 2s"
    assert sup.restarts == 1
    assert not isinstance(node.proc, subprocess.Popen) and node.done
