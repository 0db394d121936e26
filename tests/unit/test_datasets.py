"""Uploaded datasets: whole or nothing, per tenant, and located only for their tenant."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from silico.core.errors import NotFoundError, ValidationError
from silico.pipeline.spec import load_spec, parse_spec
from silico.platform.datasets import DatasetInUseError, Datasets
from silico.store import Store
from silico.v1 import study_pb2

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "pipelines" / "studies" / "tiny.yaml"


def _parts(name: str, data: bytes, size: int | None = None, sha: str | None = None, chunk=7):
    yield study_pb2.UploadDatasetRequest(
        header=study_pb2.DatasetHeader(
            filename=name,
            size_bytes=len(data) if size is None else size,
            sha256=sha or hashlib.sha256(data).hexdigest(),
        )
    )
    for i in range(0, len(data), chunk):
        yield study_pb2.UploadDatasetRequest(chunk=data[i : i + chunk])


@pytest.fixture
def ds(tmp_path):
    return Datasets(Store(f"sqlite:///{tmp_path / 's.db'}"), tmp_path / "datasets", max_bytes=1000)


def test_an_upload_is_kept_whole_for_its_tenant(ds):
    d = ds.upload(_parts("answers.csv", b"id,x\n1,2\n"), "alpha")
    assert Path(d.path).read_bytes() == b"id,x\n1,2\n"
    assert Path(d.path).is_relative_to(ds.root / "alpha")
    assert [x.id for x in ds.list("alpha")] == [d.id] and ds.list("beta") == []


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        (lambda: _parts("a.csv", b"abc", sha="0" * 64), "header.sha256"),
        (lambda: _parts("a.csv", b"abc", size=5), "header.size_bytes"),
        (lambda: _parts("a.csv", b"abcdef", size=3), "chunk"),
        (lambda: _parts("a.csv", b"x" * 2000), "header.size_bytes"),
        (lambda: _parts("../a.csv", b"abc"), "header.filename"),
        (lambda: _parts("a.exe", b"abc"), "header.filename"),
        (lambda: iter([study_pb2.UploadDatasetRequest(chunk=b"x")]), "header"),
    ],
)
def test_a_bad_upload_names_its_field_and_leaves_nothing(ds, parts, field):
    with pytest.raises(ValidationError) as e:
        ds.upload(parts(), "alpha")
    assert e.value.field == field
    assert ds.list("alpha") == []
    folder = ds.root / "alpha"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_spec_locates_its_tenants_datasets_only(ds):
    csv = ds.upload(_parts("d.csv", b"a\n"), "alpha")
    raw = load_spec(TINY).model_dump(mode="json")
    raw["data"]["csv"] = f"dataset://{csv.id}"
    spec = parse_spec(raw, TINY.parent)  # a dataset is named, never joined to a folder
    assert spec.data.csv == f"dataset://{csv.id}"
    assert ds.locate("alpha", spec).data.csv == csv.path
    with pytest.raises(NotFoundError):
        ds.locate("beta", spec)
    raw["data"]["csv"] = "dataset://../../etc/passwd"
    with pytest.raises(ValidationError) as e:
        ds.locate("alpha", parse_spec(raw))
    assert e.value.field == "data.csv"


def test_a_dataset_in_use_is_not_deleted(ds):
    d = ds.upload(_parts("d.csv", b"a\n"), "alpha")
    st = ds.store.create_study("s", f"data:\n  csv: dataset://{d.id}\n", tenant="alpha")
    with pytest.raises(DatasetInUseError):
        ds.delete(d.id, "alpha")
    with pytest.raises(NotFoundError):
        ds.delete(d.id, "beta")
    ds.store.set_state(st.id, "succeeded")
    ds.delete(d.id, "alpha")
    assert ds.list("alpha") == [] and not Path(d.path).exists()


def test_a_tenants_datasets_are_bounded_in_number_and_bytes(ds, monkeypatch):
    from silico.core.errors import QuotaError
    from silico.platform import datasets

    monkeypatch.setattr(datasets, "MAX_DATASETS", 2)
    monkeypatch.setattr(datasets, "MAX_TENANT_BYTES", 10)
    ds.upload(_parts("a.csv", b"12345"), "alpha")
    with pytest.raises(QuotaError, match="GB"):
        ds.upload(_parts("b.csv", b"123456"), "alpha")  # 11 bytes together
    ds.upload(_parts("b.csv", b"123"), "alpha")
    with pytest.raises(QuotaError, match="2 datasets"):
        ds.upload(_parts("c.csv", b"1"), "alpha")
    ds.upload(_parts("c.csv", b"1"), "beta")  # another tenant's own quota


def test_a_crashed_uploads_leftovers_are_swept_at_start(ds):
    (ds.root / "alpha").mkdir(parents=True)
    (ds.root / "alpha" / ".incoming-ds-0123456789abcdef").write_bytes(b"half")
    again = Datasets(ds.store, ds.root)
    assert list((again.root / "alpha").iterdir()) == []
