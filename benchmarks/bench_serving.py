"""Serving benchmarks on the embedded model: prefix reuse and batched generation."""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


BENCHMARKS = {"prefix_reuse": bench_prefix_reuse, "batched_generation": bench_batched_generation}
