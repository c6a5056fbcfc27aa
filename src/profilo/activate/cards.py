"""Profile cards: what the personalisation API answers, precomputed per profile.

A web site asks about the person in front of it and needs the answer in milliseconds, so nothing is
computed at request time: :func:`refresh_cards` writes one row per profile into ``profile_cards``
with the golden traits, the computed traits, the segments, a handful of product recommendations and
whether the person consented to personalisation; a request is then two indexed point reads
(identifier → profile, profile → card). Cards are rewritten by the pipeline's ``cards`` step,
after segments (:func:`refresh_changed_cards`: only the profiles that changed, or all);
:func:`refresh_card_consents` re-reads the consent of only the people whose personalisation consent
changed since its last run, so a withdrawal reaches the API without a full rebuild.

**Recommendations** come from purchases (the ``items`` of ``Order Completed`` events: ``sku``,
``name``, ``category``), best first, never a product the person already bought:

1. ``bought_together``: products most often bought by the people who bought what this person
   bought (co-purchase counts, the 20 strongest partners of each product);
2. ``popular_in_segment``: the products most bought by the members of this person's segments;
3. ``popular``: the products most bought overall — also the non-personal defaults shown to people
   without consent (``personalisation_defaults``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import orjson
import pyarrow as pa

from profilo.activate.consent import consent_profiles_since, current_consents
from profilo.activate.personalise import forget_cached
from profilo.profiles import list_traits
from profilo.store import Store

__all__ = ["PURCHASE_EVENTS", "refresh_card_consents", "refresh_cards", "refresh_changed_cards"]

PURCHASE_EVENTS: tuple[str, ...] = ("Order Completed",)
"""Events whose ``items`` list the products a person bought."""

PURPOSE = "personalisation"
_PARTNERS = 20
_PER_SEGMENT = 10
_TS = pa.timestamp("us", tz="UTC")
_CONSENT_STEP = "personalisation_consents"


def _purchases(store: Store) -> ir.Table:
    """One row per purchased line: profile, sku, name, category."""
    events = store.table("profile_events")
    orders = events.filter(events.event.isin(list(PURCHASE_EVENTS)))
    lines = orders.select("profile_id", item=orders.properties["items"].array.unnest())
    lines = lines.select(
        "profile_id",
        sku=lines.item["sku"].str,
        name=lines.item["name"].str,
        category=lines.item["category"].str,
    )
    return lines.filter(lines.sku.notnull())


def _ranked(table: ir.Table, group: str, *order: Any, keep: int) -> ir.Table:
    rank = ibis.row_number().over(group_by=group, order_by=list(order))
    ranked = table.mutate(_rank=rank)
    return ranked.filter(ranked._rank < keep).drop("_rank")


def _recommendations(store: Store, people: ir.Table, limit: int) -> tuple[ir.Table, ir.Table]:
    """(profile_id, sku, reason, score, position) for ``people``, and the popular products."""
    purchases = _purchases(store)
    bought = purchases.select("profile_id", "sku").distinct()
    catalogue = purchases.group_by("sku").aggregate(
        name=purchases.name.max(),
        category=purchases.category.max(),
        buyers=purchases.profile_id.nunique(),
    )
    popular = catalogue.order_by(ibis.desc("buyers"), "sku").limit(limit * 2)

    left = bought.rename(sku_a="sku")
    right = bought.rename(sku_b="sku", other="profile_id")
    pairs = left.join(right, [left.profile_id == right.other, left.sku_a != right.sku_b])
    together = pairs.group_by(["sku_a", "sku_b"]).aggregate(together=pairs.profile_id.count())
    together = _ranked(together, "sku_a", ibis.desc("together"), "sku_b", keep=_PARTNERS)

    mine = bought.semi_join(people, "profile_id")
    co = mine.join(together, mine.sku == together.sku_a)
    co = co.group_by(["profile_id", co.sku_b.name("sku")]).aggregate(score=co.together.sum())
    co = co.mutate(tier=ibis.literal(1), reason=ibis.literal("bought_together"))

    members = store.table("memberships").select("segment", "profile_id")
    by_segment = members.join(bought, "profile_id")
    by_segment = by_segment.group_by(["segment", "sku"]).aggregate(
        buyers=by_segment.profile_id.count()
    )
    by_segment = _ranked(by_segment, "segment", ibis.desc("buyers"), "sku", keep=_PER_SEGMENT)
    mine_in = members.semi_join(people, "profile_id")
    seg = mine_in.join(by_segment, "segment")
    seg = seg.group_by(["profile_id", "sku"]).aggregate(score=seg.buyers.max())
    seg = seg.mutate(tier=ibis.literal(2), reason=ibis.literal("popular_in_segment"))

    everyone = people.select("profile_id").cross_join(popular.select("sku", score=popular.buyers))
    everyone = everyone.mutate(tier=ibis.literal(3), reason=ibis.literal("popular"))

    columns = ["profile_id", "sku", "score", "tier", "reason"]
    typed = {"score": "int64", "tier": "int64"}
    candidates = ibis.union(
        *(t.select(columns).cast(typed) for t in (co, seg, everyone)), distinct=False
    )
    fresh = candidates.anti_join(bought, ["profile_id", "sku"])
    order = ibis.row_number().over(
        group_by=["profile_id", "sku"], order_by=["tier", ibis.desc("score")]
    )
    best = fresh.mutate(_first=order)
    best = best.filter(best._first == 0).drop("_first")
    best = _ranked(best, "profile_id", "tier", ibis.desc("score"), "sku", keep=limit)
    best = best.join(catalogue.select("sku", "name", "category"), "sku")
    return best, popular


def _by_profile(rows: pa.Table, build: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in rows.to_pylist():
        build(out, row)
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        return orjson.loads(value)
    return value if value is not None else {}


def refresh_cards(
    store: Store,
    *,
    profile_ids: Sequence[str] | None = None,
    limit: int = 5,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Rewrite the cards of ``profile_ids`` (every profile when None) and the defaults.

    Returns how many cards were written and how long it took.
    """
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    profiles = store.table("profiles")
    if profile_ids is not None:
        wanted = store.temporary(pa.table({"profile_id": pa.array(profile_ids, pa.string())}))
        profiles = profiles.semi_join(wanted, "profile_id")
    people = profiles.select("profile_id")
    watermark = _latest_consent(store) if profile_ids is None else None
    heads = store.to_arrow(profiles.select("profile_id", "traits"))
    consents = store.to_arrow(current_consents(store, people, [PURPOSE]))
    granted = {str(r["profile_id"]) for r in consents.to_pylist() if r["status"] == "granted"}
    definitions = {d.name: d for d in list_traits(store)}
    computed_rows = store.table("computed_traits")
    computed_rows = computed_rows.semi_join(people, "profile_id").filter(
        computed_rows.trait.isin(list(definitions) or [""])
    )
    computed = _by_profile(
        store.to_arrow(
            computed_rows.select("profile_id", "trait", "number_value", "text_value", "time_value")
        ),
        lambda out, r: out.setdefault(r["profile_id"], {}).__setitem__(
            r["trait"], r[definitions[r["trait"]].column]
        ),
    )
    memberships = store.table("memberships")
    segments = _by_profile(
        store.to_arrow(
            memberships.semi_join(people, "profile_id")
            .select("profile_id", "segment")
            .order_by("profile_id", "segment")
        ),
        lambda out, r: out.setdefault(r["profile_id"], []).append(r["segment"]),
    )
    best, popular = _recommendations(store, people, limit)
    picks = _by_profile(
        store.to_arrow(best.order_by("profile_id", "tier", ibis.desc("score"), "sku")),
        lambda out, r: out.setdefault(r["profile_id"], []).append(
            {"sku": r["sku"], "name": r["name"], "category": r["category"], "reason": r["reason"]}
        ),
    )
    defaults = [
        {"sku": r["sku"], "name": r["name"], "category": r["category"], "reason": "popular"}
        for r in store.to_arrow(popular).to_pylist()[:limit]
    ]
    store.drop_temporaries()
    ids = [str(p) for p in heads.column("profile_id").to_pylist()]
    traits = heads.column("traits").to_pylist()
    dumps = orjson.dumps
    cards = pa.table(
        {
            "profile_id": pa.array(ids, pa.string()),
            "consented": pa.array([p in granted for p in ids], pa.bool_()),
            "traits": pa.array([dumps(_json_value(t)).decode() for t in traits], pa.string()),
            "computed": pa.array(
                [dumps(computed.get(p, {}), default=str).decode() for p in ids], pa.string()
            ),
            "segments": pa.array([dumps(segments.get(p, [])).decode() for p in ids], pa.string()),
            "recommendations": pa.array(
                [dumps(picks.get(p, defaults)).decode() for p in ids], pa.string()
            ),
            "updated_at": pa.array([now] * len(ids), _TS),
        }
    )
    with store.transaction():
        if profile_ids is None:
            store.replace_rows("profile_cards", cards, all_rows=True)
        else:
            store.replace_rows(
                "profile_cards",
                cards,
                match=pa.table({"profile_id": pa.array(list(profile_ids), pa.string())}),
            )
        store.upsert(
            "personalisation_defaults",
            {"name": "recommendations", "value": defaults, "updated_at": now},
            ["name"],
        )
        if watermark is not None:  # every consent up to here is in the cards
            _mark(store, watermark)
    forget_cached(store)  # the defaults this process keeps
    return {"cards": len(ids), "seconds": round(time.perf_counter() - started, 3)}


def _latest_consent(store: Store) -> datetime | None:
    latest = store.scalar(store.table("consents").recorded_at.max())
    if latest is None or latest != latest:  # None or NaT
        return None
    if hasattr(latest, "to_pydatetime"):
        latest = latest.to_pydatetime()
    return latest if latest.tzinfo is not None else latest.replace(tzinfo=UTC)  # type: ignore[no-any-return]


def _mark(store: Store, watermark: datetime, step: str = _CONSENT_STEP) -> None:
    store.upsert(
        "profile_refreshes",
        {"step": step, "watermark": watermark, "updated_at": datetime.now(UTC)},
        ["step"],
    )


def refresh_card_consents(store: Store) -> dict[str, Any]:
    """Rewrite the cards of the people whose personalisation consent changed since the last call."""
    refreshes = store.table("profile_refreshes")
    mark = store.to_arrow(refreshes.filter(refreshes.step == _CONSENT_STEP).select("watermark"))
    since = mark.column("watermark")[0].as_py() if mark.num_rows else None
    changed, latest = consent_profiles_since(store, since, [PURPOSE])
    done = refresh_cards(store, profile_ids=changed) if changed else {"cards": 0}
    if latest is not None and latest != since:
        _mark(store, latest)
    return {"profiles": len(changed), **done}


_CARDS_STEP = "cards"


def _watermark(store: Store, step: str) -> datetime | None:
    refreshes = store.table("profile_refreshes")
    mark = store.to_arrow(refreshes.filter(refreshes.step == step).select("watermark"))
    found = mark.column("watermark")[0].as_py() if mark.num_rows else None
    return found if found is None or found.tzinfo else found.replace(tzinfo=UTC)


def _ids(store: Store, expr: ir.Table) -> set[str]:
    return {
        str(p) for p in store.to_arrow(expr.select("profile_id").distinct()).column(0).to_pylist()
    }


def _computed_changed(store: Store) -> set[str]:
    """Profiles whose card holds other computed traits than ``computed_traits`` now does (the
    traits step rewrites every value on each run, so its times say nothing; the values do)."""
    definitions = {d.name: d.column for d in list_traits(store)}
    rows = store.table("computed_traits")
    rows = rows.filter(rows.trait.isin(list(definitions) or [""]))
    current: dict[str, dict[str, Any]] = {}
    for r in store.to_arrow(
        rows.select("profile_id", "trait", "number_value", "text_value", "time_value")
    ).to_pylist():
        current.setdefault(r["profile_id"], {})[r["trait"]] = r[definitions[r["trait"]]]
    cards = store.to_arrow(store.table("profile_cards").select("profile_id", "computed"))
    changed = set()
    loads, dumps = orjson.loads, orjson.dumps
    for profile_id, stored in zip(
        cards.column("profile_id").to_pylist(), cards.column("computed").to_pylist(), strict=True
    ):
        now = loads(dumps(current.get(profile_id, {}), default=str))  # as the card writes it
        if now != _json_value(stored):
            changed.add(str(profile_id))
    return changed


def refresh_changed_cards(
    store: Store, *, full: bool = False, now: datetime | None = None
) -> dict[str, Any]:
    """The pipeline's ``cards`` step: rewrite the cards of the profiles that changed since its
    last run — new profiles, golden records rebuilt, segments entered or left, computed values
    changed, personalisation consents recorded — and drop the cards of profiles that no longer
    exist (merged). ``full`` (or a first run) rewrites every card.

    Recommendations of people who did not change are kept: others' purchases move them only
    slowly, and a ``full`` run brings them up to date.
    """
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    since = None if full else _watermark(store, _CARDS_STEP)
    profiles = store.table("profiles")
    cards = store.table("profile_cards")
    if since is None:
        done = refresh_cards(store, now=now)
        _mark(store, now, step=_CARDS_STEP)
        return {"mode": "full", **done}
    changes = store.table("membership_changes")
    changed = _ids(store, profiles.anti_join(cards, "profile_id"))
    changed |= _ids(store, profiles.filter(profiles.updated_at > since))
    changed |= _ids(store, changes.filter(changes.changed_at > since))
    consent_since = _watermark(store, _CONSENT_STEP)
    consented, latest = consent_profiles_since(store, consent_since, [PURPOSE])
    changed |= set(consented)
    changed |= _computed_changed(store)
    gone = sorted(_ids(store, cards.anti_join(profiles, "profile_id")))
    changed -= set(gone)
    total = store.scalar(profiles.count())
    if changed and len(changed) * 2 > int(total):  # most of them: one pass over everyone
        done = refresh_cards(store, now=now)
        _mark(store, now, step=_CARDS_STEP)
        return {"mode": "full", "changed": len(changed), **done}
    done = refresh_cards(store, profile_ids=sorted(changed), now=now) if changed else {"cards": 0}
    with store.transaction():  # marked once the cards are written: a failed run is run again
        if gone:
            store.replace_rows(
                "profile_cards", None, match=pa.table({"profile_id": pa.array(gone, pa.string())})
            )
        if latest is not None and latest != consent_since:
            _mark(store, latest)
        _mark(store, now, step=_CARDS_STEP)
    return {
        "mode": "incremental",
        "changed": len(changed),
        "removed": len(gone),
        "cards": done["cards"],
        "seconds": round(time.perf_counter() - started, 3),
    }
