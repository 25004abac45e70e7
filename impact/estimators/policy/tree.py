"""Exact search for depth-limited policy trees (Athey and Wager 2021; R ``policytree``).

A policy tree assigns one action (arm) to every leaf of a binary tree of axis-aligned
splits ``x_j <= c``. Given a reward matrix ``Gamma`` (n rows x A actions, e.g. doubly
robust scores), the exact search returns, among all trees of depth at most ``depth``
whose leaves each hold at least ``min_leaf`` units (``size`` counts), one that
maximises ``sum_i Gamma[i, pi(x_i)] - sum_a penalty[a] * size(pi = a)``.

How it is done here. Policy covariates are interpretable and discrete (age in years,
education level, elapsed months, indicators), so each feature is coded as ordered
integers (``code_features``; at most ``max_levels`` levels, else quantile bins, which
is then the search's only approximation, like ``policytree``'s ``split.step``). For a
depth-2 tree, everything the search needs is in the two-way histograms
``H[j1, j2][v1, v2, a] = sum of Gamma[i, a] over rows with x_j1 = v1 and x_j2 = v2``
(and the same of the sizes): the left child of a root split ``x_j1 <= t`` has, along
``x_j2``, the marginal ``cumsum_{v1 <= t} H[j1, j2]``, whose cumulative sum along
``v2`` gives both leaves of every second-level split at once. So the histograms are
built once (``O(n p^2 A)``, numpy ``bincount``) and the exhaustive search costs
``O(p^2 V^2 A)`` for V levels, independent of n: exact, and fast on hundreds of
thousands of rows. The penalty enters the histograms linearly
(``H - penalty x size``), so shadow prices for capacity constraints
(:func:`capacity_tree`) and cross-fitting (training histograms = all minus one fold)
need no pass over the rows.

Conventions as ``policytree``: the left branch is ``x_j <= c``; a split whose two leaves
take the same action is pruned (the rule is the same). A child may stay unsplit (trees of
depth below ``depth`` are in the search space), and ties go to the simpler tree, then
to the first feature and the lowest threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numba
import numpy as np

from impact.errors import DesignError

_NEG = -np.inf


@dataclass(frozen=True)
class CodedFeatures:
    """Policy covariates coded as ordered integers ``0 .. levels[j] - 1``.

    ``values[j][c]`` is the largest raw value in code ``c`` of feature ``j`` (a split
    ``code <= c`` is ``x_j <= values[j][c]``); ``binned[j]`` says whether feature ``j``
    had more than ``max_levels`` distinct values and was cut at quantiles.
    """

    codes: np.ndarray
    names: list[str]
    values: list[np.ndarray]
    binned: list[bool]

    @property
    def levels(self) -> np.ndarray:
        return np.array([len(v) for v in self.values], dtype=np.int64)

    def take(self, idx: np.ndarray) -> "CodedFeatures":
        return CodedFeatures(self.codes[idx], self.names, self.values, self.binned)


def code_features(x: np.ndarray, names: Sequence[str], max_levels: int = 64) -> CodedFeatures:
    """Code the columns of ``x`` (n x p, numeric, no missing values) as ordered integers."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(names):
        raise DesignError(f"policy features: expected an n x {len(names)} matrix, got shape {x.shape}")
    bad = [names[j] for j in range(x.shape[1]) if not np.isfinite(x[:, j]).all()]
    if bad:
        raise DesignError(f"policy features {bad} have missing or non-finite values")
    codes = np.empty(x.shape, dtype=np.int64)
    values, binned = [], []
    for j in range(x.shape[1]):  # a dozen features
        u = np.unique(x[:, j])
        if len(u) > max_levels:
            cuts = np.unique(np.quantile(x[:, j], np.linspace(0, 1, max_levels + 1)[1:]))
            codes[:, j] = np.searchsorted(cuts, x[:, j], side="left")
            top = np.array([x[codes[:, j] == c, j].max() for c in range(len(cuts))])  # <= 64 bins
            values.append(top)
            binned.append(True)
        else:
            codes[:, j] = np.searchsorted(u, x[:, j])
            values.append(u)
            binned.append(False)
    return CodedFeatures(codes, list(names), values, binned)


# ---------------------------------------------------------------------------------------
# two-way histograms
# ---------------------------------------------------------------------------------------


@dataclass
class PairHistograms:
    """Sums of the reward columns and of the sizes by (group, x_j1, x_j2) for every j1 <= j2.

    ``groups`` (e.g. cross-fitting folds) are kept apart so that the histograms of any
    union of groups are sums of stored arrays: :meth:`select` gives the histograms of all
    rows except the listed groups.
    """

    levels: np.ndarray
    n_actions: int
    reward: dict[tuple[int, int], np.ndarray]  # (G, V1, V2, A)
    size: dict[tuple[int, int], np.ndarray]  # (G, V1, V2)
    n_groups: int
    usage: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # (G, V1, V2, U)

    @classmethod
    def build(cls, codes: np.ndarray, levels: np.ndarray, rewards: np.ndarray, size: np.ndarray,
              groups: np.ndarray | None = None, n_groups: int = 1,
              usage: np.ndarray | None = None) -> "PairHistograms":
        """Histograms of ``rewards`` (n x A), ``size`` (n) and optional capacity ``usage``
        (n x U: what a row uses of each capacity when it keeps its current assignment)."""
        n, p = codes.shape
        rewards = np.asarray(rewards, dtype=float)
        if rewards.ndim != 2 or rewards.shape[0] != n:
            raise DesignError(f"rewards must be n x A with n = {n}, got shape {rewards.shape}")
        g = np.zeros(n, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
        A = rewards.shape[1]
        size = np.asarray(size, dtype=float)
        use = np.zeros((n, 0)) if usage is None else np.asarray(usage, dtype=float)
        U = use.shape[1]
        rew, siz, usg = {}, {}, {}
        for j1 in range(p):  # p (p + 1) / 2 feature pairs, each one pass of bincount per column
            for j2 in range(j1, p):
                v1, v2 = int(levels[j1]), int(levels[j2])
                m = n_groups * v1 * v2
                idx = (g * v1 + codes[:, j1]) * v2 + codes[:, j2]
                h = np.empty((m, A))
                for a in range(A):  # a handful of actions
                    h[:, a] = np.bincount(idx, weights=rewards[:, a], minlength=m)
                rew[(j1, j2)] = h.reshape(n_groups, v1, v2, A)
                siz[(j1, j2)] = np.bincount(idx, weights=size, minlength=m).reshape(n_groups, v1, v2)
                u = np.empty((m, U))
                for c in range(U):  # a handful of capacities
                    u[:, c] = np.bincount(idx, weights=use[:, c], minlength=m)
                usg[(j1, j2)] = u.reshape(n_groups, v1, v2, U)
        return cls(np.asarray(levels, dtype=np.int64), A, rew, siz, n_groups, usg)

    def select(self, exclude: Sequence[int] = ()) -> "PairHistograms":
        """Histograms of the rows outside the groups ``exclude`` (one group)."""
        keep = np.ones(self.n_groups, dtype=bool)
        keep[list(exclude)] = False
        return PairHistograms(self.levels, self.n_actions,
                              {k: v[keep].sum(0, keepdims=True) for k, v in self.reward.items()},
                              {k: v[keep].sum(0, keepdims=True) for k, v in self.size.items()}, 1,
                              {k: v[keep].sum(0, keepdims=True) for k, v in self.usage.items()})

    def pair(self, j1: int, j2: int, penalty: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(V1, V2, A) penalised reward sums and (V1, V2) sizes over (x_j1, x_j2) (group 0)."""
        if j1 <= j2:
            h, s = self.reward[(j1, j2)][0], self.size[(j1, j2)][0]
        else:
            h, s = self.reward[(j2, j1)][0].transpose(1, 0, 2), self.size[(j2, j1)][0].T
        if penalty is not None:
            h = h - s[:, :, None] * penalty[None, None, :]
        return h, s

    def pair_usage(self, j1: int, j2: int) -> np.ndarray:
        """(V1, V2, U) capacity usage of the rows keeping their current assignment (group 0)."""
        u = self.usage[(min(j1, j2), max(j1, j2))][0]
        return u if j1 <= j2 else u.transpose(1, 0, 2)


# ---------------------------------------------------------------------------------------
# trees
# ---------------------------------------------------------------------------------------


@dataclass
class Node:
    """A node of a policy tree: a split (``feature``, ``threshold`` code; left is
    ``code <= threshold``) or a leaf (``action``)."""

    feature: int | None = None
    threshold: int | None = None
    left: "Node | None" = None
    right: "Node | None" = None
    action: int | None = None
    reward: float = 0.0  # penalised reward of the rows reaching the node (training data)
    size: float = 0.0

    @property
    def is_leaf(self) -> bool:
        return self.feature is None


@dataclass
class PolicyTree:
    """A fitted policy tree over coded features (see :func:`tree_search`)."""

    root: Node
    names: list[str]
    values: list[np.ndarray]
    depth: int
    objective: float
    penalty: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def leaves(self) -> list[Node]:
        out: list[Node] = []

        def walk(nd: Node) -> None:
            if nd.is_leaf:
                out.append(nd)
            else:
                walk(nd.left)
                walk(nd.right)
        walk(self.root)
        return out

    def leaf_index(self, codes: np.ndarray) -> np.ndarray:
        """Index (in :meth:`leaves` order) of the leaf each row of ``codes`` falls in."""
        out = np.zeros(len(codes), dtype=np.int64)
        counter = [0]

        def walk(nd: Node, mask: np.ndarray) -> None:
            if nd.is_leaf:
                out[mask] = counter[0]
                counter[0] += 1
                return
            go_left = codes[:, nd.feature] <= nd.threshold
            walk(nd.left, mask & go_left)
            walk(nd.right, mask & ~go_left)
        walk(self.root, np.ones(len(codes), dtype=bool))
        return out

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """The action of every row of ``codes`` (n x p, coded like the training features)."""
        acts = np.array([lf.action for lf in self.leaves()], dtype=np.int64)
        return acts[self.leaf_index(codes)]

    def rules(self, action_names: Sequence[str] | None = None) -> list[dict]:
        """One record per leaf: the conditions on the path, the action and the training size."""
        out: list[dict] = []

        def walk(nd: Node, conds: list[str]) -> None:
            if nd.is_leaf:
                act = nd.action if action_names is None else action_names[nd.action]
                out.append(dict(leaf=len(out), conditions=conds, action=act, size=nd.size))
                return
            name, val = self.names[nd.feature], _fmt(self.values[nd.feature][nd.threshold])
            walk(nd.left, conds + [f"{name} <= {val}"])
            walk(nd.right, conds + [f"{name} > {val}"])
        walk(self.root, [])
        return out


def _fmt(v: float) -> str:
    return f"{v:g}"


def _best_leaf(tot: np.ndarray) -> tuple[float, int]:
    a = int(np.argmax(tot))
    return float(tot[a]), a


def _stumps(marg: np.ndarray, cnt: np.ndarray, min_leaf: float) -> tuple[np.ndarray, np.ndarray]:
    """Best split along the last-but-one axis for a batch of nodes.

    ``marg`` (B, V, A): reward sums of each node by the level of one feature; ``cnt`` (B, V)
    sizes. Returns, per node, the best two-leaf value (``-inf`` where no split leaves both
    sides with at least ``min_leaf``) and the split code.
    """
    cm = np.cumsum(marg, axis=1)
    cc = np.cumsum(cnt, axis=1)
    tot, totc = cm[:, -1:, :], cc[:, -1:]
    val = cm[:, :-1, :].max(axis=2) + (tot - cm[:, :-1, :]).max(axis=2)
    ok = (cc[:, :-1] >= min_leaf) & (totc - cc[:, :-1] >= min_leaf)
    val = np.where(ok, val, _NEG)
    if val.shape[1] == 0:
        return np.full(marg.shape[0], _NEG), np.zeros(marg.shape[0], dtype=np.int64)
    s = np.argmax(val, axis=1)
    return val[np.arange(len(s)), s], s


def _leaf(tot: np.ndarray, size: float) -> Node:
    v, a = _best_leaf(tot)
    return Node(action=a, reward=v, size=float(size))


def _stump_node(marg: np.ndarray, cnt: np.ndarray, feature: int, s: int) -> Node:
    left, right = marg[: s + 1].sum(0), marg[s + 1:].sum(0)
    lc, rc = cnt[: s + 1].sum(), cnt[s + 1:].sum()
    ln, rn = _leaf(left, lc), _leaf(right, rc)
    return Node(feature=feature, threshold=int(s), left=ln, right=rn, reward=ln.reward + rn.reward,
                size=float(lc + rc))


def _prune(nd: Node) -> Node:
    """Merge sibling leaves with the same action (the rule is unchanged)."""
    if nd.is_leaf:
        return nd
    nd.left, nd.right = _prune(nd.left), _prune(nd.right)
    if nd.left.is_leaf and nd.right.is_leaf and nd.left.action == nd.right.action:
        return Node(action=nd.left.action, reward=nd.left.reward + nd.right.reward, size=nd.size)
    return nd


def tree_search(hist: PairHistograms, names: Sequence[str], values: Sequence[np.ndarray], depth: int = 2,
                min_leaf: float = 1.0, penalty: np.ndarray | None = None, tol: float = 1e-9) -> PolicyTree:
    """Exact search for the best policy tree of depth <= ``depth`` (1 or 2).

    Parameters
    ----------
    hist
        :class:`PairHistograms` of the training rows (one group).
    names, values
        Feature names and the raw value of each code (for :meth:`PolicyTree.rules`).
    depth
        1 or 2.
    min_leaf
        Smallest total ``size`` of a leaf.
    penalty
        Per-action price subtracted per unit of size (shadow prices of capacity); None: 0.
    tol
        A split must beat leaving the node unsplit by more than ``tol`` times the total
        absolute reward (so that rounding noise never adds a split).

    Returns
    -------
    PolicyTree
        ``objective`` is the penalised reward sum of the returned tree.
    """
    if depth not in (1, 2):
        raise DesignError(f"policy tree depth must be 1 or 2, got {depth!r}")
    p = len(hist.levels)
    pen = None if penalty is None else np.asarray(penalty, dtype=float)
    h00, s00 = hist.pair(0, 0, pen)
    root_tot = h00.sum((0, 1))
    root_size = float(s00.sum())
    if root_size < min_leaf:
        raise DesignError(f"the policy tree's data hold {root_size:g} units, fewer than the minimum leaf size "
                          f"{min_leaf:g}")
    eps = tol * max(1.0, float(np.abs(h00).sum()))
    best = _leaf(root_tot, root_size)
    best_val = best.reward
    for j1 in range(p):  # a dozen features
        hj, sj = hist.pair(j1, j1, pen)
        m1 = np.einsum("vva->va", hj) if hj.shape[0] == hj.shape[1] else hj.sum(1)
        c1 = np.diagonal(sj).copy()
        if depth == 1:
            v, s = _stumps(m1[None], c1[None], min_leaf)
            if v[0] > best_val + eps:
                best_val, best = float(v[0]), _stump_node(m1, c1, j1, int(s[0]))
            continue
        V1 = len(c1)
        if V1 < 2:
            continue
        cum_c = np.cumsum(c1)[:-1]  # left sizes of the root splits t = 0 .. V1 - 2
        cum_m = np.cumsum(m1, axis=0)[:-1]
        left_ok = cum_c >= min_leaf
        right_ok = (root_size - cum_c) >= min_leaf
        # unsplit children
        lv = np.where(left_ok, cum_m.max(1), _NEG)
        rv = np.where(right_ok, (root_tot[None, :] - cum_m).max(1), _NEG)
        lbest = lv.copy()
        rbest = rv.copy()
        lwhich = np.full((V1 - 1, 2), -1, dtype=np.int64)  # (feature, split) of the child's split; -1 unsplit
        rwhich = np.full((V1 - 1, 2), -1, dtype=np.int64)
        for j2 in range(p):  # second-level feature
            h, s = hist.pair(j1, j2, pen)
            L = np.cumsum(h, axis=0)[:-1]  # (V1-1, V2, A): left child by x_j2
            Lc = np.cumsum(s, axis=0)[:-1]
            tot2, totc2 = h.sum(0), s.sum(0)
            R, Rc = tot2[None] - L, totc2[None] - Lc
            vl, sl = _stumps(L, Lc, min_leaf)
            vr, sr = _stumps(R, Rc, min_leaf)
            bl = vl > lbest + eps
            lbest = np.where(bl, vl, lbest)
            lwhich[bl] = np.column_stack([np.full(bl.sum(), j2), sl[bl]])
            br = vr > rbest + eps
            rbest = np.where(br, vr, rbest)
            rwhich[br] = np.column_stack([np.full(br.sum(), j2), sr[br]])
        tot_v = lbest + rbest
        t = int(np.argmax(tot_v))
        if tot_v[t] > best_val + eps:
            best_val = float(tot_v[t])
            best = Node(feature=j1, threshold=t, reward=best_val, size=root_size)
            best.left = _child(hist, j1, t, True, lwhich[t], pen, cum_m[t], cum_c[t])
            best.right = _child(hist, j1, t, False, rwhich[t], pen, root_tot - cum_m[t], root_size - cum_c[t])
    root = _prune(best)
    return PolicyTree(root=root, names=list(names), values=list(values), depth=depth, objective=best_val,
                      penalty=np.zeros(hist.n_actions) if pen is None else pen)


def _child(hist: PairHistograms, j1: int, t: int, left: bool, which: np.ndarray, pen, tot: np.ndarray,
           size: float) -> Node:
    """Rebuild the chosen child of root split (j1, t): unsplit, or split on ``which``."""
    if which[0] < 0:
        return _leaf(tot, size)
    j2, s2 = int(which[0]), int(which[1])
    h, c = hist.pair(j1, j2, pen)
    sl = slice(0, t + 1) if left else slice(t + 1, None)
    return _stump_node(h[sl].sum(0), c[sl].sum(0), j2, s2)


# ---------------------------------------------------------------------------------------
# capacity constraints: exact search with branch and bound
# ---------------------------------------------------------------------------------------


def action_sizes(tree: PolicyTree, n_actions: int) -> np.ndarray:
    """Total training size assigned to each action by the tree."""
    out = np.zeros(n_actions)
    for lf in tree.leaves():
        out[lf.action] += lf.size
    return out


@numba.njit(cache=True)
def _leaf_use(use, a, size, uvec, ch):
    if ch[a] >= 0:
        use[ch[a]] += size
    else:
        for c in range(len(use)):
            use[c] += uvec[c]


@numba.njit(cache=True)
def _side_candidates(M, Mc, Mu, lev2, ch, cap, min_leaf, depth, tol):
    """Every way to finish one child of a root split: unsplit with one action, or split on
    (j2, s) with two different actions; every leaf at least ``min_leaf`` in size and the
    child within the capacities. Returns values, (j2, s, a1, a2) (j2 = -1: unsplit) and
    capacity use."""
    p, vmax, A = M.shape
    U = Mu.shape[2]
    tot = np.zeros(A)
    totu = np.zeros(U)
    size = 0.0
    for v in range(lev2[0]):
        size += Mc[0, v]
        for a in range(A):
            tot[a] += M[0, v, a]
        for c in range(U):
            totu[c] += Mu[0, v, c]
    nmax = A + (p * vmax * A * A if depth == 2 else 0)
    val = np.empty(nmax)
    ints = np.empty((nmax, 4), dtype=np.int64)  # j2, s, a1, a2
    uses = np.zeros((nmax, U))
    k = 0
    if size < min_leaf:
        return val[:0], ints[:0], uses[:0]
    use = np.zeros(U)
    for a in range(A):
        use[:] = 0.0
        _leaf_use(use, a, size, totu, ch)
        if np.all(use <= cap + tol):
            val[k] = tot[a]
            ints[k, 0] = -1
            ints[k, 1] = -1
            ints[k, 2] = a
            ints[k, 3] = -1
            uses[k] = use
            k += 1
    if depth == 2:
        cum = np.zeros(A)
        cumu = np.zeros(U)
        restu = np.zeros(U)
        for j2 in range(p):
            cum[:] = 0.0
            cumu[:] = 0.0
            cc = 0.0
            for s in range(lev2[j2] - 1):
                cc += Mc[j2, s]
                for a in range(A):
                    cum[a] += M[j2, s, a]
                for c in range(U):
                    cumu[c] += Mu[j2, s, c]
                c2 = size - cc
                if cc < min_leaf or c2 < min_leaf:
                    continue
                restu[:] = totu - cumu
                for a1 in range(A):
                    for a2 in range(A):
                        if a2 == a1:
                            continue
                        use[:] = 0.0
                        _leaf_use(use, a1, cc, cumu, ch)
                        _leaf_use(use, a2, c2, restu, ch)
                        if not np.all(use <= cap + tol):
                            continue
                        val[k] = cum[a1] + tot[a2] - cum[a2]
                        ints[k, 0] = j2
                        ints[k, 1] = s
                        ints[k, 2] = a1
                        ints[k, 3] = a2
                        uses[k] = use
                        k += 1
    return val[:k], ints[:k], uses[:k]


@numba.njit(cache=True)
def _constrained_root(H, C, Uh, Tot, Totc, Totu, lev2, V1, ch, cap, min_leaf, depth, best_in, eps, tol):
    """Best capacity-feasible tree whose root splits on one feature j1 (histograms ``H``
    (p, V1, Vmax, A), ``C`` and ``Uh`` by (x_j2, x_j1), and their sums over x_j1); branch and
    bound over the pairs of child candidates sorted by value. Returns (value, t, left
    (j2, s, a1, a2), right ...)."""
    p, _, vmax, A = H.shape
    U = Uh.shape[3]
    L = np.zeros((p, vmax, A))
    Lc = np.zeros((p, vmax))
    Lu = np.zeros((p, vmax, U))
    best = best_in
    out_t = -1
    out_l = np.full(4, -1, dtype=np.int64)
    out_r = np.full(4, -1, dtype=np.int64)
    for t in range(V1 - 1):
        for j2 in range(p):
            for v2 in range(vmax):
                Lc[j2, v2] += C[j2, t, v2]
                for a in range(A):
                    L[j2, v2, a] += H[j2, t, v2, a]
                for c in range(U):
                    Lu[j2, v2, c] += Uh[j2, t, v2, c]
        vl, il, ul = _side_candidates(L, Lc, Lu, lev2, ch, cap, min_leaf, depth, tol)
        if len(vl) == 0:
            continue
        vr, ir, ur = _side_candidates(Tot - L, Totc - Lc, Totu - Lu, lev2, ch, cap, min_leaf, depth, tol)
        if len(vr) == 0:
            continue
        ol = np.argsort(-vl, kind="mergesort")
        orr = np.argsort(-vr, kind="mergesort")
        top_r = vr[orr[0]]
        for ii in range(len(ol)):
            i = ol[ii]
            if vl[i] + top_r <= best + eps:
                break
            for kk in range(len(orr)):
                k = orr[kk]
                if vl[i] + vr[k] <= best + eps:
                    break
                if np.all(ul[i] + ur[k] <= cap + tol):
                    best = vl[i] + vr[k]
                    out_t = t
                    out_l[:] = il[i]
                    out_r[:] = ir[k]
                    break
    return best, out_t, out_l, out_r


def capacity_tree(hist: PairHistograms, names: Sequence[str], values: Sequence[np.ndarray], capacity: np.ndarray,
                  depth: int = 2, min_leaf: float = 1.0, channel: np.ndarray | None = None,
                  tol: float = 1e-9) -> PolicyTree:
    """Exact search for the best policy tree of depth <= ``depth`` within capacities.

    Maximises the reward sum over trees whose leaves each hold at least ``min_leaf`` size
    and use at most ``capacity[c]`` of each capacity ``c`` (``inf``: no limit). A leaf with
    action ``a`` uses its size of capacity ``channel[a]``; with ``channel[a] = -1`` (an
    action that keeps every row's current assignment) it uses the leaf's ``usage``
    histogram (:meth:`PairHistograms.build`). Default: ``channel[a] = a``. For each root
    split the children's completions (unsplit with one action, or one more split with two
    different actions) are listed with their values from the histograms, and the pairs are
    searched best-first with branch and bound, so the result is the exact constrained
    optimum (ties: the first found). Returns the same :class:`PolicyTree` as
    :func:`tree_search` (``penalty`` zero).
    """
    if depth not in (1, 2):
        raise DesignError(f"policy tree depth must be 1 or 2, got {depth!r}")
    A, p = hist.n_actions, len(hist.levels)
    ch = np.arange(A, dtype=np.int64) if channel is None else np.asarray(channel, dtype=np.int64)
    cap = np.asarray(capacity, dtype=float)
    if ch.shape != (A,) or ch.max() >= len(cap) or ch.min() < -1:
        raise DesignError(f"channel must map each of the {A} actions to a capacity (0..{len(cap) - 1}) or -1")
    if (ch < 0).any() and (not hist.usage or next(iter(hist.usage.values())).shape[-1] != len(cap)):
        raise DesignError("an action keeping the current assignment needs usage histograms with one column "
                          "per capacity")
    h00, s00 = hist.pair(0, 0, None)
    root_tot, root_size = h00.sum((0, 1)), float(s00.sum())
    scale = max(1.0, float(np.abs(h00).sum()))
    eps, ctol = tol * scale, 1e-9 * max(1.0, root_size)
    U = len(cap)
    vmax = int(hist.levels.max())
    lev2 = hist.levels.astype(np.int64)

    has_usage = bool(hist.usage) and next(iter(hist.usage.values())).shape[-1] == U

    def usage(j1: int, j2: int, shape: tuple[int, int]) -> np.ndarray:
        return hist.pair_usage(j1, j2) if has_usage else np.zeros(shape + (U,))

    best, root = -np.inf, None
    ru = usage(0, 0, s00.shape).sum((0, 1))
    for a in range(A):  # unsplit root
        use = np.zeros(U)
        if ch[a] >= 0:
            use[ch[a]] += root_size
        else:
            use += ru
        if (use <= cap + ctol).all() and root_size >= min_leaf and root_tot[a] > best + eps:
            best, root = float(root_tot[a]), Node(action=a, reward=float(root_tot[a]), size=root_size)
    for j1 in range(p):  # a dozen root features
        V1 = int(hist.levels[j1])
        if V1 < 2:
            continue
        H = np.zeros((p, V1, vmax, A))
        Cc = np.zeros((p, V1, vmax))
        Uh = np.zeros((p, V1, vmax, U))
        for j2 in range(p):
            h, c = hist.pair(j1, j2, None)
            H[j2, :, : h.shape[1]] = h
            Cc[j2, :, : c.shape[1]] = c
            Uh[j2, :, : c.shape[1]] = usage(j1, j2, c.shape)
        val, t, lsel, rsel = _constrained_root(H, Cc, Uh, H.sum(1), Cc.sum(1), Uh.sum(1), lev2, V1, ch, cap,
                                               float(min_leaf), depth, best, eps, ctol)
        if t >= 0:
            best = float(val)
            root = Node(feature=j1, threshold=int(t), reward=best, size=root_size)
            root.left = _finish_child(H[:, : t + 1], Cc[:, : t + 1], lsel)
            root.right = _finish_child(H[:, t + 1:], Cc[:, t + 1:], rsel)
    if root is None:
        raise DesignError(f"no policy tree meets the capacities {cap.tolist()} with leaves of at least {min_leaf:g} "
                          f"(the data hold {root_size:g} units)")
    return PolicyTree(root=_prune(root), names=list(names), values=list(values), depth=depth, objective=best,
                      penalty=np.zeros(A))


def _finish_child(H: np.ndarray, C: np.ndarray, sel: np.ndarray) -> Node:
    """The child node a candidate describes (``H``/``C``: the child's rows by (x_j2, x_j1))."""
    j2, s, a1, a2 = (int(v) for v in sel)
    if j2 < 0:
        tot, size = H[0].sum((0, 1)), float(C[0].sum())
        return Node(action=a1, reward=float(tot[a1]), size=size)
    m, c = H[j2].sum(0), C[j2].sum(0)
    left, right = m[: s + 1].sum(0), m[s + 1:].sum(0)
    ln = Node(action=a1, reward=float(left[a1]), size=float(c[: s + 1].sum()))
    rn = Node(action=a2, reward=float(right[a2]), size=float(c[s + 1:].sum()))
    return Node(feature=j2, threshold=s, left=ln, right=rn, reward=ln.reward + rn.reward, size=ln.size + rn.size)
