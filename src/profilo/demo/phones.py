"""Mobile numbers: drawing them per country and writing them the ways people type them.

A number is kept as its national significant number (NSN, the digits after the country code and
the trunk ``0``): nine digits in France and Belgium, ten in the UK.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from profilo.demo.render import Piece, digits, stamp, strings

__all__ = ["COUNTRY_CODES", "NSN_LENGTH", "draw_mobiles", "mistype", "write_phones"]

COUNTRY_CODES = (33, 32, 44)
"""Calling codes of France, Belgium and the UK (the demo's country order)."""
NSN_LENGTH = (9, 9, 10)

STYLES = ("national", "compact", "international", "international_compact", "alternative")
"""How a number is written: "06 12 34 56 78", "0612345678", "+33 6 12 34 56 78", "+33612345678",
and a local habit ("06.12.34.56.78", "0470/12.34.56", "+44 (0)7700 900123")."""


def draw_mobiles(rng: np.random.Generator, country: npt.NDArray[np.int8]) -> npt.NDArray[np.int64]:
    """Random mobile NSNs in each country's mobile ranges."""
    n = len(country)
    fr = np.where(rng.random(n) < 0.8, 6, 7) * 10**8 + rng.integers(0, 10**8, n)
    fr = np.where(fr // 10**8 == 7, 7 * 10**8 + rng.integers(3 * 10**7, 10**8, n), fr)
    be = rng.integers(460, 500, n) * 10**6 + rng.integers(0, 10**6, n)
    gb = rng.integers(7400, 8000, n) * 10**6 + rng.integers(0, 10**6, n)
    return np.choose(country, [fr, be, gb]).astype(np.int64)


def mistype(rng: np.random.Generator, nsn: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The same numbers with one slip each: a digit changed, or two neighbours swapped."""
    n = len(nsn)
    position = rng.integers(0, 7, n)
    power = 10 ** position.astype(np.int64)
    digit = nsn // power % 10
    changed = nsn + ((digit + rng.integers(1, 10, n)) % 10 - digit) * power
    upper = nsn // (power * 10) % 10
    swapped = nsn + (upper - digit) * power + (digit - upper) * power * 10
    return np.where(rng.random(n) < 0.5, changed, swapped)


def _write(country: int, style: str, nsn: npt.NDArray[np.int64]) -> pa.StringArray:
    n = len(nsn)
    d = digits(nsn, NSN_LENGTH[country])
    cc = str(COUNTRY_CODES[country]).encode()
    groups: list[Piece]
    alternative: list[Piece]
    if country == 0:  # France: 06 12 34 56 78
        groups = [d[:, 0:1], b" ", d[:, 1:3], b" ", d[:, 3:5], b" ", d[:, 5:7], b" ", d[:, 7:9]]
        alternative = [b"0", d[:, 0:1], b".", d[:, 1:3], b".", d[:, 3:5], b".", d[:, 5:7], b"."]
        alternative.append(d[:, 7:9])
    elif country == 1:  # Belgium: 0470 12 34 56
        groups = [d[:, 0:3], b" ", d[:, 3:5], b" ", d[:, 5:7], b" ", d[:, 7:9]]
        alternative = [b"0", d[:, 0:3], b"/", d[:, 3:5], b".", d[:, 5:7], b".", d[:, 7:9]]
    else:  # UK: 07700 900123
        groups = [d[:, 0:4], b" ", d[:, 4:10]]
        alternative = [b"+44 (0)", d[:, 0:4], b" ", d[:, 4:10]]
    if style == "national":
        return stamp(n, b"0", *groups)
    if style == "compact":
        return stamp(n, b"0", d)
    if style == "international":
        return stamp(n, b"+", cc, b" ", *groups)
    if style == "international_compact":
        return stamp(n, b"+", cc, d)
    return stamp(n, *alternative)


def write_phones(
    country: npt.NDArray[np.int8], nsn: npt.NDArray[np.int64], style: npt.NDArray[np.int64]
) -> pa.StringArray:
    """Numbers as text, each in its country's ``STYLES[style]`` form."""
    out = np.empty(len(nsn), dtype=object)
    for c in range(len(COUNTRY_CODES)):
        for s, name in enumerate(STYLES):
            rows = np.flatnonzero((country == c) & (style == s))
            if len(rows):
                out[rows] = _write(c, name, nsn[rows]).to_numpy(zero_copy_only=False)
    return strings(out.tolist()) if len(out) else pa.array([], type=pa.string())
