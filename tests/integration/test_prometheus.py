"""Prometheus for real: the local stack scraped as the chart's ServiceMonitor and
PodMonitor would scrape it, the chart's alert rules loaded, a tiny study run, and
then every Grafana panel query and every alert expression evaluated by Prometheus.

A panel that comes back empty queries a series the services never export (or
export under another name); the few series that are empty on a healthy run by
design are listed, with the reason, and checked to be empty.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time

import grpc
import httpx
import pytest
import yaml

from silico.local.procs import free_port
from silico.local.stack import SERVICES, up
from silico.pipeline.spec import load_spec
from silico.v1 import study_pb2, study_pb2_grpc
from tests.deploy.test_helm import CHART, _by_kind, _labels_match, render

from .test_platform import wait_done
from .test_study import TINY

PROMETHEUS = shutil.which("prometheus")
RULES = CHART / "files" / "prometheus" / "silico-rules.yaml"
DASHBOARD = CHART / "files" / "grafana" / "silico.json"
#: Scrape and rule evaluation interval: the chart's 30 s would leave a minutes-long
#: study with a handful of samples.
INTERVAL = "1s"
STEP = 2  # seconds between the points of a range query

pytestmark = [
    pytest.mark.integration,
    # The study shares two cores with whatever else runs: generous, as test_platform is.
    pytest.mark.timeout(1500),
    pytest.mark.skipif(
        PROMETHEUS is None,
        reason="prometheus is not installed (Debian: apt-get install prometheus)",
    ),
]

#: Alert expressions that must stay empty on a healthy run, all of it.
QUIET_ALERTS = {
    "SilicoStudyFailed": "the study succeeds",
    "SilicoDeadLetters": "no message is dead-lettered",
    "SilicoModelRetries": "no unit fails, so nothing is retried",
}
#: Alert expressions that may hold for a moment on a healthy run (their `for:` is what
#: keeps them from firing), so must only be empty once the study is done.
EMPTY_AT_END = {
    "SilicoStageStalled": (
        "while a stage's first units are in flight it has a backlog and nothing "
        "processed yet; its `for: 15m` rides that out"
    ),
}
#: Series an alert reads that do not exist on a healthy run: the worker exports a
#: labelled counter from its first increment only (silico/runtime/kafka.py does not
#: pre-set them), which is why those alerts also look for new series.
ABSENT_WHEN_HEALTHY: dict[str, str] = {}
#: Series exported at 0 from the start that must stay 0 on a healthy run.
ZERO_WHEN_HEALTHY = {
    'silico_worker_messages_total{outcome="dead_letter"}': "nothing is dead-lettered",
    'silico_worker_messages_total{outcome="retry"}': "nothing is retried",
}
#: Panel queries empty by design on a healthy embedded-model run (refId by title).
#: None: every panel has data (the vLLM arms of the model-server panels are the right
#: side of an `or`, so the embedded server's series answer for them).
EMPTY_PANELS: dict[tuple[str, str], str] = {}


def _scrape_configs(ports: dict[str, int], model_port: int) -> list[dict]:
    """The chart's ServiceMonitor and PodMonitor as static scrape jobs for the stack:
    their paths and schemes, one job per Service named as the Prometheus Operator
    names it (the Service's name; the PodMonitor's namespace/name)."""
    objs = render(None)
    (sm,) = _by_kind(objs, "ServiceMonitor")
    (pm,) = _by_kind(objs, "PodMonitor")
    services = {s["metadata"]["name"]: s for s in _by_kind(objs, "Service")}
    (ep,) = sm["spec"]["endpoints"]
    jobs = []
    for name in SERVICES:
        svc = services[f"silico-{name}"]
        # The ServiceMonitor really selects this Service and its metrics port.
        assert _labels_match(sm["spec"]["selector"], svc["metadata"]["labels"]), name
        assert ep["port"] in {p["name"] for p in svc["spec"]["ports"]}, name
        jobs.append(
            {
                "job_name": svc["metadata"]["name"],
                "metrics_path": ep["path"],
                "scheme": ep.get("scheme", "http"),
                "scrape_interval": INTERVAL,
                "scrape_timeout": INTERVAL,
                "static_configs": [{"targets": [f"127.0.0.1:{ports[f'{name}_telemetry']}"]}],
            }
        )
    (pep,) = pm["spec"]["podMetricsEndpoints"]
    jobs.append(
        {
            "job_name": f"silico/{pm['metadata']['name']}",
            "metrics_path": pep["path"],
            "scheme": pep.get("scheme", "http"),
            "scrape_interval": INTERVAL,
            "scrape_timeout": INTERVAL,
            "static_configs": [{"targets": [f"127.0.0.1:{model_port}"]}],
        }
    )
    return jobs


@pytest.fixture(scope="module")
def stack(model_server, tmp_path_factory):
    s = up(tmp_path_factory.mktemp("stack"), model_url=model_server.base_url)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def prometheus(stack, model_server, tmp_path_factory):
    home = tmp_path_factory.mktemp("prometheus")
    jobs = _scrape_configs(stack.ports, model_server.port)
    config = {
        "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
        "rule_files": [str(RULES)],
        "scrape_configs": jobs,
    }
    (home / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    log = home / "prometheus.log"
    proc = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.time() < deadline, "prometheus not ready: " + log.read_text()[-2000:]
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        # Every target scraped once (the pre-set zeros recorded) before the study starts.
        deadline = time.time() + 30
        while True:
            targets = _api(url, "targets")["activeTargets"]
            if len(targets) == len(jobs) and all(t["health"] == "up" for t in targets):
                break
            assert time.time() < deadline, [(t["labels"], t["lastError"]) for t in targets]
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _api(url: str, path: str, **params) -> dict:
    r = httpx.get(f"{url}/api/v1/{path}", params=params, timeout=30)
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", (path, params, body)
    return body["data"]


def _spec_yaml() -> str:
    """The tiny study, smaller still (this test is about telemetry, not estimates):
    every stage still runs, over Kafka, with prefix reuse and response-cache lookups."""
    spec = load_spec(TINY).model_dump(mode="json")
    spec["data"]["sample"] = 8
    spec["backstories"]["count"] = 8
    spec["demographics"]["orders"] = ["identity"]
    return yaml.safe_dump(spec)


@pytest.fixture(scope="module")
def run(stack, prometheus):
    """A tiny study through the stack; the window Prometheus watched it in."""
    stub = study_pb2_grpc.StudyServiceStub(grpc.insecure_channel(stack.study_addr))
    t0 = time.time()
    st = stub.SubmitStudy(study_pb2.SubmitStudyRequest(spec_yaml=_spec_yaml()))
    ev = wait_done(stub, st.id)
    assert ev.study.state == 3, ev  # SUCCEEDED
    # Scrapes after the end: the last counts and the orchestrator's idle gauges.
    time.sleep(5)
    return t0, time.time()


def _range(url: str, expr: str, t0: float, t1: float) -> list[dict]:
    data = _api(url, "query_range", query=expr, start=t0, end=t1, step=STEP)
    assert data["resultType"] == "matrix"
    return data["result"]


def _points(series: list[dict]) -> list[float]:
    vals = [float(v) for s in series for _, v in s["values"]]
    return [v for v in vals if not math.isnan(v)]


def _row(what: str, series: list[dict]) -> str:
    pts = _points(series)
    top = f"{max(pts):.4g}" if pts else "-"
    last = ", ".join(f"{float(s['values'][-1][1]):.4g}" for s in series[:6] if s["values"]) + (
        " ..." if len(series) > 6 else ""
    )
    return f"{what[:62]:<62} {len(series):>6} {len(pts):>7} {top:>9}   {last}"


def _header(title: str) -> list[str]:
    return ["", title, f"{'':<62} {'series':>6} {'points':>7} {'max':>9}   last value per series"]


def test_the_job_variable_lists_every_scraped_job(prometheus, run):
    dash = json.loads(DASHBOARD.read_text())
    (var,) = [v for v in dash["templating"]["list"] if v["name"] == "job"]
    m = re.fullmatch(r"label_values\((.*), job\)", var["query"])
    assert m, var["query"]
    jobs = set(_api(prometheus, "label/job/values", **{"match[]": m.group(1)}))
    targets = {t["labels"]["job"] for t in _api(prometheus, "targets")["activeTargets"]}
    assert jobs == targets


def test_every_panel_query_returns_data(prometheus, run):
    t0, t1 = run
    dash = json.loads(DASHBOARD.read_text())
    report = _header("Grafana panels ($job = .*), over the study's run")
    missing, unexpected = [], []
    for panel in dash["panels"]:
        for t in panel["targets"]:
            expr = t["expr"].replace("$job", ".*")
            # Valid PromQL, as an instant query too (what Grafana's stat panels send).
            _api(prometheus, "query", query=expr, time=t1)
            series = _range(prometheus, expr, t0, t1)
            key = (panel["title"], t["refId"])
            report.append(_row(f"{panel['title']} [{t['refId']}]", series))
            if key in EMPTY_PANELS:
                if _points(series):
                    unexpected.append(key)
            elif not _points(series):
                missing.append((key, expr))
    print("\n".join(report))
    assert missing == [], f"panels without data: {missing}"
    assert unexpected == [], f"panels documented as empty have data: {unexpected}"


def test_every_alert_is_quiet_on_a_healthy_run_and_reads_series_that_exist(prometheus, run):
    t0, t1 = run
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} == set(QUIET_ALERTS) | set(EMPTY_AT_END)
    report = _header("Alert expressions, over the study's run")
    loud, selectors = [], {}
    for rule in rules:
        expr = rule["expr"]
        series = _range(prometheus, expr, t0, t1)
        at_end = _api(prometheus, "query", query=expr, time=t1)["result"]
        report.append(_row(rule["alert"], series))
        if (rule["alert"] in QUIET_ALERTS and series) or at_end:
            loud.append((rule["alert"], series or at_end))
        for sel in re.findall(r"silico_[a-z_]+(?:\{[^}]*\})?", expr):
            selectors[sel] = rule["alert"]
    # Prometheus evaluated the same rules every second: none failed, none fired.
    for group in _api(prometheus, "rules")["groups"]:
        for r in group["rules"]:
            assert r["health"] == "ok", r
    fired = _range(prometheus, 'ALERTS{alertstate="firing"}', t0, t1)
    pending = _range(prometheus, 'ALERTS{alertstate="pending"}', t0, t1)
    report += _header("Series the alerts read")
    absent, present = [], []
    for sel in sorted(selectors):
        series = _range(prometheus, sel, t0, t1)
        report.append(_row(sel, series))
        if sel in ABSENT_WHEN_HEALTHY and series:
            present.append(sel)
        elif sel not in ABSENT_WHEN_HEALTHY and not series:
            absent.append(sel)
        elif sel in ZERO_WHEN_HEALTHY and any(v != 0 for v in _points(series)):
            present.append(sel)
    report.append("")
    report.append(
        "ALERTS: firing "
        + (", ".join(sorted({s["metric"]["alertname"] for s in fired})) or "none")
        + "; pending at some point "
        + (", ".join(sorted({s["metric"]["alertname"] for s in pending})) or "none")
    )
    print("\n".join(report))
    assert loud == [], loud
    assert fired == [], fired
    assert {s["metric"]["alertname"] for s in pending} <= set(EMPTY_AT_END)
    assert absent == [], f"alerts read series nothing exports: {absent}"
    assert present == [], f"series expected absent on a healthy run: {present}"
