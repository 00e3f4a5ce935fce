"""Benchmarks (not tests): run with `make bench-*`; see each module's docstring."""
