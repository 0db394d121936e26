"""``peer_ratio``: Silico's survey and demographic stages against the reference procedure.

The peer is a re-implementation of the released Anthology code's *procedure*
(not of Silico's sampled estimator, so that tuning Silico cannot move its
yardstick): every answer is a completion sampled at temperature 1 and parsed,
re-sampled while it does not parse, up to 100 times; survey items are asked in
series (each after the earlier questions and answers) in a seeded order with a
seeded option order; each demographic question is one request for 40 samples
(``n=40``). Both sides see the same prompts' wording (Silico's prompt
functions), the same personas (10 stories the embedded model writes first),
the 8 CCES items of the default study in full wording and its 9 traits, on
the same embedded model server, restarted before each measurement so no side
inherits the other's prefix cache. Personas run concurrently on both sides
(the study's ``model.concurrency``); only the procedure within a persona
differs.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from silico.core.extraction import parse_text_answer
from silico.core.prompts import (
    LETTERS,
    Item,
    demographic_item,
    present,
    reversed_order,
    series_context,
    series_turn,
    survey_prompt,
)
from silico.core.sampling import derive_seed
from silico.llm import CompletionsClient
from silico.local.procs import start_model_server
from silico.pipeline.runner import load_humans
from silico.pipeline.spec import load_spec
from silico.pipeline.stages import Backstory, annotate, chatml, score_items
from silico.pipeline.units import persona_context

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "pipelines" / "studies" / "cces_2018.yaml"
N_PERSONAS = 10
MAX_ATTEMPTS = 100
DEMOGRAPHIC_SAMPLES = 40
GOAL = 10.0


def _personas(base_url: str, model: str, n: int) -> list[str]:
    """``n`` persona contexts: stories the model writes to the default study's question."""
    spec = load_spec(SPEC)
    from silico.core.prompts import backstory_prompt

    b = spec.backstories
    prompt = chatml(backstory_prompt(b.variant))
    with CompletionsClient(base_url, model, concurrency=n, timeout=900) as lm:
        gens = lm.generate(
            [prompt] * n,
            max_tokens=b.max_tokens,
            temperature=b.temperature,
            top_p=b.top_p,
            repetition_penalty=b.repetition_penalty,
            stop=["<|im_end|>", "<|im_start|>"],
            seed=[derive_seed("peer-bench", i) for i in range(n)],
            stage="backstory",
        )
    return [
        persona_context(spec, Backstory(str(i), g.text.strip(), i, 0, 1, True))
        for i, g in enumerate(gens)
    ]


class _Peer:
    """The reference procedure over plain HTTP: no Silico client, cache or batching."""

    def __init__(self, base_url: str, model: str) -> None:
        self.url = base_url.rstrip("/") + "/completions"
        self.model = model
        self.http = httpx.Client(timeout=900)
        self.requests = 0
        self.completions = 0
        self._lock = threading.Lock()

    def sample(self, prompt: str, seed: int, n: int = 1) -> list[str]:
        r = self.http.post(
            self.url,
            json={
                "model": self.model,
                "prompt": prompt,
                "max_tokens": 16,
                "temperature": 1.0,
                "stop": ["\n", "Question:"],
                "seed": seed,
                "n": n,
            },
        )
        r.raise_for_status()
        with self._lock:  # personas run in threads
            self.requests += 1
            self.completions += n
        return [c["text"] for c in sorted(r.json()["choices"], key=lambda c: c["index"])]

    def survey(self, ctx: str, items: Sequence[Item], p: int) -> tuple[np.ndarray, int]:
        """One persona answers the items in series; a one-hot answer per item (NaN: none)."""
        kmax = max(it.k for it in items)
        out = np.full((len(items), kmax), np.nan)
        answered: list[str] = []
        dropped = 0
        rng = np.random.default_rng(derive_seed("peer", p, "series"))
        for j in rng.permutation(len(items)):
            it = items[j]
            flip = derive_seed("peer", p, it.id, "order") % 2
            pres = present(it, reversed_order(it.k) if flip else None)
            prompt = survey_prompt(series_context(ctx, answered), pres)
            for a in range(MAX_ATTEMPTS):
                letter = parse_text_answer(
                    self.sample(prompt, derive_seed("peer", p, it.id, a))[0],
                    pres.displayed_options,
                )
                if letter is not None:
                    out[j, : it.k] = np.eye(it.k)[pres.canonical_index(letter)]
                    answered.append(series_turn(pres, LETTERS[letter]))
                    break
            else:
                dropped += 1
        return out, dropped

    def demographics(self, ctx: str, items: Sequence[Item], p: int) -> list[np.ndarray]:
        """One persona's 40 sampled answers per trait, as a distribution (uniform: none)."""
        out = []
        for it in items:
            pres = present(it)
            texts = self.sample(
                survey_prompt(ctx, pres), derive_seed("peer", p, it.id), DEMOGRAPHIC_SAMPLES
            )
            counts = np.zeros(it.k)
            for t in texts:
                letter = parse_text_answer(t, pres.displayed_options)
                if letter is not None:
                    counts[pres.canonical_index(letter)] += 1
            out.append(counts / counts.sum() if counts.sum() else np.full(it.k, 1.0 / it.k))
        return out


def _fresh(home: Path, fn: Callable[[str, str], Any]) -> tuple[Any, float]:
    """``fn(base_url, model)`` on a newly started server, timed without the start."""
    server = start_model_server(home / f"srv-{time.monotonic_ns()}", threads=2)
    try:
        t0 = time.perf_counter()
        out = fn(server.base_url, server.model)
        return out, time.perf_counter() - t0
    finally:
        server.stop()


def _pool(n: int, fn: Callable[[int], Any], workers: int) -> list[Any]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, range(n)))


def _tv(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over items of the total variation between two panels' answer distributions."""
    return float(np.nanmean([0.5 * np.nansum(np.abs(x - y)) for x, y in zip(a, b, strict=True)]))


def bench_peer_ratio(n_personas: int = N_PERSONAS) -> dict[str, object]:
    spec = load_spec(SPEC)
    humans = load_humans(spec)
    items = list(humans.items)
    traits = spec.traits()
    demo_items = [demographic_item(t) for t in traits]
    workers = spec.model.concurrency
    sv = spec.survey
    figures: dict[str, object] = {
        "personas": n_personas,
        "items": len(items),
        "traits": len(traits),
        "concurrency": workers,
    }
    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        contexts, _ = _fresh(home, lambda url, m: _personas(url, m, n_personas))

        def silico(per_persona: Callable[[Any, int], Any]) -> Callable[[str, str], Any]:
            """Silico's unit for each persona, concurrently: the rows and the requests."""

            def run(url: str, model: str) -> Any:
                with CompletionsClient(url, model, concurrency=workers, timeout=900) as lm:
                    rows = _pool(n_personas, lambda p: per_persona(lm, p), workers)
                    return rows, lm.ledger.total().calls

            return run

        def silico_survey(policy: str) -> Callable[[str, str], Any]:
            def unit(lm: Any, p: int) -> Any:
                return score_items(
                    lm,
                    [contexts[p]],
                    items,
                    tuple(sv.orders),
                    "logprob",
                    seed=spec.seed,
                    first_index=p,
                    min_compliance=sv.min_compliance,
                    order_policy=policy,
                ).probs

            return silico(unit)

        def peer_survey(url: str, model: str) -> Any:
            peer = _Peer(url, model)
            rows = _pool(n_personas, lambda p: peer.survey(contexts[p], items, p), workers)
            return np.stack([r[0] for r in rows]), sum(r[1] for r in rows), peer.requests

        silico_demographics = silico(
            lambda lm, p: annotate(
                lm, [contexts[p]], traits, seed=derive_seed(spec.seed, "annotate"), first_index=p
            )[0]
        )

        def peer_demographics(url: str, model: str) -> Any:
            peer = _Peer(url, model)
            rows = _pool(
                n_personas, lambda p: peer.demographics(contexts[p], demo_items, p), workers
            )
            return rows, peer.requests, peer.completions

        (s_rows, s_calls), t_s = _fresh(home, silico_survey(sv.order_policy))
        (a_rows, a_calls), t_all = _fresh(home, silico_survey("all"))
        s_probs, a_probs = np.concatenate(s_rows), np.concatenate(a_rows)
        (p_probs, p_dropped, p_req), t_p = _fresh(home, peer_survey)
        (s_demo, sd_calls), t_sd = _fresh(home, silico_demographics)
        (p_demo, pd_req, pd_comp), t_pd = _fresh(home, peer_demographics)
    figures.update(
        {
            "survey_silico_s": round(t_s, 1),
            "survey_silico_requests": s_calls,
            "survey_silico_order_policy": sv.order_policy,
            "survey_silico_all_orders_s": round(t_all, 1),
            "survey_silico_all_orders_requests": a_calls,
            "survey_peer_s": round(t_p, 1),
            "survey_peer_requests": p_req,
            "survey_peer_dropped_answers": p_dropped,
            "survey_peer_ratio": round(t_p / t_s, 2),
            "survey_peer_ratio_all_orders": round(t_p / t_all, 2),
            "survey_peer_ratio_goal": GOAL,
            "survey_peer_ratio_vs_goal": round(t_p / t_s / GOAL, 3),
            # How far apart the panels' answer distributions are (not a goal):
            # the peer's 10 one-hot answers per item are a noisy sample of its own.
            "survey_tv_silico_vs_peer": round(
                _tv(np.nanmean(s_probs, axis=0), np.nanmean(p_probs, axis=0)), 3
            ),
            "survey_tv_seeded_vs_all_orders": round(
                _tv(np.nanmean(s_probs, axis=0), np.nanmean(a_probs, axis=0)), 3
            ),
            "demographics_silico_s": round(t_sd, 1),
            "demographics_silico_requests": sd_calls,
            "demographics_peer_s": round(t_pd, 1),
            "demographics_peer_requests": pd_req,
            "demographics_peer_completions": pd_comp,
            "demographics_peer_ratio": round(t_pd / t_sd, 2),
            "demographics_peer_ratio_goal": GOAL,
            "demographics_peer_ratio_vs_goal": round(t_pd / t_sd / GOAL, 3),
            "demographics_tv_silico_vs_peer": round(
                float(
                    np.mean(
                        [
                            0.5 * np.abs(s_demo[p][t][0] - p_demo[p][j]).sum()
                            for p in range(n_personas)
                            for j, t in enumerate(traits)
                        ]
                    )
                ),
                3,
            ),
        }
    )
    return figures


BENCHMARKS = {"peer_ratio": bench_peer_ratio}
