"""Which callback URLs are well formed, and when to retry a delivery.

Which addresses a callback may reach is the egress policy (``web4ai.core.egress``).
"""

from __future__ import annotations

from web4ai.core.egress import url_form_problem

BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0)


def url_problem(url: object) -> str | None:
    """What is wrong with a callback URL's form, or None."""
    return url_form_problem(url)
