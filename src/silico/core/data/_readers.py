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
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
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


def dataset_columns(path: str | Path, field: str = "data.path") -> list[str]:
    """The column names of a survey file, read from its header alone."""
    p = Path(path)
    fmt = data_format(p, field)
    check_data_file(p, field, MAX_CSV_BYTES)
    try:
        if fmt == "csv":
            return [str(c) for c in pd.read_csv(p, nrows=0, compression=None).columns]
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(p).schema_arrow.names)
        _refuse_zsav(p, fmt, field)
        return list(_labelled_meta(p, fmt).column_names)
    except ValidationError:
        raise
    except Exception as e:  # each reader raises its own types for a bad file
        raise ValidationError(field, f"{p} is not a readable {_NAMES[fmt]} file: {e}") from None


def read_dataset(
    path: str | Path,
    codebook: Codebook | str | Path | None = None,
    *,
    field: str = "data.path",
    require_codebook: bool = True,
    columns: Iterable[str] | None = None,
    max_rows: int | None = None,
    max_decoded_bytes: int | None = None,
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
    columns : iterable of str, optional
        Read only these (those the file has, in the file's order; the caller
        reports the ones it lacks). All columns when omitted.
    max_rows : int, optional
        Read at most this many rows, the first ones.
    max_decoded_bytes : int, optional
        The most the read columns may take in memory (default
        :data:`MAX_DECODED_BYTES`); reading stops with a ValidationError as
        soon as they take more.

    Returns
    -------
    frame : DataFrame
        Raw codes; SPSS user-missing and Stata extended-missing values are NaN.
        Dates and times are numbers (SPSS seconds since 1582, Stata days or
        milliseconds since 1960).
    codebook : Codebook
        The file's own metadata for the read columns, updated by ``codebook``.
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
    if max_rows is not None and max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    want = None if columns is None else set(columns)
    limit = _Limit(p, field, MAX_DECODED_BYTES if max_decoded_bytes is None else max_decoded_bytes)
    if fmt == "csv":
        df, own = _read_csv(p, field, want, max_rows, limit), Codebook({})
    elif fmt == "parquet":
        df, own = _read_parquet(p, field, want, max_rows, limit), Codebook({})
    else:
        df, own = _read_labelled(p, fmt, field, want, max_rows, limit)
    # Without any asked-for column there is nothing to count; the caller names what lacks.
    if len(df) == 0 and (want is None or len(df.columns)):
        raise ValidationError(field, f"{p} has no rows")
    return df, own if given is None else own.updated(given)


#: Format name -> how errors name it.
_NAMES = {"csv": "CSV", "parquet": "parquet", "spss": "SPSS", "stata": "Stata"}
# Bytes one chunk of rows aims at: the cap is checked between chunks, so this
# is about how far past it a read can get before it stops.
_CHUNK_BYTES = 32 * 2**20
# A Python str's own size beside its characters (sys.getsizeof("") is 49).
_STR_OVERHEAD = 57


class _Limit:
    """Decoded bytes read so far, refused past the cap."""

    def __init__(self, p: Path, field: str, cap: int) -> None:
        self.p, self.field, self.cap, self.used = p, field, cap, 0

    def add(self, nbytes: int) -> None:
        self.used += int(nbytes)
        if self.used > self.cap:
            raise ValidationError(
                self.field,
                f"{self.p.name} takes more than {_mb(self.cap)} in memory once decoded "
                f"(stopped after {_mb(self.used)}); give fewer rows or columns",
            )


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"


def _frame_bytes(df: pd.DataFrame) -> int:
    # deep=True counts every string object with its characters.
    return int(df.memory_usage(deep=True, index=False).sum())


def _chunk_rows(row_bytes: int) -> int:
    return max(1, min(1_000_000, _CHUNK_BYTES // max(1, row_bytes)))


def _read_csv(
    p: Path, field: str, want: set[str] | None, max_rows: int | None, limit: _Limit
) -> pd.DataFrame:
    # No compression guessing: a small .gz can expand without bound.
    opts: dict[str, Any] = {"low_memory": False, "compression": None}
    try:
        header = [str(c) for c in pd.read_csv(p, nrows=0, **opts).columns]
        use = header if want is None else [c for c in header if c in want]
        if not use:
            return pd.DataFrame()
        opts["usecols"] = use if want is not None else None
        parts: dict[str, list[pd.Series]] = {c: [] for c in use}
        rows = _chunk_rows(8 * len(use))
        with pd.read_csv(p, chunksize=rows, nrows=max_rows, **opts) as reader:
            for chunk in reader:
                limit.add(_frame_bytes(chunk))
                for c in use:
                    parts[c].append(chunk[c])
        df = _concat_columns(parts, use)
        # A whole-file read keeps a column the original text wherever any cell is
        # not a number; chunks parsed apart may hold numbers and text in one column.
        mixed = [c for c in use if _mixed(parts[c])]
        del parts  # the chunks' own blocks
        if mixed:
            opts["usecols"] = mixed
            fixed: dict[str, list[pd.Series]] = {c: [] for c in mixed}
            with pd.read_csv(p, chunksize=rows, nrows=max_rows, dtype=str, **opts) as reader:
                for chunk in reader:
                    limit.add(_frame_bytes(chunk))
                    for c in mixed:
                        fixed[c].append(chunk[c])
            for c, col in _concat_columns(fixed, mixed).items():
                df[c] = col
        return df
    except FileNotFoundError:
        raise ValidationError(field, f"file not found: {p}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValidationError(field, f"{p} is not a readable CSV: {e}") from None


def _concat_columns(parts: dict[str, list[pd.Series]], names: list[str]) -> pd.DataFrame:
    out: dict[str, pd.Series] = {}
    for c in names:
        cols = parts[c]
        kinds = {s.dtype.kind for s in cols}
        if len({s.dtype for s in cols}) > 1 and not kinds <= {"i", "u", "f"}:
            # As a whole read: True beside a blank is an object column, not 1.0.
            cols = [s.astype(object) for s in cols]
        out[c] = cols[0] if len(cols) == 1 else pd.concat(cols, ignore_index=True)
    df = pd.DataFrame(out)
    df.index = pd.RangeIndex(len(df))
    return df


def _mixed(parts: list[pd.Series]) -> bool:
    # The parser's object columns hold str, or bool beside NaN.
    kinds = {pd.api.types.infer_dtype(s, skipna=True) for s in parts} - {"empty"}
    return ("string" in kinds and len(kinds) > 1) or "mixed" in kinds


def _read_parquet(
    p: Path, field: str, want: set[str] | None, max_rows: int | None, limit: _Limit
) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        f = pq.ParquetFile(p)
        schema = f.schema_arrow
        use = schema.names if want is None else [c for c in schema.names if c in want]
        if not use:
            return pd.DataFrame()
        # A stored index comes along, as pyarrow's own reader brings it.
        index = (schema.pandas_metadata or {}).get("index_columns", [])
        use += [c for c in index if isinstance(c, str) and c in schema.names and c not in use]
        fixed = all(pa.types.is_primitive(schema.field(c).type) for c in use)
        # The file's own sizes are what its writer claims, and a dictionary page
        # expands to a value per row: only the decoded batches are counted.
        row_bytes = 8 * len(use) if fixed else 64 * 1024
        batches = []
        n = 0
        for batch in f.iter_batches(batch_size=_chunk_rows(row_bytes), columns=use):
            if max_rows is not None and n + batch.num_rows > max_rows:
                batch = batch.slice(0, max_rows - n)
            limit.add(batch.nbytes)
            batches.append(batch)
            n += batch.num_rows
            if max_rows is not None and n >= max_rows:
                break
        if not batches:
            kept = pa.schema([schema.field(c) for c in use], metadata=schema.metadata)
            return kept.empty_table().to_pandas()
        return pa.Table.from_batches(batches).to_pandas()
    except ValidationError:
        raise
    except Exception as e:  # pyarrow raises several unrelated types for a bad file
        raise ValidationError(field, f"{p} is not a readable parquet file: {e}") from None


def _refuse_zsav(p: Path, fmt: str, field: str) -> None:
    if fmt == "spss":
        with p.open("rb") as f:
            # $FL3 is the zlib-compressed variant (.zsav), whatever the suffix says.
            if f.read(4) == b"$FL3":
                raise ValidationError(field, f"{p.name} is zlib-compressed; save it uncompressed")


def _labelled_meta(p: Path, fmt: str) -> Any:
    import pyreadstat

    reader = pyreadstat.read_sav if fmt == "spss" else pyreadstat.read_dta
    return reader(str(p), metadataonly=True)[1]


def _read_labelled(
    p: Path, fmt: str, field: str, want: set[str] | None, max_rows: int | None, limit: _Limit
) -> tuple[pd.DataFrame, Codebook]:
    import pyreadstat

    what = _NAMES[fmt]
    _refuse_zsav(p, fmt, field)
    reader = pyreadstat.read_sav if fmt == "spss" else pyreadstat.read_dta
    try:
        meta = _labelled_meta(p, fmt)
        use = [c for c in meta.column_names if want is None or c in want]
        if not use:
            return pd.DataFrame(), Codebook({})
        types = meta.readstat_variable_types
        widths = meta.variable_storage_width
        # A Stata strL (width 0) points into a table of strings many rows may share:
        # its size shows only once read, so chunks start small and grow.
        strl = any(types.get(c) == "string" and not widths.get(c) for c in use)
        row_bytes = sum(
            _STR_OVERHEAD + int(widths.get(c) or 0) if types.get(c) == "string" else 8 for c in use
        )
        rows = 64 if strl else _chunk_rows(row_bytes)
        parts: dict[str, list[Any]] = {c: [] for c in use}
        read = 0
        while max_rows is None or read < max_rows:
            want_rows = rows if max_rows is None else min(rows, max_rows - read)
            chunk, meta = reader(
                str(p),
                user_missing=True,
                # Dates as numbers: pyreadstat's date objects fit no numeric column,
                # and a date is never an item or a trait.
                disable_datetime_conversion=True,
                usecols=use,
                row_offset=read,
                row_limit=want_rows,
            )
            nbytes = _frame_bytes(chunk)
            limit.add(nbytes)
            for c in use:
                parts[c].append(chunk[c].to_numpy())
            read += len(chunk)
            if len(chunk) < want_rows:
                break
            if strl:
                rows = min(2 * rows, _chunk_rows(nbytes // max(1, len(chunk))))
    except ValidationError:
        raise
    except Exception as e:  # pyreadstat's own error types, I/O and decoding errors
        raise ValidationError(field, f"{p} is not a readable {what} file: {e}") from None
    labels = meta.column_names_to_labels or {}
    value_labels = meta.variable_value_labels or {}
    measures = meta.variable_measure or {}
    columns: dict[str, pd.Series] = {}
    variables: dict[str, dict[str, object]] = {}
    for name in use:
        values = parts.pop(name)
        raw = values[0] if len(values) == 1 else np.concatenate(values)
        text = types.get(name) == "string"
        col, n_missing = _clean(fmt, name, meta, raw, text)
        is_missing = _missing_rule(fmt, name, meta, text)
        columns[name] = col
        variables[name] = variable_entry(
            col,
            labels.get(name),
            value_labels.get(name, {}),
            n_missing=n_missing,
            is_missing=is_missing,
            measure=str(measures.get(name) or "unknown"),
            source=what,
        )
        if fmt == "spss" and name in (meta.missing_ranges or {}):
            variables[name]["missing_codes"] = [_range_str(r) for r in meta.missing_ranges[name]]
        elif fmt == "stata" and name in (meta.missing_user_values or {}):
            variables[name]["missing_codes"] = [f".{c}" for c in meta.missing_user_values[name]]
    return pd.DataFrame(columns), Codebook(variables)


def _clean(
    fmt: str, name: str, meta: Any, raw: np.ndarray, text: bool
) -> tuple[pd.Series, dict[str, int]]:
    """A column with its user-missing values empty, and how many of each there were."""
    if text:
        col = pd.Series(raw, dtype=object, name=name)
        if fmt == "spss":
            strings = {str(r["lo"]) for r in (meta.missing_ranges or {}).get(name, [])}
            if strings:
                hit = col.notna() & col.astype(str).isin(strings)
                n_missing = _tally(col[hit].astype(str))
                col = col.where(~hit, None)
            else:
                n_missing = {}
        else:
            n_missing = {}
        col = col.where(col.notna() & (col.astype(str).str.strip() != ""), None)
        return col, n_missing
    if fmt == "stata":
        # Extended missing .a-.z arrive as their letter amid the numbers.
        col = pd.Series(raw, dtype=object if raw.dtype == object else raw.dtype, name=name)
        if col.dtype == object:
            numbers = pd.to_numeric(col, errors="coerce")
            letter = col.notna() & numbers.isna()
            n_missing = {f".{k}": v for k, v in _tally(col[letter].astype(str)).items()}
            return numbers.astype(float).rename(name), n_missing
        return col.astype(float), {}
    col = pd.Series(raw, name=name).astype(float)
    ranges = (meta.missing_ranges or {}).get(name, [])
    if not ranges:
        return col, {}
    hit = np.zeros(len(col), dtype=bool)
    for r in ranges:
        hit |= (col >= r["lo"]).to_numpy() & (col <= r["hi"]).to_numpy()
    n_missing = {code_str(float(k)): v for k, v in _tally(col[hit]).items()}
    return col.where(~hit), n_missing


def _tally(values: pd.Series) -> dict[Any, int]:
    """Cells per distinct value, in order of first appearance."""
    codes, uniques = pd.factorize(values, sort=False)
    return {u: int(n) for u, n in zip(uniques, np.bincount(codes), strict=False) if n}


def _missing_rule(fmt: str, name: str, meta: Any, text: bool) -> Callable[[Any], bool]:
    """Which raw values of a column are user-missing (for its value labels)."""
    if fmt == "stata":
        # A label on an extended-missing letter is keyed by the letter, never a number.
        return lambda v: not text and isinstance(v, str) and len(v) == 1 and v.isalpha()
    ranges = (meta.missing_ranges or {}).get(name, [])
    if text:
        strings = {str(r["lo"]) for r in ranges}
        return lambda v: str(v) in strings

    def spss(v: Any) -> bool:
        return isinstance(v, int | float) and any(r["lo"] <= v <= r["hi"] for r in ranges)

    return spss


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
    arr = np.empty(0) if text else observed.to_numpy(float)
    allowed = np.array(sorted(set(substantive) | set(nonsub)), dtype=float)
    if text:
        entry["scale_type"] = "text"
    elif len(substantive) >= 2 and bool(np.isin(arr, allowed).all()):
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
