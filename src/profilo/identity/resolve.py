"""Resolve identities in the store: observed identifiers in, identity graph tables out.

:func:`resolve_identities` reads what the import wrote (``observed_identifiers``, alias messages,
accepted matches, overrides), resolves it with :mod:`profilo.identity.graph` and writes
``identity_records`` (record → profile), ``identities`` (identifier value → profile),
``identity_conflicts`` (links left out) and the ``merges`` log.

A full run resolves everything. An incremental run (the default once the graph exists) picks up the
messages it has not seen (a new message id, or a changed payload), adds every component any of
their identifiers reaches, and resolves exactly those records again — so it touches the profiles
the change reaches, and gives the same answer a full rebuild would.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from profilo.identity.graph import BLOCKED, HUB, LINKED, GraphInput, Resolution, resolve_graph
from profilo.identity.rules import MATCH_LINK, IdentityRules, load_rules
from profilo.store import Store, new_id

__all__ = ["ResolveReport", "profile_id_of", "resolve_identities"]

_TS = pa.timestamp("us", tz="UTC")
_KEY = ["source", "record_key"]
_READ = (
    "events",
    "observed_identifiers",
    "identity_records",
    "identities",
    "identity_messages",
    "match_pairs",
)
"""Tables a run reads that bulk writes change (their statistics are refreshed first)."""
ACCEPTED_MATCH = ("auto", "accepted")
"""Match pair statuses that join records."""


@dataclass
class ResolveReport:
    """What one resolution run did."""

    run_id: str
    mode: str
    records: int = 0
    links: int = 0
    profiles: int = 0
    hubs: int = 0
    blocked_values: int = 0
    left_out_links: int = 0
    conflicted_components: int = 0
    merges: int = 0
    splits: int = 0
    seconds: float = 0.0
    profile_ids: pa.Table | None = field(default=None, repr=False)
    """Profiles this run changed, created or ended (their golden records need rebuilding)."""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("profile_ids")
        return data


def _hash_ids(prefix: str, sources: list[str], keys: list[str]) -> list[str]:
    return [
        prefix + hashlib.blake2b(f"{s}\x1f{k}".encode(), digest_size=8).hexdigest()
        for s, k in zip(sources, keys, strict=True)
    ]


def profile_id_of(source: str, record_key: str) -> str:
    """The id of a profile whose oldest record is (source, record_key): stable across rebuilds.

    >>> profile_id_of("crm", "C1")
    'prf_687abb4212dbd23a'
    """
    return _hash_ids("prf_", [source], [record_key])[0]


def _now() -> datetime:
    return datetime.now(UTC)


class _Scope:
    """Which records a run resolves: all of them, or the components a change reaches."""

    def __init__(self, store: Store, rules: IdentityRules) -> None:
        self.store = store
        self.rules = rules

    def new_messages(self) -> ir.Table:
        events = self.store.table("events")
        seen = self.store.table("identity_messages")
        return events.anti_join(seen, ["message_id", "payload_hash"]).select(
            "message_id", "payload_hash", "source", "record_key"
        )

    def changed(self, touched: pa.Table | None) -> tuple[pa.Table, pa.Table, pa.Table]:
        """(records to resolve, their old component ids, new messages) for an incremental run."""
        store = self.store
        messages = store.to_arrow(self.new_messages())
        records = messages.select(_KEY)
        if touched is not None and touched.num_rows:
            records = pa.concat_tables([records, touched.select(_KEY).cast(records.schema)])
        records = records.group_by(_KEY).aggregate([])
        if not records.num_rows:
            return records, pa.table({"component_id": pa.array([], pa.string())}), messages
        changed = self.store.temporary(records)
        ids = store.table("observed_identifiers")
        values = store.to_arrow(
            ids.filter(ids.is_valid.fill_null(False), ids.value.notnull())
            .semi_join(changed, _KEY)
            .select("id_type", "value")
            .distinct()
        )
        aliases = store.to_arrow(self._alias_values(changed))
        values = pa.concat_tables([values, aliases]).group_by(["id_type", "value"]).aggregate([])
        values = values.filter(pc.invert(self.rules.blocked_mask(values.column("value"))))
        values = pa.concat_tables([values, _hashed_emails(values, self.rules)])
        known = store.table("identities")
        hubs = known.filter(known.status == "hub")
        reach = store.temporary(values).anti_join(hubs, ["id_type", "value"])
        carriers = ids.semi_join(reach, ["id_type", "value"]).select(*_KEY).distinct()
        graph = store.table("identity_records")
        comps = (
            graph.semi_join(changed, _KEY)
            .select("component_id")
            .union(graph.semi_join(carriers, _KEY).select("component_id"))
            .union(
                known.filter(known.component_id.notnull())
                .semi_join(reach, ["id_type", "value"])
                .select("component_id")
            )
        )
        # records paired with these ones by an accepted match or an override: their components too
        comp_ids = store.to_arrow(comps.distinct())
        members = graph.semi_join(store.temporary(comp_ids), "component_id").select(*_KEY)
        partners = self._partners(changed.select(*_KEY).union(members))
        more = store.to_arrow(
            graph.semi_join(partners, _KEY).select("component_id").union(comps).distinct()
        )
        in_scope = store.to_arrow(
            graph.semi_join(store.temporary(more), "component_id").select(*_KEY)
        )
        scope = pa.concat_tables([in_scope, records.cast(in_scope.schema)])
        return scope.group_by(_KEY).aggregate([]), more, messages

    def _alias_values(self, records: ir.Table | None) -> ir.Table:
        events = self.store.table("events")
        alias = events.filter(events.type == "alias")
        if records is not None:
            alias = alias.semi_join(records, _KEY)
        prev = alias.properties["previousId"].str
        known = self.store.table("observed_identifiers")
        user_ids = known.filter(known.id_type == "user_id").select(uid=known.value).distinct()
        out = alias.select(*_KEY, value=prev).filter(lambda t: t.value.notnull())
        joined = out.left_join(user_ids, out.value == user_ids.uid)
        return joined.select(
            id_type=ibis.ifelse(joined.uid.notnull(), "user_id", "anonymous_id"),
            value=joined.value,
        )

    def _partners(self, records: ir.Table) -> ir.Table:
        """Records tied to ``records`` by an accepted match or a never-same override."""
        store = self.store
        pairs = store.table("match_pairs")
        pairs = pairs.filter(pairs.status.isin(ACCEPTED_MATCH)).select(
            "source_l", "record_key_l", "source_r", "record_key_r"
        )
        over = store.table("identity_overrides").select(
            "source_l", "record_key_l", "source_r", "record_key_r"
        )
        both = pairs.union(over)
        left = both.semi_join(
            records, [both.source_l == records.source, both.record_key_l == records.record_key]
        ).select(source=both.source_r, record_key=both.record_key_r)
        right = both.semi_join(
            records, [both.source_r == records.source, both.record_key_r == records.record_key]
        ).select(source=both.source_l, record_key=both.record_key_l)
        return left.union(right)


def _load(
    store: Store, rules: IdentityRules, scope: pa.Table | None
) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """Records (oldest first), links, accepted match pairs and never-same pairs of the scope."""
    events = store.table("events")
    ids = store.table("observed_identifiers")
    pairs = store.table("match_pairs")
    over = store.table("identity_overrides")
    only: ir.Table | None = store.temporary(scope) if scope is not None else None
    if only is not None:
        events = events.semi_join(only, _KEY)
        ids = ids.semi_join(only, _KEY)
    when = events.timestamp.fill_null(events.received_at)
    records = store.to_arrow(
        events.filter(events.record_key.notnull())
        .group_by(_KEY)
        .aggregate(first_seen=when.min(), last_seen=when.max())
        .order_by(["first_seen", "source", "record_key"])
    )
    links = store.to_arrow(
        ids.filter(ids.is_valid.fill_null(False), ids.value.notnull())
        .group_by([*_KEY, "id_type", "value"])
        .aggregate(observed_at=ids.observed_at.min())
    )
    alias = _Scope(store, rules)._alias_values(None)
    alias_events = store.table("events").filter(lambda t: t.type == "alias")
    if only is not None:
        alias_events = alias_events.semi_join(only, _KEY)
    prev = alias_events.properties["previousId"].str
    alias_links = store.to_arrow(
        alias_events.select(*_KEY, value=prev, observed_at=alias_events.received_at)
        .filter(lambda t: t.value.notnull())
        .join(alias.distinct(), "value")
        .select(*_KEY, "id_type", "value", "observed_at")
    )
    derived = _hashed_emails(links, rules)
    explicit = pa.array(
        [False] * (links.num_rows + derived.num_rows) + [True] * alias_links.num_rows, pa.bool_()
    )
    links = pa.concat_tables(
        [links, derived.cast(links.schema), alias_links.cast(links.schema)]
    ).append_column("explicit", explicit)
    accepted = pairs.filter(pairs.status.isin(ACCEPTED_MATCH))
    apart = over.filter(over.kind == "never_same")
    cols = ["pair_id", "source_l", "record_key_l", "source_r", "record_key_r"]
    matches = store.to_arrow(accepted.select(*cols, "status"))
    never = store.to_arrow(
        apart.select(pair_id=apart.override_id, **{c: apart[c] for c in cols[1:]})
    )
    return records, links, matches, never


def _hashed_emails(links: pa.Table, rules: IdentityRules) -> pa.Table:
    """Every e-mail link also as its SHA-256 (how partners send e-mails), so hashed ids join.

    Blocked e-mails are left out: their hashes would otherwise slip past the blocklist.
    """
    emails = links.filter(pc.equal(links.column("id_type"), "email"))
    emails = emails.filter(pc.invert(rules.blocked_mask(emails.column("value").combine_chunks())))
    hashed = [hashlib.sha256(v.encode()).hexdigest() for v in emails.column("value").to_pylist()]
    kind = pa.array(["email_sha256"] * emails.num_rows, pa.string())
    out = emails.set_column(emails.schema.get_field_index("id_type"), "id_type", kind)
    return out.set_column(
        out.schema.get_field_index("value"), "value", pa.array(hashed, pa.string())
    )


def _record_index(records: pa.Table, source: pa.Array, key: pa.Array) -> np.ndarray:
    """Index into ``records`` of each (source, key); -1 where the record is not in scope."""
    joined = pa.table({"source": source, "record_key": key, "__pos": np.arange(len(source))})
    index = records.select(_KEY).append_column("__rec", pa.array(np.arange(records.num_rows)))
    found = joined.join(index, _KEY, join_type="left outer", use_threads=False)
    out = np.full(len(source), -1, np.int64)
    pos = found.column("__pos").to_numpy()
    rec = found.column("__rec").to_numpy(zero_copy_only=False)
    ok = ~np.isnan(rec) if rec.dtype.kind == "f" else np.ones(len(rec), bool)
    out[pos[ok]] = rec[ok].astype(np.int64)
    return out


@dataclass
class _Prepared:
    graph: GraphInput
    records: pa.Table
    values: pa.Table
    links: pa.Table
    link_record: np.ndarray
    link_value: np.ndarray
    type_names: list[str]


def _prepare(
    rules: IdentityRules,
    records: pa.Table,
    links: pa.Table,
    matches: pa.Table,
    never: pa.Table,
    known_hubs: pa.Table | None,
) -> _Prepared:
    types = rules.ordered_types()
    type_names = [t.name for t in types]
    code_of = {name: i for i, name in enumerate(type_names)}
    # accepted matches become links of the pseudo type "match", valued by the pair id
    m = matches.num_rows
    match_links = pa.table(
        {
            "source": pa.concat_arrays(
                [
                    matches.column("source_l").combine_chunks(),
                    matches.column("source_r").combine_chunks(),
                ]
            ),
            "record_key": pa.concat_arrays(
                [
                    matches.column("record_key_l").combine_chunks(),
                    matches.column("record_key_r").combine_chunks(),
                ]
            ),
            "id_type": pa.array([MATCH_LINK] * (2 * m), pa.string()),
            "value": pa.concat_arrays([matches.column("pair_id").combine_chunks()] * 2),
            "observed_at": pa.nulls(2 * m, _TS),
            # a pair a person accepted joins like an alias, past the limits; automatic ones do not
            "explicit": pa.concat_arrays(
                [pc.equal(matches.column("status"), "accepted").combine_chunks()] * 2
            )
            if m
            else pa.array([], pa.bool_()),
        }
    )
    links = pa.concat_tables([links, match_links.cast(links.schema)])
    links = links.filter(pc.is_in(links.column("id_type"), pa.array(type_names)))
    rec = _record_index(records, links.column("source"), links.column("record_key"))
    links = links.filter(pa.array(rec >= 0))
    rec = rec[rec >= 0]
    # one value per (type, value): number them first seen first, then by type and text
    values = (
        links.group_by(["id_type", "value"], use_threads=False)
        .aggregate([("observed_at", "min"), ("observed_at", "max"), ("source", "first")])
        .rename_columns(["id_type", "value", "first_seen", "last_seen", "first_source"])
    )
    codes = np.array([code_of[t] for t in values.column("id_type").to_pylist()], np.int64)
    values = values.append_column("code", pa.array(codes))
    values = values.sort_by(
        [("first_seen", "ascending"), ("code", "ascending"), ("value", "ascending")]
    )
    codes = values.column("code").to_numpy()
    keyed = values.select(["id_type", "value"]).append_column(
        "__val", pa.array(np.arange(values.num_rows))
    )
    with_pos = links.select(["id_type", "value"]).append_column(
        "__pos", pa.array(np.arange(links.num_rows))
    )
    found = with_pos.join(keyed, ["id_type", "value"], use_threads=False)
    val = np.empty(links.num_rows, np.int64)
    val[found.column("__pos").to_numpy()] = found.column("__val").to_numpy()
    blocked = rules.blocked_mask(values.column("value").combine_chunks()).to_numpy(
        zero_copy_only=False
    )
    blocked &= codes != code_of[MATCH_LINK]
    hubs = None
    if known_hubs is not None and known_hubs.num_rows:
        hubs = pc.is_in(
            pc.binary_join_element_wise(values.column("id_type"), values.column("value"), "\x1f"),
            value_set=pc.binary_join_element_wise(
                known_hubs.column("id_type"), known_hubs.column("value"), "\x1f"
            ),
        ).to_numpy(zero_copy_only=False)
    limits = np.array([t.limit if t.limit is not None else -1 for t in types], np.int64)
    apart = None
    if never.num_rows:
        a = _record_index(records, never.column("source_l"), never.column("record_key_l"))
        b = _record_index(records, never.column("source_r"), never.column("record_key_r"))
        ok = (a >= 0) & (b >= 0)
        apart = (a[ok], b[ok])
    graph = GraphInput(
        n_records=records.num_rows,
        link_record=rec,
        link_value=val,
        value_type=codes,
        type_limit=limits,
        hub_threshold=rules.hub_threshold,
        link_explicit=links.column("explicit").to_numpy(zero_copy_only=False).astype(bool),
        blocked=blocked,
        known_hubs=hubs,
        never_same=apart,
    )
    return _Prepared(graph, records, values, links, rec, val, type_names)


def _linked_by(
    p: _Prepared, res: Resolution
) -> tuple[list[str], list[str | None], list[str | None]]:
    """Per record: how it joined its profile (the strongest identifier it shares there)."""
    g = p.graph
    n = g.n_records
    rec, val = p.link_record, p.link_value
    ok = (res.value_status[val] == LINKED) & (res.value_profile[val] == res.profile[rec])
    ok &= res.value_records[val] >= 2
    if len(res.left_out_record):
        left = set(zip(res.left_out_record.tolist(), res.left_out_value.tolist(), strict=True))
        ok &= np.array(
            [(r, v) not in left for r, v in zip(rec.tolist(), val.tolist(), strict=True)]
        )
    explicit = g.link_explicit if g.link_explicit is not None else np.zeros(len(rec), bool)
    # alias links rank above every type
    rank = np.where(explicit, -1, g.value_type[val])
    best = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(best, rec[ok], rank[ok])
    chosen = np.full(n, -1, np.int64)
    pick = ok & (rank == best[rec])
    chosen[rec[pick]] = val[pick]
    sizes = np.bincount(res.profile, minlength=n)
    ids = p.values.column("value").to_pylist()
    how: list[str] = []
    kinds: list[str | None] = []
    shown: list[str | None] = []
    for r in range(n):
        v = int(chosen[r])
        if v < 0:
            how.append("self" if sizes[res.profile[r]] <= 1 else "anchor")
            kinds.append(None)
            shown.append(None)
            continue
        kind = p.type_names[int(g.value_type[v])]
        how.append("match" if kind == MATCH_LINK else ("alias" if best[r] == -1 else "identifier"))
        kinds.append(kind)
        shown.append(ids[v])
    return how, kinds, shown


def resolve_identities(
    store: Store,
    rules: IdentityRules | None = None,
    *,
    full: bool = False,
    touched: pa.Table | None = None,
) -> ResolveReport:
    """Bring the identity graph up to date; returns what changed.

    ``full`` rebuilds everything from the raw log; otherwise only new or changed messages (and the
    ``touched`` records, e.g. after a review decision) and the components they reach are resolved.
    """
    store.analyze(*_READ)
    try:
        return _resolve(store, rules, full=full, touched=touched)
    finally:
        store.drop_temporaries()


def _resolve(
    store: Store, rules: IdentityRules | None, *, full: bool, touched: pa.Table | None
) -> ResolveReport:
    started = time.perf_counter()
    rules = rules or load_rules(store)
    scope_of = _Scope(store, rules)
    has_graph = int(store.scalar(store.table("identity_records").count())) > 0
    settings = store.table("identity_settings")
    built_with = store.to_arrow(settings.filter(settings.name == "graph").select("fingerprint"))
    if built_with.num_rows and built_with.column(0)[0].as_py() != rules.fingerprint():
        full = True  # the rules changed since the graph was built: every link may change
    report = ResolveReport(run_id=new_id(), mode="full" if full or not has_graph else "incremental")
    scope: pa.Table | None = None
    old_components = None
    if report.mode == "incremental":
        scope, old_components, messages = scope_of.changed(touched)
        if not scope.num_rows:
            report.seconds = round(time.perf_counter() - started, 3)
            return report
    else:
        messages = store.to_arrow(store.table("events").select("message_id", "payload_hash"))

    records, links, matches, never = _load(store, rules, scope)
    hubs = None
    if report.mode == "incremental":
        known = store.table("identities")
        hubs = store.to_arrow(known.filter(known.status == "hub").select("id_type", "value"))
    prepared = _prepare(rules, records, links, matches, never, hubs)
    res = resolve_graph(prepared.graph)
    old = (
        store.to_arrow(
            store.table("identity_records")
            .semi_join(store.temporary(records.select(_KEY)), _KEY)
            .select(*_KEY, "profile_id")
        )
        if has_graph
        else None
    )
    outputs = _outputs(store, rules, prepared, res)
    with store.transaction():
        if report.mode == "full":
            for table in (
                "identity_records",
                "identities",
                "identity_conflicts",
                "identity_messages",
            ):
                store.replace_rows(table, None, all_rows=True)
        else:
            assert old_components is not None and scope is not None
            store.replace_rows("identity_records", None, match=scope)
            store.replace_rows("identities", None, match=old_components)
            store.replace_rows("identity_conflicts", None, match=old_components)
            store.replace_rows(
                "identities", None, match=outputs["identities"].select(["id_type", "value"])
            )
            store.replace_rows("identity_messages", None, match=messages.select(["message_id"]))
        store.replace_rows("identity_records", outputs["identity_records"])
        store.replace_rows("identities", outputs["identities"])
        store.replace_rows("identity_conflicts", outputs["identity_conflicts"])
        store.replace_rows("identity_messages", messages.select(["message_id", "payload_hash"]))
        log = _changes(report.run_id, old, outputs["identity_records"])
        store.replace_rows("merges", log)
        store.upsert(
            "identity_settings",
            {"name": "graph", "fingerprint": rules.fingerprint(), "updated_at": _now()},
            key=["name"],
        )
    touched = [outputs["identity_records"].select(["profile_id"])]
    if old is not None:
        touched.append(old.select(["profile_id"]).cast(touched[0].schema))
    report.profile_ids = pa.concat_tables(touched).group_by("profile_id").aggregate([])
    report.records = records.num_rows
    report.links = len(prepared.link_record)
    report.profiles = len(np.unique(res.profile))
    report.hubs = int((res.value_status == HUB).sum())
    report.blocked_values = int((res.value_status == BLOCKED).sum())
    report.left_out_links = len(res.left_out_record)
    report.conflicted_components = res.conflicted_components
    if log is not None and log.num_rows:
        kinds = log.column("kind").to_pylist()
        report.merges, report.splits = kinds.count("merge"), kinds.count("split")
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _outputs(
    store: Store, rules: IdentityRules, p: _Prepared, res: Resolution
) -> dict[str, pa.Table]:
    records = p.records
    n = records.num_rows
    sources = records.column("source").to_pylist()
    keys = records.column("record_key").to_pylist()
    anchors = np.unique(np.concatenate([res.profile, res.component]))
    pid = dict(
        zip(
            anchors.tolist(),
            _hash_ids("prf_", [sources[a] for a in anchors], [keys[a] for a in anchors]),
            strict=True,
        )
    )
    cid = {a: "cmp_" + h[4:] for a, h in pid.items()}
    profile_ids = [pid[a] for a in res.profile.tolist()]
    component_ids = [cid[a] for a in res.component.tolist()]
    how, kinds, shown = _linked_by(p, res)
    now = _now()
    identity_records = pa.table(
        {
            "source": records.column("source"),
            "record_key": records.column("record_key"),
            "profile_id": pa.array(profile_ids, pa.string()),
            "component_id": pa.array(component_ids, pa.string()),
            "linked_by": pa.array(how, pa.string()),
            "link_type": pa.array(kinds, pa.string()),
            "link_value": pa.array(shown, pa.string()),
            "first_seen": records.column("first_seen"),
            "last_seen": records.column("last_seen"),
            "resolved_at": pa.array([now] * n, _TS),
        }
    )
    values = p.values
    status_names = {LINKED: "linked", HUB: "hub", BLOCKED: "blocked"}
    keep = np.flatnonzero(
        (res.value_status > 0)
        & (values.column("id_type").to_numpy(zero_copy_only=False) != MATCH_LINK)
    )
    holder = res.value_profile[keep]
    # a value's component: that of its first record
    first_rec = np.full(len(res.value_status), -1, np.int64)
    order = np.argsort(p.link_value, kind="stable")
    first_rec[p.link_value[order][::-1]] = p.link_record[order][::-1]
    left_count = np.bincount(res.left_out_value, minlength=len(res.value_status))
    detail: list[str | None] = []
    for v, s in zip(keep.tolist(), res.value_status[keep].tolist(), strict=True):
        if s == HUB:
            detail.append(
                f"hub: carried by {int(res.value_records[v])} records of different people"
            )
        elif s == BLOCKED:
            detail.append("blocked value")
        elif left_count[v]:
            detail.append(f"left out on {int(left_count[v])} records by a limit or an override")
        else:
            detail.append(None)
    sub = values.take(pa.array(keep))
    identities = pa.table(
        {
            "id_type": sub.column("id_type"),
            "value": sub.column("value"),
            "profile_id": pa.array(
                [pid[h] if h >= 0 else None for h in holder.tolist()], pa.string()
            ),
            "component_id": pa.array(
                [
                    cid[int(res.component[first_rec[v]])] if s == LINKED else None
                    for v, s in zip(keep.tolist(), res.value_status[keep].tolist(), strict=True)
                ],
                pa.string(),
            ),
            "status": pa.array(
                [status_names[s] for s in res.value_status[keep].tolist()], pa.string()
            ),
            "source": sub.column("first_source"),
            "records": pa.array(res.value_records[keep], pa.int64()),
            "first_seen": sub.column("first_seen"),
            "last_seen": sub.column("last_seen"),
            "detail": pa.array(detail, pa.string()),
        }
    )
    identities = _hub_totals(store, identities)
    lr, lv = res.left_out_record, res.left_out_value
    type_of = values.column("id_type").to_pylist()
    value_of = values.column("value").to_pylist()
    reasons = []
    for reason in res.left_out_reason:
        if reason.startswith("limit:"):
            kind = rules.ordered_types()[int(reason[6:])]
            reasons.append(f"limit: a profile holds at most {kind.limit} {kind.name} value(s)")
        else:
            reasons.append("never the same: a person said these records are different people")
    conflicts = pa.table(
        {
            "component_id": pa.array([component_ids[r] for r in lr.tolist()], pa.string()),
            "source": pa.array([sources[r] for r in lr.tolist()], pa.string()),
            "record_key": pa.array([keys[r] for r in lr.tolist()], pa.string()),
            "profile_id": pa.array([profile_ids[r] for r in lr.tolist()], pa.string()),
            "id_type": pa.array([type_of[v] for v in lv.tolist()], pa.string()),
            "value": pa.array([value_of[v] for v in lv.tolist()], pa.string()),
            "held_by": pa.array(
                [pid.get(int(res.value_profile[v])) for v in lv.tolist()], pa.string()
            ),
            "reason": pa.array(reasons, pa.string()),
        }
    )
    return {
        "identity_records": identity_records,
        "identities": identities,
        "identity_conflicts": conflicts,
    }


def _hub_totals(store: Store, identities: pa.Table) -> pa.Table:
    """Hubs and blocked values span many components: count their records over the whole store."""
    is_hub = pc.is_in(identities.column("status"), pa.array(["hub", "blocked"]))
    if not pc.any(is_hub).as_py():
        return identities
    hubs = identities.filter(is_hub).select(["id_type", "value"])
    ids = store.table("observed_identifiers")
    totals = store.to_arrow(
        ids.filter(ids.is_valid.fill_null(False))
        .semi_join(store.temporary(hubs), ["id_type", "value"])
        .group_by(["id_type", "value"])
        .aggregate(
            total=ids.record_key.nunique(),
            first=ids.observed_at.min(),
            last=ids.observed_at.max(),
        )
    )
    rest = identities.filter(pc.invert(is_hub))
    hub_rows = identities.filter(is_hub).join(
        totals, ["id_type", "value"], join_type="left outer", use_threads=False
    )
    columns = []
    for name in identities.column_names:
        column = hub_rows.column(name)
        extra = {"records": "total", "first_seen": "first", "last_seen": "last"}.get(name)
        if extra is not None:
            column = pc.coalesce(hub_rows.column(extra).cast(column.type), column)
        columns.append(column)
    hub_rows = pa.table(columns, names=identities.column_names)
    return pa.concat_tables([rest, hub_rows.cast(identities.schema)])


def _changes(run_id: str, old: pa.Table | None, new: pa.Table) -> pa.Table | None:
    """Merge and split events: where records' profiles changed since the last run."""
    if old is None or not old.num_rows:
        return None
    joined = old.rename_columns(["source", "record_key", "old"]).join(
        new.select(["source", "record_key", "profile_id", "linked_by", "link_type", "link_value"]),
        _KEY,
        use_threads=False,
    )
    pairs = joined.group_by(["old", "profile_id"], use_threads=False).aggregate(
        [
            ("record_key", "count"),
            ("link_type", "first"),
            ("link_value", "first"),
            ("linked_by", "first"),
        ]
    )
    olds = pairs.column("old").to_pylist()
    news = pairs.column("profile_id").to_pylist()
    counts = pairs.column("record_key_count").to_pylist()
    via = pairs.column("link_type_first").to_pylist()
    shown = pairs.column("link_value_first").to_pylist()
    how = pairs.column("linked_by_first").to_pylist()
    from collections import Counter

    sources_of_new = Counter(news)
    targets_of_old = Counter(olds)
    rows: list[dict[str, Any]] = []
    now = _now()
    for o, nw, c, t, v, h in zip(olds, news, counts, via, shown, how, strict=True):
        if o == nw:
            continue
        if sources_of_new[nw] > 1:
            kind = "merge"
        elif targets_of_old[o] > 1:
            kind = "split"
        else:
            kind = "rename"  # an older record joined: the profile takes its id
        rows.append(
            {
                "merge_id": new_id(),
                "run_id": run_id,
                "kind": kind,
                "profile_id": nw,
                "other_profile_id": o,
                "rule": h if kind == "merge" else "re-resolution",
                "score": None,
                "evidence": {"records": c, "via": {"type": t, "value": v}},
                "created_at": now,
                "created_by": "identity run",
            }
        )
    return pa.Table.from_pylist(rows) if rows else None
