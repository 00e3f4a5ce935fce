"""The wheel (and so the image) ships no development code."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def find_packages(include: list[str], exclude: list[str]) -> list[str]:
    """What setuptools' ``packages.find`` selects (its include/exclude are fnmatch patterns)."""
    names = [
        ".".join(init.parent.relative_to(REPO).parts)
        for init in REPO.glob("*/**/__init__.py")
        if not {"tests", "bench", "hack"} & set(init.relative_to(REPO).parts)
    ]
    return [
        n
        for n in names
        if any(fnmatchcase(n, p) for p in include) and not any(fnmatchcase(n, p) for p in exclude)
    ]


def test_wheel_packages_exclude_development_code() -> None:
    found = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    packages = find_packages(found["find"]["include"], found["find"].get("exclude", []))
    assert "web4ai.api" in packages and "web4ai.operator" in packages
    assert not [p for p in packages if "localcluster" in p or p.startswith("devtools")], packages


def test_image_context_excludes_development_code() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "devtools" in ignored
