"""Transitional alias of ``devtools.localcluster`` for bench/ (being rewritten in issue 14).

Not part of the runtime: excluded from the wheel (pyproject.toml) and the image
(.dockerignore). Delete it once bench/ imports ``devtools.localcluster``."""
