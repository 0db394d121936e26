"""Tenants on one installation: API tokens, isolation of studies and human data,
quotas, and several tenants submitting at once (load)."""

from __future__ import annotations

import shutil
import threading
import time

import pytest
import sqlalchemy as sa

from silico.client import Client, ClientError
from silico.core.errors import ValidationError
from silico.local.stack import up
from silico.pipeline.spec import load_spec
from silico.store import Store

from .test_study import REPO, TINY

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tstack(model_server, tmp_path_factory):
    home = tmp_path_factory.mktemp("tenants")
    data_root = home / "tenant-data"
    for t in ("alpha", "beta", "gamma", "delta"):
        shutil.copytree(REPO / "data" / "cces_2018_sample", data_root / t)
    s = up(
        home,
        model_url=model_server.base_url,
        extra_env={"SILICO_AUTH": "true", "SILICO_DATA_ROOT": str(data_root)},
    )
    store = Store(s.env["SILICO_STORE_URL"])
    tokens = {
        "alpha": store.create_tenant("alpha"),
        "beta": store.create_tenant("beta"),
        "gamma": store.create_tenant("gamma", max_backstories=5, max_active_studies=1),
        "delta": store.create_tenant("delta"),
    }
    s.tokens = tokens
    s.data_root = data_root
    yield s
    s.stop()


def _spec(stack, tenant: str, **changes):
    spec = load_spec(TINY, stack.data_root / tenant)
    raw = spec.model_dump(mode="json")
    for path, value in changes.items():
        node = raw
        *parents, leaf = path.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    from silico.pipeline.spec import parse_spec

    return parse_spec(raw)


def _client(stack, tenant: str | None, token: str | None = None) -> Client:
    tok = token if token is not None else (stack.tokens[tenant] if tenant else None)
    return Client(stack.study_addr, token=tok)


def test_tokens_are_required_and_stored_hashed(tstack):
    with _client(tstack, None) as c:
        with pytest.raises(ClientError) as e:
            c.list()
        assert e.value.code == "UNAUTHENTICATED" and "token" in e.value.details
    with _client(tstack, None, token="sil_not-a-token") as c:
        with pytest.raises(ClientError) as e:
            c.list()
        assert e.value.code == "UNAUTHENTICATED"
    engine = sa.create_engine(tstack.env["SILICO_STORE_URL"])
    with engine.connect() as conn:
        stored = " ".join(
            str(v) for row in conn.execute(sa.text("select * from tenants")) for v in row
        )
    for token in tstack.tokens.values():
        assert token not in stored


def test_a_tenant_cannot_see_or_touch_another_tenants_study(tstack):
    with _client(tstack, "alpha") as a, _client(tstack, "beta") as b:
        study = a.submit(_spec(tstack, "alpha", seed=31))
        assert study.id in {s.id for s in a.list()}
        assert study.id not in {s.id for s in b.list()}
        for call in (
            lambda: b.get(study.id),
            lambda: b.cancel(study.id),
            lambda: list(b.watch(study.id)),
            lambda: b.results(study.id),
            lambda: b.report_archive(study.id),
        ):
            with pytest.raises(ClientError) as e:
                call()
            assert e.value.code == "NOT_FOUND", e.value  # not even its existence leaks
        assert a.get(study.id).state in ("queued", "running")
        a.cancel(study.id)


def test_a_tenant_cannot_read_another_tenants_human_data(tstack):
    with _client(tstack, "beta") as b:
        with pytest.raises(ClientError) as e:
            b.submit(_spec(tstack, "alpha"))  # alpha's folder
        assert e.value.code == "PERMISSION_DENIED" and "data.csv" in e.value.details
        with pytest.raises(ClientError) as e:
            b.submit(load_spec(TINY))  # the repository's copy: not a tenant folder
        assert e.value.code == "PERMISSION_DENIED"


def test_data_files_that_escape_or_bomb_are_refused(tstack):
    """A symlink out of the tenant's folder, a compressed CSV and an oversized one are
    refused at submission, naming the field; nothing is stored."""
    beta = tstack.data_root / "beta"
    link = beta / "linked.csv"
    link.symlink_to(tstack.data_root / "alpha" / "cces_2018_sample.csv")
    gz = beta / "cces.csv.gz"
    gz.write_bytes(b"\x1f\x8b" + b"\x00" * 64)
    with _client(tstack, "beta") as b:
        before = len(b.list())
        with pytest.raises(ClientError) as e:
            b.submit(_spec(tstack, "beta", **{"data.csv": str(link)}))
        assert e.value.code == "PERMISSION_DENIED" and "outside" in e.value.details
        # A compressed file is refused when the spec is read, before any call.
        with pytest.raises(ValidationError) as e:
            b.submit(_spec(tstack, "beta", **{"data.csv": str(gz)}))
        assert e.value.field == "data.csv" and "compressed" in e.value.message
        assert len(b.list()) == before


def test_quotas(tstack):
    with _client(tstack, "gamma") as g:
        with pytest.raises(ClientError) as e:
            g.submit(_spec(tstack, "gamma"))  # 14 backstories > 5
        assert e.value.code == "RESOURCE_EXHAUSTED" and "generations" in e.value.details
        # 4 personas, but 2 attempts each (8 generations > 5): the work counts, not the count.
        with pytest.raises(ClientError) as e:
            g.submit(
                _spec(
                    tstack,
                    "gamma",
                    **{"backstories.count": 4, "backstories.max_attempts": 2, "data.sample": 4},
                )
            )
        assert e.value.code == "RESOURCE_EXHAUSTED" and "max_attempts 2" in e.value.details
        small = {
            "backstories.count": 4,
            "backstories.max_attempts": 1,
            "data.sample": 4,
            "matching.methods": ["greedy"],
        }
        first = g.submit(_spec(tstack, "gamma", seed=41, **small))
        with pytest.raises(ClientError) as e:
            g.submit(_spec(tstack, "gamma", seed=42, **small))
        assert (
            e.value.code == "RESOURCE_EXHAUSTED" and "already queued or running" in e.value.details
        )
        g.cancel(first.id)
    # Ten submissions at once from a tenant allowed one active study: exactly one lands
    # (with the check and the insert apart, all ten did: 10 of 10 stored in a trial).
    outcomes: list[str] = []
    barrier = threading.Barrier(10)

    def submit(i: int) -> None:
        with _client(tstack, "gamma") as c:
            barrier.wait()
            try:
                outcomes.append(c.submit(_spec(tstack, "gamma", seed=50 + i, **small)).id)
            except ClientError as e:
                outcomes.append(e.code)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(10)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stored = [o for o in outcomes if o.startswith("st-")]
    assert len(stored) == 1 and outcomes.count("RESOURCE_EXHAUSTED") == 9, outcomes
    with _client(tstack, "gamma") as g:
        g.cancel(stored[0])


def test_the_backstory_library_holds_no_human_data(tstack):
    store = Store(tstack.env["SILICO_STORE_URL"])
    cols = {c["name"] for c in sa.inspect(store.engine).get_columns("backstories")}
    assert cols == {"id", "text", "model", "params", "seed", "tokens", "created"}


def test_load_several_tenants_at_once(tstack):
    """Three tenants submit at once; every study completes. Throughput is printed."""
    tenants = ("alpha", "beta", "delta")
    ids: dict[str, str] = {}
    t0 = time.time()
    for i, t in enumerate(tenants):
        with _client(tstack, t) as c:
            spec = _spec(
                tstack,
                t,
                seed=100 + i,
                conditioning=["anthology"],
                **{"backstories.count": 8, "data.sample": 8},
            )
            ids[t] = c.submit(spec).id
    states: dict[str, str] = {}

    def wait(t: str) -> None:
        with _client(tstack, t) as c:
            try:
                states[t] = c.wait(ids[t], timeout=900).state
            except Exception as e:  # recorded, asserted below
                states[t] = f"{type(e).__name__}: {e}"

    threads = [threading.Thread(target=wait, args=(t,)) for t in tenants]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.time() - t0
    assert states == {t: "succeeded" for t in tenants}
    with _client(tstack, "delta") as c:
        res = c.results(ids["delta"])
    assert res.metrics["n_humans"] == 8
    print(
        f"load: {len(tenants)} studies from {len(tenants)} tenants in {wall:.0f}s "
        f"({len(tenants) / wall * 3600:.0f} studies/hour)"
    )


@pytest.mark.timeout(1200)
def test_a_dataset_uploaded_over_the_api_serves_its_tenant_only(tstack, tmp_path):
    src = REPO / "data" / "cces_2018_sample"
    with _client(tstack, "delta") as c:
        data = c.upload(src / "cces_2018_sample.csv")
        book = c.upload(src / "codebook.json")
        assert {d.id for d in c.datasets()} == {data.id, book.id}
        assert data.size_bytes == (src / "cces_2018_sample.csv").stat().st_size
        # Small: the point is where the data come from, not the study.
        small = {
            "backstories.count": 6,
            "backstories.max_attempts": 1,
            "data.sample": 6,
            "matching.methods": ["greedy"],
        }
        spec = _spec(tstack, "delta", **{"data.csv": data.ref, "data.codebook": book.ref}, **small)
        study = c.submit(spec)
        # In use: not deletable until the study ends.
        with pytest.raises(ClientError) as e:
            c.delete_dataset(data.id)
        assert e.value.code == "FAILED_PRECONDITION" and study.id in e.value.details
        c.wait(study.id, timeout=900)
        assert c.results(study.id).metrics["n_humans"] > 0
    with _client(tstack, "beta") as other:
        assert other.datasets() == []
        for call in (lambda: other.delete_dataset(data.id), lambda: other.submit(spec)):
            with pytest.raises(ClientError) as e:
                call()
            assert e.value.code == "NOT_FOUND" and data.id in e.value.details
    # A corrupted upload leaves nothing behind, and says which field is wrong.
    from silico.v1 import study_pb2

    with _client(tstack, "delta") as c:
        parts = iter(
            [
                study_pb2.UploadDatasetRequest(
                    header=study_pb2.DatasetHeader(filename="x.csv", size_bytes=3, sha256="0" * 64)
                ),
                study_pb2.UploadDatasetRequest(chunk=b"abc"),
            ]
        )
        with pytest.raises(ClientError) as e:
            c._call("UploadDataset", parts)
        assert e.value.code == "INVALID_ARGUMENT" and "header.sha256" in e.value.details
        assert {d.id for d in c.datasets()} == {data.id, book.id}
        folder = tstack.home / "datasets" / "delta"
        assert sorted(p.name for p in folder.iterdir()) == sorted([data.id, book.id])
        c.delete_dataset(data.id)
        assert not (folder / data.id).exists()
        with pytest.raises(ClientError) as e:
            c.submit(spec)
        assert e.value.code == "NOT_FOUND"
    # The respondents' rows never reach a log.
    row = (src / "cces_2018_sample.csv").read_text().splitlines()[5]
    for log in (tstack.home / "logs").glob("*.log"):
        assert row not in log.read_text(errors="replace"), log.name
