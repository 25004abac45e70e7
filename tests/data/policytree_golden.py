"""Reference trees from R policytree's exact search (its C++ core), for tests/test_policy_tree.py.

policytree is not packaged for Debian and CRAN is unreachable here, so its C++ tree search
(policytree 1.2.5, ``r-package/policytree/src/tree_search.cpp``, MIT licence; boost headers from
Debian's libboost-dev) is compiled with the small driver ``policytree_golden.cpp`` and run on
seeded random problems. The problems and policytree's best trees (and their total rewards) are
written to ``policytree_golden.json``.

Usage: ``python tests/data/policytree_golden.py /path/to/policytree/checkout``
(``git clone https://github.com/grf-labs/policytree; git -C policytree checkout b543f0f``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def problem(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 200))
    d = int(rng.integers(2, 5))
    cols = [rng.integers(0, rng.integers(2, 8), n).astype(float) for _ in range(2)]
    cols.append(np.round(rng.normal(size=n), 1))  # a denser feature
    x = np.column_stack(cols)
    y = rng.normal(size=(n, d))
    y[np.arange(n), (x[:, 0] > np.median(x[:, 0])).astype(int) % d] += 1.0
    y = np.round(y, 4)  # short, exact decimals in the JSON
    return {"seed": seed, "x": x.tolist(), "y": y.tolist(), "depth": int(rng.integers(1, 3)),
            "min_node_size": int(rng.integers(1, 10))}


def reward(tree: list[list], x: np.ndarray, y: np.ndarray) -> float:
    """Total reward of a breadth-first tree (``split j v``: x_j <= v goes left)."""
    act = np.zeros(len(x), dtype=int)

    def walk(i: int, rows: np.ndarray) -> None:
        node = tree[i]
        if node[0] == "leaf":
            act[rows] = int(node[1])
            return
        left = rows[x[rows, int(node[1])] <= float(node[2])]
        right = rows[x[rows, int(node[1])] > float(node[2])]
        k = sum(1 for t in tree[:i] if t[0] == "split")  # children of the k-th split (breadth first)
        walk(2 * k + 1, left)
        walk(2 * k + 2, right)
    walk(0, np.arange(len(x)))
    return float(y[np.arange(len(x)), act].sum())


def main(checkout: str) -> None:
    src = Path(checkout) / "r-package" / "policytree" / "src"
    version = subprocess.run(["git", "-C", checkout, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "pt"
        subprocess.run(["g++", "-O2", "-std=c++14", f"-I{src}", str(HERE / "policytree_golden.cpp"),
                        str(src / "tree_search.cpp"), "-o", str(exe)], check=True)
        cases = []
        for seed in range(30):  # thirty small problems
            pb = problem(seed)
            x, y = np.array(pb["x"]), np.array(pb["y"])
            inp = f"{len(x)} {x.shape[1]} {y.shape[1]} {pb['depth']} {pb['min_node_size']}\n"
            inp += " ".join(f"{v:.17g}" for v in x.T.ravel()) + "\n" + " ".join(f"{v:.17g}" for v in y.T.ravel()) + "\n"
            out = subprocess.run([str(exe)], input=inp, capture_output=True, text=True, check=True).stdout
            tree = [line.split() for line in out.strip().splitlines()]
            cases.append(dict(pb, policytree_tree=tree, policytree_reward=reward(tree, x, y)))
    gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    meta = {"policytree": "1.2.5", "policytree_commit": version, "compiler": gxx, "boost": "1.74 (Debian libboost-dev)",
            "driver": "tests/data/policytree_golden.cpp", "script": "tests/data/policytree_golden.py"}
    (HERE / "policytree_golden.json").write_text(json.dumps({"meta": meta, "cases": cases}, separators=(",", ":")))


if __name__ == "__main__":
    main(sys.argv[1])
