"""What a survey file holds, and a first study spec for it.

:func:`inspect_dataset` describes every variable and proposes the demographic
traits (a column, a built-in scheme, a value map), the survey weight, the
respondent id and the ordinal items; :func:`draft_spec` writes those
proposals as a study YAML the user checks and edits. :func:`coverage` says,
for loaded respondents, how complete their traits and question texts are.

Proposals are guesses from names and labels: they are written so that the
draft validates, not so that it is right.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from silico.core.data._readers import counts, data_format, is_nonsubstantive_label, read_dataset
from silico.core.data._survey import Codebook, SurveyData, looks_cut
from silico.core.errors import ValidationError
from silico.core.traits import CATALOGUE, SCHEMES, Scheme

#: Share of a column's answering respondents a trait proposal must place in a category.
MIN_MAPPED = 0.8
#: Rows described: every column is read, so a long file is described by its first
#: rows (enough for proposals; a study reads all rows of the columns it uses).
MAX_ROWS = 200_000

# Column names and labels that point at a trait: name-token prefixes, label pattern.
_HINTS: dict[str, tuple[tuple[str, ...], str]] = {
    "age": (("age",), r"\bage\b"),
    "gender": (("gender", "sex"), r"\b(gender|sex)\b"),
    "race": (("race", "ethnic"), r"\b(race|ethnic)"),
    "education": (("educ", "degree"), r"\b(educat|degree|schooling)"),
    "income": (("income", "faminc", "inc", "rincom", "hhinc"), r"\bincome\b"),
    "region": (("region",), r"\bregion\b"),
    "religion": (("relig",), r"\brelig"),
    "party": (("pid", "party", "partyid"), r"\b(party|partisan)"),
    "ideology": (("ideo", "polview"), r"\b(ideolog|liberal or conservative)"),
}
# Exact name tokens for the short prefixes (``inc`` must not catch ``incumbent``).
_EXACT_TOKENS = {"sex", "age", "inc"}

# Label patterns -> a catalogue (fine) category, first match wins; the scheme's
# matrix then gives its own category. Order matters ("high school graduate"
# before "graduate").
_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "gender": ((r"\bfemale|\bwom[ae]n\b|\bgirl", "Female"), (r"\bmale\b|\bm[ae]n\b|\bboy", "Male")),
    "race": (
        (r"hispanic|latin[oax]", "Hispanic"),
        (r"\bwhite\b|caucasian", "White"),
        (r"\bblack|african", "Black"),
        (r"\basian", "Asian"),
        (r"native american|american indian|alaska", "Native American"),
        (
            r"mixed|two or more|multi|biracial|\bother\b|middle eastern|pacific|hawaiian",
            "Other or mixed",
        ),
    ),
    "education": (
        (
            r"less than high|no hs|no high school|some high school|did not (graduate|finish)|grade|elementary",
            "Less than high school",
        ),
        (r"some college|college,? no degree|some university", "Some college, no degree"),
        (r"associate|2-?year|two-?year|junior college|community college", "Associate's degree"),
        (r"bachelor|4-?year|four-?year|college grad|\bb\.?[as]\.?\b", "Bachelor's degree"),
        (r"high school|hs grad|\bged\b|secondary", "High school graduate"),
        (r"post-?grad|graduate|master|doctor|professional|ph\.?d", "Postgraduate degree"),
    ),
    "region": (
        (r"north ?east|new england|middle atlantic|mid-?atlantic", "Northeast"),
        (r"mid-?west|north central", "Midwest"),
        (r"south", "South"),
        (r"west|mountain|pacific", "West"),
    ),
    "religion": (
        (r"catholic", "Catholic"),
        (
            r"protestant|baptist|methodist|lutheran|presbyterian|pentecostal|evangelical|episcopal",
            "Protestant",
        ),
        (r"jewish|judaism|\bjew\b", "Jewish"),
        (r"muslim|islam", "Muslim"),
        (
            r"atheist|agnostic|nothing in particular|\bnone\b|no religion|not religious|secular",
            "No religion",
        ),
        (
            r"mormon|orthodox|buddh|hindu|christian|\bother\b|something else|nondenominational|eastern|native",
            "Other religion",
        ),
    ),
    "party": (
        (r"\bother\b|something else|another party|third party", "Something else"),
        (r"independent|\blean|close to|neither|no preference", "Independent"),
        (r"democrat", "Democrat"),
        (r"republican", "Republican"),
    ),
    "ideology": (
        (r"(very|extremely|strongly) liberal", "Very liberal"),
        (r"(very|extremely|strongly) conservative", "Very conservative"),
        (r"liberal", "Liberal"),
        (r"conservative", "Conservative"),
        (r"moderate|middle of the road|centr", "Moderate"),
    ),
}

_WEIGHT = re.compile(r"weight|^wt|wt$|wgt|wtss|^w$", re.IGNORECASE)
_ID = re.compile(r"(^|_)(id|caseid|respid|responseid|respondent)$|^(case|resp)_?id", re.IGNORECASE)


@dataclass(frozen=True)
class VariableSummary:
    """One variable: what it is and how its respondents answered."""

    name: str
    label: str
    kind: str
    n_valid: int
    top: tuple[tuple[str, int, str], ...]
    """The most frequent values: (raw value, respondents, value label)."""
    missing: tuple[tuple[str, int], ...]
    """Missing and non-substantive codes with their respondents (``empty`` for blanks)."""
    role: str = ""
    span: tuple[float, float] | None = None
    """Smallest and largest value of an unlabelled number with many values (then no ``top``)."""


@dataclass(frozen=True)
class TraitProposal:
    """A demographic trait found in a column, read through a built-in scheme."""

    trait: str
    column: str
    scheme: str
    values: Mapping[str, str | None] | None
    mapped: float
    """Share of the column's answering respondents placed in a category."""
    covered: int
    """Categories of the scheme that some respondent falls in."""
    unmapped: tuple[str, ...] = ()
    """Labels no rule placed (mapped to null: check them)."""


@dataclass(frozen=True)
class ItemProposal:
    name: str
    question: str
    options: int
    cut: bool


@dataclass(frozen=True)
class Inspection:
    """What :func:`inspect_dataset` found in a survey file."""

    path: Path
    format: str
    n: int
    variables: tuple[VariableSummary, ...]
    traits: tuple[TraitProposal, ...]
    items: tuple[ItemProposal, ...]
    weight: str | None
    id_column: str | None
    codebook: Path | None
    needs_codebook: bool
    skipped: tuple[tuple[str, str], ...] = field(default=())
    """Ordinal-looking variables left out of the items, with the reason."""


def inspect_dataset(
    path: str | Path, codebook: str | Path | Codebook | None = None, top: int = 3
) -> Inspection:
    """Describe a survey file and propose its traits, weight, id and items.

    Parameters
    ----------
    path : path
        ``.sav``, ``.dta``, ``.parquet`` or ``.csv``.
    codebook : path or Codebook, optional
        Silico codebook JSON; for ``.sav``/``.dta`` it overrides the file's labels.
        Without one, a ``.csv`` or ``.parquet`` is described from its values
        alone (no item can be proposed).
    top : int
        Most frequent values listed per variable.
    """
    p = Path(path)
    fmt = data_format(p)
    df, cb = read_dataset(p, codebook, require_codebook=False, max_rows=MAX_ROWS)
    n = len(df)
    weight = _find_weight(df, cb)
    id_column = _find_id(df, cb, exclude={weight})
    taken = {c for c in (weight, id_column) if c}
    candidates = _trait_candidates(df, cb, taken)
    chosen: list[TraitProposal] = []
    used: set[str] = set()
    for trait in CATALOGUE:
        options = [c for c in candidates if c.trait == trait and c.column not in used]
        if options:
            best = max(options, key=_rank)
            chosen.append(best)
            used.add(best.column)
    trait_like = {c.column for c in candidates}
    items, skipped = _items(df, cb, exclude=taken | trait_like)
    roles = {c.column: f"trait {c.trait} ({c.scheme})" for c in chosen}
    roles.update({weight: "weight"} if weight else {})
    roles.update({id_column: "id"} if id_column else {})
    roles.update({it.name: "item" + (" (cut question text)" if it.cut else "") for it in items})
    summaries = tuple(_summary(df[c], c, cb, top, roles.get(c, "")) for c in df.columns)
    return Inspection(
        path=p,
        format=fmt,
        n=n,
        variables=summaries,
        traits=tuple(chosen),
        items=tuple(items),
        weight=weight,
        id_column=id_column,
        codebook=Path(codebook) if isinstance(codebook, str | Path) else None,
        needs_codebook=fmt not in ("spss", "stata") and codebook is None,
        skipped=tuple(skipped),
    )


# --- variables -------------------------------------------------------------------


def _var(cb: Codebook, name: str) -> Mapping[str, Any]:
    return cb.variables.get(name, {}) or {}


def _label(cb: Codebook, name: str) -> str:
    v = _var(cb, name)
    return " ".join(
        str(v.get("question") or v.get("question_label") or v.get("description") or "").split()
    )


def _value_labels(cb: Codebook, name: str) -> dict[str, str]:
    return {str(k): str(x) for k, x in (_var(cb, name).get("value_labels") or {}).items()}


def _nonsub_codes(cb: Codebook, name: str) -> set[str]:
    out = {str(c) for c in cb.nonsubstantive(name)} | {str(c) for c in cb.missing_codes}
    out |= {c for c, lab in _value_labels(cb, name).items() if is_nonsubstantive_label(lab)}
    return out


def _kind(col: pd.Series, cb: Codebook, name: str) -> str:
    st = _var(cb, name).get("scale_type")
    if st:
        return str(st)
    if pd.api.types.is_numeric_dtype(col):
        return "numeric"
    return "text"


def _summary(col: pd.Series, name: str, cb: Codebook, top: int, role: str) -> VariableSummary:
    c = counts(col)
    labels = _value_labels(cb, name)
    nonsub = _nonsub_codes(cb, name)
    missing = [(k, n) for k, n in c.items() if k in nonsub]
    declared = _var(cb, name).get("n_missing") or {}
    missing += [(str(k), int(n)) for k, n in declared.items() if n]
    empty = int(col.isna().sum()) - sum(int(n) for n in declared.values())
    if empty > 0:
        missing.append(("empty", empty))
    valid = [(k, n) for k, n in c.most_common() if k not in nonsub]
    span = None
    if not labels and len(valid) > 12 and pd.api.types.is_numeric_dtype(col):
        # Weights, ids, ages: the most frequent values say nothing, their range does.
        x = pd.to_numeric(col, errors="coerce").dropna()
        span = (float(x.min()), float(x.max()))
    return VariableSummary(
        name=name,
        label=_label(cb, name),
        kind=_kind(col, cb, name),
        n_valid=sum(n for _, n in valid),
        top=() if span else tuple((k, n, labels.get(k, "")) for k, n in valid[:top]),
        missing=tuple(missing),
        role=role,
        span=span,
    )


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z]+", name.lower()) if t]


def _find_weight(df: pd.DataFrame, cb: Codebook) -> str | None:
    for name in df.columns:
        col = df[name]
        hinted = _WEIGHT.search(str(name)) or re.search(r"\bweight", _label(cb, name), re.I)
        if not hinted or not pd.api.types.is_numeric_dtype(col) or _value_labels(cb, name):
            continue
        w = col.dropna().to_numpy(float)
        if len(w) and (w >= 0).all() and (w > 0).any():
            return str(name)
    return None


def _find_id(df: pd.DataFrame, cb: Codebook, exclude: set[str | None]) -> str | None:
    for name in df.columns:
        if name in exclude:
            continue
        hinted = _ID.search(str(name)) or re.search(
            r"\b(respondent|case) (id|identifier|number)\b", _label(cb, name), re.I
        )
        col = df[name]
        if hinted and col.notna().all() and col.is_unique:
            return str(name)
    return None


# --- traits ----------------------------------------------------------------------


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9$+']+", " ", s.lower()).split())


_NUM = re.compile(r"\d+(?:[ ,]\d{3})*(?:\.\d+)?\s*k?\b|\d+(?:\.\d+)?")


def parse_interval(label: str) -> tuple[float, float] | None:
    """The numeric range a band label names, as ``[low, high)``.

    >>> parse_interval("$10,000 - $19,999")
    (10000.0, 20000.0)
    >>> parse_interval("65+"), parse_interval("Less than $10,000"), parse_interval("89 or older")
    ((65.0, inf), (0.0, 10000.0), (89.0, inf))
    >>> parse_interval("Prefer not to say") is None
    True
    """
    s = label.lower().replace("\u2013", "-").replace("\u2014", "-")
    s = re.sub(r"^\s*\(?-?\d+[.)]\s+", "", s)  # a code printed before the label: "3. $20,000..."
    nums = []
    for m in _NUM.findall(s):
        t = m.strip()
        k = t.endswith("k")
        v = float(re.sub(r"[ ,k]", "", t))
        nums.append(v * 1000 if k else v)
    if not nums or len(nums) > 2:
        return None
    if len(nums) == 1:
        (a,) = nums
        if re.search(r"less than|under|below|fewer than|up to", s):
            return (0.0, a)
        if re.search(
            r"or more|or over|and over|or older|and older|or above|\+|more than|\bover\b|at least",
            s,
        ):
            return (a, math.inf)
        return (a, a + 1) if a.is_integer() else None
    a, b = nums
    if b < a:
        return None
    return (a, b + 1) if b.is_integer() else (a, b)


def _interval_bands(scheme: Scheme) -> list[tuple[float, float]] | None:
    bands = [parse_interval(c) for c in scheme.categories]
    if any(b is None for b in bands):
        return None
    return [b for b in bands if b is not None]


def _place(trait: str, scheme: Scheme, label: str, raw: str) -> tuple[str | None, bool]:
    """The scheme category a value reads as, and whether a rule or band placed it
    (False: nothing did, so it is left missing)."""
    norm = _norm(label)
    for c in scheme.categories:
        if _norm(c) == norm:
            return c, True
    if is_nonsubstantive_label(label):
        return None, True
    cat = CATALOGUE.get(trait)
    if cat is None:
        return None, False
    if cat.edges:
        bands = _interval_bands(scheme)
        span = parse_interval(label) or parse_interval(raw)
        if bands is None or span is None:
            return None, False
        for c, (lo, hi) in zip(scheme.categories, bands, strict=True):
            if span[0] >= lo and span[1] <= hi:
                return c, True
        return None, span[1] <= bands[0][0]  # below the first band (an age of 16): missing
    fine = [f for f in cat.categories if _norm(f) == norm]
    if not fine:
        text = re.sub(r"non-?hispanic|not hispanic", " ", label.lower())
        fine = [f for pat, f in _RULES.get(trait, ()) if re.search(pat, text)][:1]
    if not fine or fine[0] not in cat.categories:
        return None, False
    row = scheme.matrix[cat.categories.index(fine[0])]
    return (scheme.categories[int(np.argmax(row))] if row.sum() > 0 else None), True


def _hinted(trait: str, name: str, label: str) -> bool:
    prefixes, pattern = _HINTS[trait]
    toks = _tokens(name)
    if any(t == p if p in _EXACT_TOKENS else t.startswith(p) for t in toks for p in prefixes):
        return True
    return bool(label and re.search(pattern, label, re.IGNORECASE))


def _trait_candidates(df: pd.DataFrame, cb: Codebook, taken: set[str]) -> list[TraitProposal]:
    out = []
    for name in df.columns:
        if name in taken:
            continue
        label = _label(cb, name)
        traits = [t for t in _HINTS if t in CATALOGUE and _hinted(t, str(name), label)]
        if not traits:
            continue
        c = counts(df[name])
        if not c or len(c) > 200:
            continue
        labels = _value_labels(cb, name)
        # Labelled codes nobody chose here still get a place: the spec then reads a
        # fuller release of the same survey too.
        c.update({k: 0 for k in labels if not k.startswith(".") and k not in c})
        for trait in traits:
            for sname, scheme in SCHEMES.items():
                if scheme.trait != trait:
                    continue
                prop = _propose(trait, str(name), sname, scheme, c, labels)
                if prop is not None:
                    out.append(prop)
    return out


def _propose(
    trait: str,
    column: str,
    sname: str,
    scheme: Scheme,
    c: Counter[str],
    labels: Mapping[str, str],
) -> TraitProposal | None:
    values: dict[str, str | None] = {}
    unmapped: list[str] = []
    answering = placed = 0
    for raw, n in c.items():
        label = labels.get(raw, raw)
        cat, known = _place(trait, scheme, label, raw)
        values[raw] = cat
        if not known:
            unmapped.append(label)
        if cat is not None or not known:
            answering += n
        if cat is not None:
            placed += n
    covered = {v for v in values.values() if v is not None}
    if not answering or len(covered) < 2:
        return None
    share = placed / answering
    if share < MIN_MAPPED:
        return None
    plain = all(v == k for k, v in values.items())
    return TraitProposal(
        trait=trait,
        column=column,
        scheme=sname,
        values=None if plain else dict(sorted(values.items(), key=lambda kv: _sort_key(kv[0]))),
        mapped=share,
        covered=len(covered),
        unmapped=tuple(unmapped),
    )


def _sort_key(raw: str) -> tuple[int, float, str]:
    try:
        return (0, float(raw), raw)
    except ValueError:
        return (1, 0.0, raw)


def _rank(p: TraitProposal) -> tuple[int, float, bool, int]:
    # The finest reading first (race_eth5 over a white/black/other race), then the
    # most respondents placed, then a column already in the scheme's labels.
    return (p.covered, p.mapped, p.values is None, -len(p.values or {}))


# --- items -----------------------------------------------------------------------


def _items(
    df: pd.DataFrame, cb: Codebook, exclude: set[str]
) -> tuple[list[ItemProposal], list[tuple[str, str]]]:
    items: list[ItemProposal] = []
    skipped: list[tuple[str, str]] = []
    for name in df.columns:
        v = _var(cb, name)
        codes = [int(x) for x in v.get("ordinal_codes_in_order") or []]
        if len(codes) < 3 or name in exclude:
            continue
        if v.get("scale_type") in ("nominal", "continuous", "text") or v.get("battery") in (
            "demographic",
            "design",
        ):
            continue
        try:
            it = cb.item(name)
        except ValidationError as e:
            if "looks cut" in e.message:
                q = _label(cb, name)
                items.append(ItemProposal(name, q, len(codes), True))
            else:
                skipped.append((name, e.message))
            continue
        allowed = {str(x) for x in codes} | _nonsub_codes(cb, name)
        outside = sorted(set(counts(df[name])) - allowed, key=_sort_key)
        if outside:
            skipped.append((name, f"codes {outside[:5]} are not in the codebook"))
            continue
        items.append(ItemProposal(name, it.question, it.k, False))
    return items, skipped


# --- the draft spec ----------------------------------------------------------------


def _rel(target: Path, base: Path) -> str:
    try:
        rel = os.path.relpath(target.resolve(), base.resolve())
    except ValueError:  # another drive on Windows
        return str(target.resolve())
    # Far above the spec's folder, the absolute path reads better and moves as well.
    return str(target.resolve()) if rel.startswith(os.path.join("..", "..", "..")) else rel


def draft_spec(ins: Inspection, spec_path: str | Path) -> str:
    """A study YAML from an inspection, with paths relative to where it is written.

    It validates as written when the file needs no further codebook and has at
    least one ordinal item with its full question text; the comments list
    what to check (every trait map, the weight, the items left out).
    """
    base = Path(spec_path).resolve().parent
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", ins.path.stem) or "study"
    data: dict[str, Any] = {"path": _rel(ins.path, base)}
    if ins.codebook is not None:
        data["codebook"] = _rel(ins.codebook, base)
    if ins.id_column:
        data["id_column"] = ins.id_column
    if ins.weight:
        data["weight"] = ins.weight
    data["traits"] = [
        {"trait": t.trait, "column": t.column, "scheme": t.scheme}
        | ({"values": dict(t.values)} if t.values is not None else {})
        for t in ins.traits
    ]
    if ins.n >= 4:
        data["sample"] = min(100, ins.n)  # a first run small enough to look at
    ready = [it.name for it in ins.items if not it.cut]
    mapped = {t.trait for t in ins.traits}
    doc: dict[str, Any] = {
        "name": name,
        "description": f"Drafted by `silico data inspect` from {ins.path.name}.",
        "seed": 0,
        "data": data,
        "questionnaire": {"items": ready or ["EDIT_ME"]},
        "backstories": {"count": 120},
        "evaluation": {"subgroups": [t for t in ("race", "age", "party") if t in mapped]},
    }
    head = [
        f"# A draft study spec for {ins.path.name}, written by `silico data inspect`.",
        "# Its proposals are guesses from names and labels: check every trait's column and",
        "# value map (null = missing), the weight and the items, then `silico validate` it.",
    ]
    if ins.needs_codebook:
        head.append("# This file has no labels: add `codebook:` (a codebook JSON) under data.")
    if not ready:
        head.append("# No ordinal item with its full question text was found: list the items.")
    for t in ins.traits:
        if t.unmapped:
            shown = ", ".join(repr(u) for u in t.unmapped[:6])
            head.append(f"# {t.trait} ({t.column}): no rule placed {shown}; they map to null.")
    tail = []
    cut = [it for it in ins.items if it.cut]
    if cut:
        tail += [
            "",
            "# Items whose question text looks cut at a label limit: a model must read what",
            "# respondents read. Give the full wording under questionnaire.questions, then",
            "# add them to questionnaire.items:",
        ]
        tail += [f"#   {it.name}: {it.question!r}" for it in cut]
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(head) + "\n" + body + ("\n".join(tail) + "\n" if tail else "")


# --- coverage of loaded respondents ------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """How complete loaded respondents are for matching and asking."""

    n: int
    complete: int
    """Respondents with every trait."""
    shares: dict[str, dict[str, float]]
    """Per trait, the share of respondents in each category, and ``"missing"``."""
    cut: tuple[str, ...]
    """Items whose question text looks cut."""
    no_question: tuple[str, ...]
    """Items without question text (asked by their variable name)."""


def coverage(humans: SurveyData) -> Coverage:
    """Trait completeness and category shares, and items with cut or absent wording."""
    n = humans.n
    have = np.ones(n, dtype=bool)
    shares: dict[str, dict[str, float]] = {}
    for t, codes in humans.traits.items():
        have &= codes >= 0
        cats = humans.schemes[t].categories
        row: dict[str, float] = {
            c: float(np.mean(codes == j)) if n else 0.0 for j, c in enumerate(cats)
        }
        row["missing"] = float(np.mean(codes < 0)) if n else 0.0
        shares[t] = row
    cut = tuple(it.id for it in humans.items if looks_cut(it.question))
    none = tuple(it.id for it in humans.items if not it.question.strip() or it.question == it.id)
    return Coverage(n=n, complete=int(have.sum()), shares=shares, cut=cut, no_question=none)


def summarize(values: Sequence[str], most: int = 6) -> str:
    """A short list for a one-line printout.

    >>> summarize(["a", "b", "c"], most=2)
    'a, b and 1 more'
    """
    if len(values) <= most:
        return ", ".join(values)
    return ", ".join(values[:most]) + f" and {len(values) - most} more"
