"""The identity graph in memory: records joined by shared identifier values, under limits.

Everything here works on integer arrays, so millions of links resolve in seconds:

* records are numbered ``0..n_records-1`` **oldest first**, so the smallest record of a profile is
  its oldest one and names the profile (stable across rebuilds);
* values are numbered ``0..n_values-1``; each value has a type code, and type codes are ordered
  strongest first (see :meth:`IdentityRules.ordered_types`);
* a link says "this record carries this value".

Resolution has three steps:

1. **Hubs.** Values carried by more than ``hub_threshold`` records are candidates. The graph is first
   joined without them; a candidate whose records fall into more than ``hub_threshold`` different
   components that hold a limited identifier is a hub and never joins. The others are added back.
2. **Components.** Connected components of the bipartite record–value graph (vectorised
   hook-and-compress). A component where no limit is exceeded and no "never the same" pair meets
   is one profile: every merge inside it is allowed, whatever the order.
3. **Conflicts.** The few components that break a limit are resolved link by link, the way
   Segment does it: explicit aliases first, then values type by type strongest first, each value in
   the order it was first seen. A merge that would give a profile more values of a type than its
   limit allows (and more than either side already had) is not made; the link is left out and
   recorded, and the value stays with the profile of its oldest record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "HUB",
    "LINKED",
    "UNUSED",
    "GraphInput",
    "Resolution",
    "connected_components",
    "resolve_graph",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

UNUSED, LINKED, HUB, BLOCKED = 0, 1, 2, 3
"""Status of a value after resolution."""


@dataclass
class GraphInput:
    """Links between records and values, with what resolution needs to know about each value."""

    n_records: int
    link_record: IntArray
    link_value: IntArray
    value_type: IntArray
    """Type code per value (0 is the strongest type)."""
    type_limit: IntArray
    """Limit per type code; -1 for unlimited."""
    hub_threshold: int = 10
    value_order: IntArray | None = None
    """Processing rank per value (first seen first); defaults to the value number."""
    link_explicit: BoolArray | None = None
    """Links that join unconditionally (alias messages)."""
    blocked: BoolArray | None = None
    """Values that never join (blocklist)."""
    known_hubs: BoolArray | None = None
    """Values already known to be hubs (kept so by an incremental run)."""
    never_same: tuple[IntArray, IntArray] | None = None
    """Pairs of records that must end in different profiles."""

    @property
    def n_values(self) -> int:
        return len(self.value_type)


@dataclass
class Resolution:
    """Where every record and value ended up."""

    profile: IntArray
    """Per record: its profile, named by the profile's oldest record."""
    component: IntArray
    """Per record: its component before limits (the records any shared value reaches)."""
    value_status: npt.NDArray[np.int8]
    value_profile: IntArray
    """Per value: the profile holding it (-1 for unused, hub and blocked values)."""
    value_records: IntArray
    """Per value: how many records carry it."""
    left_out_record: IntArray = field(default_factory=lambda: np.empty(0, np.int64))
    left_out_value: IntArray = field(default_factory=lambda: np.empty(0, np.int64))
    left_out_reason: list[str] = field(default_factory=list)
    conflicted_components: int = 0


def connected_components(
    n: int, u: IntArray, v: IntArray, parent: IntArray | None = None
) -> IntArray:
    """Label each node ``0..n-1`` with the smallest node of its component.

    Hook-and-compress: each round hooks the larger root of every edge under the smaller one, then
    jumps pointers until every node points at its root; edges inside one component drop out.
    ``parent`` continues from an earlier labelling (each node must point at its root).

    >>> connected_components(5, np.array([0, 3]), np.array([2, 4])).tolist()
    [0, 1, 0, 3, 3]
    """
    labels = np.arange(n, dtype=np.int64) if parent is None else parent.copy()
    while len(u):
        lu, lv = labels[u], labels[v]
        differ = lu != lv
        if not differ.all():
            u, v, lu, lv = u[differ], v[differ], lu[differ], lv[differ]
            if not len(u):
                break
        np.minimum.at(labels, np.maximum(lu, lv), np.minimum(lu, lv))
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
    return labels


def _join_records(
    n: int, rec: IntArray, val: IntArray, n_values: int, labels: IntArray | None = None
) -> IntArray:
    """Per-record labels (the smallest record of each component) once ``rec`` and ``val`` link.

    Only the records and values on the links take part (renumbered densely), so the work follows
    the links, not the size of the whole graph. ``labels`` continues an earlier labelling.
    """
    base = np.arange(n, dtype=np.int64) if labels is None else labels
    if not len(rec):
        return base.copy()
    roots = base[rec]
    on_rec = np.zeros(n, np.bool_)
    on_rec[roots] = True
    rec_ids = np.flatnonzero(on_rec)
    rec_pos = np.empty(n, np.int64)
    rec_pos[rec_ids] = np.arange(len(rec_ids))
    on_val = np.zeros(n_values, np.bool_)
    on_val[val] = True
    val_ids = np.flatnonzero(on_val)
    val_pos = np.empty(n_values, np.int64)
    val_pos[val_ids] = np.arange(len(val_ids))
    k = len(rec_ids)
    dense = connected_components(k + len(val_ids), rec_pos[roots], k + val_pos[val])
    root = np.arange(n, dtype=np.int64)
    root[rec_ids] = rec_ids[dense[:k]]
    return root[base]


def resolve_graph(g: GraphInput) -> Resolution:
    """Resolve records into profiles (see the module's description of the three steps)."""
    n, nv = g.n_records, g.n_values
    rec, val = g.link_record, g.link_value
    carried = np.bincount(val, minlength=nv).astype(np.int64)
    ok = np.ones(len(rec), np.bool_)
    counts = carried
    if g.blocked is not None and g.blocked.any():
        ok &= ~g.blocked[val]
        counts = np.bincount(val[ok], minlength=nv).astype(np.int64)
    # 1. hubs: join without the candidates, count the known people each candidate reaches
    candidate = counts > g.hub_threshold
    if g.known_hubs is not None:
        candidate |= g.known_hubs
    shared = ok & (counts[val] >= 2)
    cand_link = ok & candidate[val]
    plain = shared & ~cand_link
    labels = _join_records(n, rec[plain], val[plain], nv)
    hub = np.zeros(nv, np.bool_)
    if cand_link.any():
        limited_link = ok & ~cand_link & (g.type_limit[g.value_type[val]] >= 0)
        known = np.zeros(n, np.bool_)
        known[labels[rec[limited_link]]] = True
        cand_val, cand_comp = val[cand_link], labels[rec[cand_link]]
        keep = known[cand_comp]
        pairs = np.unique(cand_val[keep] * n + cand_comp[keep])
        people = np.bincount(pairs // n, minlength=nv) if len(pairs) else np.zeros(nv, np.int64)
        hub = candidate & (people > g.hub_threshold)
        if g.known_hubs is not None:
            hub |= g.known_hubs
        back = cand_link & ~hub[val]
        labels = _join_records(n, rec[back], val[back], nv, labels)
    ok &= ~hub[val]
    # 2. components: each linked value belongs to the component of its records
    value_profile = np.full(nv, -1, np.int64)
    value_profile[val[ok]] = labels[rec[ok]]
    status = np.full(nv, UNUSED, np.int8)
    status[counts > 0] = LINKED
    status[hub] = HUB
    if g.blocked is not None:
        status[g.blocked] = BLOCKED
    value_profile[status != LINKED] = -1

    # which components of two or more records break a limit, or hold a pair kept apart?
    size = np.bincount(labels, minlength=n)
    types = len(g.type_limit)
    limited = np.flatnonzero((status == LINKED) & (g.type_limit[g.value_type] >= 0))
    limited = limited[size[value_profile[limited]] >= 2]
    per_key = np.bincount(
        value_profile[limited] * types + g.value_type[limited], minlength=n * types
    ).reshape(n, types)
    bad: BoolArray = np.asarray(
        (per_key > np.where(g.type_limit >= 0, g.type_limit, np.iinfo(np.int64).max)).any(axis=1)
    )
    if g.never_same is not None and len(g.never_same[0]):
        a, b = g.never_same
        same = labels[a] == labels[b]
        bad[labels[a[same]]] = True

    result = Resolution(
        profile=labels.copy(),
        component=labels,
        value_status=status,
        value_profile=value_profile,
        value_records=carried,
    )
    if bad.any():
        _resolve_conflicts(g, ok, bad, result)
    return result


def _resolve_conflicts(g: GraphInput, link_ok: BoolArray, bad: BoolArray, out: Resolution) -> None:
    """Link by link resolution of the components that break a limit (Segment's semantics)."""
    comp = out.component
    in_bad = link_ok & bad[comp[g.link_record]]
    rec = g.link_record[in_bad]
    val = g.link_value[in_bad]
    explicit = (
        g.link_explicit[in_bad] if g.link_explicit is not None else np.zeros(len(rec), np.bool_)
    )
    order_of = g.value_order if g.value_order is not None else np.arange(g.n_values)
    vtype = g.value_type[val]
    # explicit links first, then by type strength, first-seen order, value, record (oldest first)
    order = np.lexsort((rec, val, order_of[val], vtype, ~explicit))
    rec, val, explicit, vtype = rec[order], val[order], explicit[order], vtype[order]
    limits = g.type_limit.tolist()

    parent: dict[int, int] = {}
    holds: dict[int, dict[int, set[int]]] = {}
    members: dict[int, set[int]] = {}
    apart: dict[int, set[int]] = {}
    if g.never_same is not None:
        for a, b in zip(g.never_same[0].tolist(), g.never_same[1].tolist(), strict=True):
            apart.setdefault(a, set()).add(b)
            apart.setdefault(b, set()).add(a)
    # every record starts as its own profile holding its own limited values
    for r, v, t in zip(rec.tolist(), val.tolist(), vtype.tolist(), strict=True):
        if r not in parent:
            parent[r] = r
            members[r] = {r}
        if limits[t] >= 0:
            holds.setdefault(r, {}).setdefault(t, set()).add(v)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def refusal(a: int, b: int, upto: int, forced: bool) -> str | None:
        small, large = (a, b) if len(members[a]) <= len(members[b]) else (b, a)
        for r in members[small]:
            if apart.get(r) and apart[r] & members[large]:
                return "never_same"
        if forced:
            return None
        ha, hb = holds.get(a, {}), holds.get(b, {})
        for t in set(ha) | set(hb):
            if t > upto:
                continue
            sa, sb = ha.get(t, set()), hb.get(t, set())
            both = len(sa | sb)
            if both > limits[t] and both > max(len(sa), len(sb)):
                return f"limit:{t}"
        return None

    def union(a: int, b: int) -> int:
        keep, gone = (a, b) if a < b else (b, a)
        parent[gone] = keep
        members[keep] |= members.pop(gone)
        for t, values in holds.pop(gone, {}).items():
            holds.setdefault(keep, {}).setdefault(t, set()).update(values)
        return keep

    left_rec: list[int] = []
    left_val: list[int] = []
    reasons: list[str] = []
    start = 0
    total = len(rec)
    rec_l, val_l, exp_l, typ_l = rec.tolist(), val.tolist(), explicit.tolist(), vtype.tolist()
    carriers: dict[int, list[int]] = {}
    if explicit.any():
        aliased = set(val[explicit].tolist())
        for r, x, e in zip(rec_l, val_l, exp_l, strict=True):
            if x in aliased and not e:
                carriers.setdefault(x, []).append(r)
    while start < total:
        end = start
        v, forced = val_l[start], exp_l[start]
        while end < total and val_l[end] == v and exp_l[end] == forced:
            end += 1
        group = rec_l[start:end]
        if forced:
            # an alias joins every record carrying the value, explicit or not
            group = sorted(set(group) | set(carriers.get(v, ())))
        holder = find(group[0])
        refused: dict[int, str] = {}
        for r in group[1:]:
            root = find(r)
            if root == holder or root in refused:
                continue
            why = refusal(holder, root, typ_l[start], forced)
            if why is None:
                holder = union(holder, root)
            else:
                refused[root] = why
        for r in group:
            root = find(r)
            if root in refused and root != holder:
                left_rec.append(r)
                left_val.append(v)
                reasons.append(refused[root])
        out.value_profile[v] = holder
        start = end

    for r in list(parent):
        out.profile[r] = find(r)
    # a value's holder may have been merged under an older record later on
    touched = np.unique(val)
    out.value_profile[touched] = out.profile[out.value_profile[touched]]
    out.left_out_record = np.array(left_rec, np.int64)
    out.left_out_value = np.array(left_val, np.int64)
    out.left_out_reason = reasons
    out.conflicted_components = len(np.unique(comp[bad[comp]]))
