"""Exact policy-tree search: agrees with a brute-force enumeration of every tree of depth <= 2
on small problems (with leaf-size minimums and prices), codes features as ``policytree``
splits them, and meets capacities with shadow prices."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from impact.errors import DesignError
from impact.estimators.policy.tree import (PairHistograms, action_sizes, capacity_tree, code_features,
                                           tree_search)


def _leaf_value(G, size, mask, pen, min_leaf):
    if size[mask].sum() < min_leaf:
        return -np.inf
    return float((G[mask].sum(0) - pen * size[mask].sum()).max())


def _best_subtree(G, size, codes, mask, depth, pen, min_leaf):
    """Brute force: best priced reward of a tree of depth <= ``depth`` on the rows in ``mask``."""
    best = _leaf_value(G, size, mask, pen, min_leaf)
    if depth == 0:
        return best
    for j in range(codes.shape[1]):
        for t in np.unique(codes[mask, j])[:-1] if mask.any() else []:
            left = mask & (codes[:, j] <= t)
            right = mask & (codes[:, j] > t)
            v = (_best_subtree(G, size, codes, left, depth - 1, pen, min_leaf)
                 + _best_subtree(G, size, codes, right, depth - 1, pen, min_leaf))
            best = max(best, v)
    return best


def _tree_value(tree, G, size, codes, pen, min_leaf):
    leaf = tree.leaf_index(codes)
    acts = np.array([lf.action for lf in tree.leaves()])
    tot = 0.0
    for k, a in enumerate(acts):
        m = leaf == k
        assert size[m].sum() >= min_leaf - 1e-9  # every leaf meets the minimum
        tot += G[m, a].sum() - pen[a] * size[m].sum()
    return tot


def _problem(seed, n=None, p=3, A=3):
    rng = np.random.default_rng(seed)
    n = n or int(rng.integers(30, 160))
    levels = rng.integers(2, 7, p)
    x = np.column_stack([rng.integers(0, lv, n) * 1.5 + 10 for lv in levels])
    G = rng.normal(size=(n, A)) + rng.normal(size=A)
    # a planted rule, so that splits matter
    G[np.arange(n), (x[:, 0] > x[:, 0].mean()).astype(int) + (x[:, 1] > x[:, 1].mean())] += 1.0
    size = (rng.random(n) < 0.7).astype(float)  # e.g. participants count, controls do not
    pen = np.where(rng.random(A) < 0.5, 0.0, rng.random(A) * 0.8)
    return x, G, size, pen


@pytest.mark.parametrize("seed", range(40))
def test_exact_search_equals_brute_force(seed):
    x, G, size, pen = _problem(seed)
    f = code_features(x, ["a", "b", "c"])
    hist = PairHistograms.build(f.codes, f.levels, G, size)
    rng = np.random.default_rng(seed + 1000)
    for depth in (1, 2):
        min_leaf = float(rng.integers(1, 12))
        if size.sum() < min_leaf:
            continue
        tree = tree_search(hist, f.names, f.values, depth=depth, min_leaf=min_leaf, penalty=pen)
        brute = _best_subtree(G, size, f.codes, np.ones(len(G), bool), depth, pen, min_leaf)
        got = _tree_value(tree, G, size, f.codes, pen, min_leaf)
        assert got == pytest.approx(brute, abs=1e-9), (seed, depth)
        assert tree.objective == pytest.approx(brute, abs=1e-9)
        assert len(tree.leaves()) <= 2 ** depth


def test_pruning_and_rules():
    # action 1 is best everywhere except where a <= 0: one split, no redundant leaves
    x = np.column_stack([np.repeat([0, 1, 2, 3], 25), np.tile(np.arange(5), 20)]).astype(float)
    G = np.zeros((100, 2))
    G[:, 1] = np.where(x[:, 0] <= 0, -1.0, 1.0)
    f = code_features(x, ["a", "b"])
    tree = tree_search(PairHistograms.build(f.codes, f.levels, G, np.ones(100)), f.names, f.values, depth=2)
    rules = tree.rules(["none", "svc"])
    assert [(r["conditions"], r["action"], r["size"]) for r in rules] == [(["a <= 0"], "none", 25.0),
                                                                          (["a > 0"], "svc", 75.0)]
    assert (tree.predict(f.codes) == (x[:, 0] > 0)).all()


def test_coding_keeps_every_distinct_value_and_bins_the_rest():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(18, 65, 1000), rng.normal(size=1000)])
    f = code_features(x, ["age", "earn"], max_levels=50)
    assert not f.binned[0] and f.binned[1]
    assert f.levels[0] == len(np.unique(x[:, 0])) and f.levels[1] <= 50
    # a code's value is the largest raw value in it: code <= c  <=>  x <= values[c]
    for j in range(2):
        for c in range(f.levels[j]):
            assert ((f.codes[:, j] <= c) == (x[:, j] <= f.values[j][c])).all()
    with pytest.raises(DesignError, match="non-finite"):
        code_features(np.array([[1.0], [np.nan]]), ["z"])


def test_cross_fitting_histograms_are_sums_of_groups():
    x, G, size, pen = _problem(3, n=120)
    f = code_features(x, ["a", "b", "c"])
    groups = np.arange(120) % 3
    hall = PairHistograms.build(f.codes, f.levels, G, size, groups=groups, n_groups=3)
    keep = groups != 1
    direct = PairHistograms.build(f.codes[keep], f.levels, G[keep], size[keep])
    sel = hall.select([1])
    for k in direct.reward:
        np.testing.assert_allclose(sel.reward[k], direct.reward[k])
        np.testing.assert_allclose(sel.size[k], direct.size[k])


@pytest.mark.parametrize("seed", range(25))
def test_capacity_tree_equals_brute_force_constrained_optimum(seed):
    x, G, size, _ = _problem(seed + 50, n=int(np.random.default_rng(seed).integers(40, 150)))
    G[:, 1:] += 2.0  # every unit prefers a service: capacities bind
    f = code_features(x, ["a", "b", "c"])
    hist = PairHistograms.build(f.codes, f.levels, G, size)
    rng = np.random.default_rng(seed)
    cap = np.array([np.inf, *(rng.uniform(0.15, 0.6, 2) * size.sum())])
    for depth in (1, 2):
        min_leaf = float(rng.integers(1, 8))
        tree = capacity_tree(hist, f.names, f.values, cap, depth=depth, min_leaf=min_leaf)
        assert (action_sizes(tree, 3) <= cap + 1e-9).all()
        value = _tree_value(tree, G, size, f.codes, np.zeros(3), min_leaf)
        assert value == pytest.approx(_best_feasible(G, size, f.codes, cap, min_leaf, depth), abs=1e-9)
        assert tree.objective == pytest.approx(value, abs=1e-9)
    # without binding capacities the constrained search is the unconstrained one
    free = capacity_tree(hist, f.names, f.values, np.full(3, np.inf), depth=2, min_leaf=3)
    assert free.objective == pytest.approx(tree_search(hist, f.names, f.values, 2, 3).objective, abs=1e-9)


def _best_feasible(G, size, codes, cap, min_leaf, depth=2, channel=None, usage=None):
    """Brute force over all depth <= ``depth`` partitions and all action assignments within
    capacity (``channel[a] = -1``: the action uses the leaf's ``usage`` rows)."""
    n, p = codes.shape
    allm = np.ones(n, bool)
    parts = [[allm]]
    splits = [(j, t) for j in range(p) for t in np.unique(codes[:, j])[:-1]]

    def child_parts(mask):
        out = [[mask]]
        for j, t in splits:
            a, b = mask & (codes[:, j] <= t), mask & (codes[:, j] > t)
            if a.any() and b.any():
                out.append([a, b])
        return out
    for j, t in splits:
        left, right = allm & (codes[:, j] <= t), allm & (codes[:, j] > t)
        for lp in (child_parts(left) if depth == 2 else [[left]]):
            for rp in (child_parts(right) if depth == 2 else [[right]]):
                parts.append(lp + rp)
    A, U = G.shape[1], len(cap)
    channel = np.arange(A) if channel is None else np.asarray(channel)
    combos = {k: np.array(list(itertools.product(range(A), repeat=k))) for k in range(1, 5)}
    best = -np.inf
    for leaves in parts:  # every partition, all action tuples at once
        L = len(leaves)
        sizes = np.array([size[m].sum() for m in leaves])
        if (sizes < min_leaf).any():
            continue
        sums = np.array([G[m].sum(0) for m in leaves])
        leaf_use = np.zeros((L, A, U))
        for li, m in enumerate(leaves):
            for a in range(A):
                if channel[a] >= 0:
                    leaf_use[li, a, channel[a]] = sizes[li]
                else:
                    leaf_use[li, a] = usage[m].sum(0)
        c = combos[L]
        use = sum(leaf_use[li, c[:, li]] for li in range(L))
        ok = (use <= cap + 1e-9).all(1)
        if ok.any():
            best = max(best, float(sums[np.arange(L), c].sum(1)[ok].max()))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_capacity_tree_with_a_keep_action_equals_brute_force(seed):
    """Action 3 keeps each unit's current arm (drawn at random): it uses the capacity of that arm."""
    rng = np.random.default_rng(seed + 7)
    x, G, size, _ = _problem(seed + 80, n=int(rng.integers(40, 120)))
    G[:, 1:] += 1.0
    current = rng.integers(1, 3, len(G))
    keep = G[np.arange(len(G)), current] + rng.normal(0, 0.5, len(G))
    G4 = np.column_stack([G, keep])
    usage = np.zeros((len(G), 3))
    usage[np.arange(len(G)), current] = size
    cap = np.array([np.inf, *(usage[:, 1:].sum(0) * rng.uniform(0.7, 1.2, 2))])
    f = code_features(x, ["a", "b", "c"])
    hist = PairHistograms.build(f.codes, f.levels, G4, size, usage=usage)
    channel = np.array([0, 1, 2, -1])
    tree = capacity_tree(hist, f.names, f.values, cap, depth=2, min_leaf=3, channel=channel)
    leaf = tree.leaf_index(f.codes)
    use = np.zeros(3)
    for k, lf in enumerate(tree.leaves()):
        use += usage[leaf == k].sum(0) if lf.action == 3 else np.eye(3)[lf.action] * size[leaf == k].sum()
    assert (use <= cap + 1e-9).all()
    value = _tree_value(tree, G4, size, f.codes, np.zeros(4), 3)
    assert value == pytest.approx(_best_feasible(G4, size, f.codes, cap, 3, 2, channel, usage), abs=1e-9)


def test_same_best_trees_as_r_policytree():
    """policytree 1.2.5's exact search (its C++ core; tests/data/policytree_golden.py) on 30 problems
    with continuous and discrete features, depth 1 or 2 and minimum node sizes: the same total rewards."""
    import json
    from pathlib import Path

    gold = json.loads((Path(__file__).parent / "data" / "policytree_golden.json").read_text())
    for c in gold["cases"]:
        x, y = np.array(c["x"]), np.array(c["y"])
        f = code_features(x, ["a", "b", "c"], max_levels=10_000)
        hist = PairHistograms.build(f.codes, f.levels, y, np.ones(len(y)))
        tree = tree_search(hist, f.names, f.values, depth=c["depth"], min_leaf=c["min_node_size"])
        assert tree.objective == pytest.approx(c["policytree_reward"], rel=1e-12, abs=1e-9), c["seed"]
        assert y[np.arange(len(y)), tree.predict(f.codes)].sum() == pytest.approx(c["policytree_reward"], abs=1e-9)
        free = capacity_tree(hist, f.names, f.values, np.full(y.shape[1], np.inf), depth=c["depth"],
                             min_leaf=c["min_node_size"])
        assert free.objective == pytest.approx(c["policytree_reward"], abs=1e-9), c["seed"]
