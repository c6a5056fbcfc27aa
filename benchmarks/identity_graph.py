"""Identity graph: 10,000,000 identifier links over 5,000,000 people, against scipy's components.

Run: .venv/bin/python benchmarks/identity_graph.py [--people 5000000] [--links 10000000]

It generates a seeded graph (records of people carrying user ids, e-mails, phones and anonymous
ids; 1% of people share a family e-mail with someone who has another user id; 20 junk hub values
such as a shop's e-mail, each on 5,000 records of different people), saves the links, then, each in
a process of its own so peak memory is measured per run:
  scipy    ``scipy.sparse.csgraph.connected_components`` on the same bipartite record–value edges
           (build the sparse matrix, label the components): the floor, with no rules at all;
  profilo  ``resolve_graph``: hubs found and left out, components, limits and priorities checked,
           conflicting components resolved link by link;
  incremental  10,000 new links (new records of existing and new people) on the resolved graph:
           find the components they reach through the graph's indexes and resolve only those.
It prints time, peak memory (resident set size of the process) and the ratio (goal: ≤ 2× scipy),
and checks that the hubs glued nobody together.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# type codes: user_id (limit 1), email (5), phone (3), anonymous_id (unlimited)
LIMITS = np.array([1, 5, 3, -1], np.int64)
HUBS = 20
HUB_RECORDS = 5_000


def generate(people: int, links: int, out: Path, seed: int = 11) -> None:
    rng = np.random.default_rng(seed)
    # records: every person has at least one; extra records drawn at random
    per_link = 1.5
    n_records = int(links / per_link)
    owner = np.concatenate([np.arange(people), rng.integers(0, people, n_records - people)])
    owner.sort(kind="stable")
    rng.shuffle(owner)  # record order is the age order: mix people through time
    # each record carries 1 or 2 of its owner's identifiers (value id = person * 4 + type)
    n_first = n_records
    n_second = links - n_first - HUBS * HUB_RECORDS
    first_type = rng.choice(4, n_first, p=[0.3, 0.35, 0.15, 0.2])
    second_rec = rng.choice(n_records, n_second, replace=False)
    second_type = (first_type[second_rec] + rng.integers(1, 4, n_second)) % 4
    rec = np.concatenate([np.arange(n_records), second_rec])
    typ = np.concatenate([first_type, second_type])
    val = owner[rec] * 4 + typ
    # 1% of people share a family e-mail with another person (who has another user id)
    family = rng.choice(people, people // 100, replace=False)
    partner = rng.integers(0, people, len(family))
    is_fam = np.isin(owner[rec], family) & (typ == 1)
    lookup = np.full(people, -1, np.int64)
    lookup[family] = partner
    val[is_fam] = lookup[owner[rec[is_fam]]] * 4 + 1
    # junk hubs: values after the people's, each on 5,000 records of different people
    hub_rec = rng.choice(n_records, HUBS * HUB_RECORDS, replace=False)
    hub_val = people * 4 + np.repeat(np.arange(HUBS), HUB_RECORDS)
    rec = np.concatenate([rec, hub_rec])
    val = np.concatenate([val, hub_val])
    value_type = np.concatenate([np.tile(np.arange(4), people), np.full(HUBS, 1)])
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "rec.npy", rec.astype(np.int64))
    np.save(out / "val.npy", val.astype(np.int64))
    np.save(out / "value_type.npy", value_type.astype(np.int64))
    np.save(out / "owner.npy", owner.astype(np.int64))
    # the change: 10,000 links of 5,000 new records (of existing people, and a few new ones)
    new_n = 5_000
    new_owner = rng.integers(0, people, new_n)
    new_rec = np.repeat(np.arange(n_records, n_records + new_n), 2)
    new_val = np.repeat(new_owner, 2) * 4 + np.tile([1, 3], new_n)
    np.save(out / "new_rec.npy", new_rec.astype(np.int64))
    np.save(out / "new_val.npy", new_val.astype(np.int64))
    (out / "meta.json").write_text(json.dumps({"records": n_records, "people": people}))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_scipy(data: Path) -> dict[str, float]:
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    rec, val = np.load(data / "rec.npy"), np.load(data / "val.npy")
    meta = json.loads((data / "meta.json").read_text())
    n, nv = meta["records"], len(np.load(data / "value_type.npy"))
    loaded = _peak_mb()
    started = time.perf_counter()
    size = n + nv
    graph = sp.coo_matrix((np.ones(len(rec), np.int8), (rec, val + n)), shape=(size, size)).tocsr()
    count, _labels = connected_components(graph, directed=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mb": _peak_mb(), "input_mb": loaded, "components": count}


def run_profilo(data: Path) -> dict[str, float]:
    from profilo.identity.graph import HUB, GraphInput, resolve_graph

    rec, val = np.load(data / "rec.npy"), np.load(data / "val.npy")
    value_type = np.load(data / "value_type.npy")
    owner = np.load(data / "owner.npy")
    meta = json.loads((data / "meta.json").read_text())
    n = meta["records"]
    loaded = _peak_mb()
    started = time.perf_counter()
    res = resolve_graph(GraphInput(n, rec, val, value_type, LIMITS, hub_threshold=10))
    seconds = time.perf_counter() - started
    # quality: how many profiles mix people (family e-mails must not, hubs must not)
    mixed = _mixed_profiles(res.profile, owner)
    hubs = int((res.value_status == HUB).sum())
    return {
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "input_mb": loaded,
        "profiles": len(np.unique(res.profile)),
        "hubs_found": hubs,
        "max_people_in_a_profile": mixed,
        "conflicted_components": res.conflicted_components,
        "left_out_links": len(res.left_out_record),
    }


def _mixed_profiles(profile: np.ndarray, owner: np.ndarray) -> int:
    """The most people found in one profile (shared family e-mails give 2 or 3; a hub, thousands)."""
    pairs = np.unique(np.stack([profile, owner]), axis=1)
    return int(np.bincount(pairs[0]).max())


def run_incremental(data: Path) -> dict[str, float]:
    from profilo.identity.graph import GraphInput, resolve_graph

    rec, val = np.load(data / "rec.npy"), np.load(data / "val.npy")
    value_type = np.load(data / "value_type.npy")
    meta = json.loads((data / "meta.json").read_text())
    n = meta["records"]
    res = resolve_graph(GraphInput(n, rec, val, value_type, LIMITS, hub_threshold=10))
    # the graph's indexes, as the store keeps them (identities by value, records by component)
    by_value = np.argsort(val, kind="stable")
    value_start = np.searchsorted(val[by_value], np.arange(len(value_type) + 1))
    by_comp = np.argsort(res.component, kind="stable")
    comp_start = np.searchsorted(res.component[by_comp], np.arange(n + 1))
    by_rec = np.argsort(rec, kind="stable")
    rec_start = np.searchsorted(rec[by_rec], np.arange(n + 1))
    hubs = res.value_status == 2
    new_rec, new_val = np.load(data / "new_rec.npy"), np.load(data / "new_val.npy")
    started = time.perf_counter()
    touched = np.unique(new_val[~hubs[new_val]])
    carriers = np.concatenate(
        [by_value[value_start[v] : value_start[v + 1]] for v in touched.tolist()]
    )
    comps = np.unique(res.component[rec[carriers]])
    scope = np.concatenate([by_comp[comp_start[c] : comp_start[c + 1]] for c in comps.tolist()])
    scope.sort()
    old_links = np.concatenate([by_rec[rec_start[r] : rec_start[r + 1]] for r in scope.tolist()])
    # renumber the scope (oldest first) and its values, then resolve only that
    sub_rec = np.concatenate([rec[old_links], new_rec])
    sub_val = np.concatenate([val[old_links], new_val])
    records, local_rec = np.unique(sub_rec, return_inverse=True)
    values, local_val = np.unique(sub_val, return_inverse=True)
    sub = resolve_graph(
        GraphInput(
            len(records),
            local_rec.astype(np.int64),
            local_val.astype(np.int64),
            value_type[values],
            LIMITS,
            hub_threshold=10,
            known_hubs=hubs[values],
        )
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "new_links": len(new_rec),
        "records_resolved": len(records),
        "profiles_after": len(np.unique(sub.profile)),
    }


def _child(kind: str, data: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--run", kind, "--workdir", str(data)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5_000_000)
    parser.add_argument("--links", type=int, default=10_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/profilo-bench-graph"))
    parser.add_argument("--run", choices=["scipy", "profilo", "incremental"])
    args = parser.parse_args()
    if args.run:
        runner = {"scipy": run_scipy, "profilo": run_profilo, "incremental": run_incremental}
        print(json.dumps(runner[args.run](args.workdir)))
        return
    started = time.perf_counter()
    generate(args.people, args.links, args.workdir)
    links = len(np.load(args.workdir / "rec.npy"))
    print(
        f"generated {links:,} links over {args.people:,} people in {time.perf_counter() - started:.1f} s"
    )
    scipy_result = _child("scipy", args.workdir)
    profilo_result = _child("profilo", args.workdir)
    incremental = _child("incremental", args.workdir)
    print(f"{'':12} {'seconds':>8} {'peak MB':>8} {'input MB':>8}")
    for name, r in (("scipy", scipy_result), ("profilo", profilo_result)):
        print(f"{name:12} {r['seconds']:8.2f} {r['peak_mb']:8.0f} {r['input_mb']:8.0f}")
    ratio = profilo_result["seconds"] / scipy_result["seconds"]
    print(f"time ratio profilo / scipy: {ratio:.2f} (goal ≤ 2)")
    print(
        f"profiles {profilo_result['profiles']:,}; hubs found {profilo_result['hubs_found']}"
        f" (planted {HUBS}); most people in one profile {profilo_result['max_people_in_a_profile']};"
        f" conflicted components {profilo_result['conflicted_components']:,};"
        f" links left out {profilo_result['left_out_links']:,}"
    )
    print(
        f"incremental: {incremental['new_links']:,} new links, {incremental['records_resolved']:,}"
        f" records resolved again in {incremental['seconds']:.3f} s"
    )


if __name__ == "__main__":
    main()
