"""The study store against SQLite and, when one is reachable, PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from silico.core.errors import NotFoundError, ValidationError
from silico.store import Store
from tests.pg import fresh_database


def _pg_url() -> str | None:
    return fresh_database("silico_test")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'silico.db'}")
        yield s
        s.close()
        return
    url = _pg_url()
    if url is None:
        pytest.skip("no PostgreSQL reachable on 127.0.0.1:5432")
    s = Store(url)
    yield s
    s.close()
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    conn.autocommit = True
    conn.cursor().execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")
    conn.close()


def test_study_lifecycle(store):
    st = store.create_study("demo", "name: demo", tenant="lab-a")
    assert store.get_study(st.id).state == "queued"
    store.set_state(st.id, "running", stage="backstory")
    assert store.get_study(st.id).stage == "backstory"
    store.set_state(st.id, "succeeded")
    # A finished study stays finished.
    assert store.set_state(st.id, "running").state == "succeeded"
    assert [s.id for s in store.list_studies("lab-a")] == [st.id]
    assert store.list_studies("lab-b") == []
    with pytest.raises(NotFoundError):
        store.get_study(st.id, tenant="lab-b")
    with pytest.raises(NotFoundError):
        store.get_study("st-missing")
    with pytest.raises(ValidationError, match="state"):
        store.set_state(st.id, "exploded")


def test_results_are_idempotent_by_key(store):
    st = store.create_study("demo", "x: 1")
    assert store.put_result(
        st.id,
        "demographics",
        "persona/1",
        {"age": [0.5, 0.5]},
        {"calls": 2, "prompt": 100, "cached": 60, "generated": 2},
    )
    assert not store.put_result(
        st.id, "demographics", "persona/1", {"age": [1.0, 0.0]}, {"calls": 2, "prompt": 100}
    )
    assert store.get_result(st.id, "demographics", "persona/1") == {"age": [0.5, 0.5]}
    assert store.result_keys(st.id, "demographics") == {"persona/1"}
    assert store.has_result(st.id, "demographics", "persona/1")
    assert not store.has_result(st.id, "demographics", "persona/2")
    assert not store.has_result(st.id, "survey", "persona/1")
    assert store.count_results(st.id, "demographics") == 1
    assert store.usage(st.id)["demographics"] == {
        "calls": 2,
        "prompt": 100,
        "cached": 60,
        "generated": 2,
    }


def test_concurrent_redelivery_stores_once(store):
    st = store.create_study("demo", "x: 1")
    wins = []

    def write(i: int) -> None:
        wins.append(store.put_result(st.id, "survey", "qa/human/3", {"writer": i}))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1
    assert store.count_results(st.id, "survey") == 1


def test_backstory_library_is_shared_and_exportable(store, tmp_path):
    assert store.put_backstory("b1", "I grew up in Ohio.", "m", {"t": 1.0}, 42, 6)
    assert not store.put_backstory("b1", "other text", "m", {}, 1, 1)
    rows = store.backstories(model="m")
    assert [r["text"] for r in rows] == ["I grew up in Ohio."] and rows[0]["seed"] == 42
    out = tmp_path / "lib.jsonl"
    assert store.export_backstories(str(out)) == 1
    assert "Ohio" in out.read_text()
    pq = tmp_path / "lib.parquet"
    assert store.export_backstories(str(pq)) == 1
    import json

    import pandas as pd

    df = pd.read_parquet(pq)
    assert list(df["id"]) == ["b1"] and json.loads(df["params"][0]) == {"t": 1.0}


def test_concurrent_submissions_never_pass_the_active_study_limit(store):
    """Ten submissions at once from a tenant allowed one active study: exactly one is
    stored, the other nine are refused (the check and the insert are one transaction)."""
    from silico.core.errors import QuotaError

    barrier = threading.Barrier(10)
    outcomes: list[str] = []

    def submit(i: int) -> None:
        barrier.wait()
        try:
            store.create_study(f"s{i}", "x: 1", tenant="lab-q", max_active=1)
            outcomes.append("stored")
        except QuotaError:
            outcomes.append("refused")

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused"] * 9 + ["stored"]
    assert store.count_active("lab-q") == 1
    # A finished study frees its place; other tenants never counted.
    store.set_state(store.list_studies("lab-q")[0].id, "cancelled")
    store.create_study("again", "x: 1", tenant="lab-q", max_active=1)
    store.create_study("other", "x: 1", tenant="lab-r", max_active=1)
