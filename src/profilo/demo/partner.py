"""``partner_enrichment.csv``: a data partner's attributes, keyed by hashed e-mail address.

The partner knows about two customers in five, by the SHA-256 of their trimmed, lower-cased
personal address, and sends a few hashes that match nobody. Its age bands are sometimes a band
off: third-party data is never quite right.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from profilo.demo import clock
from profilo.demo.people import People
from profilo.demo.records import Counters, Rows
from profilo.demo.render import digits, from_matrix, ints, join, strings, take

__all__ = ["AGE_BANDS", "COLUMNS", "INCOME_BANDS", "email_sha256", "partner_enrichment"]

COLUMNS = ("email_sha256", "age_band", "household_size", "income_band")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
INCOME_BANDS = ("<20k", "20-35k", "35-50k", "50-75k", "75-100k", "100k+")
_AGE_LIMITS = np.array([25, 35, 45, 55, 65])


def email_sha256(email: str) -> str:
    """The partner's key: SHA-256 (lower-case hex) of the trimmed, lower-cased address."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def partner_enrichment(rng: np.random.Generator, people: People, counters: Counters) -> Rows:
    """The partner's rows for a chunk of people, plus hashes of strangers."""
    known = np.flatnonzero((rng.random(len(people)) < 0.4) & (people.family_of < 0))
    k = len(known)
    strangers = max(1, round(0.05 * k)) if len(people) else 0
    keys = [email_sha256(e) for e in people.email.take(pa.array(known)).to_pylist()]
    keys += [bytes(b).hex() for b in rng.integers(0, 256, (strangers, 32), dtype=np.uint8)]

    age = (clock.END // clock.DAY - people.birth_day[known]) / 365.25
    band = np.searchsorted(_AGE_LIMITS, age, side="right")
    off = rng.random(k) < 0.05
    band = np.clip(band + np.where(off, rng.choice([-1, 1], size=k), 0), 0, len(AGE_BANDS) - 1)
    band = np.concatenate([band, rng.integers(0, len(AGE_BANDS), strangers)])
    total = k + strangers
    household = 1 + np.minimum(rng.poisson(1.4, total), 5)
    income = rng.choice(len(INCOME_BANDS), size=total, p=[0.12, 0.24, 0.25, 0.22, 0.1, 0.07])
    outsiders = counters.take("outsiders", strangers)
    persons = pa.chunked_array(
        [
            people.person_id.take(pa.array(known)),
            join("X", from_matrix(digits(outsiders, 8)))
            if strangers
            else pa.array([], pa.string()),
        ],
        type=pa.string(),
    ).combine_chunks()

    shuffle = pa.array(rng.permutation(total))
    email_hash = strings(keys).take(shuffle)
    columns = {
        "email_sha256": email_hash,
        "age_band": take(strings(AGE_BANDS), band).take(shuffle),
        "household_size": ints(household).take(shuffle),
        "income_band": take(strings(INCOME_BANDS), income).take(shuffle),
    }
    return Rows(
        source="partner_enrichment",
        keys=email_hash,
        persons=persons.take(shuffle),
        columns=columns,
    )
