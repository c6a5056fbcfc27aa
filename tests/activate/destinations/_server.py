"""A real HTTP server on loopback for the fakes of SaaS APIs the tests cannot reach.

Each fake subclasses :class:`FakeService` and answers ``handle(request)``; failures can be queued
with :meth:`FakeService.fail_next` (served before the real answer, one per request), and every
request is kept in ``requests`` for the test to look at.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


class FakeService:
    """Base of the fakes: a threading HTTP server on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.failures: deque[Reply] = deque()
        self.scripted: dict[int, Reply] = {}
        self.lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                with service.lock:
                    service.requests.append(request)
                    reply = service.scripted.pop(len(service.requests), None)
                    if reply is None and service.failures:
                        reply = service.failures.popleft()
                    if reply is None:
                        reply = service.handle(request)
                body = reply.encoded()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def fail_next(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies`` (in order) instead of the real answer."""
        with self.lock:
            self.failures.extend(replies)

    def fail_on(self, number: int, reply: Reply) -> None:
        """Answer the ``number``-th request this server receives (counting from 1) with ``reply``."""
        with self.lock:
            self.scripted[number] = reply

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
