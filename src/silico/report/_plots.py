"""The report's figures (PNG, matplotlib without a display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from silico.core.stats import distributions, weighted_corr  # noqa: E402
from silico.pipeline.result import StudyResult  # noqa: E402


def distributions_png(r: StudyResult, path: Path) -> Path:
    """Human vs virtual response distributions per item (anthology and the baselines)."""
    items = r.humans.items
    methods = [m for m in r.virtual if m.startswith("anthology/" + r.spec.matching.primary)] + [
        m for m in r.virtual if not m.startswith("anthology/")
    ]
    hd = distributions(r.humans.responses)
    vd = {m: distributions(r.virtual[m]) for m in methods}
    cols = min(4, len(items))
    rows = int(np.ceil(len(items) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    width = 0.8 / (1 + len(methods))
    for j, it in enumerate(items):
        ax = axes[j // cols][j % cols]
        x = np.arange(it.k)
        ax.bar(x - 0.4 + width / 2, hd[j], width, label="human", color="black")
        for i, m in enumerate(methods):
            ax.bar(x - 0.4 + width * (i + 1.5), vd[m][j], width, label=m)
        ax.set_title(f"{it.id}", fontsize=9)
        ax.set_xticks(x)
        ax.set_xticklabels([o[:12] for o in it.options], rotation=45, ha="right", fontsize=7)
        ax.set_ylim(0, 1)
    for j in range(len(items), rows * cols):
        axes[j // cols][j % cols].axis("off")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Response distributions: human (black) vs virtual")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def correlations_png(r: StudyResult, path: Path) -> Path:
    """The human and the virtual (anthology, primary matching) correlation matrices side by side."""
    name = f"anthology/{r.spec.matching.primary}"
    v = r.virtual.get(name) or next(iter(r.virtual.values()))
    ch = weighted_corr(r.humans.responses.values, r.humans.responses.weights)
    cv = weighted_corr(v.values, v.weights)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    labels = [it.id for it in r.humans.items]
    for ax, m, title in ((axes[0], ch, "human (weighted)"), (axes[1], cv, f"virtual: {name}")):
        im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(title)
        ax.set_xticks(range(len(labels)))
        ax.set_yticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
        ax.set_yticklabels(labels, fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def metrics_png(table: pd.DataFrame, path: Path) -> Path:
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def critic_png(critic: pd.DataFrame, threshold: float | None, path: Path) -> Path | None:
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
