"""The write-ahead spool: acknowledged only after fsync, group commit, torn tails, rotation, release."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from profilo.collect.spool import (
    Cursor,
    SpoolError,
    SpoolReader,
    SpoolWriter,
    encode_frame,
    frames_end,
    pack,
    segment_numbers,
    segment_path,
)
from profilo.errors import ConfigError


class RecordingFsync:
    """A real fdatasync that remembers, for each call, where the file's frames ended then."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, fd: int) -> None:
        os.fdatasync(fd)
        self.calls.append((fd, frames_end(Path(f"/proc/self/fd/{fd}"))))


def test_an_append_returns_only_after_an_fsync_covering_it(tmp_path: Path) -> None:
    fsync = RecordingFsync()
    writer = SpoolWriter(tmp_path, fsync=fsync)
    writer.open()
    path = segment_path(tmp_path, writer.position.segment)

    async def scenario() -> None:
        for i in range(5):
            await writer.append(f"frame {i}".encode())
            size = frames_end(path)
            assert size > 0
            # the last fsync before the acknowledgement saw the whole frame on file
            assert fsync.calls and fsync.calls[-1][1] >= size

    asyncio.run(scenario())
    writer.close()


def test_concurrent_appends_share_fsyncs(tmp_path: Path) -> None:
    fsync = RecordingFsync()
    writer = SpoolWriter(tmp_path, fsync=fsync)
    writer.open()
    before = len(fsync.calls)

    async def scenario() -> None:
        await asyncio.gather(*(writer.append(b"x" * 100) for _ in range(200)))

    asyncio.run(scenario())
    syncs = len(fsync.calls) - before
    assert 1 <= syncs < 20  # group commit: 200 acknowledgements, a handful of fsyncs
    writer.close()
    frames = list(SpoolReader(tmp_path).iter_all())
    assert len(frames) == 200


def test_frames_read_back_in_order_across_segments(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, segment_bytes=64)
    writer.open()

    async def scenario() -> None:
        for i in range(10):
            await writer.append(f"frame-{i:02d}".encode() * 3)

    asyncio.run(scenario())
    writer.close()
    assert len(segment_numbers(tmp_path)) > 3
    reader = SpoolReader(tmp_path)
    payloads = [f.payload for f in reader.iter_all()]
    assert payloads == [f"frame-{i:02d}".encode() * 3 for i in range(10)]
    # reading again from a cursor in the middle resumes after it
    frames, end = reader.read(reader.first_cursor(), max_bytes=1)
    rest, _ = reader.read(end, max_bytes=10_000)
    assert [f.payload for f in frames + rest][:3] == payloads[:3]


def test_a_torn_tail_is_skipped_once_sealed(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.open()
    asyncio.run(writer.append(b"acknowledged"))
    segment, end = writer.position.segment, writer.position.offset
    writer.close()
    # a crash in the middle of writing the next frame: half a frame after the last one
    with open(segment_path(tmp_path, segment), "r+b") as handle:
        handle.seek(end)
        handle.write(encode_frame(b"never acknowledged")[:9])
    reader = SpoolReader(tmp_path)
    frames, cursor = reader.read(reader.first_cursor())
    assert [f.payload for f in frames] == [b"acknowledged"]
    # not sealed yet: the reader waits at the half frame
    assert reader.read(cursor)[0] == []
    # the restarted writer starts a new segment, which seals the old one
    restarted = SpoolWriter(tmp_path)
    restarted.open()
    asyncio.run(restarted.append(b"after restart"))
    restarted.close()
    frames, _ = reader.read(cursor)
    assert [f.payload for f in frames] == [b"after restart"]
    assert reader.skipped_bytes == 9


def test_a_corrupt_frame_is_not_returned(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.open()
    asyncio.run(writer.append(b"good"))
    asyncio.run(writer.append(b"flipped"))
    segment, end = writer.position.segment, writer.position.offset
    writer.close()
    data = bytearray(segment_path(tmp_path, segment).read_bytes())
    data[end - 1] ^= 0xFF
    segment_path(tmp_path, segment).write_bytes(bytes(data))
    frames, _ = SpoolReader(tmp_path).read(Cursor(segment, 0))
    assert [f.payload for f in frames] == [b"good"]


def test_release_deletes_only_segments_before_the_cursor(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, segment_bytes=32)
    writer.open()

    async def scenario() -> None:
        for i in range(4):
            await writer.append(b"y" * 40 + bytes([i]))

    asyncio.run(scenario())
    writer.close()
    numbers = segment_numbers(tmp_path)
    reader = SpoolReader(tmp_path)
    removed = reader.release(Cursor(numbers[2], 0))
    assert removed == numbers[:2]
    assert segment_numbers(tmp_path) == numbers[2:]


def test_one_writer_per_spool(tmp_path: Path) -> None:
    first = SpoolWriter(tmp_path)
    first.open()
    with pytest.raises(ConfigError, match="in use by another server"):
        SpoolWriter(tmp_path).open()
    first.close()
    second = SpoolWriter(tmp_path)
    second.open()
    second.close()


def test_backlog_counts_bytes_after_the_loader(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.open()
    asyncio.run(writer.append(b"a" * 100))
    total = writer.backlog_bytes(None)
    assert total == 110
    assert writer.backlog_bytes(Cursor(writer.position.segment, 110)) == 0
    writer.close()
    restarted = SpoolWriter(tmp_path)  # a restart measures the frames, not the prepared zeros
    restarted.open()
    assert restarted.backlog_bytes(None) == 110
    restarted.close()


class FailingOnce(RecordingFsync):
    """An fsync that fails the first time after ``arm``, like a disk error would."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def __call__(self, fd: int) -> None:
        if self.armed:
            self.armed = False
            raise OSError(5, "Input/output error")
        super().__call__(fd)


def test_a_failed_fsync_is_an_error_and_later_frames_go_to_a_new_segment(tmp_path: Path) -> None:
    fsync = FailingOnce()
    writer = SpoolWriter(tmp_path, fsync=fsync)
    writer.open()

    async def scenario() -> None:
        await writer.append(b"before")
        fsync.armed = True
        with pytest.raises(SpoolError, match="Input/output error"):
            await writer.append(b"lost, never acknowledged")
        await writer.append(b"after")
        await asyncio.gather(*(writer.append(b"many %d" % i) for i in range(1500)))

    asyncio.run(scenario())
    writer.close()
    assert len(segment_numbers(tmp_path)) == 2
    assert not list(tmp_path.glob("*.prep"))  # the segment prepared ahead was removed
    payloads = [f.payload for f in SpoolReader(tmp_path).iter_all()]
    assert payloads[0] == b"before" and b"after" in payloads
    assert len([p for p in payloads if p.startswith(b"many")]) == 1500


def test_large_payloads_are_stored_compressed_and_read_back_whole(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    writer.open()
    big = b'{"type":"track","event":"Viewed"}' * 200
    packed, compressed = pack(big)
    assert compressed and len(packed) < len(big) // 5
    assert pack(b"small") == (b"small", False)

    async def scenario() -> None:
        await writer.append(packed, compressed=True)
        await writer.append(b"small")

    asyncio.run(scenario())
    writer.close()
    assert [f.payload for f in SpoolReader(tmp_path).iter_all()] == [big, b"small"]


def test_the_sync_thread_syncs_without_waiting_for_the_event_loop(tmp_path: Path) -> None:
    fsync = RecordingFsync()
    writer = SpoolWriter(tmp_path, fsync=fsync)
    writer.open()
    path = segment_path(tmp_path, writer.position.segment)
    # queued from a busy event loop that never yields: the thread syncs it all the same
    writer.write(b"queued")
    end = writer.position.offset
    deadline = time.monotonic() + 30
    while not any(synced >= end for _, synced in fsync.calls) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert any(synced >= end for _, synced in fsync.calls)
    assert frames_end(path) == end

    async def scenario() -> None:
        # already durable: the wait returns at once; a cancelled wait leaves the others alone
        await writer.wait_synced(1)
        cancelled = asyncio.ensure_future(writer.append(b"given up"))
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(*(writer.append(b"kept %d" % i) for i in range(50)))

    asyncio.run(scenario())
    writer.write(b"queued at close")
    writer.close()  # syncs what is queued
    payloads = [f.payload for f in SpoolReader(tmp_path).iter_all()]
    assert payloads[0] == b"queued" and payloads[-1] == b"queued at close"
    assert len([p for p in payloads if p.startswith(b"kept")]) == 50
