"""Write a study's report folder.

Layout of ``OUT/``::

    report.html          self-contained page (plots embedded)
    metrics.json         the numbers, machine-readable (fields in the README)
    tables/*.csv         items_within_noise, headline, matching, subgroups, demographic_fit,
                         compliance, dropped, usage, items, critic
    data/*.parquet|csv   personas, humans, matchings, answers
    plots/*.png          within_noise (the page's first figure), distributions, correlations, metrics

Files are written into a temporary folder and moved into place at the end, so
a failed report never leaves a half-written folder behind.
"""

from __future__ import annotations

import base64
import html
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from silico.core.sampling import derive_seed
from silico.files import MARKER, atomic_dir
from silico.llm import UsageLedger
from silico.pipeline.result import StudyResult
from silico.report import _plots, _tables
from silico.report._labels import clean, common_stem, item_text
from silico.report._plots import Plot


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return None if math.isnan(f) or math.isinf(f) else round(f, 6)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return _clean(df.to_dict(orient="records"))  # type: ignore[no-any-return]


def metrics_document(
    r: StudyResult, ledger: UsageLedger | None, tables: dict[str, pd.DataFrame]
) -> dict[str, Any]:
    acc = [b.accepted for b in r.backstories]
    reasons: dict[str, int] = {}
    for b in r.backstories:
        for v in b.verdicts:
            if not v.accepted:
                reasons[v.reason] = reasons.get(v.reason, 0) + 1
    return _clean(
        {
            "study": r.spec.name,
            "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seed": r.spec.seed,
            "model": r.spec.model.label,
            "n_humans": r.humans.n,
            "n_backstories": len(r.backstories),
            "n_personas": int(sum(acc)),
            "items": [it.id for it in r.humans.items],
            "headline": _records(tables["headline"]),
            "lower_bound": _records(tables["headline"].tail(1)),
            "items_within_noise": _records(tables["items_within_noise"]),
            "matching": _records(tables["matching"]),
            "subgroups": _records(tables["subgroups"]),
            "demographic_fit": {
                m: {
                    t: {"tvd": f.tvd, "agreement": f.agreement}
                    for t, f in r.diagnostics[m].traits.items()
                }
                for m in r.matchings
            },
            "reuse": {
                m: {
                    "unique_personas": r.diagnostics[m].unique_personas,
                    "max_reuse": r.diagnostics[m].max_reuse,
                    "histogram": r.diagnostics[m].reuse_histogram,
                }
                for m in r.matchings
            },
            "compliance": {
                "demographics": r.diagnostics["demographics_compliance"],
                "survey": r.diagnostics["survey_compliance"],
                "min_compliance": r.spec.survey.min_compliance,
            },
            "dropped_answers": r.diagnostics.get("dropped_answers", {}),
            "answer_attempts": r.diagnostics.get("answer_attempts", {}),
            "uncertainty": {
                "bootstrap": r.diagnostics.get("bootstrap_method", ""),
                "bootstrap_replicates": r.spec.evaluation.bootstrap,
                "level": r.spec.evaluation.level,
                "split_half": r.diagnostics.get("split_half", {}),
            },
            "critic": {"acceptance_rate": float(np.mean(acc)), "rejections_by_reason": reasons},
            "usage": _records(tables["usage"]),
            "higher_order": r.higher_order,
            "seconds": r.seconds,
            "spec": r.spec.model_dump(mode="json"),
        }
    )


def _fmt(v: Any, lo: Any = None, hi: Any = None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    s = f"{v:.3f}"
    if lo is not None and hi is not None and not (isinstance(lo, float) and math.isnan(lo)):
        # The estimate is one draw of the virtual answers; the replicates re-draw
        # them. An estimate outside its interval says its own draw was atypical.
        mark = "†" if not lo - 1e-12 <= v <= hi + 1e-12 else ""
        s += f"{mark} <span class=ci>[{lo:.3f}, {hi:.3f}]</span>"
    return s


def _metric_html(df: pd.DataFrame, metrics: tuple[str, ...], extra: tuple[str, ...] = ()) -> str:
    head = "".join(f"<th>{_tables.LABELS.get(m, m)}</th>" for m in metrics) + "".join(
        f"<th>{e}</th>" for e in extra
    )
    rows = []
    for _, row in df.iterrows():
        cells = "".join(
            f"<td>{_fmt(row.get(m), row.get(f'{m}_low'), row.get(f'{m}_high'))}</td>"
            for m in metrics
        )
        cells += "".join(f"<td>{_plain(row.get(e, ''))}</td>" for e in extra)
        rows.append(f"<tr><td>{html.escape(str(row['method']))}</td>{cells}</tr>")
    return f"<div class=scroll><table><tr><th>method</th>{head}</tr>{''.join(rows)}</table></div>"


def _plain(v: Any) -> str:
    """A count as a whole number, a share to 3 decimals, NaN as –."""
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "–"
        return str(int(v)) if float(v).is_integer() else f"{v:.3f}"
    return html.escape(str(v))


def _frame_html(df: pd.DataFrame, **kw: Any) -> str:
    """A pandas table in the page's style (no inline borders), scrolling sideways
    inside its box when wider than the page."""
    return f"<div class=scroll>{df.to_html(border=0, classes='frame', **kw)}</div>"


def _same_sign_cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "<td>–</td>"
    return "<td>yes</td>" if bool(v) else "<td><b>no</b></td>"


def _higher_order_html(r: StudyResult, tables: dict[str, pd.DataFrame]) -> str:
    if r.higher_order is None:
        return ""
    kinds = ["hostility", "meta_perception", "subversion"]
    gaps = tables["higher_order"]
    if "source" not in gaps:
        gaps = gaps.assign(source="virtual")
    has_human = bool((gaps["source"] == "human").any())
    rows = []
    for (item, party, source), g in gaps.groupby(["item", "party", "source"], sort=False):
        by_kind = g.set_index("gap").reindex(kinds).reset_index()
        cells = ""
        for _, x in by_kind.iterrows():
            cells += f"<td>{_fmt(x['value'], x['value_low'], x['value_high'])}</td>"
            cells += f"<td>{_fmt(x['d'], x['d_low'], x['d_high'])}</td>"
            if has_human:
                cells += _same_sign_cell(x.get("same_sign"))
        rows.append(
            f"<tr><td>{html.escape(str(item))}</td><td>{html.escape(str(party))}</td>"
            f"<td>{html.escape(str(source))}</td>{cells}</tr>"
        )
    sign_head = "<th>sign as human</th>" if has_human else ""
    head = "".join(
        f"<th>{k} gap</th><th>d</th>{sign_head}"
        for k in ("hostility", "meta-perception", "subversion")
    )
    means = _frame_html(
        tables["higher_order_means"], index=False, float_format=lambda x: f"{x:.2f}", na_rep="–"
    )
    wd = ""
    if "higher_order_wd" in tables and len(tables["higher_order_wd"]):
        wd = "<p>Wasserstein distance between human and virtual answers, per party and perspective:</p>"
        wd += _frame_html(
            tables["higher_order_wd"], index=False, float_format=lambda x: f"{x:.3f}", na_rep="–"
        )
    n = r.higher_order["n_partisan_personas"]
    n_used = r.higher_order.get("n_weighted_personas", n)
    human_note = (
        "Human rows come from the columns the study maps; the virtual rows say whether each gap has the human sign."
        if has_human
        else "No human answers to these items are mapped (the bundled data have none), so there is no human row."
    )
    return f"""<h2>Higher-order perceptions</h2>
<p>{n} personas whose annotated party is one of {", ".join(map(html.escape, r.spec.higher_order.parties))}
answered every item in its self, own-party (rating items), in-group, out-group and meta-perception variants;
the {n_used} of them matched to humans count, each weighted by the survey weights of its humans.
Answers are oriented so that a higher position (1..K) is the more negative answer. Gaps are differences of mean ratings,
with Cohen's d on the answers (each persona contributes its whole answer distribution, not just its expectation) and
{r.spec.evaluation.level:.0%} bootstrap intervals resampling personas within party.
Hostility: the party's rating of the other party minus its rating of itself (paired d<sub>z</sub>);
meta-perception: what the party believes the other would answer about it minus what the other actually answered;
subversion: how the other party sees this party's willingness minus this party's own willingness. {human_note}</p>
<div class=scroll><table><tr><th>item</th><th>party</th><th>source</th>{head}</tr>{"".join(rows)}</table></div>
{wd}
<p>Mean rating per perspective:</p>{means}"""


def _critic_html(r: StudyResult, tables: dict[str, pd.DataFrame], plot: Plot | None) -> str:
    """The critic: acceptance, rejections by reason, score distribution, and accepted
    and rejected backstories side by side (picked with the study seed, not by hand)."""
    c = r.spec.critic
    rng = np.random.default_rng(derive_seed(r.spec.seed, "report-examples"))
    accepted = [b.text for b in r.accepted()]
    rejected = [t for b in r.backstories for t in b.rejected_texts] + [
        b.text for b in r.backstories if not b.accepted
    ]

    def pick(texts: list[str], n: int = 4) -> list[str]:
        idx = rng.permutation(len(texts))[:n]
        return [texts[i] for i in sorted(idx)]

    def cell(texts: list[str]) -> str:
        return "".join(f"<pre>{html.escape(t[:1200])}</pre>" for t in texts) or "<p>none</p>"

    reasons = tables["critic_reasons"]
    checks = ["rules (language, words, repetition, first person, life fact, fiction, prompt copy)"]
    if c.min_coherence is not None:
        checks.append(f"coherence ≥ {c.min_coherence:g}")
    if c.use_model:
        checks.append("the critic model's verdict")
    n_att = sum(len(b.verdicts) for b in r.backstories)
    return f"""<h2>Backstories and the critic</h2>
<p>{"Critic off." if not c.enabled else "Checks, in order: " + html.escape("; ".join(checks)) + "."}
{len(accepted)} of {len(r.backstories)} personas accepted after {n_att} attempts.</p>
{_frame_html(reasons, index=False, float_format=lambda x: f"{x:.3f}") if len(reasons) else "<p>No rejections.</p>"}
{_img(plot) if plot else ""}
<table class=side><tr><th>accepted (random)</th><th>rejected (random)</th></tr>
<tr><td>{cell(pick(accepted))}</td><td>{cell(pick(rejected))}</td></tr></table>"""


def _subgroup_html(r: StudyResult, sub: pd.DataFrame) -> str:
    """Mean WD with its interval per group and method, the group's own human lower
    bound beside it, and the small-group warnings (groups are never dropped silently)."""
    if not len(sub):
        return "<p>No subgroups were asked for.</p>"
    sub = sub.assign(
        cell=[_fmt(x.wd, x.wd_low, x.wd_high) for x in sub.itertuples()],
    )
    bound = "human split-half (lower bound)"
    # The page shows the headline's panels; every matching is in tables/subgroups.csv.
    methods = [m for m in (*_tables.headline_panels(r), bound) if m in set(sub["method"])]
    cells = sub.set_index(["trait", "group", "method"])["cell"]
    warn = sub.groupby(["trait", "group"], sort=False)["warning"].agg(
        lambda w: "; ".join(dict.fromkeys(p for x in w.fillna("") for p in x.split("; ") if p))
    )
    sizes = sub.groupby(["trait", "group"], sort=False)["n"].first()
    head = "".join(f"<th>{html.escape(m)}</th>" for m in methods)
    rows = "".join(
        f"<tr><td>{html.escape(str(t))}</td><td class=l>{html.escape(str(g))}</td>"
        f"<td>{int(sizes[(t, g)])}</td>"
        + "".join(f"<td>{cells.get((t, g, m), '–')}</td>" for m in methods)
        + f"<td class=warn>{html.escape(str(w))}</td></tr>"
        for (t, g), w in warn.items()
    )
    table = (
        f"<div class=scroll><table><tr><th>trait</th><th class=l>group</th><th>n</th>{head}"
        f"<th class=l>warning</th></tr>{rows}</table></div>"
    )
    return (
        f"<p>Mean WD per subgroup with {r.spec.evaluation.level:.0%} intervals "
        f"({r.spec.evaluation.subgroup_bootstrap} replicates, clustered by persona) and each "
        f"group's own human split-half lower bound. Groups under "
        f"{r.spec.evaluation.min_subgroup} respondents carry a warning. Every matching method's "
        f"figures are in <code>tables/subgroups.csv</code>.</p>{table}"
    )


def _img(plot: Plot, caption: str = "") -> str:
    data = base64.b64encode(plot.path.read_bytes()).decode()
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return (
        f'<figure id="fig-{plot.path.stem}"><img alt="{html.escape(plot.alt)}" '
        f'src="data:image/png;base64,{data}">{cap}</figure>'
    )


def _item_name(question: str, code: str, stem: str = "") -> str:
    """An item as the page names it: its words, the variable code in small print."""
    return (
        f"<span class=q>{html.escape(item_text(question, stem))}</span> "
        f"<small class=code>{html.escape(code)}</small>"
    )


def _stem_note(stem: str) -> str:
    return f"<p class=stem>Every item begins: “{html.escape(stem)}”</p>" if stem else ""


def _within_noise_html(r: StudyResult, tables: dict[str, pd.DataFrame], plot: Plot | None) -> str:
    """The page's first answer: per item, is the simulation within human noise?"""
    t = tables["items_within_noise"]
    if plot is None or not len(t):
        return "<h2 id=within-noise>Is the simulation within human noise?</h2><p>No panel to judge.</p>"
    panel = str(t["method"].iloc[0])
    level = f"{r.spec.evaluation.level:.0%}"
    items = r.humans.items
    stem = common_stem([it.question for it in items])
    methods = list(dict.fromkeys(t["method"]))
    by = {m: t[t["method"] == m].set_index("item") for m in methods}
    head = "".join(f"<th>{html.escape(m)}<br><small>WD [{level}]</small></th>" for m in methods)
    rows = []
    for it in items:
        b = by[panel].loc[it.id]
        cells = "".join(
            f"<td>{_fmt(_num(by[m].loc[it.id, 'wd']), _num(by[m].loc[it.id, 'wd_low']), _num(by[m].loc[it.id, 'wd_high']))}</td>"
            for m in methods
        )
        words = _plots.verdict(b)
        cls = {"within noise": "in", "above noise": "out"}.get(words, "none")
        rows.append(
            f"<tr><td class=item>{_item_name(it.question, it.id, stem)}</td>{cells}"
            f"<td>{_fmt(_num(b['bound']), _num(b['bound_low']), _num(b['bound_high']))}</td>"
            f"<td class=verdict-{cls}>{words}</td></tr>"
        )
    n_in = int(by[panel]["within"].astype(bool).sum())
    sh = r.diagnostics.get("split_half", {})
    return f"""<h2 id=within-noise>Is the simulation within human noise?</h2>
<p class=answer><b>{n_in} of {len(items)} items</b> are within human noise for <b>{html.escape(panel)}</b>.
An item is <i>within human noise</i> when the lower end of the {level} interval of its virtual–human Wasserstein
distance (WD) is at or below the upper end of the {level} interval of the WD between two random halves of the humans
(<code>wd_low ≤ bound_high</code>): the data cannot tell the simulation's distance from the humans' own sampling noise.
An item with no virtual answer has no distance (–) and is never within.</p>
{_img(plot)}
<p class=small>Virtual intervals: {html.escape(r.diagnostics.get("bootstrap_method", "bootstrap"))}
({r.spec.evaluation.bootstrap} replicates). Human halves: mean over {r.spec.evaluation.split_half_iterations} random splits into
halves of {sh.get("half_size", r.humans.n // 2)} respondents, with a t-interval for that mean (as the headline bound).
Halves are half the size of the panel, so their distance is, if anything, larger than a perfect simulation's would be: the
judgement is lenient to the simulation, never harsh. Per item and method in <code>tables/items_within_noise.csv</code>.</p>
{f"<p class=note>{html.escape(sh['warning'])}.</p>" if sh.get("warning") else ""}
{_stem_note(stem)}
<div class=scroll><table class=items><tr><th>item</th>{head}<th>two halves of the humans<br><small>WD [{level}]</small></th><th>within human noise?<br><small>{html.escape(panel)}</small></th></tr>
{"".join(rows)}</table></div>"""


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _items_html(r: StudyResult) -> str:
    """Every item's full wording and its options in answer-position order."""
    stem = common_stem([it.question for it in r.humans.items])
    rows = "".join(
        f"<tr><td class=item>{_item_name(it.question, it.id, stem)}</td><td class=opts>"
        + " ".join(
            f"<span class=opt><b>{p}</b> {html.escape(clean(o))}</span>"
            for p, o in enumerate(it.options, 1)
        )
        + "</td></tr>"
        for it in r.humans.items
    )
    return (
        f"{_stem_note(stem)}<div class=scroll><table class=items><tr><th>item</th>"
        f"<th class=l>options (answer positions 1..K)</th></tr>{rows}</table></div>"
    )


def _dropped_html(r: StudyResult, drop: pd.DataFrame) -> str:
    if not len(drop):
        return "<p>No answers were dropped.</p>"
    stem = common_stem([it.question for it in r.humans.items])
    piv = drop.pivot_table(index="item", columns="method", values="dropped", aggfunc="sum")
    piv = piv.reindex([it.id for it in r.humans.items]).fillna(0).astype(int)
    head = "".join(f"<th>{html.escape(str(m))}</th>" for m in piv.columns)
    rows = "".join(
        f"<tr><td class=item>{_item_name(it.question, it.id, stem)}</td>"
        + "".join(f"<td>{v}</td>" for v in piv.loc[it.id])
        + "</tr>"
        for it in r.humans.items
    )
    n = f"of {r.humans.n} respondents per method and item"
    return (
        f"<div class=scroll><table class=items><tr><th>item <small>({n})</small></th>{head}</tr>"
        f"{rows}</table></div>"
    )


def _html(
    r: StudyResult, doc: dict[str, Any], tables: dict[str, pd.DataFrame], plots: dict[str, Plot]
) -> str:
    m = ("wd", "wd_norm", "frobenius", "cbs", "alpha_virtual", "alpha_human")
    sub_html = _subgroup_html(r, tables["subgroups"])
    drop = tables["dropped"]
    drop_html = _dropped_html(r, drop)
    total_dropped = int(drop["dropped"].sum()) if len(drop) else 0
    sh = r.diagnostics.get("split_half", {})
    sh_warning = (
        f"<p class=note>Lower bound: {html.escape(sh['warning'])}.</p>" if sh.get("warning") else ""
    )
    fit = pd.DataFrame(
        [
            {"method": mm, "trait": t, **v}
            for mm, tr in doc["demographic_fit"].items()
            for t, v in tr.items()
        ]
    )
    fit_html = (
        _frame_html(
            fit.pivot_table(index="trait", columns="method", values="tvd")
            .rename_axis(columns=None)
            .reset_index(),
            index=False,
            float_format=lambda x: f"{x:.3f}",
        )
        if len(fit)
        else ""
    )
    comp = tables["compliance"]
    comp_html = (
        comp.groupby(["stage", "method"])["compliance"]
        .mean()
        .reset_index()
        .pipe(_frame_html, index=False, float_format=lambda x: f"{x:.3f}")
    )
    usage_html = _frame_html(tables["usage"], index=False, na_rep="–")
    critic = doc["critic"]
    critic_html = _critic_html(r, tables, plots.get("critic"))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Silico study {html.escape(r.spec.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style></head><body>
<h1>Silico study: {html.escape(r.spec.name)}</h1>
<p class=lede>{html.escape(r.spec.description)}</p>
<p class=facts><b>{doc["n_humans"]}</b> human respondents, <b>{doc["n_personas"]}</b> personas accepted of {doc["n_backstories"]} backstories
(critic acceptance {critic["acceptance_rate"]:.1%}), {len(doc["items"])} items, model <code>{html.escape(r.spec.model.label)}</code>,
answers by {html.escape(r.spec.survey.estimator)} over option orders {", ".join(r.spec.survey.orders)}, seed {r.spec.seed}.</p>
{_within_noise_html(r, tables, plots.get("within_noise"))}
<h2>How the numbers were made</h2>
<p>Intervals: {r.spec.evaluation.level:.0%} {html.escape(r.diagnostics.get("bootstrap_method", "bootstrap"))}
({r.spec.evaluation.bootstrap} replicates).
Lower bound: mean over {r.spec.evaluation.split_half_iterations} random splits of the humans into halves of
<b>{sh.get("half_size", r.humans.n // 2)}</b> respondents, with a {r.spec.evaluation.level:.0%} interval for that mean.
Non-compliant answers (letter mass below {r.spec.survey.min_compliance:g} in every option order, or no parsable
sampled answer) are dropped, never guessed: <b>{total_dropped}</b> virtual answers were dropped (table below).
An estimate is computed on the one recorded draw of virtual answers; its interval re-draws them,
so an estimate marked † lies outside its interval: its own draw was atypical, and the interval is the better guide.
A correlation distance is shown as – when a virtual item never varies (its correlations are undefined; column
<i>corr_undefined</i>); a mean WD is – when an item has no virtual answer at all.</p>
{sh_warning}
<h2>Conditioning methods</h2>
<p>Anthology uses the <b>{html.escape(r.spec.matching.primary)}</b> matching. Lower WD / Frobenius / CBS is closer to the humans;
the last row is how close two random halves of the humans are to each other.</p>
{_metric_html(tables["headline"], m, ("corr_undefined", "items_missing"))}
{_img(plots["metrics"])}
<h2>Matching ablation (Anthology)</h2>
{_metric_html(tables["matching"].dropna(subset=["wd"]) if "wd" in tables["matching"] else tables["matching"], ("wd", "frobenius", "cbs", "alpha_virtual"), ("unique_personas", "max_reuse", "mean_trait_tvd"))}
<h2>Response distributions</h2>{_img(plots["distributions"])}
<h3>The items and their options</h3>{_items_html(r)}
<h2>Correlation matrices</h2>{_img(plots["correlations"])}
<h2>Subgroups</h2>{sub_html}
<h2>Demographic fit of the matched personas (total variation distance per trait)</h2>{fit_html}
<h2>Compliance</h2><p>Probability mass the model put on an option letter (1 = always answered with a letter).</p>{comp_html}
<h2>Dropped (non-compliant) answers</h2><p>Virtual answers per item and method that are missing because the
persona did not answer with an option; they are left out of every metric.</p>{drop_html}
{_higher_order_html(r, tables)}
<h2>Tokens and time per stage</h2>{usage_html}
{critic_html}
<p class=note>Numbers are produced by the pipeline as run; nothing here is tuned after the fact.
The machine-readable copy is <code>metrics.json</code>; tables are in <code>tables/</code>, individual answers and matchings in <code>data/</code>.</p>
</body></html>"""


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:1.2em auto 3em;padding:0 1em;color:#222;
line-height:1.45;font-size:15px}
h1{font-size:1.6em;margin:0.2em 0 0.3em}h2{margin:1.6em 0 0.4em;padding-top:0.3em;border-top:1px solid #e5e5e5}
h3{font-size:1.05em;margin:1.2em 0 0.3em}p.lede{margin:0.2em 0;color:#444}p.facts{margin:0.3em 0 0.6em;font-size:14px;color:#444}
p.answer{font-size:16px;margin:0.3em 0 0.6em}p.small,p.stem{font-size:13px;color:#555}p.stem{font-style:italic}
.scroll{overflow-x:auto;max-width:100%;margin:0.6em 0 1.4em}
table{border-collapse:collapse;margin:0}td,th{border:1px solid #d4d4d4;padding:4px 9px;font-size:13px;
text-align:right;vertical-align:top}
th{background:#f3f3f3;font-weight:600;vertical-align:bottom}th small{font-weight:400;color:#666}
tr:nth-child(even) td{background:#fafafa}td:first-child,th:first-child{text-align:left}
table.frame thead th{text-align:right}table.frame thead th:first-child{text-align:left}table.frame tbody th{text-align:left;background:#f8f8f8}
th.l,td.l,table.side th{text-align:left}td.warn{text-align:left;font-size:12px;color:#8a6d00;min-width:14em}
td .ci{display:block}
td.item{text-align:left;min-width:18em;max-width:34em}small.code{color:#888;font-size:11px;white-space:nowrap}
td.opts{text-align:left}span.opt{display:inline-block;margin:0 0.9em 0.15em 0;white-space:nowrap}span.opt b{color:#888;font-weight:600}
td.verdict-in{color:#2e7d32;font-weight:600}td.verdict-out{color:#c62828;font-weight:600}td.verdict-none{color:#777}
table.side td{vertical-align:top;text-align:left;width:50%;background:none}
.ci{color:#888;font-size:11px;white-space:nowrap}
figure{margin:0.6em 0}img{max-width:100%;height:auto}
pre{white-space:pre-wrap;background:#fafafa;padding:8px;font-size:12px}
.note{background:#fff8e1;padding:8px 12px;border-left:4px solid #f0c040}
"""


@dataclass(frozen=True)
class Report:
    """A written report: its folder, the metrics document (``metrics.json``) and the
    tables (``tables/*.csv``) as data frames."""

    path: Path
    doc: dict[str, Any]
    tables: dict[str, pd.DataFrame]


def write_report(r: StudyResult, out: str | Path, ledger: UsageLedger | None = None) -> Report:
    """Write the report folder for a study result, whole or not at all."""
    out = Path(out)
    with atomic_dir(out) as tmp:
        (tmp / MARKER).write_text("A Silico report folder: `silico` may replace it whole.\n")
        (tmp / "tables").mkdir()
        (tmp / "data").mkdir()
        (tmp / "plots").mkdir()
        tables = {
            "headline": _tables.headline(r),
            "matching": _tables.matching_ablation(r),
            "subgroups": _tables.subgroup_table(r),
            "demographic_fit": _tables.demographic_fit(r),
            "compliance": _tables.compliance(r),
            "dropped": _tables.dropped_table(r),
            "usage": _tables.usage_table(r, ledger),
            "items": _tables.item_table(r),
            "critic": _tables.critic_table(r),
            "critic_reasons": _tables.critic_reasons(r),
            "items_within_noise": _tables.items_within_noise(r),
        }
        if r.higher_order is not None:
            tables["higher_order"] = pd.DataFrame(r.higher_order["gaps"])
            tables["higher_order_means"] = pd.DataFrame(r.higher_order["means"])
            tables["higher_order_wd"] = pd.DataFrame(
                r.higher_order.get("wd", []),
                columns=["item", "party", "perspective", "wd", "wd_norm", "n_human", "n_virtual"],
            )
        for name, df in tables.items():
            df.to_csv(tmp / "tables" / f"{name}.csv", index=False)
        data = {
            "personas": r.persona_frame(),
            "humans": r.humans.to_frame(),
            "matchings": r.matching_frame(),
            "answers": r.answer_frame(),
        }
        for name, df in data.items():
            df.to_csv(tmp / "data" / f"{name}.csv", index=False)
            df.to_parquet(tmp / "data" / f"{name}.parquet", index=False)
        plots = {
            "distributions": _plots.distributions_png(r, tmp / "plots" / "distributions.png"),
            "correlations": _plots.correlations_png(r, tmp / "plots" / "correlations.png"),
            "metrics": _plots.metrics_png(tables["headline"], tmp / "plots" / "metrics.png"),
        }
        critic_plot = _plots.critic_png(
            tables["critic"], r.spec.critic.min_coherence, tmp / "plots" / "critic.png"
        )
        if critic_plot is not None:
            plots["critic"] = critic_plot
        panels = _tables.headline_panels(r)
        if panels:
            plots["within_noise"] = _plots.within_noise_png(
                r,
                tables["items_within_noise"],
                panels[0],
                r.spec.evaluation.split_half_iterations,
                tmp / "plots" / "within_noise.png",
            )
        doc = metrics_document(r, ledger, tables)
        (tmp / "metrics.json").write_text(json.dumps(doc, indent=2))
        (tmp / "report.html").write_text(_html(r, doc, tables, plots))
    return Report(out, doc, tables)
