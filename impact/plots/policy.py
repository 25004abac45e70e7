"""Drawing a policy tree (an allocation rule) from its node table.

A leaf of the package: it takes the tidy node table a rule is reported with (one row per
node: ``node``, ``parent``, ``depth``, ``is_leaf``, ``branch`` (the condition that leads
from the parent to the node), ``split`` (what a split node asks about), ``action``
(leaves), ``persons`` (NaN where disclosure control withheld it: drawn as ``..``), optionally ``share_of_participants``) and imports nothing of the
pipeline.
"""

from __future__ import annotations

from typing import Mapping

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

_PALETTE = ["#9e9e9e", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _answer(branch: str, question: str) -> str:
    """The edge label: the branch condition without the split's own words ("age <= 30" -> "<= 30")."""
    if question and branch.startswith(question):
        rest = branch[len(question):].lstrip(" :")
        return rest or branch
    return branch


def policy_tree_figure(nodes: pd.DataFrame, title: str | None = None, colors: Mapping[str, str] | None = None,
                       persons_label: str = "persons", share_label: str = "of participants",
                       width: float = 9.0) -> Figure:
    """Draw a policy tree: split boxes name what is asked, edges the answers, leaves the action.

    Parameters
    ----------
    nodes
        The node table (see the module docstring); ``parent`` is -1 at the root and children
        appear left before right.
    title, colors
        Optional title and colours by action (default: a fixed palette in order of first use,
        grey for the first action seen when it is called "none").
    persons_label, share_label
        Words on the figure (pass translations for a Finnish report; the node table's
        ``branch``, ``split`` and ``action`` texts are drawn as given).
    """
    need = {"node", "parent", "depth", "is_leaf", "branch", "split", "action", "persons"}
    miss = sorted(need - set(nodes.columns))
    if miss:
        raise ValueError(f"policy_tree_figure: the node table lacks columns {miss}")
    nd = nodes.set_index("node")
    children: dict[int, list[int]] = {}
    for r in nodes.itertuples():
        if r.parent >= 0:
            children.setdefault(int(r.parent), []).append(int(r.node))
    root = int(nodes.loc[nodes["parent"] < 0, "node"].iloc[0])
    # x positions: leaves evenly spaced in left-to-right order, splits centred over their children
    xpos: dict[int, float] = {}
    order: list[int] = []

    def place(i: int) -> float:
        kids = children.get(i, [])
        if not kids:
            xpos[i] = float(len(order))
            order.append(i)
        else:
            xpos[i] = sum(place(k) for k in kids) / len(kids)
        return xpos[i]
    place(root)
    n_leaves = max(len(order), 1)
    depth = int(nodes["depth"].max())
    fig, ax = plt.subplots(figsize=(max(width, 2.6 * n_leaves), 1.9 * (depth + 1) + 0.6))
    actions = list(dict.fromkeys(nodes.loc[nodes["is_leaf"], "action"]))
    pal = dict(colors or {})
    k = 1
    for a in actions:
        if a not in pal:
            pal[a] = _PALETTE[0] if a == "none" else _PALETTE[k % len(_PALETTE)]
            k += a != "none"
    for i, kids in children.items():
        for kid in kids:
            x0, y0, x1, y1 = xpos[i], -nd.loc[i, "depth"], xpos[kid], -nd.loc[kid, "depth"]
            ax.plot([x0, x1], [y0 - 0.18, y1 + 0.22], color="#555555", linewidth=1, zorder=1)
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, _answer(str(nd.loc[kid, "branch"]), str(nd.loc[i, "split"])),
                    ha="center", va="center", fontsize=8,
                    color="#333333", bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"), zorder=3)
    for i, x in xpos.items():
        r = nd.loc[i]
        y = -r["depth"]
        if r["is_leaf"]:
            sh, n = r.get("share_of_participants", np.nan), r["persons"]
            share = f"\n{sh:.0%} {share_label}" if sh == sh and "share_of_participants" in nd.columns else ""
            txt = f"{r['action']}\n{f'{int(n):,}' if n == n else '..'} {persons_label}{share}"  # '..': suppressed
            ax.text(x, y, txt, ha="center", va="center", fontsize=9, zorder=4,
                    bbox=dict(boxstyle="round,pad=0.4", fc=pal[r["action"]], ec="#333333", alpha=0.85))
        else:
            ax.text(x, y, str(r["split"]), ha="center", va="center", fontsize=9, zorder=4,
                    bbox=dict(boxstyle="round,pad=0.4", fc="#f2f2f2", ec="#333333"))
    ax.set_xlim(-0.7, n_leaves - 0.3)
    ax.set_ylim(-depth - 0.6, 0.5)
    ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
