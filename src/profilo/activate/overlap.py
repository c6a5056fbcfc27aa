"""Three steps of a pass at once: the next chunk prepared, this one sent, the last one written.

A first sync of a large audience spends its time in three kinds of work: reading and deciding
(the store: members, consent, fields and identifiers), sending (the destination: request bodies
and sockets, or files), and writing the outcome (the store again: the delivery log, what the
destination holds, the cursor). The store's engine, Arrow and the sockets do most of it without
holding Python's lock, so on a machine with more than one core the three can run side by side:
:func:`overlapped` prepares chunk N+1 on a thread of its own while the caller's thread sends chunk
N, and writes chunk N-1 on a third thread, each with its own connection to the store.

Guarantees, the same as one chunk after the other:

- chunks are sent in the order they are prepared and written in the order they are sent, each
  at most once; at most one chunk waits between two steps;
- a chunk's outcome and its cursor are written together, after it was sent (a pass that dies
  before sends it again: delivery is at least once);
- the first failure stops the pass: a failure to prepare stops sending (what was sent is still
  written), a failure to write stops sending and writing (what was sent and not written is sent
  again by the next pass); it is raised on the caller's thread once the other threads are done.

>>> sent, written = [], []
>>> overlapped(iter([1, 2, 3]), lambda n: sent.append(n) or n * 10, written.append)
>>> sent, written
([1, 2, 3], [10, 20, 30])
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["overlapped"]

T = TypeVar("T")
U = TypeVar("U")

_DONE = object()
_POLL = 0.05
"""Seconds between looks at the stop flag while a queue is full or empty."""


class _Failed:
    """What the preparing thread hands on instead of a chunk when it fails."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _put(into: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` when there is room; False if the pass stopped first."""
    while not stop.is_set():
        try:
            into.put(item, timeout=_POLL)
            return True
        except queue.Full:
            continue
    return False


def _get(source: queue.Queue[Any], stop: threading.Event) -> Any:
    """The next item, or ``_DONE`` if the pass stopped first."""
    while not stop.is_set():
        try:
            return source.get(timeout=_POLL)
        except queue.Empty:
            continue
    return _DONE


def overlapped(prepared: Iterator[T], send: Callable[[T], U], write: Callable[[U], None]) -> None:
    """Run ``prepared`` (an iterator: it is consumed on a thread of its own), ``send`` (on the
    caller's thread) and ``write`` (on a third thread) over each item, side by side (see the
    module's docstring for the guarantees)."""
    ahead: queue.Queue[Any] = queue.Queue(maxsize=1)
    behind: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()
    write_failed: list[BaseException] = []

    def prepare() -> None:
        end: Any = _DONE
        try:
            for item in prepared:
                if not _put(ahead, item, stop):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            end = _Failed(exc)
        finally:
            close = getattr(prepared, "close", None)
            if close is not None:  # a generator stopped early: its cleanup runs here
                close()
        _put(ahead, end, stop)

    def drain() -> None:
        while True:
            item = behind.get()
            if item is _DONE:
                return
            if write_failed:
                continue  # sent but not written: the next pass sends it again
            try:
                write(item)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                write_failed.append(exc)
                stop.set()

    preparer = threading.Thread(target=prepare, name="profilo-sync-prepare", daemon=True)
    writer = threading.Thread(target=drain, name="profilo-sync-write", daemon=True)
    preparer.start()
    writer.start()
    try:
        while True:
            item = _get(ahead, stop)
            if item is _DONE:
                break
            if isinstance(item, _Failed):
                raise item.error
            behind.put(send(item))  # the writer always drains: this never waits for long
    finally:
        stop.set()
        behind.put(_DONE)
        writer.join()
        preparer.join()
    if write_failed:
        raise write_failed[0]
