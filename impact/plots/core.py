"""Shared plotting helpers (matplotlib, Agg backend).

Each function takes a tidy pandas DataFrame and returns a ``matplotlib.figure.Figure``;
nothing is shown or written here (the report decides where figures go). Sizes, colours, number
formats and the figures' own words come from :mod:`impact.plots.style`.
"""

from __future__ import annotations

from typing import Callable

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from impact.plots import style  # noqa: E402
from impact.plots.style import color, finish, word  # noqa: E402


def _decorate(ax, xlabel: str, ylabel: str, vline: float | None, hline: float | None, percent: bool,
              hline_color: str = "black") -> None:
    """Shared axis dressing of the line plots: reference lines, percent axis, labels, grid."""
    if vline is not None:
        ax.axvline(vline, color="grey", linestyle="--", linewidth=1)
    if hline is not None:
        ax.axhline(hline, color=hline_color, linewidth=0.8)
    if percent:
        style.percent_axis(ax, "y")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def dot_plot(
    data: pd.DataFrame,
    y: str,
    x: str,
    hue: str | None = None,
    reference: float | None = None,
    xlabel: str | None = None,
    title: str | None = None,
    order: str = "first",
) -> Figure:
    """Horizontal dot plot: one row per ``y`` category, one marker per ``hue`` level.

    A love plot is ``dot_plot(balance_long, y="covariate", x="abs_smd", hue="stage", reference=0.1)``.
    Rows are ordered by the ``x`` value of the first ``hue`` level (``order="first"``) or kept
    in the order of appearance (``order="data"``).
    """
    cats = list(dict.fromkeys(data[y]))
    if order == "first" and hue is not None:
        first = data[data[hue] == data[hue].iloc[0]].set_index(y)[x]
        cats = sorted(cats, key=lambda c: first.get(c, 0.0))
    pos = {c: i for i, c in enumerate(cats)}
    fig, ax = style.figure(0.3 * len(cats) + 1.5)
    groups = [(None, data)] if hue is None else list(data.groupby(hue, sort=False))
    markers = ["o", "s", "^", "D"]
    for i, (name, g) in enumerate(groups):
        ax.scatter(g[x], [pos[c] for c in g[y]], marker=markers[i % 4], label=None if name is None else str(name),
                   facecolors="none" if i == 0 else color(i), edgecolors=color(i), zorder=3)
    if reference is not None:
        ax.axvline(reference, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(cats)))
    ax.set_yticklabels(cats)
    ax.set_xlabel(xlabel or x)
    ax.grid(axis="x", alpha=0.3)
    if hue is not None:
        ax.legend(frameon=False, loc="lower right")
    return finish(fig, ax, title)


def overlap_histogram(
    data: pd.DataFrame,
    value: str,
    group: str,
    bins: int = 40,
    xlabel: str | None = None,
    title: str | None = None,
    density: bool = True,
) -> Figure:
    """Overlapping histograms of ``value`` by ``group`` on common bins (e.g. score overlap)."""
    v = data[value].to_numpy(dtype=float)
    edges = np.linspace(np.nanmin(v), np.nanmax(v), bins + 1)
    fig, ax = style.figure(3.5)
    for i, (name, g) in enumerate(data.groupby(group, sort=True)):
        ax.hist(g[value], bins=edges, density=density, alpha=0.45, color=color(i),
                label=f"{name} (n = {style.fmt_number(len(g), 0)})")
    ax.set_xlabel(xlabel or value)
    ax.set_ylabel(word("density") if density else word("count"))
    return finish(fig, ax, title, legend=True)


def band_lines(
    data: pd.DataFrame,
    x: str,
    y: str,
    lower: str,
    upper: str,
    group: str | None = None,
    step: bool = False,
    vline: float | None = None,
    hline: float | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    percent: bool = False,
    max_groups: int = style.MAX_SERIES,
) -> Figure:
    """Lines with shaded confidence bands, one per ``group`` (at most ``max_groups``, largest first).

    Placement by month since service end is ``band_lines(curves, "month", "share", "ci_lower",
    "ci_upper", group="group", vline=0)``; a Kaplan-Meier plot is the same with ``step=True``.
    """
    fig, ax = style.figure(3.8)
    groups = [(None, data)] if group is None else list(data.groupby(group, sort=True))
    if group is not None and len(groups) > max_groups:
        size = data.groupby(group).size().sort_values(ascending=False)
        keep = set(size.index[:max_groups])
        groups = [(n, g) for n, g in groups if n in keep]
    for i, (name, g) in enumerate(groups):
        g = g.sort_values(x)
        col = color(i)
        if step:
            ax.step(g[x], g[y], where="post", color=col, label=None if name is None else str(name))
            ax.fill_between(g[x], g[lower], g[upper], step="post", color=col, alpha=0.15, linewidth=0)
        else:
            ax.plot(g[x], g[y], color=col, marker="o", markersize=2.5, label=None if name is None else str(name))
            ax.fill_between(g[x], g[lower], g[upper], color=col, alpha=0.15, linewidth=0)
    _decorate(ax, xlabel or x, ylabel or y, vline, hline, percent, hline_color="grey")
    # many groups: legend beside the plot, not over the curves
    return finish(fig, ax, title, legend=group is not None, outside=len(groups) > 3)


def estimate_bars(
    data: pd.DataFrame,
    x: str,
    estimate: str = "estimate",
    lower: str = "ci_lower",
    upper: str = "ci_upper",
    group: str | None = None,
    truth: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    percent: bool = False,
) -> Figure:
    """Point estimates with interval whiskers by ``x`` (e.g. horizon), optionally one series per ``group``."""
    fig, ax = style.figure(3.6)
    groups = [(None, data)] if group is None else list(data.groupby(group, sort=False))
    xs = list(dict.fromkeys(data[x]))
    pos = {v: i for i, v in enumerate(xs)}
    width = 0.7 / max(len(groups), 1)
    for i, (name, g) in enumerate(groups):
        off = (i - (len(groups) - 1) / 2) * width
        px = np.array([pos[v] for v in g[x]]) + off
        ax.errorbar(px, g[estimate], yerr=[g[estimate] - g[lower], g[upper] - g[estimate]], fmt="o", capsize=3,
                    color=color(i), label=None if name is None else str(name))
        if truth is not None and truth in g:
            ax.scatter(px, g[truth], marker="x", color="black", zorder=4, label=word("truth") if i == 0 else None)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels([str(v) for v in xs])
    if percent:
        style.percent_axis(ax, "y", signed=True, points=True)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or estimate)
    ax.grid(axis="y", alpha=0.3)
    return finish(fig, ax, title, legend=group is not None or truth is not None)


def binned_histogram(
    data: pd.DataFrame,
    left: str = "left",
    right: str = "right",
    value: str = "density",
    group: str = "group",
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    labels: dict | None = None,
    panel: str | None = None,
    panel_titles: dict | None = None,
) -> Figure:
    """Histograms drawn from pre-binned (e.g. disclosure-controlled) counts, one colour per group
    (``labels`` maps group values to legend entries); with ``panel``, one panel per value of that
    column side by side on a shared y axis (``panel_titles`` names them)."""
    keys = [None] if panel is None else list(dict.fromkeys(data[panel]))
    if panel is None:
        fig, ax = style.figure(3.5)
        axes = [ax]
    else:
        fig, axes = style.panels(len(keys))
    for k, ax in zip(keys, axes):
        part = data if k is None else data[data[panel] == k]
        for i, (name, g) in enumerate(part.groupby(group, sort=True)):
            ax.bar(g[left], g[value], width=(g[right] - g[left]), align="edge", alpha=0.45, color=color(i),
                   label=(labels or {}).get(name, str(name)), linewidth=0)
        ax.set_xlabel(xlabel or "")
        if k is not None:
            ax.set_title((panel_titles or {}).get(k, str(k)))
    axes[0].set_ylabel(ylabel or word("density"))
    for ax in axes[1:]:
        finish(fig, ax)
    return finish(fig, axes[0], title, legend=True)


def event_study_plot(
    data: pd.DataFrame,
    x: str = "event_time",
    estimate: str = "estimate",
    lower: str = "ci_lower",
    upper: str = "ci_upper",
    band_lower: str = "band_lower",
    band_upper: str = "band_upper",
    truth: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = "effect",
    title: str | None = None,
    percent: bool = False,
) -> Figure:
    """Event-study plot: estimates by event time with pointwise intervals (bars), the
    simultaneous band (shaded, when ``band_lower``/``band_upper`` columns exist), zero line and
    a dashed line between the last pre-period and treatment; ``truth`` adds known effects;
    ``percent`` shows effects on shares in percentage points (as the other effect figures).

    ``event_study_plot(res.aggregate("dynamic", bootstrap=True).estimates)``.
    """
    d = data.sort_values(x)
    fig, ax = style.figure(3.8)
    xs = d[x].to_numpy(dtype=float)
    pre = xs < 0
    if band_lower in d and band_upper in d:
        ax.fill_between(xs, d[band_lower], d[band_upper], color=color(0), alpha=0.12, linewidth=0,
                        label=word("simultaneous_band"))
    err = np.vstack([d[estimate] - d[lower], d[upper] - d[estimate]])
    for mask, col, lab in [(pre, style.GREY, word("pre_treatment")), (~pre, color(0), word("post_treatment"))]:
        if mask.any():
            ax.errorbar(xs[mask], d[estimate].to_numpy()[mask], yerr=err[:, mask], fmt="o", color=col,
                        markersize=4, capsize=2, label=lab)
    if truth is not None and truth in d:
        ax.plot(xs, d[truth], color=color(1), linestyle=":", marker="x", markersize=4, label=word("truth"))
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.axvline(-0.5, color="grey", linestyle="--", linewidth=1)
    if percent:
        style.percent_axis(ax, "y", signed=True, points=True)
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or estimate)
    ax.grid(alpha=0.3)
    return finish(fig, ax, title, legend=True)


def interval_dots(
    data: pd.DataFrame,
    x: str,
    estimate: str = "estimate",
    lower: str = "ci_lower",
    upper: str = "ci_upper",
    overall: float | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    percent: bool = False,
    xformat: Callable[[float], str] | None = None,
    title: str | None = None,
) -> Figure:
    """Estimates with their pointwise intervals along ``x`` (R did's ``ggdid`` of
    ``aggte(type = "group")`` by cohort or ``"calendar"`` by period); ``overall`` draws the
    aggregate as a dashed line; ``xformat`` labels integer x ticks (e.g. a month index as 2022-01)."""
    d = data.sort_values(x)
    fig, ax = style.figure(3.3)
    xs = d[x].to_numpy(dtype=float)
    err = np.vstack([d[estimate] - d[lower], d[upper] - d[estimate]])
    ax.errorbar(xs, d[estimate], yerr=err, fmt="o", color=color(0), markersize=3.5, capsize=2,
                label=word("estimate_ci"))
    if overall is not None and overall == overall:
        ax.axhline(overall, color=color(1), linestyle="--", linewidth=1.2, label=word("average"))
    ax.axhline(0, color="grey", linewidth=0.8)
    if percent:
        style.percent_axis(ax, "y", signed=True, points=True)
    if xformat is not None:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=7, integer=True))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: xformat(v)))
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or estimate)
    ax.grid(alpha=0.3)
    return finish(fig, ax, title, legend=True)


def group_time_heatmap(
    data: pd.DataFrame,
    group: str = "group",
    time: str = "time",
    value: str = "att",
    annotate: bool | None = None,
    title: str | None = None,
) -> Figure:
    """Heatmap of group-time effects: cohorts (rows) x periods (columns), diverging colours
    centred at zero, post-treatment cells outlined; values printed when the grid is small.

    ``group_time_heatmap(res.att_gt)``.
    """
    wide = data.pivot_table(index=group, columns=time, values=value, aggfunc="first").sort_index()
    vals = wide.to_numpy(dtype=float)
    lim = np.nanmax(np.abs(vals)) if np.isfinite(vals).any() else 1.0
    fig, ax = style.figure(min(1.2 + 0.35 * vals.shape[0], 9), min(1.0 + 0.45 * vals.shape[1], 12))
    im = ax.imshow(vals, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(vals.shape[1]))
    ax.set_xticklabels([str(c) for c in wide.columns], rotation=90 if vals.shape[1] > 12 else 0, fontsize=8)
    ax.set_yticks(range(vals.shape[0]))
    ax.set_yticklabels([str(r) for r in wide.index], fontsize=8)
    for i, g in enumerate(wide.index):
        for j, t in enumerate(wide.columns):
            if t >= g:  # post-treatment cell
                ax.add_patch(matplotlib.patches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="k", linewidth=0.4))
    if annotate is None:
        annotate = vals.size <= 120
    if annotate:
        for i in range(vals.shape[0]):
            for j in range(vals.shape[1]):
                if np.isfinite(vals[i, j]):
                    ax.text(j, i, style.fmt_number(vals[i, j], 2), ha="center", va="center", fontsize=7)
    ax.set_xlabel(time)
    ax.set_ylabel(group)
    fig.colorbar(im, ax=ax, label=value)
    return finish(fig, ax, title)


def highlight_lines(
    data: pd.DataFrame,
    x: str,
    y: str,
    unit: str,
    highlight: object,
    vline: float | None = None,
    hline: float | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    percent: bool = False,
    highlight_label: str | None = None,
    others_label: str | None = None,
) -> Figure:
    """Many thin grey lines (e.g. placebo gaps of donor units) and one highlighted line."""
    fig, ax = style.figure(3.8)
    first = True
    for name, g in data.groupby(unit, sort=False):
        if name == highlight:
            continue
        g = g.sort_values(x)
        ax.plot(g[x], g[y], color=style.GREY, linewidth=0.7, alpha=0.8, label=others_label if first else None)
        first = False
    h = data[data[unit] == highlight].sort_values(x)
    ax.plot(h[x], h[y], color=color(1), linewidth=2.0, label=highlight_label or str(highlight))
    _decorate(ax, xlabel or x, ylabel or y, vline, hline, percent, hline_color="black")
    return finish(fig, ax, title, legend=True)


def multi_lines(
    data: pd.DataFrame,
    x: str,
    ys: list[str],
    labels: list[str] | None = None,
    vline: float | None = None,
    hline: float | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    percent: bool = False,
) -> Figure:
    """Several columns of one table as lines against ``x`` (e.g. treated vs synthetic path)."""
    fig, ax = style.figure(3.8)
    d = data.sort_values(x)
    styles = ["-", "--", ":", "-."]
    for i, col in enumerate(ys):
        ax.plot(d[x], d[col], linestyle=styles[i % 4], color=color(i), label=(labels or ys)[i])
    _decorate(ax, xlabel or x, ylabel or "", vline, hline, percent, hline_color="black")
    return finish(fig, ax, title, legend=True)
