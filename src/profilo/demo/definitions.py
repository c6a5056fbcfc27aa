"""The demo's computed traits and segments: what a marketing team would set up on day one.

They are written as YAML beside the data (``definitions/traits/*.yaml``,
``definitions/segments/*.yaml``, the same files ``profilo trait add --def`` and ``profilo segment
add`` read) and saved in the store before the pipeline runs. The demo's activity ends on
2026-10-31 (:mod:`profilo.demo.clock`), so windows are counted in months, not days.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from profilo.audiences.segments import save_segment
from profilo.profiles.traits import parse_trait, save_trait
from profilo.store import Store

__all__ = ["SEGMENTS", "TRAITS", "apply_definitions", "write_definitions"]

_PURCHASES = ["Order Completed", "In-Store Purchase"]

TRAITS: dict[str, dict[str, Any]] = {
    "orders_365d": {
        "description": "Orders on line and in store in the last 365 days",
        "aggregate": "count",
        "events": _PURCHASES,
        "within": {"last": 365, "unit": "days"},
    },
    "spend_365d": {
        "description": "Money spent on line and in store in the last 365 days (EUR)",
        "aggregate": "sum",
        "events": _PURCHASES,
        "property": "revenue",
        "within": {"last": 365, "unit": "days"},
    },
    "days_since_last_purchase": {
        "description": "Whole days since the last purchase, on line or in store",
        "aggregate": "days_since",
        "events": _PURCHASES,
    },
    "favourite_category": {
        "description": "The category bought most often in store",
        "aggregate": "most_frequent",
        "events": "In-Store Purchase",
        "property": "category",
    },
    "email_click_rate_180d": {
        "description": "E-mail clicks per e-mail sent in the last 180 days",
        "aggregate": "ratio",
        "events": "clicked",
        "per_events": "sent",
        "within": {"last": 180, "unit": "days"},
    },
}

SEGMENTS: dict[str, tuple[str, str]] = {
    "french_repeat_buyers_engaged": (
        'trait country = "FR" and did "Order Completed" at least 2 times in last 180 days'
        ' and did "opened" in last 90 days and consent email_marketing',
        "French customers who bought on line at least twice in six months, opened an e-mail in"
        " three months and agreed to e-mail marketing",
    ),
    "vip": (
        "computed spend_365d >= 400",
        "Spent 400 EUR or more in the last 365 days",
    ),
    "lapsed_buyers": (
        'did ["Order Completed", "In-Store Purchase"] in last 540 days'
        ' and did not ["Order Completed", "In-Store Purchase"] in last 180 days',
        "Bought in the last eighteen months but not in the last six",
    ),
    "cart_abandoners": (
        'did "Product Added" in last 60 days and did not "Order Completed" in last 60 days',
        "Added a product to the cart in two months without ordering",
    ),
    "sms_reachable": (
        "has phone and consent sms_marketing",
        "Have a phone number and agreed to SMS marketing",
    ),
    "vip_reachable_by_email": (
        "in segment vip and consent email_marketing",
        "VIPs who agreed to e-mail marketing",
    ),
}


def write_definitions(folder: Path) -> list[Path]:
    """Write each definition as YAML under ``folder`` (``traits/``, ``segments/``)."""
    written = []
    for kind, items in (
        ("traits", TRAITS),
        ("segments", {n: {"text": r, "description": d} for n, (r, d) in SEGMENTS.items()}),
    ):
        target = folder / kind
        target.mkdir(parents=True, exist_ok=True)
        for name, body in items.items():
            path = target / f"{name}.yaml"
            path.write_text(yaml.safe_dump(body, sort_keys=False, allow_unicode=True))
            written.append(path)
    return written


def apply_definitions(store: Store) -> dict[str, int]:
    """Save the demo's computed traits (computed now) and segments (evaluated by the pipeline)."""
    for name, body in TRAITS.items():
        save_trait(store, parse_trait(dict(body), name=name))
    for name, (rule, description) in SEGMENTS.items():
        save_segment(store, name, rule, description=description)
    return {"traits": len(TRAITS), "segments": len(SEGMENTS)}
