"""The report's tables as pandas DataFrames (the CSVs, the HTML and metrics.json use them)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from silico.core.stats import COUNTS, METRICS, compare, distributions
from silico.llm import UsageLedger
from silico.pipeline.registry import STAGE_NAMES
from silico.pipeline.result import StudyResult

LABELS = {
    "wd": "WD (raw)",
    "wd_norm": "WD (/(K-1))",
    "frobenius": "Frobenius",
    "cbs": "CBS",
    "l1": "L1",
    "alpha_human": "alpha (human)",
    "alpha_virtual": "alpha (virtual)",
}


def _row(name: str, ci: dict) -> dict:  # type: ignore[type-arg]
    out: dict[str, object] = {"method": name}
    for m in METRICS:
        out[m] = ci[m].estimate
        out[f"{m}_low"] = ci[m].low
        out[f"{m}_high"] = ci[m].high
    for c in COUNTS:
        if c in ci:
            out[c] = ci[c].estimate
    return out


def headline(r: StudyResult) -> pd.DataFrame:
    """Conditioning methods x metrics (anthology with the primary matching), then the lower bound."""
    primary = f"anthology/{r.spec.matching.primary}"
    rows = []
    if primary in r.comparisons:
        rows.append(_row("anthology", r.comparisons[primary]))
    for m in r.spec.conditioning:
        if m != "anthology" and m in r.comparisons:
            rows.append(_row(m, r.comparisons[m]))
    rows.append(_row("human split-half (lower bound)", r.lower_bound))
    return pd.DataFrame(rows)


def headline_panels(r: StudyResult) -> list[str]:
    """The panels of the headline, in its order: Anthology with the primary matching
    (any other matching when the primary one was skipped), then the baselines."""
    primary = f"anthology/{r.spec.matching.primary}"
    anthology = [primary] if primary in r.comparisons else []
    if not anthology:
        anthology = [m for m in r.comparisons if m.startswith("anthology/")][:1]
    baselines = [m for m in r.spec.conditioning if m != "anthology" and m in r.comparisons]
    return anthology + baselines


#: Columns of ``tables/items_within_noise.csv`` (and the ``items_within_noise`` rows
#: of metrics.json).
NOISE_COLUMNS = [
    "method",
    "item",
    "question",
    "wd",
    "wd_low",
    "wd_high",
    "wd_replicates",
    "bound",
    "bound_low",
    "bound_high",
    "within",
]


def items_within_noise(r: StudyResult) -> pd.DataFrame:
    """Per headline panel and item: the virtual-human WD with its bootstrap interval,
    the human split-half WD with its t-interval, and whether the item is within
    human noise (``ItemNoise.within``)."""
    rows = []
    for name in headline_panels(r):
        for it, x in zip(r.humans.items, r.items_within_noise.get(name, []), strict=False):
            rows.append(
                {
                    "method": name,
                    "item": it.id,
                    "question": it.question,
                    "wd": x.wd.estimate,
                    "wd_low": x.wd.low,
                    "wd_high": x.wd.high,
                    "wd_replicates": x.wd.n,
                    "bound": x.bound.estimate,
                    "bound_low": x.bound.low,
                    "bound_high": x.bound.high,
                    "within": x.within,
                }
            )
    return pd.DataFrame(rows, columns=NOISE_COLUMNS)


def matching_ablation(r: StudyResult) -> pd.DataFrame:
    rows = []
    for method in r.spec.matching.methods:
        key = f"anthology/{method}"
        if key in r.comparisons:
            row = _row(method, r.comparisons[key])
            d = r.diagnostics[method]
            row["unique_personas"] = d.unique_personas
            row["max_reuse"] = d.max_reuse
            row["mean_log_weight"] = d.log_weight_mean
            row["mean_trait_tvd"] = float(np.mean([f.tvd for f in d.traits.values()]))
            rows.append(row)
        else:
            rows.append(
                {"method": method, "skipped": r.diagnostics.get(method, {}).get("skipped", "")}
            )
    return pd.DataFrame(rows)


def subgroup_table(r: StudyResult) -> pd.DataFrame:
    """Per subgroup trait, group and method (the humans' own split-half row included):
    n, every metric with its interval, and a warning for small groups."""
    rows = []
    for trait, by_method in r.subgroups.items():
        for method, groups in by_method.items():
            for label, g in groups.items():
                rows.append(
                    {"trait": trait, "group": label, "n": g.n, "warning": g.warning}
                    | _row(method, g.metrics)
                )
        for label, g in r.subgroup_bounds.get(trait, {}).items():
            rows.append(
                {"trait": trait, "group": label, "n": g.n, "warning": g.warning}
                | _row("human split-half (lower bound)", g.metrics)
            )
    return pd.DataFrame(rows)


def dropped_table(r: StudyResult) -> pd.DataFrame:
    """Virtual answers dropped as non-compliant, per method and item (they are missing)."""
    rows = []
    for method, d in r.diagnostics.get("dropped_answers", {}).items():
        n = r.virtual[method].n
        for item, k in d["items"].items():
            rows.append({"method": method, "item": item, "dropped": k, "of": n})
    return pd.DataFrame(rows, columns=["method", "item", "dropped", "of"])


def demographic_fit(r: StudyResult) -> pd.DataFrame:
    rows = []
    for method in r.matchings:
        d = r.diagnostics[method]
        for trait, fit in d.traits.items():
            cats = r.humans.schemes[trait].categories
            for c, label in enumerate(cats):
                rows.append(
                    {
                        "method": method,
                        "trait": trait,
                        "category": label,
                        "human_share": fit.human[c],
                        "matched_share": fit.matched[c],
                        "trait_tvd": fit.tvd,
                        "agreement": fit.agreement,
                    }
                )
    return pd.DataFrame(rows)


def compliance(r: StudyResult) -> pd.DataFrame:
    rows = [
        {"stage": "demographics", "method": "anthology", "what": t, "compliance": v}
        for t, v in r.diagnostics["demographics_compliance"].items()
    ]
    for j, it in enumerate(r.humans.items):
        if r.persona_compliance.size:
            rows.append(
                {
                    "stage": "survey",
                    "method": "anthology",
                    "what": it.id,
                    "compliance": float(r.persona_compliance[:, j].mean()),
                }
            )
        for m, c in r.baseline_compliance.items():
            rows.append(
                {"stage": "survey", "method": m, "what": it.id, "compliance": float(c[:, j].mean())}
            )
    acc = [b.accepted for b in r.backstories]
    rows.append(
        {
            "stage": "backstory",
            "method": "critic",
            "what": "acceptance_rate",
            "compliance": float(np.mean(acc)),
        }
    )
    return pd.DataFrame(rows)


CRITIC_COLUMNS = ["persona_id", "attempt", "accepted", "reason", "detail", "coherence"]


def critic_table(r: StudyResult) -> pd.DataFrame:
    """Every critic verdict: per persona and attempt, the reason and the coherence score."""
    rows = []
    for b in r.backstories:
        for a, v in enumerate(b.verdicts):
            rows.append(
                {
                    "persona_id": b.id,
                    "attempt": a + 1,
                    "accepted": v.accepted,
                    "reason": v.reason,
                    "detail": v.detail,
                    "coherence": v.score,
                }
            )
    return pd.DataFrame(rows, columns=CRITIC_COLUMNS)


def critic_reasons(r: StudyResult) -> pd.DataFrame:
    """Rejections by reason over all attempts, with the share of attempts they stand for."""
    verdicts = [v for b in r.backstories for v in b.verdicts]
    counts: dict[str, int] = {}
    for v in verdicts:
        if not v.accepted:
            counts[v.reason] = counts.get(v.reason, 0) + 1
    rows = [
        {"reason": k, "rejections": n, "share_of_attempts": n / max(len(verdicts), 1)}
        for k, n in sorted(counts.items(), key=lambda kv: -kv[1])
    ]
    return pd.DataFrame(rows, columns=["reason", "rejections", "share_of_attempts"])


def usage_table(r: StudyResult, ledger: UsageLedger | None) -> pd.DataFrame:
    snap = ledger.snapshot() if ledger else {}
    rows = []
    for stage in STAGE_NAMES:
        u = snap.get(stage)
        rows.append(
            {
                "stage": stage,
                "seconds": round(r.seconds.get(stage if stage != "critic" else "backstory", 0.0), 2)
                if stage != "critic"
                else None,
                "calls": u.calls if u else 0,
                "prompt_tokens": u.prompt if u else 0,
                "prefix_cached_tokens": u.cached if u else 0,
                "computed_prompt_tokens": (u.prompt - u.cached) if u else 0,
                "generated_tokens": u.generated if u else 0,
                "response_cache_hits": u.cache_hits if u else 0,
            }
        )
    return pd.DataFrame(rows)


def item_table(r: StudyResult) -> pd.DataFrame:
    """Per item: the human distribution, each method's distribution and its WD."""
    hd = distributions(r.humans.responses)
    rows = []
    for name in ["human", *r.virtual]:
        if name == "human":
            dists, wd = hd, np.zeros(len(hd))
        else:
            dists = distributions(r.virtual[name])
            wd = compare(r.humans.responses, r.virtual[name]).wd_items
        for j, it in enumerate(r.humans.items):
            rows.append(
                {
                    "item": it.id,
                    "question": it.question,
                    "k": it.k,
                    "method": name,
                    "distribution": np.round(dists[j], 4).tolist(),
                    "wd": float(wd[j]),
                }
            )
    return pd.DataFrame(rows)
