"""Human survey data: an integer-coded respondent CSV plus its codebook."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from silico.core.errors import ValidationError
from silico.core.prompts import Item
from silico.core.stats import Responses
from silico.core.traits import Scheme, Trait, get_scheme, identity_scheme


@dataclass(frozen=True)
class TraitColumn:
    """Where a demographic trait lives in the data and how its values read.

    Parameters
    ----------
    trait : str
        Trait name (``"party"``): a catalogue trait, or the name of ``definition``.
    column : str
        Data column (``"pid3"``).
    scheme : str
        Built-in scheme name giving the survey's categories (``"party4"``);
        empty when the trait is given by ``definition``.
    values : mapping raw value -> category label or None, optional
        Raw values as strings (``"1"``, ``"Democrat"``); ``None`` marks a value
        as missing (e.g. "Not sure"). Without a mapping the raw values must be
        the scheme's labels. Values neither mapped nor empty are an error.
    definition : Trait, optional
        The study's own definition of the trait (:func:`~silico.core.traits.define_trait`):
        its categories are the survey's, each its own fine category.
    """

    trait: str
    column: str
    scheme: str = ""
    values: Mapping[str, str | None] | None = None
    definition: Trait | None = None

    def __post_init__(self) -> None:
        if (self.definition is None) == (not self.scheme):
            raise ValidationError(
                f"traits.{self.trait}", "give a built-in scheme or the trait's own definition"
            )
        if self.definition is not None and self.definition.name != self.trait:
            raise ValidationError(
                f"traits.{self.trait}", f"the definition is of trait {self.definition.name!r}"
            )

    def resolve(self) -> Scheme:
        """The survey's categories of the trait and how the asked ones map onto them."""
        if self.definition is not None:
            return identity_scheme(self.definition)
        scheme = get_scheme(self.scheme)
        if scheme.trait != self.trait:
            raise ValidationError(
                f"traits.{self.trait}", f"scheme {self.scheme!r} is for trait {scheme.trait!r}"
            )
        return scheme


#: The largest human data file read (a CSV of a million respondents is ~200 MB).
MAX_CSV_BYTES = 512 * 2**20
MAX_CODEBOOK_BYTES = 16 * 2**20
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar")


def check_data_file(path: Path, field: str, max_bytes: int) -> None:
    """Refuse, before reading, a data file that is compressed or too large.

    >>> check_data_file(Path("x.csv.gz"), "data.csv", 10)
    Traceback (most recent call last):
    ...
    silico.core.errors.ValidationError: data.csv: x.csv.gz is compressed; give the plain file
    """
    if path.suffix.lower() in _COMPRESSED:
        raise ValidationError(field, f"{path.name} is compressed; give the plain file")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ValidationError(field, f"file not found: {path}") from None
    if size > max_bytes:
        raise ValidationError(
            field,
            f"{path.name} is {size / 2**20:.0f} MB, above the {max_bytes / 2**20:.0f} MB limit",
        )


@dataclass(frozen=True)
class Codebook:
    """Per variable: question text, value labels, ordinal codes, non-substantive codes."""

    variables: Mapping[str, Mapping[str, object]]
    missing_codes: tuple[int, ...] = ()

    @classmethod
    def load(cls, path: str | Path) -> Codebook:
        p = Path(path)
        check_data_file(p, "codebook", MAX_CODEBOOK_BYTES)
        try:
            raw = json.loads(p.read_text())
        except FileNotFoundError:
            raise ValidationError("codebook", f"file not found: {p}") from None
        except json.JSONDecodeError as e:
            raise ValidationError("codebook", f"{p} is not valid JSON: {e}") from None
        if not isinstance(raw, dict):
            raise ValidationError("codebook", f"{p} must hold an object of variables")
        missing = tuple(int(k) for k in raw.get("_missing_codes", {}) if _is_int(k))
        variables = {k: v for k, v in raw.items() if not k.startswith("_") and isinstance(v, dict)}
        return cls(variables, missing)

    def updated(self, other: Codebook) -> Codebook:
        """This codebook with ``other``'s variables replacing its own (a codebook file
        given in a spec wins over the metadata of a labelled data file)."""
        missing = tuple(sorted(set(self.missing_codes) | set(other.missing_codes)))
        return Codebook({**self.variables, **other.variables}, missing)

    def item(self, name: str, reverse: bool = False, question: str | None = None) -> Item:
        """The ordinal item of a variable: its question and options in ordinal order.

        ``reverse=True`` flips the order (reverse-keyed items of a battery, so
        that higher positions mean the same direction on every item).
        ``question`` replaces the codebook's wording. A wording that looks cut
        (see :func:`looks_cut`) is refused: a model must be asked what
        respondents read, never a truncated variable label.
        """
        v = self.variables.get(name)
        if v is None:
            raise ValidationError(f"items.{name}", "not in the codebook")
        codes = [int(c) for c in v.get("ordinal_codes_in_order", []) or []]  # type: ignore[attr-defined]
        labels = v.get("value_labels", {}) or {}
        if len(codes) < 2:
            raise ValidationError(
                f"items.{name}", "has no ordinal codes in the codebook (not an ordinal item)"
            )
        missing_labels = [c for c in codes if str(c) not in labels]  # type: ignore[operator]
        if missing_labels:
            raise ValidationError(
                f"items.{name}", f"codes {missing_labels} have no label in the codebook"
            )
        if question is None:
            question = str(
                v.get("question") or v.get("question_label") or v.get("description") or name
            )
        if looks_cut(question):
            raise ValidationError(
                f"questionnaire.items.{name}",
                f"the question text looks cut ('...{question[-30:]}', {len(question)} characters); "
                "give the full wording as 'question' in the codebook or in questionnaire.questions",
            )
        if reverse:
            codes = codes[::-1]
        options = tuple(" ".join(str(labels[str(c)]).split()) for c in codes)  # type: ignore[index]
        return Item(name, " ".join(question.split()), options, tuple(codes))

    def nonsubstantive(self, name: str) -> set[int]:
        v = self.variables.get(name, {})
        return {int(c) for c in v.get("nonsubstantive_valid_codes", []) or []}  # type: ignore[attr-defined]


#: Lengths at which survey tools cut variable labels (CCES and Stata: 80; SPSS short labels).
CUT_LENGTHS = (80, 120, 255)


def looks_cut(question: str) -> bool:
    """Whether a question text looks truncated: at a usual label limit and not ending
    where a sentence or a prompt ends.

    >>> looks_cut("Racism - White people in the U.S. have certain advantages because of the color o")
    True
    >>> looks_cut("How warm or cold do you feel towards Democrats?")
    False
    """
    q = " ".join(question.split())
    if not q:
        return False
    ends = q[-1] in ".?!:)\"'…" or q.endswith("...")
    return any(n - 2 <= len(q) <= n for n in CUT_LENGTHS) and not ends


def _is_int(s: str) -> bool:
    try:
        int(s)
        return True
    except ValueError:
        return False


def _raw_str(x: object) -> str | None:
    """A cell as the string a value map is keyed by (1.0 -> "1"); None when empty."""
    if x is None or x is pd.NA:
        return None
    if isinstance(x, float):
        if math.isnan(x):
            return None
        if x.is_integer():
            return str(int(x))
    s = str(x).strip()
    return s or None


@dataclass(frozen=True)
class SurveyData:
    """Human respondents ready for matching and comparison.

    Attributes
    ----------
    ids : ndarray of str, shape (n,)
    items : list of Item
    responses : Responses
        Ordinal positions (1..K) per respondent and item; NaN for not asked,
        don't know, refused or non-substantive answers.
    traits : dict trait -> ndarray of int, shape (n,)
        Category index in the trait's scheme, -1 where missing.
    schemes : dict trait -> Scheme
    groups : dict column -> ndarray of object, shape (n,)
        Extra columns kept for subgroup analysis (raw values).
    """

    ids: np.ndarray
    items: list[Item]
    responses: Responses
    traits: dict[str, np.ndarray]
    schemes: dict[str, Scheme]
    groups: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(len(self.ids))

    def trait_labels(self, trait: str) -> np.ndarray:
        """Category labels of a trait per respondent (None where missing)."""
        cats = self.schemes[trait].categories
        return np.array([cats[c] if c >= 0 else None for c in self.traits[trait]], dtype=object)

    def to_frame(self) -> pd.DataFrame:
        """One row per respondent: id, weight, trait labels, group columns, item positions."""
        df = pd.DataFrame({"respondent_id": self.ids, "weight": self.responses.weights})
        for t in self.traits:
            df[t] = self.trait_labels(t)
        for g, v in self.groups.items():
            df[g] = v
        for j, it in enumerate(self.items):
            df[it.id] = self.responses.values[:, j]
        return df


def _needed(
    items: Sequence[str],
    traits: Sequence[TraitColumn],
    weight: str | None,
    filters: Mapping[str, Sequence[object]] | None,
    groups: Sequence[str],
    id_column: str | None,
) -> list[str]:
    needed = list(items) + [t.column for t in traits] + list(groups)
    needed += [weight] if weight else []
    needed += [id_column] if id_column else []
    needed += list((filters or {}).keys())
    return needed


def load_survey(
    data: pd.DataFrame | str | Path,
    codebook: Codebook | str | Path | None,
    items: Sequence[str],
    traits: Sequence[TraitColumn],
    weight: str | None = None,
    filters: Mapping[str, Sequence[object]] | None = None,
    groups: Sequence[str] = (),
    id_column: str | None = None,
    reverse: Sequence[str] = (),
    questions: Mapping[str, str] | None = None,
) -> SurveyData:
    """Load respondents from a survey file (or its frame of raw codes) and its codebook.

    Parameters
    ----------
    data : DataFrame or path
        One row per respondent: a frame of raw codes, or a ``.csv``,
        ``.parquet``, SPSS ``.sav`` or Stata ``.dta`` file (see
        :func:`read_dataset`).
    codebook : Codebook or path to its JSON, optional
        Needed for a frame, a ``.csv`` and a ``.parquet``; for ``.sav`` and
        ``.dta`` the file's own labels give it and this one overrides them.
    items : sequence of str
        Ordinal opinion items (variables with ``ordinal_codes_in_order``).
    traits : sequence of TraitColumn
    weight : str, optional
        Survey-weight column; unit weights when omitted. Rows with a missing or
        zero weight are dropped (they count for nothing in weighted estimates).
    filters : mapping column -> allowed values, optional
        Keep only rows whose column value is in the list (``{"year": [2018]}``).
    groups : sequence of str
        Columns kept verbatim for subgroup analysis.
    id_column : str, optional
        Respondent id column; row numbers when omitted.
    reverse : sequence of str
        Reverse-keyed items: their ordinal order is flipped so a battery points
        one way (needed for a meaningful Cronbach's alpha).
    questions : mapping item -> wording, optional
        Replaces the codebook's question text (a cut text is refused either way).

    Returns
    -------
    SurveyData

    Notes
    -----
    Per item, a cell is an ordinal code (kept as its position 1..K), a
    non-substantive code or one of the codebook's missing codes (NaN), or empty
    (NaN: not asked). Anything else is an error naming the column and value.
    """
    needed = _needed(items, traits, weight, filters, groups, id_column)
    if isinstance(data, pd.DataFrame):
        if codebook is None:
            raise ValidationError("data.codebook", "a frame of codes needs its codebook")
        cb = codebook if isinstance(codebook, Codebook) else Codebook.load(codebook)
        df, source = data, "the data"
        if len(df) == 0:
            raise ValidationError("data.path", "the data have no rows")
    else:
        from silico.core.data._readers import read_dataset

        # Only the columns used are read: the rest of a wide survey costs time and memory.
        df, cb = read_dataset(data, codebook, columns=needed)
        source = Path(data).name
    if not items:
        raise ValidationError("items", "at least one item is needed")
    absent = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if absent:
        raise ValidationError("data.columns", f"missing in {source}: {absent}")
    for col, allowed in (filters or {}).items():
        keep = {_raw_str(a) for a in allowed}
        df = df[df[col].map(_raw_str).isin(keep)]
    if weight:
        w = pd.to_numeric(df[weight], errors="coerce")
        if w.isna().all():
            raise ValidationError(f"data.weight.{weight}", "has no numeric values")
        if (w < 0).any():
            raise ValidationError(f"data.weight.{weight}", "has negative weights")
        df = df[w.notna() & (w > 0)]
        weights = pd.to_numeric(df[weight]).to_numpy(float)
    else:
        weights = np.ones(len(df))
    if len(df) == 0:
        raise ValidationError("data.filters", "no respondent is left after filters and weights")

    unknown = sorted(set(reverse) - set(items))
    if unknown:
        raise ValidationError("reverse", f"not among the items: {unknown}")
    item_objs = [
        cb.item(name, reverse=name in set(reverse), question=(questions or {}).get(name))
        for name in items
    ]
    values = np.full((len(df), len(items)), np.nan)
    for j, it in enumerate(item_objs):
        col = df[it.id]
        numeric = pd.to_numeric(col, errors="coerce")
        bad = col.notna() & numeric.isna()
        if bad.any():
            raise ValidationError(f"data.{it.id}", f"non-numeric value {col[bad].iloc[0]!r}")
        ignore = cb.nonsubstantive(it.id) | set(cb.missing_codes)
        pos = {c: i + 1 for i, c in enumerate(it.codes)}
        arr = numeric.to_numpy(float)
        for i, x in enumerate(arr):
            if math.isnan(x):
                continue
            if not x.is_integer():
                raise ValidationError(f"data.{it.id}", f"value {x} is not an integer code")
            code = int(x)
            if code in pos:
                values[i, j] = pos[code]
            elif code not in ignore:
                raise ValidationError(
                    f"data.{it.id}",
                    f"code {code} is outside the codebook (options {list(it.codes)})",
                )
    trait_codes: dict[str, np.ndarray] = {}
    schemes: dict[str, Scheme] = {}
    for k, tc in enumerate(traits):
        if tc.trait in schemes:
            raise ValidationError(f"data.traits[{k}].trait", f"{tc.trait!r} is mapped twice")
        scheme = tc.resolve()
        where = f"data.traits[{k}].values"
        index = {c: j for j, c in enumerate(scheme.categories)}
        out = np.full(len(df), -1, dtype=np.int64)
        for i, raw in enumerate(df[tc.column].map(_raw_str)):
            if raw is None:
                continue
            if tc.values is not None:
                if raw not in tc.values:
                    raise ValidationError(
                        where,
                        f"value {raw!r} of column {tc.column!r} is not mapped ({tc.trait}); "
                        "map it to a category, or to null if it means missing",
                    )
                label = tc.values[raw]
                if label is None:
                    continue
            else:
                label = raw
            if label not in index:
                got = f"is mapped to {label!r}, " if tc.values is not None else "is "
                raise ValidationError(
                    where,
                    f"value {raw!r} of column {tc.column!r} {got}not one of the {tc.trait} "
                    f"categories {list(scheme.categories)}; map it to one, or to null if it "
                    "means missing",
                )
            out[i] = index[label]
        trait_codes[tc.trait] = out
        schemes[tc.trait] = scheme
    # An id column read with an empty cell (or from .sav/.dta) is float: 12.0 is id "12".
    ids = (
        df[id_column].map(lambda x: _raw_str(x) if isinstance(x, float) else str(x)).to_numpy()
        if id_column
        else np.array([str(i) for i in df.index])
    )
    kept = {g: df[g].to_numpy(object) for g in groups}
    return SurveyData(
        ids=ids,
        items=item_objs,
        responses=Responses.build(values, [it.k for it in item_objs], weights),
        traits=trait_codes,
        schemes=schemes,
        groups=kept,
    )
