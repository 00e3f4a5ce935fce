"""Errors carrying the documented code."""

from __future__ import annotations

from typing import Any


class Web4AIError(Exception):
    """An error answer of the API: ``status``, ``code`` (e.g. TASK_NOT_FOUND), ``details``."""

    def __init__(self, status: int, message: str, code: str, details: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def from_response(cls, status: int, body: Any) -> Web4AIError:
        if isinstance(body, dict) and body.get("success") is False:
            details = body.get("details") or {}
            return cls(status, str(body.get("error")), str(details.get("code", "ERROR")), details)
        return cls(status, str(body)[:500], "UNEXPECTED_RESPONSE", {})


TERMINAL = ("completed", "failed")
