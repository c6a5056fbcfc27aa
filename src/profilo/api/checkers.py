"""Checker processes: parse and check large request bodies on the machine's other cores.

Checking every message of a 100-message batch costs the web process about as much CPU as the rest
of the request (reading, routing, answering). Large bodies are therefore handed, as bytes, to
checker processes (``python -m profilo.api.checkers``), which inflate, parse and check them with
:func:`profilo.collect.tracking.accept_body` and send back the spool frame and the answer; the
event loop only moves bytes, writes the spool and answers. Small bodies (a single event) are
cheaper to check in place than to send.

Protocol on the checker's stdin and stdout: a frame is two little-endian u32 (header length,
payload length), a JSON header and the payload. A request's header names the path, the content
encoding, the source, its tracking plan (sent once per plan version) and the arrival time; its
payload is the raw body. The answer's header says ``ok`` with the counts and quarantine list (the
payload is the spool frame), or carries the refusal (status, code, message, field).

A checker that dies fails its requests over to in-place checking, and is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import struct
import sys
from dataclasses import asdict
from datetime import datetime
from typing import Any, BinaryIO

import orjson

from profilo.collect.sources import CollectSource
from profilo.collect.tracking import Accepted, Limits, RequestRejected

__all__ = ["CheckerPool", "CheckerUnavailable"]

log = logging.getLogger("profilo.api.checkers")

_SIZES = struct.Struct("<II")


class CheckerUnavailable(Exception):
    """No checker could take the request (the caller checks it in place)."""


def _frame(header: dict[str, Any], payload: bytes) -> bytes:
    head = orjson.dumps(header)
    return _SIZES.pack(len(head), len(payload)) + head + payload


class _Checker:
    """One checker process and the requests in flight on it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pending: dict[int, asyncio.Future[tuple[dict[str, Any], bytes]]] = {}
        self.plans: set[str] = set()
        self.ready = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read())

    @property
    def alive(self) -> bool:
        return self.process.returncode is None and not self.reader.done()

    async def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        try:
            while True:
                sizes = await stream.readexactly(_SIZES.size)
                head_len, payload_len = _SIZES.unpack(sizes)
                header = orjson.loads(await stream.readexactly(head_len))
                payload = await stream.readexactly(payload_len)
                if header.get("hello"):
                    self.ready.set_result(True)
                    continue
                future = self.pending.pop(header["id"], None)
                if future is not None and not future.done():
                    future.set_result((header, payload))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            log.warning("a checker process stopped: %s", exc)
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(CheckerUnavailable("the checker process stopped"))
            self.pending.clear()
            if not self.ready.done():
                self.ready.set_result(False)

    async def call(self, header: dict[str, Any], body: bytes) -> tuple[dict[str, Any], bytes]:
        future: asyncio.Future[tuple[dict[str, Any], bytes]] = (
            asyncio.get_running_loop().create_future()
        )
        self.pending[header["id"]] = future
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(_frame(header, body))
            await stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            self.pending.pop(header["id"], None)
            raise CheckerUnavailable(str(exc)) from None
        return await future

    async def stop(self) -> None:
        if self.process.returncode is None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


class CheckerPool:
    """Checker processes of one server (see the module's docstring)."""

    def __init__(self, size: int, limits: Limits, *, compress: bool = False) -> None:
        self.size = size
        self.limits = limits
        self.compress = compress
        self.checkers: list[_Checker] = []
        self._next_id = 0
        self._closing = False
        self._respawning: set[int] = set()
        self.restarts = 0

    async def start(self) -> None:
        """Start the checkers (they take requests once they have said hello)."""
        for _ in range(self.size):
            self.checkers.append(await self._spawn())

    async def _spawn(self) -> _Checker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "profilo.api.checkers",
            orjson.dumps(asdict(self.limits)).decode(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**26,
        )
        return _Checker(process)

    def _choose(self) -> _Checker | None:
        ready = []
        for index, checker in enumerate(self.checkers):
            if checker.alive:
                if checker.ready.done() and checker.ready.result():
                    ready.append(checker)
            elif index not in self._respawning and not self._closing:
                self._respawning.add(index)
                asyncio.get_running_loop().create_task(self._respawn(index))
        return min(ready, key=lambda c: len(c.pending)) if ready else None

    async def _respawn(self, index: int) -> None:
        self.restarts += 1
        try:
            self.checkers[index] = await self._spawn()
        finally:
            self._respawning.discard(index)

    async def accept(
        self,
        path: str,
        body: bytes,
        encoding: str | None,
        source: CollectSource,
        received_at: datetime,
    ) -> Accepted:
        """Check a body in a checker process (raises :class:`RequestRejected` as the in-place
        check would, or :class:`CheckerUnavailable`)."""
        checker = self._choose()
        if checker is None:
            raise CheckerUnavailable("no checker process is ready")
        self._next_id += 1
        header: dict[str, Any] = {
            "id": self._next_id,
            "path": path,
            "enc": encoding,
            "source": source.source,
            "t": received_at.isoformat(),
            "pack": self.compress,  # compressing in the checker spares the event loop
        }
        if source.plan_key is not None:
            header["plan_key"] = source.plan_key
            if source.plan_key not in checker.plans:
                header["plan"] = source.plan_document
                checker.plans.add(source.plan_key)
        answer, payload = await checker.call(header, body)
        if not answer["ok"]:
            raise RequestRejected(
                answer["status"], answer["code"], answer["message"], answer.get("field")
            )
        return Accepted(
            payload,
            answer["received"],
            answer["accepted"],
            answer["quarantined"],
            compressed=answer.get("compressed", False),
        )

    def pids(self) -> list[int]:
        """Process ids of the running checkers."""
        return [c.process.pid for c in self.checkers if c.alive]

    async def stop(self) -> None:
        self._closing = True
        for checker in self.checkers:
            await checker.stop()
        self.checkers = []


# -- the checker process ------------------------------------------------------------------------


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _serve(limits: Limits, inp: BinaryIO, out: BinaryIO) -> None:
    from profilo.collect.plans import PlanChecker, parse_plan
    from profilo.collect.spool import pack
    from profilo.collect.tracking import accept_body

    plans: dict[str, PlanChecker] = {}
    out.write(_frame({"hello": True}, b""))
    out.flush()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    while True:
        sizes = _read_exactly(inp, _SIZES.size)
        if sizes is None:
            return
        head_len, body_len = _SIZES.unpack(sizes)
        head = _read_exactly(inp, head_len)
        body = _read_exactly(inp, body_len) if body_len else b""
        if head is None or body is None:
            return
        header = orjson.loads(head)
        key = header.get("plan_key")
        if key is not None and "plan" in header:
            plans[key] = PlanChecker(parse_plan(header["plan"]))
        try:
            accepted = accept_body(
                header["path"],
                body,
                header["enc"],
                source=header["source"],
                received_at=datetime.fromisoformat(header["t"]),
                limits=limits,
                plan=plans.get(key) if key is not None else None,
            )
        except RequestRejected as exc:
            answer: dict[str, Any] = {
                "id": header["id"],
                "ok": False,
                "status": exc.status,
                "code": exc.code,
                "message": exc.message,
                "field": exc.field,
            }
            out.write(_frame(answer, b""))
        except Exception as exc:
            log.exception("checking a request failed")
            answer = {
                "id": header["id"],
                "ok": False,
                "status": 500,
                "code": "internal_error",
                "message": f"unexpected error: {type(exc).__name__}",
                "field": None,
            }
            out.write(_frame(answer, b""))
        else:
            packed, compressed = (
                pack(accepted.payload) if header.get("pack") else (accepted.payload, False)
            )
            answer = {
                "id": header["id"],
                "ok": True,
                "received": accepted.received,
                "accepted": accepted.accepted,
                "quarantined": accepted.quarantined,
                "compressed": compressed,
            }
            out.write(_frame(answer, packed))
        out.flush()


def main() -> None:
    """Entry point of a checker process: ``python -m profilo.api.checkers '<limits JSON>'``."""
    from profilo.api.logs import configure_logging
    from profilo.api.worker import die_with_parent

    die_with_parent()
    configure_logging("warning")  # stdout carries the protocol; logs go to stderr
    limits = Limits(**orjson.loads(sys.argv[1])) if len(sys.argv) > 1 else Limits()
    _serve(limits, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
