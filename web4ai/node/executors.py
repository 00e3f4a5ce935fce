"""Task executors: ``test_task``/``echo``, ``data_processing``, ``ai_inference``;
more come from the entry-point group ``web4ai.executors``.

An executor is an async callable ``(input_data, context) -> result`` that
raises ``TaskFailed`` with a clear message when the task cannot be done.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "web4ai.executors"


class TaskFailed(Exception):
    """The task cannot be done; the message is reported as its error."""


@dataclass(frozen=True)
class ExecutionContext:
    node_id: str
    inference_url: str | None = None
    inference_model: str | None = None
    inference_api_key: str | None = None
    inference_timeout: float = 120.0
    # the task's progress: (percent 0-100, message); a no-op outside a task
    progress: Callable[[float, str | None], Awaitable[None]] | None = None

    async def report(self, percent: float, message: str | None = None) -> None:
        if self.progress is not None:
            await self.progress(percent, message)


Executor = Callable[[dict[str, Any], ExecutionContext], Awaitable[Any]]


MAX_SLEEP = 600.0
PROGRESS_STEPS = 10  # progress reports of data_processing at most


async def echo(data: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
    """Echo ``input_data`` back; ``sleep_seconds`` (<= 600) simulates a long task."""
    delay = data.get("sleep_seconds", 0)
    if (
        isinstance(delay, bool)
        or not isinstance(delay, int | float)
        or not (0 <= delay <= MAX_SLEEP)
    ):
        raise TaskFailed(f"sleep_seconds must be a number from 0 to {MAX_SLEEP:g}")
    if delay:
        # a long sleep reports its progress about once a second
        steps = max(1, int(delay))
        for i in range(steps):
            await asyncio.sleep(delay / steps)
            if i + 1 < steps:
                await ctx.report(
                    100.0 * (i + 1) / steps, f"{(i + 1) * delay / steps:.0f}s of {delay:g}s"
                )
    return {"echo": data, "node_id": ctx.node_id, "processed_at": time.time()}


def _field_stats(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    numeric: dict[str, list[float]] = {}
    for record in records:
        for key, value in record.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                numeric.setdefault(key, []).append(float(value))
    return {
        key: {
            "count": len(vals),
            "sum": sum(vals),
            "mean": statistics.fmean(vals),
            "min": min(vals),
            "max": max(vals),
        }
        for key, vals in numeric.items()
    }


async def data_processing(data: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
    """Real work on ``input_data``: statistics of ``records`` (a list of objects),
    optional ``filter`` ({field: value}) and ``sort_by``; text measures of ``data``."""
    result: dict[str, Any] = {"node_id": ctx.node_id}
    if "records" in data:
        records = data["records"]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise TaskFailed("input_data.records must be a list of objects")
        where = data.get("filter") or {}
        if not isinstance(where, dict):
            raise TaskFailed("input_data.filter must be an object")
        kept = []
        chunk = max(1, len(records) // PROGRESS_STEPS)
        for start in range(0, len(records), chunk):
            part = records[start : start + chunk]
            kept += [r for r in part if all(r.get(k) == v for k, v in where.items())]
            done = start + len(part)
            if done < len(records):
                await ctx.report(100.0 * done / len(records), f"{done}/{len(records)} records")
        sort_by = data.get("sort_by")
        if sort_by is not None:
            try:
                kept = sorted(kept, key=lambda r: r.get(sort_by))
            except TypeError:
                raise TaskFailed(f"records cannot be sorted by {sort_by!r}") from None
        unique = {hashlib.sha256(repr(sorted(r.items())).encode()).hexdigest() for r in kept}
        result.update(
            {
                "input_records": len(records),
                "output_records": len(kept),
                "unique_records": len(unique),
                "fields": _field_stats(kept),
                "records": kept if data.get("return_records") else None,
            }
        )
    if "data" in data:
        text = str(data["data"])
        result.update(
            {
                "length": len(text),
                "words": len(text.split()),
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
                "transformed": text.upper(),
            }
        )
    if len(result) == 1:
        raise TaskFailed("data_processing needs input_data.records or input_data.data")
    for key in ("batch_id",):
        if key in data:
            result[key] = data[key]
    return result


async def ai_inference(data: dict[str, Any], ctx: ExecutionContext) -> dict[str, Any]:
    """Chat completion through an OpenAI-compatible endpoint configured on the node.
    Asked to stream; when the endpoint streams (server-sent events), the progress is
    the tokens received so far (of ``max_tokens`` when given)."""
    if not ctx.inference_url:
        raise TaskFailed(
            "no inference endpoint is configured on this node "
            "(start it with --inference-url URL --inference-model MODEL)"
        )
    prompt = data.get("prompt")
    messages = data.get("messages") or ([{"role": "user", "content": prompt}] if prompt else None)
    if not messages:
        raise TaskFailed("ai_inference needs input_data.prompt or input_data.messages")
    model = data.get("model") or ctx.inference_model
    if not model:
        raise TaskFailed("no model: give input_data.model or start the node with --inference-model")
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
    for key in ("max_tokens", "temperature", "top_p"):
        if key in data:
            body[key] = data[key]
    headers = {"Authorization": f"Bearer {ctx.inference_api_key}"} if ctx.inference_api_key else {}
    url = ctx.inference_url.rstrip("/") + "/chat/completions"
    started = time.monotonic()
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=ctx.inference_timeout)
            ) as session,
            session.post(url, json=body, headers=headers) as resp,
        ):
            if resp.status >= 400:
                text = await resp.text()
                raise TaskFailed(f"inference endpoint answered {resp.status}: {text[:300]}")
            if resp.content_type == "text/event-stream":
                answer = await streamed(resp, ctx, data.get("max_tokens"))
            else:
                answer = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TaskFailed(f"inference endpoint {url} unreachable: {exc}") from None
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise TaskFailed(f"unexpected inference response: {str(answer)[:300]}") from None
    return {
        "text": content,
        "model": answer.get("model", model),
        "usage": answer.get("usage"),
        "latency_ms": round((time.monotonic() - started) * 1000, 2),
    }


STREAM_REPORT_EVERY = 16  # tokens between two progress reports


async def streamed(
    resp: aiohttp.ClientResponse, ctx: ExecutionContext, max_tokens: Any
) -> dict[str, Any]:
    """A streamed chat completion (``data: {...}`` lines up to ``data: [DONE]``) as one
    answer, reporting the tokens received as progress."""
    parts: list[str] = []
    answer: dict[str, Any] = {}
    tokens = 0
    limit = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None
    async for raw in resp.content:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            break
        try:
            chunk = json.loads(payload)
            delta = chunk["choices"][0].get("delta") or {}
        except (ValueError, KeyError, IndexError, TypeError):
            raise TaskFailed(f"unexpected inference stream: {payload[:300]}") from None
        answer["model"] = chunk.get("model", answer.get("model"))
        if chunk.get("usage"):
            answer["usage"] = chunk["usage"]
        if delta.get("content"):
            parts.append(delta["content"])
            tokens += 1
            if tokens % STREAM_REPORT_EVERY == 0:
                percent = min(99.0, 100.0 * tokens / limit) if limit else 0.0
                await ctx.report(percent, f"{tokens} tokens")
    answer["choices"] = [{"message": {"role": "assistant", "content": "".join(parts)}}]
    return answer


async def endpoint_models(ctx: ExecutionContext) -> list[str]:
    """The models the inference endpoint lists (``GET {url}/models``); the configured
    model alone when it lists none or cannot be asked."""
    fallback = [ctx.inference_model] if ctx.inference_model else []
    if not ctx.inference_url:
        return []
    headers = {"Authorization": f"Bearer {ctx.inference_api_key}"} if ctx.inference_api_key else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(ctx.inference_url.rstrip("/") + "/models", headers=headers) as resp,
        ):
            if resp.status >= 400:
                return fallback
            listed = await resp.json(content_type=None)
        names = [
            str(m["id"]) for m in listed.get("data") or [] if isinstance(m, dict) and m.get("id")
        ]
    except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as exc:
        log.info("could not list the inference endpoint's models: %r", exc)
        return fallback
    return sorted(set(names))[:256] or fallback


BUILTIN: dict[str, Executor] = {
    "test_task": echo,
    "echo": echo,
    "data_processing": data_processing,
    "ai_inference": ai_inference,
}


def load_executors() -> dict[str, Executor]:
    """The built-ins plus every executor registered under ``web4ai.executors``."""
    executors = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            executors[ep.name] = ep.load()
        except Exception as exc:  # a broken plugin must not take the node down
            log.warning("could not load executor %s: %s", ep.name, exc)
    return executors
