"""The Writer's requests on HTTP/1.1 connections of its own, kept alive: a request is
written in one piece and its answer read by its Content-Length (or its chunks).

aiohttp's client request is heavy for a write of a few hundred bytes (a request
object, a task of its own to write the body, URL and header objects, cookie and
tracing hooks): with 10,000 nodes heartbeating, the API's Lease renewals through it
were about a tenth of the API's CPU. This keeps of the ApiClient what makes the
request the same one: the configuration's host, its TLS settings (the CA, the client
certificate, ``verify_ssl``, the TLS server name), its default headers and cookie, its
auth settings (bearer tokens, refreshed by the configuration's own hook, as in a pod),
and the request counter of ``web4ai.k8s.client.count_requests``. Behind a proxy
(``configuration.proxy``) there is no such client (``KeptAlive.of`` is None) and the
Writer's requests go through aiohttp (``web4ai.k8s.rawhttp``).

A connection idle for ``IDLE`` seconds is closed rather than used; one that the API
server closed while it was idle is found out by the request sent on it (the answer
ends before its first byte): that request is sent once more, on a new connection,
as aiohttp does. Any other failure closes the
connection and is raised; a cancelled request closes its connection too.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from kubernetes_asyncio.client import ApiClient
from multidict import CIMultiDict

from web4ai.k8s.client import recorder
from web4ai.k8s.rawhttp import AUTH, JSON, dumps, result

MAX_CONNECTIONS = 32  # at once; more requests wait for one (the renewals write 32 at once)
IDLE = 15.0  # s: a connection idle longer is closed, not used
READ_LIMIT = 2**21  # as the ApiClient's session: an answer's chunk-size lines and more
NO_BODY = (204, 304)


class Closed(Exception):
    """The connection ended before the first byte of the answer."""


@dataclass
class Answer:
    status: int
    reason: str
    headers: CIMultiDict[str]
    body: bytes
    keep: bool  # the connection can carry another request


def tls_context(configuration: Any) -> ssl.SSLContext:
    """The TLS context the ApiClient's own session is built with (its REST client)."""
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.disable_strict_ssl_verification:
        context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


def parse_head(head: bytes) -> tuple[int, str, CIMultiDict[str]]:
    """(status, reason, headers) of an answer's head, its blank line included."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ValueError(f"not an HTTP/1.1 answer: {lines[0][:80]!r}")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.add(name.strip(), value.strip())
    return int(code), reason, headers


async def read_chunks(reader: asyncio.StreamReader) -> bytes:
    """A chunked body (its trailers read and dropped)."""
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: float = 0.0  # time.monotonic() when it last carried a request

    async def exchange(self, request: bytes, head_request: bool = False) -> Answer:
        """Send ``request``; its answer. ``Closed`` when none began."""
        self.writer.write(request)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise Closed() from None
            raise
        except ConnectionResetError:
            raise Closed() from None
        status, reason, headers = parse_head(head)
        keep = headers.get("Connection", "").lower() != "close"
        if head_request or status in NO_BODY or 100 <= status < 200:
            body = b""
        elif "chunked" in headers.get("Transfer-Encoding", "").lower():
            body = await read_chunks(self.reader)
        elif "Content-Length" in headers:
            body = await self.reader.readexactly(int(headers["Content-Length"]))
        else:  # delimited by the end of the connection
            body, keep = await self.reader.read(), False
        return Answer(status, reason, headers, body, keep)

    def close(self) -> None:
        self.writer.close()


@dataclass
class KeptAlive:
    """Requests to the API server of ``api`` on up to ``MAX_CONNECTIONS`` kept-alive
    connections of their own."""

    api: ApiClient
    host: str
    port: int
    tls: ssl.SSLContext | None
    server_hostname: str | None
    authority: str  # the Host header
    idle: list[Connection] = field(default_factory=list)
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_CONNECTIONS))

    @classmethod
    def of(cls, api: ApiClient) -> KeptAlive | None:
        """Requests for ``api``; None behind a proxy or for a host that is not
        http(s)://host[:port] (aiohttp's session then carries them)."""
        conf = api.configuration
        if conf.proxy or api.rest_client.proxy:
            return None
        url = urlsplit(conf.host)
        if url.scheme not in ("http", "https") or not url.hostname or url.path.strip("/"):
            return None
        tls = tls_context(conf) if url.scheme == "https" else None
        port = url.port or (443 if tls else 80)
        return cls(
            api,
            url.hostname,
            port,
            tls,
            conf.tls_server_name or None,
            url.netloc.rpartition("@")[2],
        )

    def _reuse(self) -> Connection | None:
        """The idle connection used last, when it has not idled past ``IDLE``: the
        others, idle longer still, are closed (the API server closes idle connections
        of its own accord; a request sent on one is sent again, on a new one)."""
        if self.idle and time.monotonic() - self.idle[-1].used < IDLE:
            return self.idle.pop()
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()
        return None

    async def _connect(self) -> Connection:
        reader, writer = await asyncio.open_connection(
            self.host,
            self.port,
            ssl=self.tls,
            server_hostname=(self.server_hostname or self.host) if self.tls else None,
            limit=READ_LIMIT,
        )
        return Connection(reader, writer)

    async def _head(self, method: str, path: str, length: int | None, content_type: str) -> bytes:
        headers = dict(self.api.default_headers)
        headers["Accept"] = JSON
        if length is not None:
            headers["Content-Type"] = content_type
        if self.api.cookie:
            headers["Cookie"] = self.api.cookie
        queries: list[tuple[str, str]] = []
        await self.api.update_params_for_auth(headers, queries, AUTH)
        if queries:
            path += ("&" if "?" in path else "?") + urlencode(queries)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.authority}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {length or 0}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def exchange(
        self, method: str, path: str, body: bytes | None, content_type: str = JSON
    ) -> Answer:
        """One request and its answer (an error status is an answer, not raised)."""
        request = await self._head(method, path, None if body is None else len(body), content_type)
        if body:
            request += body
        async with self.slots:
            for attempt in range(2):
                conn = self._reuse() if attempt == 0 else None
                reused = conn is not None
                try:
                    conn = conn or await self._connect()
                except OSError as exc:
                    raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
                done = False
                try:
                    answer = await conn.exchange(request, method == "HEAD")
                    done = True
                except Closed:
                    if reused and attempt == 0:
                        continue  # closed while idle: once more on a new connection
                    raise ConnectionResetError("the API server closed the connection") from None
                except (OSError, EOFError, ValueError, asyncio.LimitOverrunError) as exc:
                    # as aiohttp's connection errors: an outage of the API server (503)
                    raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
                finally:
                    if not done:
                        conn.close()
                if answer.keep:
                    conn.used = time.monotonic()
                    self.idle.append(conn)
                else:
                    conn.close()
                return answer
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = JSON,
        parse: bool = True,
    ) -> Any:
        """As ``web4ai.k8s.rawhttp.send``: the parsed answer (None without ``parse``);
        the typed error of an error status."""
        record = recorder(self.api)
        url = self.api.configuration.host + path  # as recorded for every other request
        data = None if body is None else dumps(body).encode()
        try:
            answer = await self.exchange(method, path, data, content_type)
        except Exception:
            if record is not None:
                record(method, url, "error")
            raise
        if record is not None:
            record(method, url, answer.status)
        return result(answer.status, answer.reason, answer.body, answer.headers, parse)

    async def close(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()
