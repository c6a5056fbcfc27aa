"""The demo's deliberate mess: typos, case and spacing changes, bad values for quarantine.

Every function takes the chunk's random generator, so the mess is as reproducible as the rest.
Spoilt rows are few, so the per-value work here is plain Python on small lists.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from profilo.demo.render import join, strings

__all__ = [
    "BAD_DATES",
    "bad_rows",
    "email_variants",
    "invalid_emails",
    "replace_rows",
    "sometimes",
    "typos",
]

BAD_DATES = ("31/02/1985", "30/02/1990", "00/00/0000", "12/13/1979", "1976-05-14")
"""Birth dates a form let through: impossible days, US order, ISO in a DD/MM/YYYY column."""


def sometimes(rng: np.random.Generator, n: int, rate: float) -> npt.NDArray[np.bool_]:
    """A random mask with about ``rate`` of the rows set."""
    return rng.random(n) < rate


def bad_rows(
    rng: np.random.Generator, n: int, rate: float, eligible: npt.NDArray[np.bool_] | None = None
) -> npt.NDArray[np.bool_]:
    """A mask of rows to spoil: about ``rate`` of them, and at least one when any row can be."""
    candidates = np.arange(n) if eligible is None else np.flatnonzero(eligible)
    mask = np.zeros(n, dtype=bool)
    if len(candidates) == 0:
        return mask
    count = max(1, int(rng.binomial(len(candidates), rate)))
    mask[rng.choice(candidates, size=min(count, len(candidates)), replace=False)] = True
    return mask


def replace_rows(
    column: pa.Array, mask: npt.NDArray[np.bool_], change: Callable[[list[str]], list[str]]
) -> pa.Array:
    """Replace the masked rows' values with ``change(those values)``."""
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        return column
    before = column.take(pa.array(rows)).to_pylist()
    return pc.replace_with_mask(column, pa.array(mask), strings(change(before)))


def typos(rng: np.random.Generator) -> Callable[[list[str]], list[str]]:
    """A change that drops a letter or swaps two neighbouring letters (never the first one)."""

    def change(values: list[str]) -> list[str]:
        out = []
        for value, u, drop in zip(
            values, rng.random(len(values)), rng.random(len(values)) < 0.5, strict=True
        ):
            if len(value) < 4:
                out.append(value)
                continue
            i = 1 + int(u * (len(value) - 2))
            if drop:
                out.append(value[:i] + value[i + 1 :])
            else:
                out.append(value[:i] + value[i + 1] + value[i] + value[i + 2 :])
        return out

    return change


def email_variants(rng: np.random.Generator, emails: pa.Array) -> pa.Array:
    """The same addresses typed differently: " Anne.Martin@Gmail.com ", "ANNE.MARTIN@…"."""
    n = len(emails)
    style = rng.integers(0, 5, n)
    title = pc.utf8_title(emails)
    variants = [
        pc.utf8_upper(emails),
        title,
        join(" ", title, " "),
        join(emails, " "),
        join(" ", emails),
    ]
    return pc.choose(pa.array(style.astype(np.int8)), *variants)


def invalid_emails(rng: np.random.Generator) -> Callable[[list[str]], list[str]]:
    """A change that breaks addresses as forms let them through: "jean.dupont@", "…@gmail,com"."""

    def change(values: list[str]) -> list[str]:
        out = []
        for value, kind in zip(values, rng.integers(0, 5, len(values)), strict=True):
            local, _, domain = value.strip().partition("@")
            forms = (
                f"{local}@",
                f"{local}@{domain.rsplit('.', 1)[0]}",
                f"{local}.{domain}",
                f"{local}@@{domain}",
                f"{local}@{domain.replace('.', ',')}",
            )
            out.append(forms[int(kind)])
        return out

    return change
