"""The in-memory identity graph: components, limits and priorities, hubs, aliases, never-same."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from profilo.identity.graph import BLOCKED, HUB, GraphInput, connected_components, resolve_graph

# type codes: 0 user_id (limit 1), 1 email (limit 2), 2 anonymous_id (unlimited)
LIMITS = np.array([1, 2, -1])


def graph(links: list[tuple[int, int]], types: list[int], n: int, **kw: object) -> GraphInput:
    rec = np.array([r for r, _ in links], np.int64)
    val = np.array([v for _, v in links], np.int64)
    return GraphInput(n, rec, val, np.array(types, np.int64), LIMITS, **kw)  # type: ignore[arg-type]


def test_components_label_with_smallest_node() -> None:
    labels = connected_components(6, np.array([5, 1, 3]), np.array([4, 4, 2]))
    assert labels.tolist() == [0, 1, 2, 2, 1, 1]


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=80))
@settings(max_examples=60, deadline=None)
def test_components_agree_with_a_plain_union_find(edges: list[tuple[int, int]]) -> None:
    n = 41
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    u = np.array([a for a, _ in edges], np.int64)
    v = np.array([b for _, b in edges], np.int64)
    assert connected_components(n, u, v).tolist() == [find(x) for x in range(n)]


def test_conflicting_user_ids_never_merge() -> None:
    # r0 {u1, e}, r1 {u2, e}, r2 {e}: e joins r2 to the oldest, r1 keeps u2 alone
    res = resolve_graph(graph([(0, 0), (0, 2), (1, 1), (1, 2), (2, 2)], [0, 0, 1], 3))
    assert res.profile.tolist() == [0, 1, 0]
    assert res.left_out_record.tolist() == [1] and res.left_out_value.tolist() == [2]
    assert res.value_profile.tolist() == [0, 1, 0]


def test_stronger_identifier_wins_the_conflict() -> None:
    # r0 {u1, e1}, r1 {u1, e2}, r2 {e1, e2}... with email limit 2 all fit; add r3 {u2, e1}
    res = resolve_graph(
        graph([(0, 0), (0, 2), (1, 0), (1, 3), (2, 2), (3, 1), (3, 2)], [0, 0, 1, 1], 4)
    )
    assert res.profile.tolist() == [0, 0, 0, 3]


def test_limits_hold_for_lower_priority_types_too() -> None:
    # three records, each with its own e-mail, share one anonymous id: e-mail limit 2 stops the third
    res = resolve_graph(graph([(0, 0), (1, 1), (2, 2), (0, 3), (1, 3), (2, 3)], [1, 1, 1, 2], 3))
    assert res.profile.tolist() == [0, 0, 2]


def test_blocked_values_never_join() -> None:
    blocked = np.array([True])
    res = resolve_graph(graph([(0, 0), (1, 0)], [1], 2, blocked=blocked))
    assert res.profile.tolist() == [0, 1]
    assert res.value_status.tolist() == [BLOCKED]


def test_hub_value_is_flagged_and_left_out() -> None:
    # 12 people, each with a user id, all share value 12 (a shop e-mail); hub threshold 10
    links = [(i, i) for i in range(12)] + [(i, 12) for i in range(12)]
    res = resolve_graph(graph(links, [0] * 12 + [1], 12, hub_threshold=10))
    assert res.value_status[12] == HUB
    assert len(set(res.profile.tolist())) == 12
    # below the threshold the limit still keeps them apart, without calling it a hub
    res = resolve_graph(graph(links[:6] + links[12:18], [0] * 6 + [1] * 7, 6, hub_threshold=10))
    assert res.value_status[12] != HUB
    assert len(set(res.profile.tolist())) == 6


def test_explicit_alias_joins_past_the_limit() -> None:
    # r0 {u1}, r1 {u2} and an alias record r2 {u2, previous u1}
    links = [(0, 0), (1, 1), (2, 1), (2, 0)]
    explicit = np.array([False, False, False, True])
    res = resolve_graph(graph(links, [0, 0], 3, link_explicit=explicit))
    assert res.profile.tolist() == [0, 0, 0]
    assert len(res.left_out_record) == 0


def test_never_same_pairs_stay_apart() -> None:
    apart = (np.array([0]), np.array([1]))
    res = resolve_graph(graph([(0, 2), (1, 2), (2, 2)], [2, 2, 2], 3, never_same=apart))
    assert res.profile[0] != res.profile[1]
    assert res.profile[2] == res.profile[0]
