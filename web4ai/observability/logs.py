"""Logging set-up of the processes: ``--log-format text|json``.

Text is the default locally; the chart runs json. A line about a task or a node
carries ``task_id`` / ``node_id`` (passed with ``extra=``), which json renders as
fields and text appends as ``key=value``. Keys and task input are never logged:
callers pass ids only, and nothing here logs a request body or a header.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

LOG_FORMATS = ("text", "json")
FIELDS = ("task_id", "node_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def task(task_id: str) -> dict[str, Any]:
    """``extra=`` for a line about a task."""
    return {"task_id": task_id}


def node(node_id: str) -> dict[str, Any]:
    """``extra=`` for a line about a node."""
    return {"node_id": node_id}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and the id fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with ``task_id=…`` / ``node_id=…`` appended when present."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(
            f"{key}={getattr(record, key)}"
            for key in FIELDS
            if getattr(record, key, None) is not None
        )
        return f"{line} {extra}" if extra else line


class NodeIdFilter(logging.Filter):
    """Stamps ``node_id`` on every record of a node's own process."""

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "node_id", None) is None:
            record.node_id = self.node_id
        return True


def formatter(fmt: str) -> logging.Formatter:
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    return JsonFormatter() if fmt == "json" else TextFormatter()


def setup_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    """Configure the root logger once for the process (replacing basicConfig)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
