"""Finding the control-plane binaries that hack/build-tools.sh caches."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CACHE = Path.home() / ".cache" / "web4ai"


def bin_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("WEB4AI_TOOLS_DIR", str(DEFAULT_CACHE))) / "bin"


def binary(name: str, environ: dict[str, str] | None = None) -> Path:
    """Path of a cached binary; a clear error when it was never built."""
    path = bin_dir(environ) / name
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(
            f"{path} is missing: run 'make tools' (hack/build-tools.sh) to build it"
        )
    return path
