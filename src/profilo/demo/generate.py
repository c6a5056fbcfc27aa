"""Write the demo dataset: nine sources of Maison Lumière's customers, their mappings and the truth.

Beside the customers, the web tracking holds visitors who browse and never register, and the
tills walk-in shoppers who leave no name: each is a person of their own in the truth.

People are drawn a chunk at a time (``CHUNK`` customers) and every source's rows for that chunk
are appended to its file, so memory stays flat however many customers are asked for. Each chunk
and each source draws from its own random stream, ``PCG64(SeedSequence(seed, spawn_key=(chunk,
source)))``: the same ``(customers, seed, chunk_size)`` always writes the same bytes. E-mail
addresses, phone numbers and running ids stay unique across chunks.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa

from profilo.demo import commerce, consents, crm, engagement, feedback, partner, tracking
from profilo.demo.mappings import SOURCE_FILES, write_mappings
from profilo.demo.people import Registry, draw_people
from profilo.demo.records import Counters, Rows
from profilo.demo.render import csv_lines, write_lines
from profilo.errors import ConfigError

__all__ = ["CHUNK", "TRUTH_COLUMNS", "DemoSummary", "SourceFile", "generate_demo"]

CHUNK = 20_000
"""Customers drawn and written at a time."""

TRUTH_COLUMNS = ("source", "record_key", "person_id")

_CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "crm_contacts": crm.COLUMNS,
    "shop_purchases": commerce.SHOP_COLUMNS,
    "email_engagement": engagement.COLUMNS,
    "consents": consents.COLUMNS,
    "helpdesk_tickets": feedback.TICKET_COLUMNS,
    "survey_answers": feedback.SURVEY_COLUMNS,
    "partner_enrichment": partner.COLUMNS,
}


@dataclass(frozen=True)
class SourceFile:
    """One generated source: its data file, its mapping and how many records it holds."""

    source: str
    path: Path
    mapping: Path
    rows: int


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate_demo` wrote."""

    out_dir: Path
    customers: int
    seed: int
    sources: dict[str, SourceFile]
    truth_path: Path
    truth_rows: int
    seconds: float
    """Wall-clock time the generation took."""

    @property
    def rows(self) -> dict[str, int]:
        """Records per source."""
        return {name: s.rows for name, s in self.sources.items()}


class _BackgroundWrites:
    """Writes text on one worker thread, so the disk works while the next rows are drawn.

    At most ``depth`` writes wait at a time, which bounds the memory held by pending text; a
    failed write raises in the main thread at the next call.
    """

    def __init__(self, depth: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-writer")
        self._pending: deque[Future[None]] = deque()
        self._depth = depth

    @staticmethod
    def _write(stream: IO[bytes], text: pa.Array | bytes) -> None:
        if isinstance(text, bytes):
            stream.write(text)
        else:
            write_lines(stream, text)

    def put(self, stream: IO[bytes], text: pa.Array | bytes) -> None:
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, stream, text))

    def close(self) -> None:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


class _Writer:
    """The open output files; appends each chunk's rows and their truth."""

    def __init__(self, out_dir: Path, stack: ExitStack) -> None:
        self.files: dict[str, IO[bytes]] = {}
        self.counts = dict.fromkeys(SOURCE_FILES, 0)
        for source, name in SOURCE_FILES.items():
            self.files[source] = stack.enter_context((out_dir / name).open("wb"))
        self.truth = stack.enter_context((out_dir / "truth.csv").open("wb"))
        self.truth_rows = 0
        # Registered last, so it is closed first: every write lands before the files close.
        self.background = _BackgroundWrites()
        stack.callback(self.background.close)
        for source, columns in _CSV_COLUMNS.items():
            self.background.put(self.files[source], (",".join(columns) + "\n").encode())
        self.background.put(self.truth, (",".join(TRUTH_COLUMNS) + "\n").encode())

    def write(self, rows: Rows) -> None:
        stream = self.files[rows.source]
        if rows.columns is not None:
            names = _CSV_COLUMNS[rows.source]
            if tuple(rows.columns) != names:
                raise AssertionError(f"{rows.source}: columns {list(rows.columns)} != {names}")
            self.background.put(stream, csv_lines([rows.columns[c] for c in names]))
        else:
            written = 0
            for lines in rows.lines or ():
                self.background.put(stream, lines)
                written += len(lines)
            if written != len(rows):
                raise AssertionError(f"{rows.source}: {written} lines for {len(rows)} keys")
        n = len(rows)
        source = pa.array([rows.source], type=pa.string()).take(pa.array(np.zeros(n, np.int64)))
        self.background.put(self.truth, csv_lines([source, rows.keys, rows.persons]))
        self.counts[rows.source] += n
        self.truth_rows += n


def _chunks(customers: int, size: int) -> Iterator[tuple[int, int, int]]:
    for index, offset in enumerate(range(0, customers, size)):
        yield index, offset, min(size, customers - offset)


def _chunk_rows(
    seed: int,
    index: int,
    offset: int,
    n: int,
    emails: Registry,
    mobiles: Registry,
    counters: Counters,
) -> Iterator[Rows]:
    """Every source's rows for one chunk of customers, in the order they are written."""

    def stream(source: int) -> np.random.Generator:
        return np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index, source)))
        )

    people = draw_people(stream(0), offset, n, emails, mobiles)
    contacts = crm.crm_contacts(stream(1), people, counters)
    orders = commerce.orders(stream(2), people, counters)
    shop = commerce.shop_purchases(stream(3), people, counters)
    mail = engagement.email_engagement(stream(5), people, contacts, orders, counters)
    yield contacts.rows
    yield orders.rows
    yield tracking.web_tracking(stream(4), people, counters)
    yield shop.rows
    yield mail.rows
    yield consents.consent_log(stream(6), people, contacts, orders, mail, counters)
    yield feedback.helpdesk_tickets(stream(7), people, orders, shop, counters)
    yield feedback.survey_answers(stream(8), people, orders, shop, counters)
    yield partner.partner_enrichment(stream(9), people, counters)


def generate_demo(
    out_dir: Path,
    *,
    customers: int = 10_000,
    seed: int = 42,
    progress: bool = False,
    chunk_size: int = CHUNK,
) -> DemoSummary:
    """Write the demo's nine sources, their mappings (``mappings/``) and ``truth.csv``.

    >>> summary = generate_demo(Path("demo-data"), customers=1_000)  # doctest: +SKIP
    >>> summary.rows["orders"]  # doctest: +SKIP
    2981

    Files are overwritten. The same ``customers``, ``seed`` and ``chunk_size`` (customers drawn
    and held in memory at a time) give byte-identical files.
    """
    if customers < 1:
        raise ConfigError(f"customers must be at least 1; got {customers!r}")
    if seed < 0:
        raise ConfigError(f"seed must be zero or positive; got {seed!r}")
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be at least 1; got {chunk_size!r}")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mappings = write_mappings(out_dir / "mappings")
    counters = Counters(width=max(6, len(str(2 * customers))))
    emails, mobiles = Registry(), Registry()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=customers, unit=" customers", desc="demo")
    with ExitStack() as stack:
        writer = _Writer(out_dir, stack)
        for index, offset, n in _chunks(customers, chunk_size):
            for rows in _chunk_rows(seed, index, offset, n, emails, mobiles, counters):
                writer.write(rows)
            if bar is not None:
                bar.update(n)
    if bar is not None:
        bar.close()
    sources = {
        source: SourceFile(
            source=source,
            path=out_dir / name,
            mapping=mappings[source],
            rows=writer.counts[source],
        )
        for source, name in SOURCE_FILES.items()
    }
    return DemoSummary(
        out_dir=out_dir,
        customers=customers,
        seed=seed,
        sources=sources,
        truth_path=out_dir / "truth.csv",
        truth_rows=writer.truth_rows,
        seconds=time.perf_counter() - started,
    )
