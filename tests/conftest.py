"""Shared fixtures. Integration tests get a real control plane (see integration/conftest.py)."""
