"""Survey files as survey teams keep them: raw codes plus a :class:`Codebook`.

SPSS ``.sav`` and Stata ``.dta`` carry their own codebook (variable labels,
value labels, user-missing codes), which is derived here; ``.csv`` and
``.parquet`` need one beside them (Silico's codebook JSON). Every format ends
as the same thing: a frame of raw codes, user-missing codes already empty,
and a codebook in Silico's format, so :func:`load_survey` treats them alike.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from silico.core.data._survey import (
    _COMPRESSED,
    MAX_CSV_BYTES,
    Codebook,
    _raw_str,
    check_data_file,
)
from silico.core.errors import ValidationError

#: File suffix -> format name.
FORMATS = {".csv": "csv", ".parquet": "parquet", ".sav": "spss", ".dta": "stata"}
#: Formats whose file holds its own codebook.
LABELLED = ("spss", "stata")
#: The most a data file may take in memory once decoded: .sav rows are
#: byte-code compressed (up to 8x) and parquet pages can expand far more
#: than that, so the file-size cap alone does not bound memory.
MAX_DECODED_BYTES = 2 * MAX_CSV_BYTES

# Labels of codes that are answers about the question, not positions on it.
# A survey that does not declare them missing still must not have them ranked.
_NONSUBSTANTIVE = re.compile(
    r"\b(don'?t know|dk|do not know|refused?|no answer|not asked|inapplicable|iap|"
    r"skipped|not sure|prefer not|missing|n/?a|not applicable|uncodeable|can'?t choose)\b",
    re.IGNORECASE,
)


def data_format(path: str | Path, field: str = "data.path") -> str:
    """The format of a data file by its suffix; compressed or unknown files are refused.

    >>> data_format("survey.sav")
    'spss'
    >>> data_format("survey.csv.gz")
    Traceback (most recent call last):
    ...
    silico.core.errors.ValidationError: data.path: survey.csv.gz is compressed; give the plain file
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in _COMPRESSED or suffix == ".zsav":
        raise ValidationError(field, f"{p.name} is compressed; give the plain file")
    if suffix not in FORMATS:
        raise ValidationError(
            field, f"{p.name}: unsupported format {suffix or '(none)'}; give {', '.join(FORMATS)}"
        )
    return FORMATS[suffix]


def needs_codebook(path: str | Path) -> bool:
    """Whether a data file needs a codebook beside it (it carries no labels itself)."""
    return data_format(path) not in LABELLED


def is_nonsubstantive_label(label: str) -> bool:
    """Whether a value label marks a non-answer (don't know, refused, not asked ...).

    >>> is_nonsubstantive_label("Don't know"), is_nonsubstantive_label("Strongly agree")
    (True, False)
    """
    return bool(_NONSUBSTANTIVE.search(label))


def read_dataset(
    path: str | Path,
    codebook: Codebook | str | Path | None = None,
    *,
    field: str = "data.path",
    require_codebook: bool = True,
) -> tuple[pd.DataFrame, Codebook]:
    """Read a survey file: its raw codes and its codebook.

    Parameters
    ----------
    path : path
        ``.csv``, ``.parquet``, SPSS ``.sav`` or Stata ``.dta``; one row per respondent.
    codebook : Codebook or path to its JSON, optional
        Needed for ``.csv`` and ``.parquet``. For ``.sav``/``.dta`` it overrides
        the file's own metadata variable by variable.
    field : str
        Spec field named in errors about the file.
    require_codebook : bool
        False: a file without labels and without a codebook gets an empty one
        (for :func:`inspect_dataset`, which describes any file).

    Returns
    -------
    frame : DataFrame
        Raw codes; SPSS user-missing and Stata extended-missing values are NaN.
    codebook : Codebook
    """
    p = Path(path)
    fmt = data_format(p, field)
    check_data_file(p, field, MAX_CSV_BYTES)
    given = (
        codebook if codebook is None or isinstance(codebook, Codebook) else Codebook.load(codebook)
    )
    if fmt not in LABELLED and given is None and require_codebook:
        raise ValidationError(
            "data.codebook",
            f"{p.name} carries no question text or value labels; give its codebook (JSON), "
            "or the survey as a labelled .sav or .dta file",
        )
    if fmt == "csv":
        df, own = _read_csv(p, field), Codebook({})
    elif fmt == "parquet":
        df, own = _read_parquet(p, field), Codebook({})
    else:
        df, own = _read_labelled(p, fmt, field)
    if len(df) == 0:
        raise ValidationError(field, f"{p} has no rows")
    return df, own if given is None else own.updated(given)


def _read_csv(p: Path, field: str) -> pd.DataFrame:
    try:
        # No compression guessing: a small .gz can expand without bound.
        return pd.read_csv(p, low_memory=False, compression=None)
    except FileNotFoundError:
        raise ValidationError(field, f"file not found: {p}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValidationError(field, f"{p} is not a readable CSV: {e}") from None


def _read_parquet(p: Path, field: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(p).metadata
        decoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if decoded > MAX_DECODED_BYTES:
            raise ValidationError(
                field,
                f"{p.name} decodes to {decoded / 2**20:.0f} MB, above the "
                f"{MAX_DECODED_BYTES / 2**20:.0f} MB limit",
            )
        return pq.read_table(p).to_pandas()
    except ValidationError:
        raise
    except Exception as e:  # pyarrow raises several unrelated types for a bad file
        raise ValidationError(field, f"{p} is not a readable parquet file: {e}") from None


def _read_labelled(p: Path, fmt: str, field: str) -> tuple[pd.DataFrame, Codebook]:
    import pyreadstat

    what = "SPSS" if fmt == "spss" else "Stata"
    if fmt == "spss":
        with p.open("rb") as f:
            # $FL3 is the zlib-compressed variant (.zsav), whatever the suffix says.
            if f.read(4) == b"$FL3":
                raise ValidationError(field, f"{p.name} is zlib-compressed; save it uncompressed")
    reader = pyreadstat.read_sav if fmt == "spss" else pyreadstat.read_dta
    try:
        _, meta = reader(str(p), metadataonly=True)
        row_bytes = sum(max(8, int(w or 0)) for w in meta.variable_storage_width.values()) or 8
        max_rows = max(1, MAX_DECODED_BYTES // row_bytes)
        # The header's row count may be absent (-1), so the cap is also a read limit.
        raw, meta = reader(str(p), user_missing=True, output_format="dict", row_limit=max_rows + 1)
    except Exception as e:  # pyreadstat's own error types, I/O and decoding errors
        raise ValidationError(field, f"{p} is not a readable {what} file: {e}") from None
    if raw and len(next(iter(raw.values()))) > max_rows:
        raise ValidationError(
            field, f"{p.name} has more rows than fit the {MAX_DECODED_BYTES / 2**20:.0f} MB limit"
        )
    types = meta.readstat_variable_types
    labels = meta.column_names_to_labels or {}
    value_labels = meta.variable_value_labels or {}
    measures = meta.variable_measure or {}
    columns: dict[str, pd.Series] = {}
    variables: dict[str, dict[str, object]] = {}
    for name, values in raw.items():
        text = types.get(name) == "string"
        is_missing, shown = _missing_rule(fmt, name, meta, text)
        n_missing: Counter[str] = Counter()
        cleaned: list[Any] = []
        for v in values:
            if v is not None and is_missing(v):
                n_missing[shown(v)] += 1
                cleaned.append(None)
            else:
                cleaned.append(v)
        col = pd.Series(cleaned, dtype=object if text else float, name=name)
        if text:
            col = col.where(col.notna() & (col.astype(str).str.strip() != ""), None)
        columns[name] = col
        variables[name] = variable_entry(
            col,
            labels.get(name),
            value_labels.get(name, {}),
            n_missing=dict(n_missing),
            is_missing=is_missing,
            measure=str(measures.get(name) or "unknown"),
            source=what,
        )
        if fmt == "spss" and name in (meta.missing_ranges or {}):
            variables[name]["missing_codes"] = [_range_str(r) for r in meta.missing_ranges[name]]
        elif fmt == "stata" and name in (meta.missing_user_values or {}):
            variables[name]["missing_codes"] = [f".{c}" for c in meta.missing_user_values[name]]
    return pd.DataFrame(columns), Codebook(variables)


def _missing_rule(
    fmt: str, name: str, meta: Any, text: bool
) -> tuple[Callable[[Any], bool], Callable[[Any], str]]:
    """Which raw values of a column are user-missing, and how each is shown."""
    if fmt == "stata":
        # Extended missing .a-.z arrive as their letter; a string column has none.
        def stata(v: Any) -> bool:
            return not text and isinstance(v, str) and len(v) == 1 and v.isalpha()

        return stata, lambda v: f".{v}"
    ranges = (meta.missing_ranges or {}).get(name, [])
    if text:
        strings = {str(r["lo"]) for r in ranges}
        return (lambda v: str(v) in strings), str

    def spss(v: Any) -> bool:
        return isinstance(v, int | float) and any(r["lo"] <= v <= r["hi"] for r in ranges)

    return spss, code_str


def _range_str(r: Any) -> str:
    lo, hi = code_str(r["lo"]), code_str(r["hi"])
    return lo if lo == hi else f"{lo}..{hi}"


def code_str(x: object) -> str:
    """A code as the codebook keys it: 1.0 -> "1", 2.5 -> "2.5".

    >>> code_str(1.0), code_str(-9), code_str(2.5)
    ('1', '-9', '2.5')
    """
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def variable_entry(
    values: pd.Series,
    label: str | None,
    value_labels: Mapping[Any, str],
    *,
    n_missing: Mapping[str, int] | None = None,
    is_missing: Callable[[Any], bool] | None = None,
    measure: str = "unknown",
    source: str = "",
) -> dict[str, object]:
    """One variable of a codebook in Silico's format, from a column and its labels.

    The substantive labelled codes, ascending, are the ordinal order. A column
    becomes an ordinal (or binary) item only when every value it holds is a
    labelled code: a partly labelled number (an age with "89 or older") is
    continuous. Labels that read as non-answers (don't know, refused) make
    their codes non-substantive, so they are never ranked.
    """
    labels: dict[str, str] = {}
    numeric_codes: list[float] = []
    for code, text in value_labels.items():
        if isinstance(code, str):
            # A label of a Stata extended-missing letter.
            labels[f".{code}" if len(code) == 1 else code] = str(text)
            continue
        labels[code_str(code)] = str(text)
        # A declared missing code is never an answer, whatever its label says.
        if not (is_missing and is_missing(float(code))):
            numeric_codes.append(float(code))
    ints = [int(c) for c in numeric_codes if c.is_integer()]
    nonsub = sorted(c for c in ints if is_nonsubstantive_label(labels[str(c)]))
    substantive = sorted(c for c in ints if c not in set(nonsub))
    entry: dict[str, object] = {
        "question_label": " ".join(str(label).split()) if label else "",
        "value_labels": labels,
        "scale_type": "continuous",
        "ordinal_codes_in_order": [],
        "nonsubstantive_valid_codes": nonsub,
    }
    text = values.dtype == object
    observed = values.dropna()
    arr = [] if text else observed.to_numpy(float)
    allowed = set(substantive) | set(nonsub)
    if text:
        entry["scale_type"] = "text"
    elif len(substantive) >= 2 and all(x.is_integer() and int(x) in allowed for x in arr):
        entry["ordinal_codes_in_order"] = substantive
        kind = "binary" if len(substantive) == 2 else "ordinal"
        entry["scale_type"] = "nominal" if measure == "nominal" else kind
    elif not len(observed):
        entry["scale_type"] = "empty"
    n_nonsub = 0 if text else int(observed.isin([float(c) for c in nonsub]).sum())
    entry["n_valid"] = int(len(observed)) - n_nonsub
    entry["n_missing"] = dict(n_missing or {})
    entry["measure"] = measure
    if source:
        entry["source"] = source
    return entry


def counts(values: pd.Series) -> Counter[str]:
    """Respondents per raw value (keyed as trait value maps are: 1.0 -> "1"); empties left out."""
    c: Counter[str] = Counter()
    for x in values:
        k = _raw_str(x)
        if k is not None:
            c[k] += 1
    return c
