"""Faults on the real local stack: kill -9 every service in turn at a random
moment, restart the broker (its in-memory topics are lost), take the model
server down for 30 s. Each disturbed study must finish with exactly the
results of an undisturbed run of the same spec and seed: no lost and no
duplicated answers.

The stack shares one response cache, filled by the undisturbed run, so the
model's answers are bit-identical across runs and any difference would be
the platform's.
"""

from __future__ import annotations

import json
import random
import threading
import time

import numpy as np
import pytest
import yaml

from silico.client import Client
from silico.llm import CompletionsClient, ResponseCache
from silico.local.stack import SERVICES, up
from silico.pipeline.runner import run_study
from silico.pipeline.spec import load_spec, parse_spec
from tests.pg import fresh_database

from .conftest import MODEL
from .test_study import TINY

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SEED = 11
METRICS = ("wd", "wd_norm", "frobenius", "cbs", "alpha_virtual", "wd_low", "wd_high")


@pytest.fixture(scope="module")
def fstack(tmp_path_factory):
    # Its own model server: one test takes it down.
    s = up(tmp_path_factory.mktemp("faults"), threads=2)
    yield s
    s.stop()


def _spec(seed: int) -> dict:
    raw = load_spec(TINY).model_dump(mode="json")
    raw["seed"] = seed
    return raw


def _run(stack, seed: int, disturb=None) -> tuple[dict, object]:
    with Client(stack.study_addr, timeout=30) as c:
        study = c.submit(parse_spec(_spec(seed)))
        t = None
        if disturb is not None:
            t = threading.Thread(target=disturb, args=(c, study.id))
            t.start()
        try:
            c.wait(study.id, timeout=900)
        finally:
            if t is not None:
                t.join()
        res = c.results(study.id)
    return res.metrics, res


@pytest.fixture(scope="module")
def baseline(fstack):
    doc, res = _run(fstack, SEED)
    return doc, res


def _assert_same(doc, res, base_doc, base_res):
    assert doc["n_personas"] == base_doc["n_personas"]
    b = {r["method"]: r for r in base_doc["headline"]}
    for row in doc["headline"]:
        for m in METRICS:
            x, y = row[m], b[row["method"]][m]
            assert (x is None and y is None) or x == pytest.approx(y, abs=1e-12), (row["method"], m)
    a0 = base_res.data["answers"].sort_values(["method", "respondent_id", "item"])
    a1 = res.data["answers"].sort_values(["method", "respondent_id", "item"])
    assert len(a1) == len(a0)  # nothing lost, nothing duplicated
    assert not a1.duplicated(["method", "respondent_id", "item"]).any()
    np.testing.assert_array_equal(a1["position"].to_numpy(), a0["position"].to_numpy())


# When to strike each service: while the stage it serves is under way (the
# response cache makes stages short, so the moment is watched for), at a
# random point within it.
STRIKE = {
    "backstory": ("backstory", 0.1),
    "critic": ("backstory", 0.3),
    "demographics": ("demographics", 0.2),
    "matching": ("demographics", 0.5),  # down when its RPCs come, right after annotation
    "survey": ("survey", 0.2),
    "metrics": ("survey", 0.5),  # down when its RPCs come, right after the survey
    "study": ("survey", 0.2),
}


def _strike_when(client, study_id, stage: str, at_least: float, rng) -> dict:
    target = at_least + rng.uniform(0, 0.2)
    deadline = time.time() + 300
    while time.time() < deadline:
        info = client.get(study_id)
        done, total = info.progress.get(stage, (0, 0))
        if total and done >= target * total:
            return {"state": info.state, "progress": info.progress}
        time.sleep(0.05)
    raise AssertionError(f"stage {stage} never started")


@pytest.mark.parametrize("service", SERVICES)
def test_kill_9_each_service_mid_study(fstack, baseline, service):
    rng = random.Random(f"kill-{service}")
    stage, at_least = STRIKE[service]
    events = []

    def disturb(client, study_id):
        events.append(_strike_when(client, study_id, stage, at_least, rng))
        fstack.kill(service)
        # Down for a few seconds (a pod restart with back-off takes longer):
        # long enough that work and RPCs meant for it find it gone.
        time.sleep(3.0)
        fstack.start_service(service)

    doc, res = _run(fstack, SEED, disturb)
    assert events and events[0]["state"] == "running", events  # struck mid-study
    _assert_same(doc, res, *baseline)
    print(f"killed {service} at {events[0]['progress']}")


def test_broker_restart_mid_study(fstack, baseline):
    def disturb(client, study_id):
        # Wait until work is in flight on the broker, then lose it all.
        deadline = time.time() + 60
        while time.time() < deadline:
            p = client.get(study_id).progress
            if "demographics" in p or "survey" in p:
                break
            time.sleep(0.2)
        fstack.restart_broker()

    doc, res = _run(fstack, SEED, disturb)
    _assert_same(doc, res, *baseline)


def test_model_server_down_for_30s(fstack):
    """A seed whose answers are not cached: the model must really be called."""
    seed = SEED + 1

    def disturb(client, study_id):
        deadline = time.time() + 120
        while time.time() < deadline and "demographics" not in client.get(study_id).progress:
            time.sleep(0.2)
        fstack.stop_model()
        time.sleep(30)
        fstack.start_model()

    doc, _ = _run(fstack, seed, disturb)
    # The same spec in-process, replaying the responses the services obtained:
    # every one is in the cache and the numbers agree.
    cache = ResponseCache(fstack.env["SILICO_RESPONSE_CACHE"])
    spec = parse_spec(yaml.safe_load(yaml.safe_dump(_spec(seed))))
    with CompletionsClient(fstack.env["SILICO_MODEL_URL"], MODEL, cache=cache) as lm:
        local = run_study(spec, lm)
    assert cache.misses == 0
    from silico.report import headline

    head = {r["method"]: r for r in doc["headline"]}
    for _, row in headline(local).iterrows():
        for m in METRICS:
            a, b = head[row["method"]][m], row[m]
            assert (a is None and np.isnan(b)) or a == pytest.approx(b, abs=1e-6)
    assert json.dumps(doc["n_personas"]) == json.dumps(len(local.accepted()))


def _pg_ctl(action: str) -> None:
    import subprocess

    subprocess.run(["pg_ctlcluster", "15", "main", action], check=True, timeout=120)


@pytest.mark.timeout(1200)
def test_postgresql_down_for_10s_mid_study(fstack, baseline, tmp_path):
    """The stack on PostgreSQL; the database stops for 10 s while the study runs.
    The orchestrator, the listener and every worker wait it out (an outage of the
    store is never counted against a unit), and the study ends with exactly the
    undisturbed results."""
    import shutil

    url = fresh_database("silico_faults")
    if url is None or shutil.which("pg_ctlcluster") is None:
        pytest.skip("no PostgreSQL cluster this test may stop on 127.0.0.1:5432")
    pg = up(
        tmp_path / "pg",
        model_url=fstack.env["SILICO_MODEL_URL"],
        store_url=url,
        extra_env={"SILICO_RESPONSE_CACHE": fstack.env["SILICO_RESPONSE_CACHE"]},
    )
    try:

        def disturb(client, study_id):
            _strike_when(client, study_id, "backstory", 0.3, random.Random(3))
            _pg_ctl("stop")
            try:
                time.sleep(10)
            finally:
                _pg_ctl("start")

        t0 = time.time()
        doc, res = _run(pg, SEED, disturb)
        _assert_same(doc, res, *baseline)
        print(f"PostgreSQL down 10 s mid-study: finished in {time.time() - t0:.0f}s, same results")
    finally:
        pg.stop()
