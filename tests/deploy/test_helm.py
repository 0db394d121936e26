"""The Helm chart: rendered by Helm's own Go engine (helm-python) for every overlay,
every object validated against the Kubernetes schemas (kubernetes-validate)
and the operators' CRD schemas (../shared/schemas), and checked for the
properties the platform relies on."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from jsonschema import Draft7Validator

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "silico"
OVERLAYS = [None, *sorted((CHART / "values").glob("*.yaml"))]
CRDS = REPO.parent / "shared" / "schemas" / "crds"
KUBE_VERSION = "1.30"
FIXTURES = Path(__file__).parent / "fixtures"

needs_crds = pytest.mark.skipif(
    not CRDS.is_dir(), reason="CRD schemas live in ../shared/schemas (not in this repo)"
)


def render(overlay: Path | None, extra: dict | None = None) -> list[dict]:
    values = helm.values_from_yaml(overlay.read_text()) if overlay else {}
    values = _merge(values, extra or {})
    chart = helm.Chart.load(str(CHART))
    out = chart.render(values, name="silico", namespace="silico", is_install=True)
    return [d for text in out.values() for d in yaml.safe_load_all(text) if d]


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _drop_nulls(x):
    if isinstance(x, dict):
        return {k: _drop_nulls(v) for k, v in x.items() if v is not None}
    return [_drop_nulls(v) for v in x] if isinstance(x, list) else x


def _strict(s):
    """Reject unknown fields, as kubectl's strict field validation does."""
    if not isinstance(s, dict):
        return s
    s = dict(s)
    if "properties" in s:
        s["properties"] = {k: _strict(v) for k, v in s["properties"].items()}
        if "additionalProperties" not in s and not s.get("x-kubernetes-preserve-unknown-fields"):
            s["additionalProperties"] = False
    for k in ("items", "additionalProperties"):
        if isinstance(s.get(k), dict):
            s[k] = _strict(s[k])
    return s


@functools.cache
def _crd_validator(api_version: str, kind: str) -> Draft7Validator:
    group, _, version = api_version.rpartition("/")
    path = CRDS / group / f"{kind.lower()}_{version}.json"
    if not path.is_file():
        raise AssertionError(f"no CRD schema for {api_version} {kind} at {path}")
    return Draft7Validator(_strict(json.loads(path.read_text())))


def validation_errors(obj: dict) -> list[str]:
    """Why ``obj`` would be rejected by the API server (empty when it is valid)."""
    obj = _drop_nulls(obj)
    api = obj.get("apiVersion", "")
    where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    if "." in api.split("/")[0] and not api.startswith(("apps/", "batch/")):
        group = api.split("/")[0]
        if not group.endswith(".k8s.io"):
            v = _crd_validator(api, obj["kind"])
            return [
                f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in v.iter_errors(obj)
            ]
    try:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{where}: {'/'.join(map(str, e.path))}: {e.message}"]
    return []


def _name(overlay):
    return overlay.stem if overlay else "defaults"


@needs_crds
@pytest.mark.parametrize("overlay", OVERLAYS, ids=_name)
def test_every_rendered_object_is_valid(overlay):
    objs = render(overlay)
    assert len(objs) > 20
    errors = [e for o in objs for e in validation_errors(o)]
    assert errors == []


@needs_crds
def test_a_broken_manifest_fails_validation():
    """The validators are not vacuous: each planted mistake is caught."""
    broken = [d for d in yaml.safe_load_all((FIXTURES / "broken.yaml").read_text()) if d]
    assert len(broken) >= 4
    for obj in broken:
        errs = validation_errors(obj)
        assert errs, (
            f"{obj['kind']} {obj['metadata']['name']} should fail: {obj['metadata'].get('annotations')}"
        )


@pytest.mark.parametrize("overlay", OVERLAYS, ids=_name)
def test_lint_is_clean(overlay):
    values = helm.values_from_yaml(overlay.read_text()) if overlay else None
    report = helm.lint(str(CHART), values, strict=True, kube_version="v1.30.0")
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


def test_values_schema_rejects_a_wrong_type_naming_the_key():
    chart = helm.Chart.load(str(CHART))
    with pytest.raises(helm.HelmError) as e:
        chart.validate_schema({"services": {"survey": {"workerConcurrency": "many"}}})
    assert "workerConcurrency" in str(e.value)


def _by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=_name)
def test_pods_are_hardened_and_probed_over_grpc(overlay):
    objs = render(overlay)
    deployments = _by_kind(objs, "Deployment")
    assert {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments} == {
        "study",
        "backstory",
        "critic",
        "demographics",
        "survey",
        "matching",
        "metrics",
    }
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert "grpc" in c["readinessProbe"] and "grpc" in c["livenessProbe"]
            assert "limits" in c["resources"] and "requests" in c["resources"]
            module = c["args"][-1]
            assert (REPO / module.replace(".", "/") / "__main__.py").is_file(), module
    comps = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments}
    assert {
        p["metadata"]["labels"]["app.kubernetes.io/component"]
        for p in _by_kind(objs, "PodDisruptionBudget")
    } == comps


def test_gpu_overlay_wires_vllm_keda_strimzi_tls_and_monitoring():
    objs = render(CHART / "values" / "gpu-cluster.yaml")
    isvcs = {o["metadata"]["name"]: o for o in _by_kind(objs, "InferenceService")}
    assert set(isvcs) == {"silico-llm-base", "silico-llm-instruct"}
    for isvc in isvcs.values():
        model = isvc["spec"]["predictor"]["model"]
        assert "--backend=vllm" in model["args"] and "--enable-prefix-caching" in model["args"]
        assert "--max-logprobs=20" in model["args"]
        assert int(model["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    # Each stage scales on its own consumer group's lag.
    scaled = {o["spec"]["scaleTargetRef"]["name"]: o for o in _by_kind(objs, "ScaledObject")}
    assert set(scaled) == {f"silico-{s}" for s in ("backstory", "critic", "demographics", "survey")}
    trig = scaled["silico-demographics"]["spec"]["triggers"][0]
    assert trig["type"] == "kafka" and trig["metadata"]["topic"] == "demographics.requests.v1"
    assert trig["metadata"]["consumerGroup"] == "silico-demographics"
    # Deployments KEDA scales leave replicas to it.
    for d in _by_kind(objs, "Deployment"):
        if d["metadata"]["name"] in scaled:
            assert "replicas" not in d["spec"]
    topics = {t["spec"]["topicName"] for t in _by_kind(objs, "KafkaTopic")}
    from silico.runtime.kafka import all_topics

    assert topics == set(all_topics())
    study = next(d for d in _by_kind(objs, "Deployment") if d["metadata"]["name"] == "silico-study")
    env = {e["name"]: e for e in study["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SILICO_TLS_CERT"]["value"].endswith("tls.crt")
    assert env["SILICO_STORE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "silico-store"
    survey = next(
        d for d in _by_kind(objs, "Deployment") if d["metadata"]["name"] == "silico-survey"
    )
    env = {
        e["name"]: e.get("value")
        for e in survey["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["SILICO_MODEL_URL"] == (
        "http://silico-llm-base-predictor.silico.svc.cluster.local/openai/v1"
    )
    assert _by_kind(objs, "ServiceMonitor") and _by_kind(objs, "PrometheusRule")


def test_gpu_models_are_the_roles_the_code_declares():
    """The chart's GPU models and the code's role table (silico.llm.roles) agree."""
    from silico.llm.roles import ROLES

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    models = values["models"]
    for role, spec in ROLES["gpu"].items():
        server = models["servers"][models["roles"][role]]
        assert server["servedName"] == spec.served_name, role
        assert server["hfModel"] == spec.hf_model, role
        assert server["maxLogprobs"] == spec.max_logprobs, role
        assert server["maxModelLen"] == spec.max_model_len, role


@pytest.mark.parametrize("overlay", OVERLAYS, ids=_name)
def test_services_leave_topics_to_the_chart(overlay):
    for d in _by_kind(render(overlay), "Deployment"):
        if not d["metadata"]["name"].startswith("silico-") or "llm" in d["metadata"]["name"]:
            continue
        env = {
            e["name"]: e.get("value")
            for e in d["spec"]["template"]["spec"]["containers"][0].get("env", [])
        }
        if "SILICO_KAFKA" in env:
            assert env.get("SILICO_CREATE_TOPICS") == "false", d["metadata"]["name"]


def test_the_orchestrator_is_one_pod_with_reports_on_a_volume_and_a_url_is_enough():
    objs = render(None, {"store": {"url": "postgresql+psycopg2://db/silico"}})
    study = next(d for d in _by_kind(objs, "Deployment") if d["metadata"]["name"] == "silico-study")
    assert study["spec"]["strategy"] == {"type": "Recreate"}
    vols = {v["name"]: v for v in study["spec"]["template"]["spec"]["volumes"]}
    claim = vols["reports"]["persistentVolumeClaim"]["claimName"]
    assert claim in {p["metadata"]["name"] for p in _by_kind(objs, "PersistentVolumeClaim")}
    # store.url alone: the chart's own Secret, referenced by every service.
    secrets = {x["metadata"]["name"] for x in _by_kind(objs, "Secret")}
    env = {e["name"]: e for e in study["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SILICO_STORE_URL"]["valueFrom"]["secretKeyRef"]["name"] in secrets
    others = [d for d in _by_kind(objs, "Deployment") if d["metadata"]["name"] != "silico-study"]
    assert all("strategy" not in d["spec"] for d in others if "llm" not in d["metadata"]["name"])


def _labels_match(selector: dict, labels: dict) -> bool:
    ok = all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())
    for e in selector.get("matchExpressions", []):
        if e["operator"] == "In":
            ok = ok and labels.get(e["key"]) in e["values"]
        elif e["operator"] == "Exists":
            ok = ok and e["key"] in labels
    return ok


def test_kafka_users_can_touch_only_their_own_topics():
    """Strimzi KafkaUsers: a stage reads only its request topic and writes only its
    results and dead-letter topics; only the study service writes requests. Every
    Kafka client logs in as its own user over TLS."""
    from silico.pipeline.registry import QUEUED

    objs = render(CHART / "values" / "gpu-cluster.yaml")
    users = {u["metadata"]["name"]: u for u in _by_kind(objs, "KafkaUser")}
    assert set(users) == {f"silico-{s}" for s in (*QUEUED, "study")}

    def allowed(user: str, op: str) -> set[str]:
        acls = users[user]["spec"]["authorization"]["acls"]
        return {
            a["resource"]["name"]
            for a in acls
            if a["resource"]["type"] == "topic" and op in a["operations"]
        }

    for s in QUEUED:
        assert allowed(f"silico-{s}", "Read") == {f"{s}.requests.v1"}
        assert allowed(f"silico-{s}", "Write") == {f"{s}.results.v1", f"{s}.requests.v1.dlq"}
    assert allowed("silico-study", "Write") == {f"{s}.requests.v1" for s in QUEUED}
    assert allowed("silico-study", "Read") == {f"{s}.results.v1" for s in QUEUED}
    # KEDA reads each stage's lag as that stage's user, over TLS.
    auths = {a["metadata"]["name"]: a for a in _by_kind(objs, "TriggerAuthentication")}
    for so in _by_kind(objs, "ScaledObject"):
        trig = so["spec"]["triggers"][0]
        assert trig["metadata"]["sasl"] == "scram_sha512" and trig["metadata"]["tls"] == "enable"
        auth = auths[trig["authenticationRef"]["name"]]["spec"]
        refs = {r["parameter"]: r for r in auth["secretTargetRef"]}
        assert refs["password"]["name"] == so["spec"]["scaleTargetRef"]["name"] in users
        assert refs["ca"]["name"] == "silico-kafka-cluster-ca-cert"
        assert auth["env"][0]["name"] == "SILICO_KAFKA_USERNAME"
    for d in _by_kind(objs, "Deployment"):
        c = d["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in c.get("env", [])}
        if "SILICO_KAFKA" not in env:
            continue
        name = d["metadata"]["name"]
        assert env["SILICO_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        assert env["SILICO_KAFKA_USERNAME"]["value"] == name and name in users
        assert env["SILICO_KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == name
        vols = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
        assert vols["kafka-ca"]["secret"]["secretName"] == "silico-kafka-cluster-ca-cert"


@pytest.mark.parametrize("overlay", OVERLAYS, ids=_name)
def test_network_policies_close_egress_and_the_model_servers(overlay):
    objs = render(overlay)
    pols = {p["metadata"]["name"]: p for p in _by_kind(objs, "NetworkPolicy")}
    deps = {d["metadata"]["name"]: d for d in _by_kind(objs, "Deployment")}
    for name in deps:
        if name in pols:
            assert "Egress" in pols[name]["spec"]["policyTypes"], name
    models = pols["silico-models"]["spec"]
    assert models["policyTypes"] == ["Ingress", "Egress"]
    callers = {
        n
        for n, d in deps.items()
        if any(
            _labels_match(f["podSelector"], d["spec"]["template"]["metadata"]["labels"])
            for f in models["ingress"][0]["from"]
            if "podSelector" in f
        )
    }
    assert callers == {f"silico-{s}" for s in ("backstory", "critic", "demographics", "survey")}
    isvcs = {i["metadata"]["name"] for i in _by_kind(objs, "InferenceService")}
    assert set(models["podSelector"]["matchExpressions"][0]["values"]) == isvcs


def test_auth_without_tls_does_not_render():
    with pytest.raises(Exception, match="never travel in clear text"):
        render(None, {"tls": {"enabled": False}})
    assert render(None, {"tls": {"enabled": False}, "auth": {"enabled": False}})


def test_interview_answers_are_reviewed_by_the_critic_roles_model():
    """The backstory service reviews interview answers inside its units: on GPUs its
    critic client must point at the instruct server (the critic role), not its own base
    model."""
    objs = render(CHART / "values" / "gpu-cluster.yaml")
    deps = {d["metadata"]["name"]: d for d in _by_kind(objs, "Deployment")}

    def env(name: str) -> dict[str, str]:
        c = deps[name]["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: e.get("value", "") for e in c["env"]}

    back, critic = env("silico-backstory"), env("silico-critic")
    assert back["SILICO_CRITIC_MODEL_URL"] == critic["SILICO_MODEL_URL"]
    assert back["SILICO_CRITIC_MODEL_NAME"] == critic["SILICO_MODEL_NAME"] == "llama-3-70b-instruct"
    assert back["SILICO_MODEL_URL"] != critic["SILICO_MODEL_URL"]
    assert "SILICO_CRITIC_MODEL_URL" not in env("silico-survey")


def test_cpu_overlay_serves_the_embedded_model_and_creates_topics_by_job():
    objs = render(CHART / "values" / "cpu-small.yaml")
    (isvc,) = _by_kind(objs, "InferenceService")
    c = isvc["spec"]["predictor"]["containers"][0]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert "--listen-port=8080" in c["args"]
    assert not _by_kind(objs, "ScaledObject") and not _by_kind(objs, "KafkaTopic")
    (job,) = _by_kind(objs, "Job")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:3] == ["python", "-m", "silico.runtime.topics"]


def _dashboard_metrics() -> set[str]:
    dash = json.loads((CHART / "files" / "grafana" / "silico.json").read_text())
    names = set()
    for p in dash["panels"]:
        for t in p["targets"]:
            names |= set(re.findall(r"\b(silico_[a-z_]+)", t["expr"]))
    return names


def _registered_metrics() -> set[str]:
    # Importing the modules registers their metrics in the default registry.
    from prometheus_client import REGISTRY

    import services.modelserver.server  # noqa: F401
    import silico.runtime.grpc_server  # noqa: F401
    import silico.runtime.kafka  # noqa: F401
    import silico.runtime.telemetry  # noqa: F401

    suffixes = {
        "counter": ("_total",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("_sum", "_count"),
        "gauge": ("",),
    }
    names = set()
    for metric in REGISTRY.collect():
        # A labelled metric with no children yet has no samples: the family's
        # type says which series it will expose.
        names |= {metric.name + s for s in suffixes.get(metric.type, ("",))}
    return names


def test_every_dashboard_query_uses_a_registered_metric():
    used = _dashboard_metrics()
    assert len(used) >= 10
    registered = _registered_metrics()
    missing = sorted(used - registered)
    assert missing == [], f"dashboard queries metrics the code never registers: {missing}"


def test_every_alert_uses_a_registered_metric():
    objs = render(None)
    (rule,) = _by_kind(objs, "PrometheusRule")
    used = {
        m
        for g in rule["spec"]["groups"]
        for r in g["rules"]
        for m in re.findall(r"\b(silico_[a-z_]+)", r["expr"])
    }
    assert used and used <= _registered_metrics()


# cpu-small turns the Prometheus Operator's objects off; on here to check them too.
_MONITORED = {"monitoring": {"serviceMonitor": {"enabled": True}, "rules": {"enabled": True}}}


def test_the_prometheus_rule_is_the_promtool_tested_rule_file():
    """One source: the PrometheusRule carries files/prometheus/silico-rules.yaml as it
    is, Prometheus' own templating untouched by Helm."""
    rules = yaml.safe_load((CHART / "files" / "prometheus" / "silico-rules.yaml").read_text())
    for overlay in OVERLAYS:
        (rule,) = _by_kind(render(overlay, _MONITORED), "PrometheusRule")
        assert rule["spec"] == {"groups": rules["groups"]}, _name(overlay)
    summaries = [r["annotations"]["summary"] for g in rules["groups"] for r in g["rules"]]
    assert any("{{ $labels.stage }}" in s for s in summaries)
    (rule,) = _by_kind(render(None), "PrometheusRule")
    names = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert names == [
        "SilicoStudyFailed",
        "SilicoDeadLetters",
        "SilicoStageStalled",
        "SilicoModelRetries",
    ]


def test_the_model_servers_are_scraped_where_their_network_policy_lets_prometheus_in():
    for overlay in OVERLAYS:
        objs = render(overlay, _MONITORED)
        (pm,) = _by_kind(objs, "PodMonitor")
        isvcs = sorted(i["metadata"]["name"] for i in _by_kind(objs, "InferenceService"))
        (expr,) = pm["spec"]["selector"]["matchExpressions"]
        assert expr["key"] == "serving.kserve.io/inferenceservice"
        assert sorted(expr["values"]) == isvcs, _name(overlay)
        (ep,) = pm["spec"]["podMetricsEndpoints"]
        assert ep["path"] == "/metrics" and ep["portNumber"] == 8080
        if CRDS.is_dir():
            assert validation_errors(pm) == []
