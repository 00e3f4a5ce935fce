"""A bench's ``--baseline DIR`` must run DIR's code: ``python -m`` puts the working
directory first on sys.path, ahead of PYTHONPATH, so a process spawned from the
checkout ran the checkout's code whatever PYTHONPATH said (every "before" of
bench.e2e, bench.api and bench.scheduler until this test)."""

from __future__ import annotations

import os
from pathlib import Path

from bench import e2e


def test_a_spawned_process_runs_the_code_of_its_pythonpath(tmp_path: Path) -> None:
    other = tmp_path / "baseline"
    (other / "web4ai").mkdir(parents=True)
    marker = tmp_path / "ran"
    (other / "web4ai" / "__init__.py").write_text("")
    (other / "web4ai" / "__main__.py").write_text(
        f"import pathlib, web4ai\npathlib.Path({str(marker)!r}).write_text(web4ai.__file__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(other)}
    proc = e2e.spawn(["api"], env)
    assert proc.wait(timeout=60) == 0
    assert marker.read_text() == str(other / "web4ai" / "__init__.py")
