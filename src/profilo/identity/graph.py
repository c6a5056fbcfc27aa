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


def _hubs(g: GraphInput, link_ok: BoolArray, counts: IntArray) -> tuple[BoolArray, IntArray]:
    """Find hub values; returns (hub mask, component labels of the graph without hubs)."""
    n = g.n_records
    candidate = counts > g.hub_threshold
    if g.known_hubs is not None:
        candidate |= g.known_hubs
    is_cand_link = candidate[g.link_value] & link_ok
    plain = link_ok & ~is_cand_link
    labels = connected_components(n + g.n_values, g.link_record[plain], g.link_value[plain] + n)
    hub = np.zeros(g.n_values, np.bool_)
    if not is_cand_link.any():
        return hub, labels
    # Components that hold a limited identifier of their own: a "known person".
    limited = g.type_limit[g.value_type] >= 0
    used_plain = np.zeros(g.n_values, np.bool_)
    used_plain[g.link_value[plain]] = True
    known = np.zeros(n + g.n_values, np.bool_)
    known[labels[np.flatnonzero(limited & used_plain) + n]] = True
    cand_rec = g.link_record[is_cand_link]
    cand_val = g.link_value[is_cand_link]
    comp = labels[cand_rec]
    keep = known[comp]
    pairs = np.unique(np.stack([cand_val[keep], comp[keep]]), axis=1)
    people = np.bincount(pairs[0], minlength=g.n_values) if pairs.size else np.zeros(g.n_values)
    hub = candidate & (people > g.hub_threshold)
    if g.known_hubs is not None:
        hub |= g.known_hubs
    back = is_cand_link & ~hub[g.link_value]
    labels = connected_components(
        n + g.n_values, g.link_record[back], g.link_value[back] + n, parent=labels
    )
    return hub, labels


def resolve_graph(g: GraphInput) -> Resolution:
    """Resolve records into profiles (see the module's description of the three steps)."""
    n = g.n_records
    nv = g.n_values
    link_ok = np.ones(len(g.link_record), np.bool_)
    if g.blocked is not None and g.blocked.any():
        link_ok &= ~g.blocked[g.link_value]
    counts = np.bincount(g.link_value[link_ok], minlength=nv).astype(np.int64)
    hub, labels = _hubs(g, link_ok, counts)
    link_ok &= ~hub[g.link_value]
    component = labels[:n]

    status = np.full(nv, UNUSED, np.int8)
    status[counts > 0] = LINKED
    status[hub] = HUB
    if g.blocked is not None:
        status[g.blocked] = BLOCKED
    value_profile = np.where(status == LINKED, labels[n:], -1)

    # Which components break a limit (or hold a pair that must stay apart)?
    bad = np.zeros(n, np.bool_)
    linked_values = np.flatnonzero(status == LINKED)
    limits = g.type_limit[g.value_type[linked_values]]
    limited = limits >= 0
    for code in np.unique(g.value_type[linked_values[limited]]):
        of_type = linked_values[g.value_type[linked_values] == code]
        per_comp = np.bincount(labels[of_type + n], minlength=n + nv)[:n]
        bad |= per_comp > g.type_limit[code]
    if g.never_same is not None and len(g.never_same[0]):
        a, b = g.never_same
        same = component[a] == component[b]
        bad[component[a[same]]] = True

    profile = component.copy()
    result = Resolution(
        profile=profile,
        component=component,
        value_status=status,
        value_profile=value_profile,
        value_records=np.bincount(g.link_value, minlength=nv).astype(np.int64),
    )
    if bad.any():
        _resolve_conflicts(g, link_ok, bad, result)
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
