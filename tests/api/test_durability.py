"""The durability settings themselves, since a kill -9 cannot reveal a missing fsync (the OS cache
survives a process crash): the real server answers 200 only after an fsync that covers the
request's frame."""

from __future__ import annotations

import base64
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from profilo.api import ServeSettings, create_app
from profilo.collect.spool import frames_end, segment_numbers, segment_path


class RecordingFsync:
    """os.fdatasync, remembering where each file's frames ended when it was synced."""

    def __init__(self) -> None:
        self.synced: dict[int, int] = {}  # inode -> end of the frames at the last sync
        self.lock = threading.Lock()

    def __call__(self, fd: int) -> None:
        os.fdatasync(fd)
        end = frames_end(Path(f"/proc/self/fd/{fd}"))
        with self.lock:
            self.synced[os.fstat(fd).st_ino] = end


def test_each_answer_follows_an_fsync_of_its_frame(tmp_path: Path, server_class: Any) -> None:
    store_url = f"duckdb:///{tmp_path / 'profilo.duckdb'}"
    write_key = server_class(store_url, tmp_path).add_source("web", kind="web")
    port = server_class(store_url, tmp_path).port
    settings = ServeSettings(
        store=store_url, port=port, spool_dir=tmp_path / "spool", log_level="warning"
    )
    fsync = RecordingFsync()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, fsync=fsync), port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        for i in range(20):
            batch = [
                {"type": "track", "event": "e", "userId": "u", "messageId": f"d{i}-{j}"}
                for j in range(5)
            ]
            answer = httpx.post(f"{url}/v1/batch", json={"batch": batch}, headers=auth)
            assert answer.status_code == 200
            live = segment_path(settings.spool_dir, segment_numbers(settings.spool_dir)[-1])
            end = frames_end(live)
            assert end > 0
            # every frame in the spool when this answer came was synced before it
            assert fsync.synced.get(live.stat().st_ino, -1) >= end
    finally:
        server.should_exit = True
        thread.join(60)
