"""Serving benchmarks on the embedded model: prefix reuse, batched generation, and n samples."""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from transformers import AutoTokenizer

from services.modelserver.engine import default_cache_dir
from silico.core.prompts import Item, backstory_prompt, present, survey_prompt
from silico.llm import CompletionsClient
from silico.local.procs import start_model_server

_SENTENCES = (
    "I grew up in {town}, where my father ran a hardware store and my mother kept the books.",
    "When I was a teenager I worked summers at the grain elevator and saved for a truck.",
    "I studied {subject} at the state university, the first in my family to go to college.",
    "After graduation I moved to {city} and spent ten years working for a logistics company.",
    "I married {spouse}, and we have two children who keep us busy with soccer and band practice.",
    "On Sundays we go to church, and afterwards we have dinner with my parents.",
    "I volunteer at the food bank twice a month because I remember when times were hard for us.",
    "I worry about what health insurance costs and whether my kids will be able to afford a home.",
    "I like fishing, old westerns, and fixing engines in the garage with the radio on.",
    "Politics frustrates me, because it seems like nobody in charge listens to people like us.",
)
_FILL = [
    {"town": "Dubuque, Iowa", "subject": "accounting", "city": "Chicago", "spouse": "Karen"},
    {"town": "Macon, Georgia", "subject": "nursing", "city": "Atlanta", "spouse": "Marcus"},
    {"town": "Fresno, California", "subject": "engineering", "city": "Sacramento", "spouse": "Ana"},
]


def _backstory(i: int, target_tokens: int, tok) -> str:  # type: ignore[no-untyped-def]
    parts: list[str] = []
    k = 0
    while len(tok.encode(" ".join(parts))) < target_tokens:
        parts.append(_SENTENCES[k % len(_SENTENCES)].format(**_FILL[i % len(_FILL)]))
        k += 1
    return " ".join(parts)


def _items(n: int) -> list[Item]:
    opts = ("Strongly agree", "Somewhat agree", "Somewhat disagree", "Strongly disagree")
    return [
        Item(f"q{j}", f"Statement {j}: the government should do more about issue number {j}.", opts)
        for j in range(n)
    ]


def _lower_bound(tok, prompts: list[list[str]]) -> int:  # type: ignore[no-untyped-def]
    """Each persona's shared prefix once, plus every prompt's own suffix."""
    bound = 0
    for ps in prompts:
        ids = [tok.encode(p) for p in ps]
        common = min(len(x) for x in ids)
        for x in ids[1:]:
            common = min(
                common,
                next(
                    (i for i, (a, b) in enumerate(zip(ids[0], x, strict=False)) if a != b), common
                ),
            )
        bound += common + sum(len(x) - common for x in ids)
    return bound


def bench_prefix_reuse(
    n_personas: int = 3, n_items: int = 20, backstory_tokens: int = 1000
) -> dict[str, object]:
    tok = AutoTokenizer.from_pretrained(default_cache_dir())
    items = _items(n_items)
    personas = [_backstory(i, backstory_tokens, tok) for i in range(n_personas)]
    prompts = [[survey_prompt(b, present(it)) for it in items] for b in personas]
    # A cold cache for the batched run: the same stories, told "in my own words".
    prompts_cold = [
        [survey_prompt("In my own words: " + b, present(it)) for it in items] for b in personas
    ]
    bound = _lower_bound(tok, prompts)
    bound_cold = _lower_bound(tok, prompts_cold)
    with tempfile.TemporaryDirectory() as d:
        server = start_model_server(Path(d), threads=2)
        try:
            figures: dict[str, object] = {
                "personas": n_personas,
                "items": n_items,
                "backstory_tokens": backstory_tokens,
            }
            with CompletionsClient(server.base_url, server.model, concurrency=1, timeout=600) as c:
                for label, reuse in (("no_reuse", False), ("reuse", True)):
                    t0 = time.perf_counter()
                    computed = prompt = 0
                    for ps in prompts:
                        for p in ps:
                            body = c.complete(
                                p, max_tokens=1, temperature=0, logprobs=20, prefix_reuse=reuse
                            )
                            u = body["usage"]
                            prompt += u["prompt_tokens"]
                            computed += (
                                u["prompt_tokens"] - u["prompt_tokens_details"]["cached_tokens"]
                            )
                    dt = time.perf_counter() - t0
                    figures[f"{label}_s"] = round(dt, 2)
                    figures[f"{label}_s_per_question"] = round(dt / (n_personas * n_items), 3)
                    figures[f"{label}_tokens_computed"] = computed
                    figures["prompt_tokens_sent"] = prompt
                # The same prompts sent concurrently per persona: suffixes run as one batch.
                t0 = time.perf_counter()
                computed = 0
                with ThreadPoolExecutor(n_items) as pool:
                    for ps in prompts_cold:
                        bodies = list(
                            pool.map(
                                lambda p: c.complete(
                                    p, max_tokens=1, temperature=0, logprobs=20, seed=1
                                ),
                                ps,
                            )
                        )
                        for body in bodies:
                            u = body["usage"]
                            computed += (
                                u["prompt_tokens"] - u["prompt_tokens_details"]["cached_tokens"]
                            )
                dt = time.perf_counter() - t0
                figures["reuse_batched_s"] = round(dt, 2)
                figures["reuse_batched_s_per_question"] = round(dt / (n_personas * n_items), 3)
                figures["reuse_batched_tokens_computed"] = computed
                figures["reuse_batched_tokens_vs_bound"] = round(computed / bound_cold, 3)
            figures["lower_bound_tokens"] = bound
            figures["speedup_batched"] = round(
                float(figures["no_reuse_s"]) / float(figures["reuse_batched_s"]), 2
            )  # type: ignore[arg-type]
            figures["speedup"] = round(float(figures["no_reuse_s"]) / float(figures["reuse_s"]), 2)  # type: ignore[arg-type]
            figures["reuse_tokens_vs_bound"] = round(
                int(figures["reuse_tokens_computed"]) / bound, 3
            )  # type: ignore[call-overload]
            figures["goal_tokens_vs_bound"] = 1.25
        finally:
            server.stop()
    return figures


def bench_batched_generation(n: int = 16, max_tokens: int = 64) -> dict[str, object]:
    prompt = backstory_prompt()
    with tempfile.TemporaryDirectory() as d:
        server = start_model_server(Path(d), threads=2)
        try:
            out: dict[str, object] = {"generations": n, "max_tokens": max_tokens}
            for conc in (1, n):
                with CompletionsClient(
                    server.base_url, server.model, concurrency=conc, timeout=600
                ) as c:
                    t0 = time.perf_counter()
                    with ThreadPoolExecutor(conc) as pool:
                        gens = list(
                            pool.map(
                                lambda s: c.generate(
                                    [prompt], max_tokens=max_tokens, seed=1000 + s
                                )[0],
                                range(n),
                            )
                        )
                    dt = time.perf_counter() - t0
                tokens = sum(g.completion_tokens for g in gens)
                out[f"concurrency_{conc}_tokens_per_s"] = round(tokens / dt, 1)
            out["batching_speedup"] = round(
                float(out[f"concurrency_{n}_tokens_per_s"])
                / float(out["concurrency_1_tokens_per_s"]),
                2,  # type: ignore[arg-type]
            )
        finally:
            server.stop()
    return out


def bench_sampled_n(
    n: int = 40, max_tokens: int = 12, prompt_tokens: int = 250, seed: int = 1
) -> dict[str, object]:
    """``n`` sampled answers to one prompt (the reference's demographic survey sends
    n=40): one request with ``n`` against ``n`` concurrent n=1 requests.

    The server groups concurrent rows of one prompt too, so the n=1 requests are
    also timed with ``prefix_reuse=false``: each row then prefills its own copy in
    the left-padded batch, which is how the server ran them before ``n``.
    """
    tok = AutoTokenizer.from_pretrained(default_cache_dir())
    story = _backstory(0, prompt_tokens - 20, tok)

    def prompt(tag: str) -> str:
        # A different first line per run: each starts with a cold prefix cache.
        return f"Interview {tag}.\nQuestion: Tell me about yourself.\n\nAnswer: {story} I"

    out: dict[str, object] = {"samples": n, "max_tokens": max_tokens}
    body = {"max_tokens": max_tokens, "temperature": 1.0}
    with tempfile.TemporaryDirectory() as d:
        server = start_model_server(Path(d), threads=2)
        try:
            url = f"{server.base_url}/completions"
            with httpx.Client(timeout=600) as http:

                def post(**kw: object) -> dict[str, object]:
                    r = http.post(url, json={"model": server.model, **body, **kw})
                    r.raise_for_status()
                    return r.json()  # type: ignore[no-any-return]

                def computed(bodies: list[dict[str, object]]) -> int:
                    return sum(
                        u["prompt_tokens"] - u["prompt_tokens_details"]["cached_tokens"]  # type: ignore[index]
                        for u in (b["usage"] for b in bodies)
                    )

                post(prompt="Warm up.", max_tokens=2, seed=0)
                p = prompt("A")
                out["prompt_tokens"] = len(tok.encode(p))
                t0 = time.perf_counter()
                one = post(prompt=p, n=n, seed=seed)
                out["n_request_s"] = round(time.perf_counter() - t0, 2)
                out["n_request_prompt_tokens_computed"] = computed([one])
                assert len(one["choices"]) == n  # type: ignore[arg-type]
                for label, tag, reuse in (
                    ("separate", "B", True),
                    ("separate_unshared", "C", False),
                ):
                    p = prompt(tag)
                    t0 = time.perf_counter()
                    with ThreadPoolExecutor(n) as pool:
                        bodies = list(
                            pool.map(
                                lambda j: post(prompt=p, seed=seed + j, prefix_reuse=reuse),  # noqa: B023
                                range(n),
                            )
                        )
                    out[f"{label}_s"] = round(time.perf_counter() - t0, 2)
                    out[f"{label}_prompt_tokens_computed"] = computed(bodies)
        finally:
            server.stop()
    out["speedup_vs_separate"] = round(float(out["separate_s"]) / float(out["n_request_s"]), 2)  # type: ignore[arg-type]
    out["speedup_vs_unshared"] = round(
        float(out["separate_unshared_s"]) / float(out["n_request_s"]),  # type: ignore[arg-type]
        2,
    )
    return out


BENCHMARKS = {
    "prefix_reuse": bench_prefix_reuse,
    "batched_generation": bench_batched_generation,
    "sampled_n": bench_sampled_n,
}
