"""A study's `model` section routes its units on both drivers, within the servers
the deployment allows; the client keys its cache on the server's identity and cuts
stop strings the same way whatever the server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml

from silico.core.errors import ValidationError
from silico.llm import CompletionsClient, ModelResponseError, ResponseCache
from silico.pipeline.registry import ROLE_NAMES
from silico.pipeline.routes import AllowedServers, Router, resolve, resolver
from silico.pipeline.runner import run_study
from silico.pipeline.spec import ModelRoute, StudySpec, load_spec, parse_spec
from silico.platform.orchestrator import Orchestrator
from silico.platform.studies import Studies
from silico.platform.tenancy import Tenancy
from silico.runtime.app import unit_compute, unit_handler
from silico.store import Store
from silico.v1 import events_pb2
from tests.scripted import ScriptedLM

STUDIES = Path(__file__).resolve().parents[2] / "pipelines" / "studies"
DEPLOYED = ModelRoute(base_url="http://deployed/v1", name="small")
DEFAULTS = {r: DEPLOYED for r in ROLE_NAMES}


def _spec(**model: object) -> StudySpec:
    raw = load_spec(STUDIES / "tiny.yaml").model_dump(mode="json")
    raw["model"] = {**raw["model"], **model}
    return StudySpec.model_validate(raw)


class _Clients:
    """A client factory that hands one scripted model per (server, name)."""

    def __init__(self) -> None:
        self.made: dict[tuple[str, str], ScriptedLM] = {}

    def __call__(self, url: str, name: str, revision: str) -> ScriptedLM:
        return self.made.setdefault((url, name), ScriptedLM())


def test_an_empty_model_section_takes_the_deployments_model_per_role():
    spec = resolve(_spec(), DEFAULTS)
    assert {r: spec.model.route(r) for r in ROLE_NAMES} == DEFAULTS
    assert spec.model.label == "small"


def test_a_role_route_overrides_the_section_and_a_new_server_needs_its_name():
    spec = resolve(
        _spec(roles={"survey": {"base_url": "http://big/v1", "name": "big"}}, name="small-v2"),
        DEFAULTS,
    )
    assert spec.model.route("survey") == ModelRoute(base_url="http://big/v1", name="big")
    assert spec.model.route("critic") == ModelRoute(base_url="http://deployed/v1", name="small-v2")
    with pytest.raises(ValidationError) as e:
        parse_spec({**_spec().model_dump(mode="json"), "model": {"base_url": "http://x/v1"}})
    assert e.value.field == "model" and "name" in e.value.message


def test_a_server_the_deployment_does_not_allow_is_refused_at_submission_by_field(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'silico.db'}")
    orch = Orchestrator(
        store,
        _Recorder(),
        resolve=resolver(DEFAULTS, AllowedServers.of(["http://deployed/v1"])),
    )
    studies = Studies(store, orch, Tenancy(store))
    tenant = Tenancy(store).tenant({})
    text = yaml.safe_dump(
        _spec(base_url="http://169.254.169.254/v1", name="x").model_dump(mode="json")
    )
    with pytest.raises(ValidationError) as e:
        studies.submit(text, tenant)
    assert e.value.field == "model.base_url" and "169.254.169.254" in e.value.message
    assert store.list_studies(tenant.id) == []  # nothing stored
    assert AllowedServers.of(["*"])("http://anything/v1")


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    def send(self, topic: str, key: str, value: bytes) -> None:
        self.sent.append((topic, key, value))


def test_both_drivers_send_each_roles_units_to_its_model(tmp_path):
    spec = _spec(roles={"survey": {"base_url": "http://big/v1", "name": "big"}})
    allowed = AllowedServers.of(["http://deployed/v1", "http://big/v1"])
    # Over Kafka: the orchestrator puts the route on every WorkItem, the worker follows it.
    store = Store(f"sqlite:///{tmp_path / 'silico.db'}")
    orch = Orchestrator(
        store, _Recorder(), reports_dir=tmp_path / "r", resolve=resolver(DEFAULTS, allowed)
    )
    st = store.create_study(spec.name, yaml.safe_dump(spec.model_dump(mode="json")))
    remote = _Clients()
    router = Router(remote, ModelRoute(base_url="http://worker-own/v1", name="own"), None, allowed)
    handlers = {s: unit_handler(s, store, unit_compute(s, router)) for s in ROLE_NAMES}
    routes: dict[str, set[tuple[str, str]]] = {}
    for _ in range(200):
        if store.get_study(st.id).state not in ("queued", "running"):
            break
        orch.tick(st.id)
        sent, orch.producer.sent = orch.producer.sent, []
        for _, _, value in sent:
            item = events_pb2.WorkItem.FromString(value)
            routes.setdefault(item.stage, set()).add((item.model.base_url, item.model.name))
            handlers[item.stage](value)
        orch.resync()
    assert store.get_study(st.id).state == "succeeded", store.get_study(st.id).error
    assert routes["survey"] == {("http://big/v1", "big")}
    assert routes["backstory"] == routes["demographics"] == {("http://deployed/v1", "small")}
    assert ("http://worker-own/v1", "own") not in remote.made  # routed, never the fallback
    assert remote.made[("http://big/v1", "big")].prompts
    # In process: the same routes through the same Router, and the same numbers.
    local = _Clients()
    result = run_study(resolve(spec, DEFAULTS), Router(local, DEPLOYED))
    assert set(local.made) == {("http://deployed/v1", "small"), ("http://big/v1", "big")}
    assert sorted(local.made[("http://big/v1", "big")].prompts) == sorted(
        remote.made[("http://big/v1", "big")].prompts
    )
    doc = store.get_result(st.id, "metrics", "report")
    assert doc["model"] == result.spec.model.label == "big, small"


def test_a_worker_refuses_a_route_its_deployment_does_not_allow():
    router = Router(_Clients(), DEPLOYED, None, AllowedServers.of(["http://deployed/v1"]))
    with pytest.raises(ValidationError) as e:
        router.models(ModelRoute(base_url="http://elsewhere/v1", name="x"))
    assert e.value.field == "model.base_url"


# -- the client against two kinds of server ------------------------------------------


def _server(
    owned_by: str, root: str, seen: list[dict], text: str = " hello"
) -> httpx.MockTransport:
    def handle(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/models"):
            return httpx.Response(
                200,
                json={"data": [{"id": "m", "owned_by": owned_by, "root": root}]},
            )
        body = json.loads(req.content)
        seen.append(body)
        if body["model"] != "m":
            return httpx.Response(404, json={"error": {"message": "no such model"}})
        return httpx.Response(
            200,
            json={
                "choices": [{"text": text, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": 5,
                    "completion_tokens": 2,
                    "prompt_tokens_details": {"cached_tokens": 3},
                },
            },
        )

    return httpx.MockTransport(handle)


def test_special_stop_strings_reach_vllm_as_text_and_are_cut_on_every_server():
    for kind in ("vllm", "silico"):
        seen: list[dict] = []
        c = CompletionsClient(
            "http://s/v1", "m", transport=_server(kind, "/w", seen, " hi<|im_end|>x")
        )
        g = c.generate(["p"], stop=["<|im_end|>", "<|im_start|>"], seed=1)[0]
        assert g.text == " hi" and g.cached_tokens == 3
        assert seen[0].get("skip_special_tokens") is (False if kind == "vllm" else None)


def test_the_response_cache_is_keyed_on_the_servers_model_not_only_its_name():
    cache = ResponseCache()
    seen: list[dict] = []

    def client(root: str, revision: str = "") -> CompletionsClient:
        return CompletionsClient(
            "http://s/v1",
            "m",
            cache=cache,
            revision=revision,
            transport=_server("vllm", root, seen),
        )

    client("/weights/a").generate(["p"], seed=1)
    client("/weights/a").generate(["p"], seed=1)
    assert len(seen) == 1  # the same weights: replayed
    client("/weights/b").generate(["p"], seed=1)
    client("/weights/a", revision="abc123").generate(["p"], seed=1)
    assert len(seen) == 3  # other weights, or another named revision: asked again


def test_a_model_the_server_does_not_serve_fails_at_once_with_both_names():
    seen: list[dict] = []
    c = CompletionsClient(
        "http://s/v1", "other", cache=ResponseCache(), transport=_server("vllm", "/w", seen)
    )
    with pytest.raises(ModelResponseError) as e:
        c.generate(["p"], seed=1)
    assert e.value.status == 404 and "'other'" in str(e.value) and "['m']" in str(e.value)
    assert seen == []


def test_a_server_without_a_model_list_still_serves_and_a_busy_one_is_waited_for():
    from silico.llm import ModelServerError

    def bare(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/models"):
            return httpx.Response(404, text="no such route")
        return httpx.Response(
            200, json={"choices": [{"text": " a<|im_end|>", "finish_reason": "stop"}]}
        )

    c = CompletionsClient(
        "http://s/v1", "m", cache=ResponseCache(), transport=httpx.MockTransport(bare)
    )
    g = c.generate(["p"], seed=1, stop=["<|im_end|>"])[0]
    assert g.text == " a" and "http://s/v1" in c.identity()  # known by its address only
    busy = CompletionsClient(
        "http://s/v1", "m", transport=httpx.MockTransport(lambda r: httpx.Response(503))
    )
    with pytest.raises(ModelServerError):  # transient: a worker waits, the study goes on
        busy.server_model()


def test_two_servers_with_one_served_name_share_a_cache_only_when_they_name_a_revision():
    def served(revision: str) -> httpx.MockTransport:
        def handle(req: httpx.Request) -> httpx.Response:
            return httpx.Response(
                200, json={"data": [{"id": "m", "root": "/w", "revision": revision}]}
            )

        return httpx.MockTransport(handle)

    a = CompletionsClient("http://a/v1", "m", transport=served(""))
    b = CompletionsClient("http://b/v1", "m", transport=served(""))
    assert a.identity() != b.identity()
    a = CompletionsClient("http://a/v1", "m", transport=served("abc"))
    b = CompletionsClient("http://b/v1", "m", transport=served("abc"))
    assert a.identity() == b.identity()


def test_a_study_is_stored_with_the_routes_it_was_submitted_under(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'silico.db'}")
    deployed_then = resolver(DEFAULTS, AllowedServers.of(["http://deployed/v1"]))
    studies = Studies(
        store, Orchestrator(store, _Recorder(), resolve=deployed_then), Tenancy(store)
    )
    st = studies.submit(yaml.safe_dump(_spec().model_dump(mode="json")), Tenancy(store).tenant({}))
    stored = parse_spec(yaml.safe_load(store.get_study(st.id).spec_yaml))
    assert stored.model.route("survey") == DEPLOYED
    # The deployment moves to another model: the stored study keeps its own.
    later = resolve(
        stored, {r: ModelRoute(base_url="http://new/v1", name="big") for r in ROLE_NAMES}
    )
    assert later.model.route("survey") == DEPLOYED
