"""Three steps of a pass at once: the next chunk prepared, this one sent, the last one written.

A first sync of a large audience spends its time in three kinds of work: reading and deciding
(the store: members, consent, fields and identifiers), sending (the destination: request bodies
and sockets, or files), and writing the outcome (the store again: the delivery log, what the
destination holds, the cursor). The store's engine, Arrow and the sockets do most of it without
holding Python's lock, so on a machine with more than one core they can run side by side:
:func:`overlapped` prepares chunk N+1 on a thread of its own while the caller's thread sends chunk
N, and writes chunk N-1 on a third thread, each with its own connection to the store; preparing
may itself be cut in steps that run one chunk apart (:func:`ahead`).

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
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

__all__ = ["ahead", "overlapped"]

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
    """Put ``item`` when there is room; False if the consumer stopped first."""
    while not stop.is_set():
        try:
            into.put(item, timeout=_POLL)
            return True
        except queue.Full:
            continue
    return False


def _acquire(semaphore: threading.Semaphore, stop: threading.Event) -> bool:
    """Wait for ``semaphore``; False if the consumer stopped first."""
    while not stop.is_set():
        if semaphore.acquire(timeout=_POLL):
            return True
    return False


def ahead(items: Iterator[T], *, name: str) -> Generator[T, None, None]:
    """``items`` consumed on a thread of its own (called ``name``), one item ahead of the
    caller: while the caller works on an item, the thread makes the next, and hands it over
    before it starts on the one after (so no more than one is made ahead: chunks are large). A
    failure of ``items`` is raised to the caller in its turn; closing this generator stops the
    thread (after the item it is making)."""
    box: queue.Queue[Any] = queue.Queue(maxsize=1)
    taken = threading.Semaphore(0)
    stop = threading.Event()

    def run() -> None:
        end: Any = _DONE
        try:
            for item in items:
                if not _put(box, item, stop) or not _acquire(taken, stop):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            end = _Failed(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator stopped early: its cleanup runs here
                close()
        _put(box, end, stop)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()  # the thread ends with a marker unless stopped from here
            taken.release()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


def overlapped(prepared: Iterator[T], send: Callable[[T], U], write: Callable[[U], None]) -> None:
    """Run ``prepared`` (an iterator: it is consumed on a thread of its own, see :func:`ahead`),
    ``send`` (on the caller's thread) and ``write`` (on a third thread) over each item, side by
    side (see the module's docstring for the guarantees)."""
    behind: queue.Queue[Any] = queue.Queue(maxsize=1)
    write_failed: list[BaseException] = []

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

    writer = threading.Thread(target=drain, name="profilo-sync-write", daemon=True)
    writer.start()
    items = ahead(prepared, name="profilo-sync-prepare")
    try:
        for item in items:
            if write_failed:
                break
            behind.put(send(item))  # the writer always drains: this never waits for long
    finally:
        items.close()
        behind.put(_DONE)
        writer.join()
    if write_failed:
        raise write_failed[0]
