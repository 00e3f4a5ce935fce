"""Metrics and structured logs of the processes."""
