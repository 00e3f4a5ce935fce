"""Imported by Python at start-up when this directory is on ``PYTHONPATH``
(``bench.common.profiled``): with ``BENCH_CPROFILE`` set, the whole process runs under
cProfile timed by its own CPU (``time.process_time``), so a function's share is CPU
spent there, not time spent runnable on a busy machine (what sampling profilers count),
and the stats are written to that path when the process exits."""

import os

if os.environ.get("BENCH_CPROFILE"):
    import atexit
    import cProfile
    import time

    _profile = cProfile.Profile(time.process_time)
    atexit.register(lambda: _profile.dump_stats(os.environ["BENCH_CPROFILE"]))
    _profile.enable()
