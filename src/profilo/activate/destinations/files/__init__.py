"""Files destination: CSV or Parquet exports to a folder, full or incremental (see :mod:`.writer`)."""

from __future__ import annotations

from profilo.activate.destinations.files.writer import FilesDestination, FilesSettings

__all__ = ["FilesDestination", "FilesSettings"]
