"""The report's figures (PNG, matplotlib without a display).

Figures are at most 11 inches wide at 110 dpi, so a laptop shows them at
about their own size: text drawn at 8-10 pt stays readable in the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
# Question texts and option labels are the survey's words: a "$" in them is money,
# never TeX (an odd "$x_{" would otherwise stop the report).
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import transforms  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from silico.core.stats import distributions, weighted_corr  # noqa: E402
from silico.pipeline.result import StudyResult  # noqa: E402
from silico.report._labels import common_stem, item_text, option_label, wrap  # noqa: E402

DPI = 110
WIDE = 11.0
WITHIN, ABOVE, NONE = "#2e7d32", "#c62828", "#777777"


@dataclass(frozen=True)
class Plot:
    """A written figure and the words it shows (the page's alt text, read back from
    the drawn figure where labels could have been shortened)."""

    path: Path
    alt: str


def _finite(*xs: float) -> bool:
    return all(x is not None and math.isfinite(float(x)) for x in xs)


def verdict(row: pd.Series) -> str:
    """The words for an item's within-noise verdict (a row of ``items_within_noise``).

    An item whose intervals are undefined is undecided, not "above noise":
    ``within`` is False there only because nothing could be shown.
    """
    if not _finite(row["wd"]):
        return "no virtual answers"
    if pd.notna(row["within"]) and bool(row["within"]):
        return "within noise"
    if not _finite(row["wd_low"], row["bound_high"]):
        return "no interval"
    return "above noise"


def verdict_colour(words: str) -> str:
    return {"within noise": WITHIN, "above noise": ABOVE}.get(words, NONE)


def within_noise_png(
    r: StudyResult, table: pd.DataFrame, panel: str, splits: int, path: Path
) -> Plot:
    """Per item: the panel's WD to the humans with its bootstrap interval, beside the
    WD between two random halves of the humans (mean over ``splits`` splits with its
    t-interval) and the band of human noise up to that interval's upper end."""
    items = r.humans.items
    t = table[table["method"] == panel].set_index("item").reindex([it.id for it in items])
    stem = common_stem([it.question for it in items])
    n = len(items)
    level = f"{r.spec.evaluation.level:.0%}"
    # Question labels and verdicts are drawn outside the axes and add ~2 inches.
    fig, ax = plt.subplots(figsize=(WIDE - 2.2, 1.9 + 0.62 * n))
    row_axis = transforms.blended_transform_factory(ax.transAxes, ax.transData)
    highs = [0.1]
    alt = []
    for i, it in enumerate(items):
        x = t.loc[it.id]
        wd, lo, hi = float(x["wd"]), float(x["wd_low"]), float(x["wd_high"])
        b, blo, bhi = float(x["bound"]), float(x["bound_low"]), float(x["bound_high"])
        words = verdict(x)
        colour = verdict_colour(words)
        if _finite(bhi):
            ax.barh(i, bhi, height=0.78, color="#e8e8e8", zorder=0)
        if _finite(blo, bhi):
            ax.hlines(i + 0.17, max(blo, 0.0), bhi, color="#555555", lw=1.6, zorder=2)
        if _finite(b):
            ax.plot(b, i + 0.17, "D", color="#555555", ms=5.5, zorder=3)
        if _finite(lo, hi):
            ax.hlines(i - 0.17, lo, hi, color=colour, lw=2.6, zorder=2)
            ax.plot([lo, hi], [i - 0.17] * 2, "|", color=colour, ms=9, mew=2, zorder=2)
        if _finite(wd):
            ax.plot(wd, i - 0.17, "o", color=colour, ms=7.5, zorder=3)
        highs += [v for v in (wd, hi, b, bhi) if _finite(v)]
        ax.text(
            1.012,
            i - 0.1,
            words,
            transform=row_axis,
            color=colour,
            fontsize=9.5,
            fontweight="bold",
            va="center",
            ha="left",
        )
        ax.text(
            1.012,
            i + 0.24,
            it.id,
            transform=row_axis,
            color="#777777",
            fontsize=7.5,
            va="center",
            ha="left",
        )
        alt.append(
            f"{it.id} ({item_text(it.question, stem)}): WD {wd:.3f} [{lo:.3f}, {hi:.3f}] vs "
            f"human halves {b:.3f} [{blo:.3f}, {bhi:.3f}]: {words}"
        )
    ax.set_yticks(range(n))
    ax.set_yticklabels(
        [wrap(item_text(it.question, stem), 46, lines=3) for it in items], fontsize=9
    )
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlim(0, max(highs) * 1.08)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(
        "Wasserstein distance to the human answers (positions 1..K; lower is closer)", fontsize=9
    )
    n_within = int(t["within"].fillna(False).astype(bool).sum())
    ax.set_title(
        f"Is the simulation within human noise?  {n_within} of {n} items",
        loc="left",
        fontsize=12,
        fontweight="bold",
        pad=24 if stem else 10,
    )
    if stem:
        ax.text(
            0,
            1.01,
            f"Every item begins: \u201c{stem}\u201d",
            transform=ax.transAxes,
            fontsize=8.5,
            color="#555555",
            va="bottom",
        )
    handles = [
        Line2D(
            [],
            [],
            color=WITHIN,
            marker="o",
            lw=2.6,
            ms=7,
            label=f"{panel} vs humans, {level} bootstrap interval (red: above noise)",
        ),
        Line2D(
            [],
            [],
            color="#555555",
            marker="D",
            lw=1.6,
            ms=5,
            label=f"two random halves of the humans: mean of {splits} splits, {level} t-interval",
        ),
        Patch(color="#e8e8e8", label="human noise: up to that interval's upper end"),
    ]
    height = fig.get_figheight()
    fig.subplots_adjust(bottom=0.62 / height, top=1 - 0.62 / height)
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        fontsize=8.5,
        frameon=False,
    )
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return Plot(path, "Within human noise, per item. " + "; ".join(alt))


def distributions_png(r: StudyResult, path: Path) -> Plot:
    """Human vs virtual response distributions per item (anthology and the baselines),
    titled by the question and labelled by the options' full words."""
    items = r.humans.items
    methods = [m for m in r.virtual if m.startswith("anthology/" + r.spec.matching.primary)] + [
        m for m in r.virtual if not m.startswith("anthology/")
    ]
    stem = common_stem([it.question for it in items])
    hd = distributions(r.humans.responses)
    vd = {m: distributions(r.virtual[m]) for m in methods}
    cols = min(3, len(items))
    rows = int(np.ceil(len(items) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(WIDE, 3.5 * rows), squeeze=False)
    width = 0.8 / (1 + len(methods))
    # One scale for every item, so bars compare across panels, up to the tallest bar.
    tallest = max(
        [
            float(np.nanmax(d))
            for d in (*hd, *(x for v in vd.values() for x in v))
            if np.isfinite(d).any()
        ]
        or [1.0]
    )
    top = min(1.0, np.ceil(tallest * 10) / 10 + 0.05)
    alt = []
    for j, it in enumerate(items):
        ax = axes[j // cols][j % cols]
        x = np.arange(it.k)
        ax.bar(x - 0.4 + width / 2, hd[j], width, label="human", color="black")
        for i, m in enumerate(methods):
            ax.bar(x - 0.4 + width * (i + 1.5), vd[m][j], width, label=m)
        ax.set_title(wrap(item_text(it.question, stem), 44, lines=3), loc="left", fontsize=8.5)
        ax.set_title(it.id, loc="right", fontsize=7, color="#777777")
        ax.set_xticks(x)
        ax.set_xticklabels([option_label(o, it.k) for o in it.options], fontsize=7.5)
        ax.tick_params(axis="y", labelsize=7.5)
        ax.set_ylim(0, top)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        drawn = " | ".join(" ".join(t.get_text().split()) for t in ax.get_xticklabels())
        alt.append(f"{it.id} ({item_text(it.question, stem)}): options {drawn}")
    for j in range(len(items), rows * cols):
        axes[j // cols][j % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=len(labels),
        fontsize=8.5,
        frameon=False,
    )
    if stem:
        fig.text(
            0.5,
            1.0 + 0.35 / (3.5 * rows),
            f"Every item begins: \u201c{stem}\u201d",
            ha="center",
            va="bottom",
            fontsize=8.5,
            color="#555555",
        )
    fig.tight_layout(h_pad=2.0)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return Plot(path, "Response distributions, human (black) vs virtual. " + "; ".join(alt))


def correlations_png(r: StudyResult, path: Path) -> Plot:
    """The human and the virtual (anthology, primary matching) correlation matrices side by side."""
    name = f"anthology/{r.spec.matching.primary}"
    if name not in r.virtual:
        name = next(iter(r.virtual))
    v = r.virtual[name]
    ch = weighted_corr(r.humans.responses.values, r.humans.responses.weights)
    cv = weighted_corr(v.values, v.weights)
    items = r.humans.items
    stem = common_stem([it.question for it in items])
    lines = 2 if len(items) <= 12 else 1
    rows = [f"{wrap(item_text(it.question, stem), 30, lines=lines)}\n{it.id}" for it in items]
    codes = [it.id for it in items]
    fig, axes = plt.subplots(1, 2, figsize=(WIDE, 0.9 + max(3.6, 0.55 * len(items))))
    for ax, m, title in ((axes[0], ch, "human (weighted)"), (axes[1], cv, f"virtual: {name}")):
        im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(codes)))
        ax.set_yticks(range(len(codes)))
        ax.set_xticklabels(codes, rotation=90, fontsize=7, color="#555555")
        # The right matrix shares the left one's rows: its labels would run into it.
        ax.set_yticklabels(rows if ax is axes[0] else [], fontsize=7.5)
        if len(codes) <= 10:
            for (a, b), c in np.ndenumerate(m):
                if np.isfinite(c):
                    ax.text(
                        b,
                        a,
                        f"{c:.2f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if abs(c) > 0.6 else "black",
                    )
    fig.colorbar(im, ax=axes, shrink=0.8)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return Plot(
        path,
        f"Correlation matrices of the items, human and {name}; rows: "
        + "; ".join(
            f"{c} ({item_text(it.question, stem)})" for c, it in zip(codes, items, strict=True)
        ),
    )


def metrics_png(table: pd.DataFrame, path: Path) -> Plot:
    """Mean WD and Frobenius per method with intervals; the lower bound as a reference."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, m in zip(axes, ("wd", "frobenius"), strict=True):
        t = table.dropna(subset=[m])
        y = np.arange(len(t))
        err = np.vstack([t[m] - t[f"{m}_low"], t[f"{m}_high"] - t[m]]).clip(min=0)
        colors = ["tab:gray" if "lower bound" in s else "tab:blue" for s in t["method"]]
        ax.barh(y, t[m], xerr=err, color=colors)
        ax.set_yticks(y)
        ax.set_yticklabels(t["method"], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(
            {
                "wd": "mean Wasserstein distance (lower is better)",
                "frobenius": "Frobenius distance of correlations",
            }[m],
            fontsize=9,
        )
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return Plot(path, "Mean WD and Frobenius distance per method with intervals")


def critic_png(critic: pd.DataFrame, threshold: float | None, path: Path) -> Plot | None:
    """Coherence scores of accepted and rejected attempts, with the threshold (None when
    no score was measured)."""
    scored = critic.dropna(subset=["coherence"])
    if scored.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    lo, hi = float(scored["coherence"].min()), float(scored["coherence"].max())
    bins = np.linspace(min(lo, threshold or lo) - 0.1, max(hi, threshold or hi) + 0.1, 30)
    for accepted, colour, label in (
        (True, "tab:green", "accepted"),
        (False, "tab:red", "rejected"),
    ):
        v = scored.loc[scored["accepted"] == accepted, "coherence"]
        if len(v):
            ax.hist(v, bins=bins, alpha=0.6, color=colour, label=f"{label} ({len(v)})")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g}")
    ax.set_xlabel("coherence: mean token log-probability under the critic model")
    ax.set_ylabel("attempts")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return Plot(path, "Coherence scores of accepted and rejected backstory attempts")
