"""One style for every figure: sizes, colour-blind-safe palette, percent axes, number format, words.

Every plotting function of :mod:`impact.plots` draws through this module: :func:`figure` makes
the figure (fixed widths, label sizes), :func:`color` gives the series colours (the Okabe-Ito
palette, safe for the common colour-vision deficiencies), :func:`percent_axis` and
:func:`number_axis` format an axis in the report's language with as few decimals as keep the
tick labels distinct, :data:`MAX_SERIES` caps the series of a legend, and :func:`word` gives the
figure's own words (legend entries such as "truth") in the language of the current
:func:`context`. The words themselves come from the caller (the report passes its wording
catalogue), so this leaf imports nothing of the pipeline. :func:`check_figure` lists what breaks
the style in a drawn figure (a test renders every figure of every study with it).
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator, Mapping

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import Formatter  # noqa: E402

#: Okabe & Ito (2008) palette without yellow (too light on white): blue, vermillion, bluish green,
#: orange, reddish purple, sky blue, black.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000")
GREY = "#999999"
#: At most this many series in one legend (more are not told apart; the table has them all).
MAX_SERIES = 6
WIDTH = 6.5  # inches: the text width of the A4 report
RC = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
      "legend.fontsize": 8, "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100,
      "axes.prop_cycle": matplotlib.cycler(color=list(PALETTE))}

#: The figure's own words in English; :func:`context` replaces them (the report passes its catalogue's).
WORDS = {"truth": "truth", "simultaneous_band": "simultaneous band", "pre_treatment": "before entry",
         "post_treatment": "after entry", "density": "density", "count": "count", "placebo_donor": "placebo (donor)",
         "synthetic": "synthetic", "gap": "gap", "treated": "treated", "control": "comparison",
         "placebo": "placebo", "poor_prefit": "poor pre-fit", "without": "without", "one_left_out": "synthetic, one donor left out",
         "estimate_ci": "estimate (95% CI)", "average": "average"}

_state: dict = {"lang": "en", "words": dict(WORDS)}


@contextlib.contextmanager
def context(lang: str = "en", words: Mapping[str, str] | None = None) -> Iterator[None]:
    """Draw in ``lang`` (decimal comma and ``%`` spacing in Finnish) with ``words`` for the figure texts."""
    old = dict(_state)
    _state.update(lang=lang, words={**WORDS, **(words or {})})
    try:
        with matplotlib.rc_context(RC):
            yield
    finally:
        _state.clear()
        _state.update(old)


def lang() -> str:
    return _state["lang"]


def word(key: str) -> str:
    """A word of the figures in the current language (``WORDS`` keys)."""
    return _state["words"].get(key, WORDS[key])


def figure(height: float = 3.6, width: float = WIDTH) -> tuple[Figure, plt.Axes]:
    """A new figure and axes in the house style."""
    with matplotlib.rc_context(RC):
        fig, ax = plt.subplots(figsize=(width, height))
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def panels(n: int, height: float = 3.4, width: float = WIDTH) -> tuple[Figure, list]:
    """A new figure of ``n`` axes side by side sharing the y axis, in the house style."""
    with matplotlib.rc_context(RC):
        fig, axes = plt.subplots(1, n, figsize=(width, height), sharey=True, squeeze=False)
    for ax in axes[0]:
        ax.spines[["top", "right"]].set_visible(False)
    return fig, list(axes[0])


def color(i: int) -> str:
    """The colour of series ``i``."""
    return PALETTE[i % len(PALETTE)]


def fmt_number(x: float, decimals: int, language: str | None = None) -> str:
    """``x`` with ``decimals`` decimals; thousands separated (space in Finnish, comma in English)."""
    s = f"{x:,.{decimals}f}"
    if (language or lang()) == "fi":
        s = s.replace(",", "\u00a0").replace(".", ",").replace("-", "\u2212")
    return s


class _Distinct(Formatter):
    """Tick labels with the fewest decimals that keep them distinct (percent: ``scale`` 100, unit ``%``)."""

    def __init__(self, scale: float = 1.0, unit: str = "", language: str = "en", signed: bool = False):
        self.scale, self.unit, self.language, self.signed = scale, unit, language, signed
        self.decimals = 0

    def _one(self, x: float, d: int) -> str:
        v = x * self.scale
        if abs(v) < 0.5 * 10 ** (-d):
            v = 0.0
        s = fmt_number(v, d, self.language)
        if self.signed and v > 0:
            s = "+" + s
        if self.unit:
            s += ("" if self.unit == "%" and self.language != "fi" else "\u00a0") + self.unit
        return s

    def format_ticks(self, values) -> list[str]:
        vals = [float(v) for v in values]
        for d in range(0, 5):
            labels = [self._one(v, d) for v in vals]
            if len(set(labels)) == len(labels):
                break
        self.decimals = d
        return labels

    def __call__(self, x, pos=None) -> str:
        return self._one(float(x), self.decimals)


def percent_axis(ax, axis: str = "y", signed: bool = False, points: bool = False) -> None:
    """Show shares (0.25) as percentages (25 %) on ``axis``, distinct labels, in the current language;
    ``points``: differences of shares in percentage points (+2 pp, +2 %-yks.)."""
    unit = ("%-yks." if lang() == "fi" else "pp") if points else "%"
    f = _Distinct(100.0, unit, lang(), signed)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(f)


def number_axis(ax, axis: str = "y") -> None:
    """Plain numbers on ``axis`` in the current language (decimal comma in Finnish), distinct labels."""
    f = _Distinct(1.0, "", lang())
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(f)


def finish(fig: Figure, ax, title: str | None = None, legend: bool = False, outside: bool = False) -> Figure:
    """The last step of every plot: number formats, legend (beside the plot when ``outside``), layout."""
    for axis in ("x", "y"):
        a = ax.xaxis if axis == "x" else ax.yaxis
        if a.get_scale() == "linear" and not isinstance(a.get_major_formatter(), _Distinct) and \
                type(a.get_major_formatter()).__name__ == "ScalarFormatter":
            number_axis(ax, axis)
    if title:
        ax.set_title(title)
    if legend:
        if outside:
            fig.set_size_inches(WIDTH + 1.5, fig.get_size_inches()[1])
            ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def check_figure(fig: Figure, max_series: int = MAX_SERIES) -> list[str]:
    """What breaks the style in a drawn figure: repeated tick labels on an axis, legends with more than
    ``max_series`` entries, axes without a label. Empty when the figure is fine."""
    fig.canvas.draw()
    problems = []
    for i, ax in enumerate(fig.axes):
        if ax.get_label() == "<colorbar>" or not ax.axison:  # a colour bar, or a diagram without axes (a tree)
            continue
        for name, ticks, lim in (("x", ax.get_xticklabels(), ax.get_xlim()), ("y", ax.get_yticklabels(), ax.get_ylim())):
            lo, hi = min(lim), max(lim)
            shown = [t.get_text() for t in ticks if t.get_text() and lo - 1e-9 <= (t.get_position()[0 if name == "x"
                                                                                                     else 1]) <= hi + 1e-9]
            dup = sorted({s for s in shown if shown.count(s) > 1})
            if dup:
                problems.append(f"axes {i}: repeated {name} tick labels {dup}")
        leg = ax.get_legend()
        if leg is not None and len(leg.get_texts()) > max_series:
            problems.append(f"axes {i}: legend with {len(leg.get_texts())} entries (at most {max_series})")
        if not ax.get_xlabel() and not ax.get_ylabel() and ax.get_label() != "<colorbar>":
            problems.append(f"axes {i}: no axis label")
    return problems


def is_nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))
