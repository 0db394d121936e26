"""Silico against a real vLLM server (``make test-vllm``): what the client relies on,
the same stage outputs as the embedded server, and the tiny study on both drivers.

The figures the closing note quotes are printed and written to ``vllm-results.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from silico.client import Client
from silico.core.errors import SilicoError
from silico.llm import CompletionsClient, UsageLedger
from silico.local.procs import EMBEDDED_MODEL, start_model_server
from silico.local.stack import up
from silico.pipeline import work
from silico.pipeline.registry import ROLE_NAMES
from silico.pipeline.routes import Router, resolve
from silico.pipeline.runner import run_study
from silico.pipeline.spec import ModelRoute, load_spec
from silico.pipeline.units import plan_demographics, plan_survey
from silico.report import headline
from tests.scripted import STORY

from .conftest import pytestmark as _marks

pytestmark = _marks

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "pipelines" / "studies" / "tiny.yaml"
RESULTS = REPO / "vllm-results.json"
#: Option probabilities of the two servers differ by float32 rounding in different
#: kernels (measured 4e-5 at most on SmolLM2); a real difference in prompts,
#: tokenisation or logprob handling moves them by 1e-2 and more.
PROB_TOL = 2e-3

FIGURES: dict[str, object] = {}


def _record(**kw: object) -> None:
    FIGURES.update(kw)
    RESULTS.write_text(json.dumps(FIGURES, indent=2, default=float))
    for k, v in kw.items():
        print(f"vllm figure {k}: {v}")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    server = start_model_server(tmp_path_factory.mktemp("embedded"), threads=2)
    yield server
    server.stop()


def _router(url: str, ledger: UsageLedger | None = None, cache=None) -> Router:
    def make(u: str, name: str, revision: str) -> CompletionsClient:
        return CompletionsClient(
            u,
            name,
            concurrency=16,
            ledger=ledger,
            cache=cache,
            revision=revision,
            timeout=600.0,
        )

    return Router(make, ModelRoute(base_url=url, name=EMBEDDED_MODEL))


def test_vllm_serves_what_the_client_relies_on(vllm_server):
    _record(vllm_start_seconds=round(vllm_server.start_seconds, 1), vllm_args=vllm_server.args)
    with CompletionsClient(vllm_server.base_url, vllm_server.name) as c:
        m = c.server_model()
        assert m["owned_by"] == "vllm" and m["max_model_len"] == 8192  # the chart's value
        # Several of vLLM's cache blocks long (a block is cached only when full).
        prompt = f"{STORY * 6}\n\nQuestion: What is your favourite season?\nAnswer:"
        first = c.complete(prompt, max_tokens=1, temperature=0.0, logprobs=20)
        assert len(first["choices"][0]["logprobs"]["top_logprobs"][0]) >= 20
        again = c.complete(prompt + " ", max_tokens=1, temperature=0.0, logprobs=20)
        cached = again["usage"]["prompt_tokens_details"]["cached_tokens"]
        assert cached > 0  # --enable-prompt-tokens-details, and prefix caching on
        lp = c.text_logprob([STORY[:100]], [STORY[100:]])[0]
        assert np.isfinite(lp) and lp < 0  # echo with prompt logprobs
        # ChatML stop strings end a generation on vLLM too, and never reach the text.
        g = c.generate(
            ["<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n"],
            max_tokens=64,
            temperature=1.0,
            seed=3,
            stop=["<|im_end|>", "<|im_start|>"],
        )[0]
        assert "<|im" not in g.text and g.finish_reason == "stop"
        # An unknown model is refused at once by the server, not retried.
        r = httpx.post(f"{vllm_server.base_url}/completions", json={"model": "nope", "prompt": "x"})
        assert r.status_code == 404
    _record(vllm_cached_tokens_on_repeat=cached)


def test_stage_outputs_equal_the_embedded_servers(vllm_server, embedded):
    """The same personas through the demographics and survey units on both servers."""
    from silico.pipeline.runner import load_humans
    from silico.pipeline.stages import Backstory

    spec = load_spec(TINY)
    humans = load_humans(spec)
    personas = [
        Backstory(id=f"p{i}", text=t, seed=i, generated_tokens=0, attempts=1, accepted=True)
        for i, t in enumerate([STORY, STORY.replace("Dayton, Ohio", "Fresno, California")])
    ]
    demo_units = plan_demographics(spec, personas)
    out: dict[str, dict[str, object]] = {}
    seconds = {}
    for name, url in (("vllm", vllm_server.base_url), ("embedded", embedded.base_url)):
        router = _router(url)
        t0 = time.perf_counter()
        got = {
            u.key: work.do_unit(u.stage, router.for_stage(spec.model, u.stage), u.request)
            for u in demo_units
        }
        plan = plan_survey(spec, humans, personas, _fine(spec, got, len(personas)))
        units = [u for u in plan.units if u.key.startswith("anthology/")]
        ans = {
            u.key: work.do_unit(u.stage, router.for_stage(spec.model, u.stage), u.request)
            for u in units
        }
        seconds[name] = time.perf_counter() - t0
        out[name] = {"demo": got, "survey": ans}
        router.close()
    diffs, comp, dropped_apart = [], [], 0
    pairs = [
        (ta, tb)
        for key in out["vllm"]["demo"]
        for ta, tb in zip(
            out["vllm"]["demo"][key].traits, out["embedded"]["demo"][key].traits, strict=True
        )
    ] + [
        (ia, ib)
        for key in out["vllm"]["survey"]
        for ia, ib in zip(
            out["vllm"]["survey"][key].answers, out["embedded"]["survey"][key].answers, strict=True
        )
    ]
    for a, b in pairs:
        comp.append(abs(a.compliance - b.compliance))
        if len(a.probs) != len(b.probs):
            dropped_apart += 1  # dropped as non-compliant by one server only
            continue
        if len(a.probs):
            diffs.append(float(np.max(np.abs(np.array(a.probs) - np.array(b.probs)))))
    _record(
        max_option_probability_difference=float(max(diffs)),
        max_compliance_difference=float(max(comp)),
        distributions_compared=len(diffs),
        dropped_by_one_server_only=dropped_apart,
        stage_seconds_vllm=round(seconds["vllm"], 1),
        stage_seconds_embedded=round(seconds["embedded"], 1),
    )
    assert dropped_apart == 0 and max(diffs) < PROB_TOL and max(comp) < PROB_TOL


def _fine(spec, got, n):
    from silico.pipeline.units import read_demographics

    return read_demographics(spec, n, got)[0]


@pytest.mark.timeout(3600)  # three tiny studies, one of them on the embedded CPU server
def test_the_tiny_study_on_vllm_in_process_and_through_the_stack(vllm_server, embedded, tmp_path):
    spec = load_spec(TINY)
    routes = {
        r: ModelRoute(base_url=vllm_server.base_url, name=vllm_server.name) for r in ROLE_NAMES
    }
    ledger = UsageLedger()
    t0 = time.perf_counter()
    local = run_study(resolve(spec, routes), _router(vllm_server.base_url, ledger))
    in_process_s = time.perf_counter() - t0
    _record(tiny_in_process_vllm_seconds=round(in_process_s, 1))
    emb_routes = {
        r: ModelRoute(base_url=embedded.base_url, name=EMBEDDED_MODEL) for r in ROLE_NAMES
    }
    t0 = time.perf_counter()
    emb = run_study(resolve(spec, emb_routes), _router(embedded.base_url))
    embedded_s = time.perf_counter() - t0
    _record(tiny_in_process_embedded_seconds=round(embedded_s, 1))
    assert not any("<|im" in b.text for b in local.backstories)
    cached = ledger.snapshot()["survey"].cached
    assert cached > 0  # prefix-cached tokens are accounted on vLLM

    stack = up(tmp_path / "stack", model_url=vllm_server.base_url, model_name=vllm_server.name)
    try:
        with Client(stack.study_addr) as client:
            t0 = time.perf_counter()
            st = client.submit(spec)
            info = client.wait(st.id)
            stack_s = time.perf_counter() - t0
            assert info.state == "succeeded", info.error
            res = client.results(st.id)
            # A study naming a model the server lacks fails at once, saying which.
            bad = spec.model_dump(mode="json")
            bad["model"]["name"] = "no-such-model"
            t0 = time.perf_counter()
            bad_id = client.submit(bad).id
            with pytest.raises(SilicoError):
                client.wait(bad_id)
            fail_s = time.perf_counter() - t0
            failed = client.get(bad_id)
    finally:
        stack.stop()
    assert failed.state == "failed" and "no-such-model" in failed.error, failed.error
    head = {r["method"]: r for _, r in res.tables["headline"].iterrows()}
    worst = 0.0
    for _, row in headline(local).iterrows():
        for m in ("wd", "frobenius", "alpha_virtual"):
            a, b = head[row["method"]][m], row[m]
            if np.isfinite(a) or np.isfinite(b):
                worst = max(worst, abs(a - b))
    stories = res.data["personas"]
    same = sum(
        a == b
        for a, b in zip(
            sorted(b.text for b in local.backstories), sorted(stories["backstory"]), strict=False
        )
    )
    _record(
        tiny_in_process_vllm_seconds=round(in_process_s, 1),
        tiny_in_process_embedded_seconds=round(embedded_s, 1),
        tiny_stack_vllm_seconds=round(stack_s, 1),
        unknown_model_failed_after_seconds=round(fail_s, 1),
        unknown_model_error=failed.error[:200],
        headline_max_difference_stack_vs_in_process=worst,
        survey_prefix_cached_tokens_vllm=cached,
        critic_acceptance_vllm=float(np.mean([b.accepted for b in local.backstories])),
        critic_acceptance_embedded=float(np.mean([b.accepted for b in emb.backstories])),
        backstories_identical_stack_vs_in_process=f"{same} of {len(local.backstories)}",
    )
    assert worst < 1e-3
