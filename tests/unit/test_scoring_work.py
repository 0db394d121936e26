"""Less work per answer (#17): one seeded option order per persona and item, and one
scoring request per persona, without changing what an answer means."""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx
import numpy as np
import pytest

from silico.core.extraction import OptionScores
from silico.core.prompts import Item
from silico.llm import CompletionsClient, ModelResponseError, ResponseCache
from silico.pipeline.spec import SurveySpec
from silico.pipeline.stages import orders_shown, score_items

OPTS = ("Strongly agree", "Somewhat agree", "Somewhat disagree", "Strongly disagree")
ITEMS = [Item(f"q{j}", f"Statement number {j} is true.", OPTS) for j in range(8)]


class FirstLetterLM:
    """A model with only a letter-position preference: all its mass on "A"."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def score_options(
        self, prompts: Sequence[str], n_options: Sequence[int] | int, stage: str = "score"
    ) -> list[OptionScores]:
        self.calls.append(list(prompts))
        ks = [n_options] * len(prompts) if isinstance(n_options, int) else list(n_options)
        return [OptionScores(np.eye(k)[0], 1.0) for k in ks]


def _shown_first(prompt: str) -> str:
    return prompt.rsplit("(A) ", 1)[1].split("\n", 1)[0]


def test_seeded_policy_shows_each_item_once_in_a_drawn_order_and_all_shows_both():
    lm = FirstLetterLM()
    contexts = [f"I am persona {c}." for c in range(40)]
    seeded = score_items(lm, contexts, ITEMS, ("identity", "reversed"), order_policy="seeded")
    per_context = [len(p) for p in lm.calls]
    assert per_context == [len(ITEMS)] * len(contexts)  # one request, one prompt per item
    firsts = [_shown_first(p) for ps in lm.calls for p in ps]
    # Both orders are drawn, near half each over 320 draws.
    share_reversed = firsts.count(OPTS[-1]) / len(firsts)
    assert 0.4 < share_reversed < 0.6 and set(firsts) == {OPTS[0], OPTS[-1]}
    # Drawn from the seed: the same again, and different under another seed.
    lm2 = FirstLetterLM()
    score_items(lm2, contexts, ITEMS, ("identity", "reversed"), order_policy="seeded")
    assert lm2.calls == lm.calls
    lm3 = FirstLetterLM()
    score_items(lm3, contexts, ITEMS, ("identity", "reversed"), order_policy="seeded", seed=9)
    assert lm3.calls != lm.calls

    lm4 = FirstLetterLM()
    both = score_items(lm4, contexts, ITEMS, ("identity", "reversed"), order_policy="all")
    assert [len(p) for p in lm4.calls] == [2 * len(ITEMS)] * len(contexts)
    # A pure position preference: "all" splits every persona half and half between the
    # ends; "seeded" gives each persona one end, and the panel the same half and half.
    assert np.allclose(both.probs[:, :, [0, 3]], 0.5)
    ends = seeded.probs[:, :, [0, 3]]
    assert set(np.unique(ends)) == {0.0, 1.0}
    assert abs(ends.mean() - 0.5) < 0.1
    assert np.allclose(seeded.probs[:, :, [1, 2]], 0.0)


def test_a_single_order_or_all_never_draws_and_a_bad_policy_is_named():
    assert orders_shown(ITEMS[0], ("reversed",), "seeded", (1,)) == ("reversed",)
    assert orders_shown(ITEMS[0], ("identity", "reversed"), "all", (1,)) == (
        "identity",
        "reversed",
    )
    with pytest.raises(ValueError, match="order_policy"):
        orders_shown(ITEMS[0], ("identity", "reversed"), "random", (1,))


def test_the_seeded_order_is_the_one_a_sampled_answer_first_shows():
    """Logprob and sampled answers of a persona see an item in the same order."""
    from silico.pipeline.stages import _sample_answer

    class Letter:
        def generate(self, prompts, **kw):  # type: ignore[no-untyped-def]
            from silico.llm import Generation

            return [Generation(" (A)", "stop", 1, 1, 0) for _ in prompts]

    for c in range(20):
        key = (0, "survey", c)
        for it in ITEMS:
            _, _, shown = _sample_answer(
                Letter(), "ctx", it, ("identity", "reversed"), (*key, it.id, 0), 3, "survey"
            )
            (o,) = orders_shown(it, ("identity", "reversed"), "seeded", key)
            assert (shown.order[0] == 0) == (o == "identity")


def test_the_default_survey_draws_one_order():
    assert SurveySpec().order_policy == "seeded"


def _top(letter_mass: dict[str, float]) -> dict[str, object]:
    return {
        "text": "A",
        "finish_reason": "length",
        "logprobs": {"top_logprobs": [{k: float(np.log(v)) for k, v in letter_mass.items()}]},
    }


def _server(bodies: list[dict[str, object]], paren: bool = False):  # type: ignore[no-untyped-def]
    def handle(req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        bodies.append(body)
        prompts = body["prompt"]
        assert isinstance(prompts, list)
        choices = []
        for i, p in enumerate(prompts):
            # A prompt ending in " (" gets its letter; a first one ending in "x" a bare "(".
            c = _top({"(": 0.9, "A": 0.1} if paren and p.endswith("x") else {"A": 0.7, "B": 0.3})
            # Out of order on purpose: the client must read choices by their index.
            choices.append({**c, "index": i})
        usage = {"prompt_tokens": 10 * len(prompts), "prompt_tokens_details": {"cached_tokens": 4}}
        return httpx.Response(200, json={"choices": choices[::-1], "usage": usage})

    return handle


def test_one_request_scores_a_persona_and_follow_ups_share_one_more(tmp_path):
    bodies: list[dict[str, object]] = []
    cache = ResponseCache(tmp_path / "cache.sqlite")
    c = CompletionsClient(
        "http://m/v1", "m", transport=httpx.MockTransport(_server(bodies, paren=True)), cache=cache
    )
    c._server = {"id": "m", "owned_by": "test"}
    prompts = [f"persona says {j}" for j in range(5)] + ["ends in x", "also x"]
    out = c.score_options(prompts, 4, stage="survey")
    assert len(bodies) == 2  # the prompts, then both follow-ups together
    assert bodies[0]["prompt"] == prompts
    assert bodies[1]["prompt"] == ["ends in x (", "also x ("]
    assert np.allclose(out[0].probs[:2], [0.7, 0.3])
    # 0.1 direct "A" + 0.9 of "(" then (0.7 A, 0.3 B)
    assert np.allclose(out[5].probs[:2], [0.1 + 0.9 * 0.7, 0.9 * 0.3])
    u = c.ledger.snapshot()["survey"]
    assert u.calls == 2 and u.prompt == 70 + 20 and u.cached == 8
    # Each prompt is cached alone: a second ask sends nothing.
    again = c.score_options(prompts, 4, stage="survey")
    assert len(bodies) == 2
    assert all(np.allclose(a.probs, b.probs) for a, b in zip(out, again, strict=True))


def test_many_prompts_are_chunked_and_a_short_answer_is_an_error():
    from silico.llm import _client

    bodies: list[dict[str, object]] = []
    c = CompletionsClient("http://m/v1", "m", transport=httpx.MockTransport(_server(bodies)))
    n = 2 * _client.MAX_PROMPTS + 3
    assert len(c.score_options([f"p{i}" for i in range(n)], 2)) == n
    assert sorted(len(b["prompt"]) for b in bodies) == [3, _client.MAX_PROMPTS, _client.MAX_PROMPTS]

    def short(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": [_top({"A": 1.0})], "usage": {}})

    c = CompletionsClient("http://m/v1", "m", transport=httpx.MockTransport(short))
    with pytest.raises(ModelResponseError, match="asked for 2 completions"):
        c.score_options(["a", "b"], 2)


def test_the_end_of_a_run_prints_each_stage_seconds(tmp_path, capsys):
    import time

    import pandas as pd

    from silico.cli import _print_headline

    seconds = {"backstory": 300.2, "demographics": 80.0, "survey": 150.6, "metrics": 4.1}
    (tmp_path / "metrics.json").write_text(json.dumps({"seconds": seconds}))
    table = pd.DataFrame({"method": ["anthology"], "wd": [0.1]})
    _print_headline(table, tmp_path / "report.html", time.monotonic() - 600)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("wall time: 600s (")
    assert "backstory 300s, demographics 80s, survey 151s, metrics 4s" in last


def test_a_lone_prompt_goes_as_a_string_and_choices_must_index_the_prompts():
    seen: list[object] = []

    def one(req: httpx.Request) -> httpx.Response:
        prompt = json.loads(req.content)["prompt"]
        seen.append(prompt)
        n = 1 if isinstance(prompt, str) else len(prompt)
        # Every choice claims index 0: a proxy that lost the indices.
        choices = [{**_top({"A": 0.6, "B": 0.4}), "index": 0} for _ in range(n)]
        return httpx.Response(200, json={"choices": choices, "usage": {}})

    c = CompletionsClient("http://m/v1", "m", transport=httpx.MockTransport(one))
    assert np.allclose(c.score_options(["only"], 2)[0].probs, [0.6, 0.4])
    assert seen == ["only"]
    with pytest.raises(ModelResponseError, match="index the prompts"):
        c.score_options(["a", "b"], 2)
