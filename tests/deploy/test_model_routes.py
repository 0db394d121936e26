"""The chart tells every service the deployment's model per role (the study service
resolves studies over it), lets a study route only to servers it lists, and can point
every role at one external OpenAI-compatible server."""

from __future__ import annotations

import json

from silico.pipeline.registry import ROLE_NAMES
from silico.runtime.settings import ServiceSettings

from .test_helm import CHART, render


def _envs(objs: list[dict]) -> dict[str, dict[str, str]]:
    out = {}
    for d in objs:
        if d["kind"] == "Deployment":
            c = d["spec"]["template"]["spec"]["containers"][0]
            out[d["metadata"]["name"]] = {e["name"]: e.get("value", "") for e in c.get("env", [])}
    return out


def test_every_role_is_routed_to_its_own_server_and_the_study_service_knows_them_all():
    envs = _envs(render(CHART / "values" / "gpu-cluster.yaml"))
    routes = json.loads(envs["silico-study"]["SILICO_MODEL_ROUTES"])
    assert set(routes) == set(ROLE_NAMES)
    for role in ROLE_NAMES:
        own = envs[f"silico-{role}"]
        assert routes[role] == {
            "base_url": own["SILICO_MODEL_URL"],
            "name": own["SILICO_MODEL_NAME"],
        }
        # Each worker may call every role's server: a study can route one role to another's model.
        assert own["SILICO_MODEL_ROUTES"] == envs["silico-study"]["SILICO_MODEL_ROUTES"]
    assert routes["critic"]["name"] == "llama-3-70b-instruct" != routes["survey"]["name"]
    # The settings read them as the deployment's routes and its allowed servers.
    s = ServiceSettings(model_routes=envs["silico-study"]["SILICO_MODEL_ROUTES"])
    allowed = s.allowed_models()
    assert all(allowed(r["base_url"]) for r in routes.values())
    assert not allowed("http://169.254.169.254/v1")


def test_an_external_server_serves_every_role_and_further_servers_can_be_allowed():
    objs = render(
        None,
        {
            "models": {
                "runtime": "external",
                "external": {"url": "http://vllm.llm.svc:8000/v1", "servedName": "qwen"},
                "allowedUrls": ["http://vllm-big.llm.svc:8000/v1"],
            },
            "networkPolicy": {"modelPeers": [{"ipBlock": {"cidr": "10.0.8.0/24"}}]},
        },
    )
    assert not [d for d in objs if d["kind"] == "InferenceService"]
    envs = _envs(objs)
    for role in ROLE_NAMES:
        assert envs[f"silico-{role}"]["SILICO_MODEL_URL"] == "http://vllm.llm.svc:8000/v1"
        assert envs[f"silico-{role}"]["SILICO_MODEL_NAME"] == "qwen"
    assert envs["silico-study"]["SILICO_MODEL_URLS"] == "http://vllm-big.llm.svc:8000/v1"
    pols = {d["metadata"]["name"]: d for d in objs if d["kind"] == "NetworkPolicy"}
    assert "silico-models" not in pols  # no model pods of the release to guard
    egress = pols["silico-survey"]["spec"]["egress"]
    assert {"ipBlock": {"cidr": "10.0.8.0/24"}} in [
        p for rule in egress for p in rule.get("to", [])
    ]


def test_uploaded_datasets_live_on_the_study_services_writable_volume():
    """The root filesystem is read-only: datasets must land on a mounted volume, the
    reports' (persistent with services.study.reports.persistent), never in /app."""
    for overlay in (None, CHART / "values" / "gpu-cluster.yaml"):
        objs = render(overlay)
        study = next(
            d for d in objs if d["kind"] == "Deployment" and d["metadata"]["name"] == "silico-study"
        )
        c = study["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value", "") for e in c["env"]}
        mounts = [m for m in c["volumeMounts"] if not m.get("readOnly")]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert any(env["SILICO_DATASETS_DIR"].startswith(m["mountPath"] + "/") for m in mounts)
