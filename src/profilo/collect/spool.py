"""The write-ahead spool: where an acknowledged message lives until the loader has stored it.

The tracking API answers 200 only once a request's messages are in the spool *and fsynced*. Many
concurrent requests share one ``fsync`` (group commit): each request writes its frame, then waits
for the next ``fsync`` that starts after its write. The loader reads the spool in order, stores
messages in large batches and records its cursor in the store in the same transaction, so a
restart resumes exactly where the last committed batch ended.

Layout of a spool directory::

    spool.id                     random id of this spool (the loader's cursor is kept per spool)
    spool.lock                   held (flock) by the one server writing this spool
    seg-00000000000000000001.log segments, appended to in order; a new one at each start and
                                 every ``segment_bytes``

A frame is ``b"PF"``, the payload length and its CRC-32 (both little-endian u32), then the
payload. A segment is *sealed* once a later segment exists: the writer never writes to it again,
so a frame cut short at its end (a crash mid-write, never acknowledged) is skipped.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import fcntl
import logging
import os
import struct
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from profilo.errors import ConfigError, ProfiloError

__all__ = [
    "Cursor",
    "Frame",
    "SpoolError",
    "SpoolReader",
    "SpoolWriter",
    "encode_frame",
    "frames_end",
    "pack",
    "segment_numbers",
    "spool_id",
]

log = logging.getLogger("profilo.collect.spool")

MAGIC = b"PF"
"""A frame whose payload is stored as is."""
MAGIC_ZLIB = b"PZ"
"""A frame whose payload is zlib-compressed (JSON shrinks several times: less to write and sync)."""
COMPRESS_FROM = 1024
"""Payloads at least this long are worth compressing."""
_HEADER = struct.Struct("<2sII")
HEADER_BYTES = _HEADER.size
_NO_HEADER = bytes(HEADER_BYTES)
_SEGMENT_PREFIX = "seg-"
_SEGMENT_SUFFIX = ".log"
MAX_FRAME_BYTES = 64 * 1024 * 1024
_IOV_MAX = 512  # buffers per writev call (Linux allows 1024)


class SpoolError(ProfiloError):
    """The spool could not take a frame (disk full, I/O error); the request may be retried."""


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in the spool: a segment number and a byte offset inside it."""

    segment: int
    offset: int


@dataclass(frozen=True)
class Frame:
    """One frame read back from the spool, with the cursor just after it."""

    payload: bytes
    end: Cursor


def pack(payload: bytes) -> tuple[bytes, bool]:
    """A payload as the spool stores it, and whether it is compressed (zlib, fastest level)."""
    if len(payload) < COMPRESS_FROM:
        return payload, False
    return zlib.compress(payload, 1), True


def encode_frame(payload: bytes, *, compressed: bool = False) -> bytes:
    """Frame a payload (already packed when ``compressed``): magic, length, CRC-32, payload."""
    _check_frame_size(payload)
    return _frame_header(payload, compressed) + payload


def _check_frame_size(payload: bytes) -> None:
    if len(payload) > MAX_FRAME_BYTES:
        raise SpoolError(f"frame of {len(payload)} bytes exceeds {MAX_FRAME_BYTES}")


def _frame_header(payload: bytes, compressed: bool) -> bytes:
    # binascii's CRC-32 (zlib's, the same value) keeps the GIL: zlib.crc32 lets go of it for
    # payloads over 5 KB, and getting it back costs the caller a forced switch
    return _HEADER.pack(MAGIC_ZLIB if compressed else MAGIC, len(payload), binascii.crc32(payload))


def segment_path(directory: Path, number: int) -> Path:
    return directory / f"{_SEGMENT_PREFIX}{number:020d}{_SEGMENT_SUFFIX}"


def segment_numbers(directory: Path) -> list[int]:
    """The segments present in a spool directory, oldest first."""
    numbers = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(directory):
            name = entry.name
            if name.startswith(_SEGMENT_PREFIX) and name.endswith(_SEGMENT_SUFFIX):
                digits = name[len(_SEGMENT_PREFIX) : -len(_SEGMENT_SUFFIX)]
                if digits.isdigit():
                    numbers.append(int(digits))
    return sorted(numbers)


def spool_id(directory: Path) -> str:
    """The spool's id, created (durably) on first use."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "spool.id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = uuid.uuid4().hex
    tmp = directory / "spool.id.tmp"
    with open(tmp, "w") as handle:
        handle.write(value)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(directory)
    return value


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SpoolWriter:
    """Appends frames to the spool; :meth:`append` returns once the frame is on disk.

    Payloads are framed (CRC-32) and queued on the caller's thread (the event loop); one sync
    thread writes and syncs them, and wakes the callers whose frames that sync covered. The
    thread goes straight on to the frames queued meanwhile (group commit): it never waits for the
    event loop to come round, and its system calls let go of the GIL, so the disk work runs
    beside the requests. (The CRC runs on the caller's thread because each time the sync thread
    takes the GIL back, the event loop must stop to hand it over: zlib's CRC-32 would let go of
    it once per frame.) Segments are created ahead of use, full of zeros and
    synced, so a write only fills blocks that exist and ``fdatasync`` has no file metadata to
    commit: it does not wait for the file system's journal, nor for other files' writes (the
    store's) that the journal would carry. ``fsync`` (``os.fdatasync`` by default) is injectable
    so a test can prove every acknowledged frame was synced.
    """

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = 32 * 1024 * 1024,
        fsync: Callable[[int], None] = os.fdatasync,
    ) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self._fsync = fsync
        self._preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-prepare")
        self._prepared: Future[int] | None = None  # the fd of the next segment, zero-filled
        self._prep_paths: dict[int, Path] = {}
        self._lock_fd: int | None = None
        self._fd = -1
        self._segment = 0
        self._size = 0
        self._sizes: dict[int, int] = {}
        # What the sync thread and the callers share, under ``_lock``:
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._retired: list[int] = []  # fds of earlier segments that still need their last sync
        # per fd: the offset to write at, and the frames (header, payload) to write there
        self._pending: dict[int, tuple[int, list[bytes]]] = {}
        self._dir_dirty = False
        self._written = 0  # frames queued so far (a frame's sequence number)
        self._synced = 0  # frames known durable
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._stopping = False
        self._sleeping = False  # the sync thread waits for work (only then is it woken)
        self._thread: threading.Thread | None = None
        self._bells: dict[asyncio.AbstractEventLoop, _Bell | None] = {}
        self.syncs = 0
        self.id = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Lock the directory, start a new segment after any that exist, start the sync thread."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.id = spool_id(self.directory)
        lock_fd = os.open(self.directory / "spool.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise ConfigError(
                f"spool {self.directory} is in use by another server; give each server its own"
                " --spool directory"
            ) from None
        self._lock_fd = lock_fd
        for leftover in self.directory.glob("*.prep"):
            leftover.unlink()
        existing = segment_numbers(self.directory)
        for number in existing:
            self._sizes[number] = frames_end(segment_path(self.directory, number))
        self._open_segment((existing[-1] if existing else 0) + 1)
        # the new segment's name is made durable before the first acknowledgement
        _fsync_dir(self.directory)
        self._dir_dirty = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="spool-sync", daemon=True)
        self._thread.start()

    def _prepare(self) -> int:
        """Create the next segment under a temporary name: zero-filled and synced."""
        path = self.directory / f"next-{uuid.uuid4().hex}.prep"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            zeros = bytes(min(self.segment_bytes, 1024 * 1024))
            left = self.segment_bytes
            while left > 0:
                left -= os.write(fd, zeros[: min(left, len(zeros))])
            os.fsync(fd)
        except OSError:
            os.close(fd)
            path.unlink()
            raise
        self._prep_paths[fd] = path
        return fd

    def _open_segment(self, number: int) -> None:
        prepared, self._prepared = self._prepared, None
        try:
            fd = prepared.result() if prepared is not None else self._prepare()
            os.rename(self._prep_paths.pop(fd), segment_path(self.directory, number))
        except OSError:
            # no room to prepare one: a plain file (slower syncs, same durability)
            fd = os.open(segment_path(self.directory, number), os.O_RDWR | os.O_CREAT, 0o600)
        self._fd = fd
        self._segment = number
        self._size = 0
        self._sizes[number] = 0
        self._dir_dirty = True
        self._prepared = self._preparer.submit(self._prepare)

    def close(self) -> None:
        """Sync what is queued, stop the sync thread and close everything."""
        if self._thread is not None:
            with self._work:
                self._stopping = True
                self._sleeping = False
                self._work.notify()
            self._thread.join()
            self._thread = None
        for bell in self._bells.values():
            if bell is not None:
                bell.close()
        self._bells = {}
        if self._fd >= 0:
            fds = list(dict.fromkeys([*self._retired, *self._pending, self._fd]))
            with contextlib.suppress(OSError):  # only if the thread's last sync failed
                self._write_and_sync(self._pending, fds, self._dir_dirty)
            self._pending = {}
            for fd in fds:
                os.close(fd)
            self._retired = []
            self._fd = -1
        if self._prepared is not None:
            with contextlib.suppress(OSError):
                fd = self._prepared.result()
                os.close(fd)
                self._prep_paths.pop(fd).unlink()
            self._prepared = None
        self._preparer.shutdown(wait=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- writing -----------------------------------------------------------------------------

    @property
    def position(self) -> Cursor:
        """Where the next frame will go."""
        return Cursor(self._segment, self._size)

    def backlog_bytes(self, loaded: Cursor | None) -> int:
        """Bytes written but not yet past the loader's cursor (all of them if it has none)."""
        total = 0
        for number, size in list(self._sizes.items()):
            if loaded is None or number > loaded.segment:
                total += size
            elif number == loaded.segment:
                total += max(size - loaded.offset, 0)
        return total

    def forget_segments_before(self, segment: int) -> None:
        """Stop counting segments the loader has released."""
        with self._lock:
            for number in [n for n in self._sizes if n < segment]:
                del self._sizes[number]

    def write(self, payload: bytes, *, compressed: bool = False) -> int:
        """Queue one frame for the next group write; returns its sequence number for
        :meth:`wait_synced` (the frame reaches the file, and the disk, in that sync).
        ``compressed`` says the payload was packed already (see :func:`pack`)."""
        _check_frame_size(payload)
        size = HEADER_BYTES + len(payload)
        header = _frame_header(payload, compressed)
        with self._work:
            if self._fd < 0 or self._thread is None:
                raise SpoolError("the spool is closed")
            if self._size and self._size + size > self.segment_bytes:
                self._retired.append(self._fd)
                self._open_segment(self._segment + 1)
            queued = self._pending.get(self._fd)
            if queued is None:
                self._pending[self._fd] = (self._size, [header, payload])
            else:
                queued[1].extend((header, payload))
            self._size += size
            self._sizes[self._segment] = self._size
            self._written += 1
            if self._sleeping:
                self._sleeping = False
                self._work.notify()
            return self._written

    async def wait_synced(self, sequence: int) -> None:
        """Return once frame ``sequence`` and every frame before it are on disk (raises
        :class:`SpoolError` if the write or sync that carried it failed)."""
        loop = asyncio.get_running_loop()
        if loop not in self._bells:
            self._add_bell(loop)
        with self._lock:
            if self._synced >= sequence:
                return
            waiter = loop.create_future()
            self._waiters.append((sequence, waiter))
        await waiter

    def _add_bell(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            bell: _Bell | None = _Bell(loop)
        except (NotImplementedError, OSError):  # no add_reader or eventfd: wake it by callback
            bell = None
        with self._lock:  # the sync thread rings bells under the lock: none closes meanwhile
            for closed in [other for other in self._bells if other.is_closed()]:
                old = self._bells.pop(closed)
                if old is not None:
                    old.close()
            self._bells[loop] = bell

    async def append(self, payload: bytes, *, compressed: bool = False) -> None:
        """Write one frame and return once it is durable (raises :class:`SpoolError`)."""
        await self.wait_synced(self.write(payload, compressed=compressed))

    # -- the sync thread ---------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.0  # after a failure: a disk that keeps failing is not hammered
        while True:
            with self._work:
                while not self._pending and not self._stopping:
                    self._sleeping = True
                    self._work.wait()
                self._sleeping = False
                if not self._pending or (self._stopping and backoff):
                    return  # (close() tries a failed sync's frames once more)
                pending, self._pending = self._pending, {}
                fds = list(dict.fromkeys([*self._retired, *pending, self._fd]))
                retired = [fd for fd in self._retired if fd in fds]
                dir_dirty, self._dir_dirty = self._dir_dirty, False
                target = self._written
            try:
                self._write_and_sync(pending, fds, dir_dirty)
            except OSError as exc:
                with self._lock:
                    self._recover(fds)
                    # the frames queued since, moved to the new segment, are refused too: their
                    # clients retry (and duplicates are counted, not stored twice)
                    done = self._take_waiters(self._written)
                    error = SpoolError(f"cannot write to spool {self.directory}: {exc.strerror}")
                    self._wake(done, error)
                backoff = min(max(backoff * 2, 0.05), 1.0)
                time.sleep(backoff)
                continue
            backoff = 0.0
            with self._lock:
                for fd in retired:
                    self._retired.remove(fd)
                    os.close(fd)
                self.syncs += 1
                self._synced = max(self._synced, target)
                self._wake(self._take_waiters(target), None)

    def _take_waiters(self, target: int) -> list[asyncio.Future[None]]:
        done = []
        waiters = self._waiters
        while waiters and waiters[0][0] <= target:
            done.append(waiters.popleft()[1])
        return done

    def _recover(self, failed: list[int]) -> None:
        """After a failed write or sync the files' state is unknown: abandon them (their frames
        were not acknowledged; clients retry and duplicates are counted, not stored twice) and
        move the frames queued since to a fresh segment."""
        queued = [part for fd in failed for part in self._pending.pop(fd, (0, []))[1]]
        for fd in failed:
            if fd in self._retired:
                self._retired.remove(fd)
            if fd != self._fd:
                with contextlib.suppress(OSError):
                    os.close(fd)
        old = self._fd
        self._open_segment(self._segment + 1)
        with contextlib.suppress(OSError):
            os.close(old)
        if queued:
            self._pending[self._fd] = (0, queued)
            self._size = sum(len(part) for part in queued)
            self._sizes[self._segment] = self._size

    def _write_and_sync(
        self,
        pending: dict[int, tuple[int, list[bytes]]],
        fds: list[int],
        dir_dirty: bool,
    ) -> None:
        for fd, (offset, chunks) in pending.items():
            # header and payload are separate buffers: the payload is never copied
            for start in range(0, len(chunks), _IOV_MAX):
                part = chunks[start : start + _IOV_MAX]
                size = sum(len(chunk) for chunk in part)
                written = os.pwritev(fd, part, offset)
                if written < size:  # rare: a signal, a full disk
                    rest = b"".join(part)[written:]
                    while rest:
                        done = os.pwrite(fd, rest, offset + size - len(rest))
                        rest = rest[done:]
                offset += size
        for fd in fds:
            self._fsync(fd)
        if dir_dirty:
            _fsync_dir(self.directory)

    def _wake(self, waiters: list[asyncio.Future[None]], error: SpoolError | None) -> None:
        """Resolve waiters from the sync thread (holding the lock): one call into each event loop
        they belong to."""
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for waiter in waiters:
            by_loop.setdefault(waiter.get_loop(), []).append(waiter)
        for loop, futures in by_loop.items():
            bell = self._bells.get(loop)
            if bell is not None:
                bell.ring(futures, error)
            else:
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    loop.call_soon_threadsafe(_resolve, futures, error)


class _Bell:
    """Wakes one event loop from the sync thread through an eventfd the loop polls.

    A callback handed over with ``call_soon_threadsafe`` waits behind everything the loop has
    queued (under load, the checks of the requests that came in), and the requests it wakes then
    wait once more; the loop polls its file descriptors between two such rounds, so a bell rung
    there lets the acknowledgements go out one round sooner.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.rung: deque[tuple[list[asyncio.Future[None]], SpoolError | None]] = deque()
        try:
            loop.add_reader(self.fd, self._answer)
        except BaseException:
            os.close(self.fd)
            raise

    def ring(self, waiters: list[asyncio.Future[None]], error: SpoolError | None) -> None:
        """From the sync thread: resolve these waiters in the loop."""
        self.rung.append((waiters, error))
        os.eventfd_write(self.fd, 1)

    def _answer(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(self.fd)
        while self.rung:
            _resolve(*self.rung.popleft())

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, ValueError, OSError):  # the loop may be closed
            self.loop.remove_reader(self.fd)
        os.close(self.fd)


def _resolve(waiters: list[asyncio.Future[None]], error: SpoolError | None) -> None:
    for waiter in waiters:
        if not waiter.done():  # a cancelled request
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)


def frames_end(path: Path) -> int:
    """Where a segment's frames end (its tail may be zeros prepared for frames never written)."""
    offset = 0
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            while offset + HEADER_BYTES <= size:
                handle.seek(offset)
                magic, length, _ = _HEADER.unpack(handle.read(HEADER_BYTES))
                if magic not in (MAGIC, MAGIC_ZLIB) or offset + HEADER_BYTES + length > size:
                    break
                offset += HEADER_BYTES + length
    except FileNotFoundError:
        return 0
    return offset


class SpoolReader:
    """Reads frames back in order from a cursor, and removes segments once they are stored."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.skipped_bytes = 0

    def first_cursor(self) -> Cursor:
        numbers = segment_numbers(self.directory)
        return Cursor(numbers[0] if numbers else 1, 0)

    def read(
        self, cursor: Cursor, *, max_bytes: int = 8 * 1024 * 1024, max_frames: int = 100_000
    ) -> tuple[list[Frame], Cursor]:
        """Frames after ``cursor`` (up to about ``max_bytes``), and the cursor after the last one.

        A cursor pointing into a segment that no longer exists moves to the next one.
        """
        frames: list[Frame] = []
        budget = max_bytes
        while budget > 0 and len(frames) < max_frames:
            numbers = segment_numbers(self.directory)
            later = [n for n in numbers if n > cursor.segment]
            # decided before reading: once a later segment exists this one gets no more writes
            sealed = bool(later)
            if cursor.segment not in numbers:
                if not later:
                    break
                cursor = Cursor(later[0], 0)
                continue
            got, cursor, clean_end = self._read_segment(cursor, budget, max_frames - len(frames))
            frames.extend(got)
            budget -= sum(len(f.payload) + HEADER_BYTES for f in got)
            if got and budget <= 0:
                break
            if not sealed:
                break
            if clean_end:
                cursor = Cursor(later[0], 0)
                continue
            if got:  # stopped for the budget, come back later
                break
            torn = self.skip_rest(cursor)
            if torn:
                self.skipped_bytes += torn
                log.warning(
                    "spool segment %d: skipped a torn tail of %d bytes (never acknowledged)",
                    cursor.segment,
                    torn,
                )
            cursor = Cursor(later[0], 0)
        return frames, cursor

    def _read_segment(
        self, cursor: Cursor, budget: int, max_frames: int
    ) -> tuple[list[Frame], Cursor, bool]:
        """Frames of one segment from ``cursor``; the bool says the segment was read to its end."""
        path = segment_path(self.directory, cursor.segment)
        frames: list[Frame] = []
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below; a missing file is handled
        except FileNotFoundError:
            return frames, cursor, True
        with handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(cursor.offset)
            offset = cursor.offset
            while offset < size and budget > 0 and len(frames) < max_frames:
                header = handle.read(HEADER_BYTES)
                if header == _NO_HEADER:  # the zeros prepared beyond the last frame
                    return frames, Cursor(cursor.segment, offset), True
                if len(header) < HEADER_BYTES:
                    return frames, Cursor(cursor.segment, offset), False
                magic, length, crc = _HEADER.unpack(header)
                if magic not in (MAGIC, MAGIC_ZLIB) or length > MAX_FRAME_BYTES:
                    self._torn(path, offset, size)
                    return frames, Cursor(cursor.segment, offset), False
                payload = handle.read(length)
                if len(payload) < length:
                    return frames, Cursor(cursor.segment, offset), False
                if zlib.crc32(payload) != crc:
                    self._torn(path, offset, size)
                    return frames, Cursor(cursor.segment, offset), False
                offset += HEADER_BYTES + length
                if magic == MAGIC_ZLIB:
                    payload = zlib.decompress(payload)
                frames.append(Frame(payload, Cursor(cursor.segment, offset)))
                budget -= HEADER_BYTES + length
            return frames, Cursor(cursor.segment, offset), offset >= size

    def _torn(self, path: Path, offset: int, size: int) -> None:
        # Only meaningful for a sealed segment (the caller moves on); in the live one a frame
        # may simply be half written, so this is logged at debug level only.
        log.debug("spool %s: no complete frame at offset %d of %d", path.name, offset, size)

    def skip_rest(self, cursor: Cursor) -> int:
        """Bytes of a sealed segment after ``cursor`` that hold no complete frame: a frame cut
        short by a crash (the zeros prepared beyond the last frame are not counted)."""
        path = segment_path(self.directory, cursor.segment)
        try:
            with open(path, "rb") as handle:
                handle.seek(cursor.offset)
                tail = handle.read(1024 * 1024)
        except FileNotFoundError:
            return 0
        stripped = tail.rstrip(b"\0")
        return len(stripped)

    def release(self, before: Cursor) -> list[int]:
        """Delete the segments wholly before ``before`` (call only once the store is durable)."""
        removed = []
        for number in segment_numbers(self.directory):
            if number >= before.segment:
                break
            with contextlib.suppress(FileNotFoundError):
                segment_path(self.directory, number).unlink()
            removed.append(number)
        if removed:
            _fsync_dir(self.directory)
        return removed

    def iter_all(self) -> Iterator[Frame]:
        """Every readable frame in the spool, oldest first (for tools and tests)."""
        cursor = self.first_cursor()
        while True:
            frames, cursor = self.read(cursor)
            if not frames:
                return
            yield from frames
