"""The real embedded model server (KServe + transformers) driven by the real client."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest
import torch

from silico.core.extraction import combine_with_followup, option_distribution
from silico.core.prompts import Item, backstory_prompt, present, survey_prompt
from silico.llm import CompletionsClient, ModelResponseError, ModelServerError, ResponseCache
from silico.llm._client import PAREN_FOLLOWUP_MIN

from .conftest import MODEL, free_port, start_model_server

pytestmark = pytest.mark.integration

BACKSTORY = (
    "I am 47 years old and I grew up in a small farming town in Iowa. My father raised hogs and corn, "
    "and my mother taught third grade at the only elementary school in the county. After high school I "
    "joined the Army and served two tours overseas, then came home and used the GI Bill to study "
    "agricultural engineering at Iowa State. I married my college sweetheart, Linda, and we have three "
    "kids. Today I run a seed dealership and coach Little League on weekends. I go to a Lutheran church "
    "most Sundays, I worry about the price of fertilizer, and I think the folks in Washington have no idea "
    "what life is like out here."
)

ITEMS = [
    Item(
        "q1", "Do you approve of the way Congress is handling its job?", ("Approve", "Disapprove")
    ),
    Item(
        "q2",
        "How much do you trust the news media?",
        ("A great deal", "Some", "Not much", "Not at all"),
    ),
    Item("q3", "Should the government spend more on rural broadband?", ("Yes", "No")),
]


@pytest.fixture
def client(model_server):
    with CompletionsClient(
        model_server.base_url, MODEL, timeout=120, max_retries=1, backoff=0.1
    ) as c:
        yield c


def test_models_route_lists_the_model(client):
    assert client.models() == [MODEL]


def test_seeded_generation_is_reproducible(client):
    p = backstory_prompt()
    a = client.generate([p], max_tokens=24, seed=7, stop=["Question"])
    b = client.generate([p], max_tokens=24, seed=7, stop=["Question"])
    c = client.generate([p], max_tokens=24, seed=8, stop=["Question"])
    assert a[0].text == b[0].text and a[0].completion_tokens > 0
    assert "Question" not in a[0].text
    assert c[0].text != a[0].text


def test_option_scores_sum_to_one_and_carry_compliance(client):
    prompts = [survey_prompt(BACKSTORY, present(it)) for it in ITEMS]
    scores = client.score_options(prompts, [it.k for it in ITEMS])
    for s, it in zip(scores, ITEMS, strict=True):
        assert s.probs.shape == (it.k,)
        assert s.probs.sum() == pytest.approx(1.0)
        assert 0.0 < s.compliance <= 1.0


def test_prefix_reuse_gives_the_same_numbers_as_full_prefill(client):
    prompts = [survey_prompt(BACKSTORY, present(it)) for it in ITEMS]
    reused = [client.complete(p, max_tokens=1, temperature=0, logprobs=5) for p in prompts]
    full = [
        client.complete(p, max_tokens=1, temperature=0, logprobs=5, prefix_reuse=False)
        for p in prompts
    ]
    # After the first question the backstory is served from the KV cache.
    assert reused[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] > 100
    assert full[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    for a, b in zip(reused, full, strict=True):
        la = a["choices"][0]["logprobs"]["top_logprobs"][0]
        lb = b["choices"][0]["logprobs"]["top_logprobs"][0]
        assert la.keys() == lb.keys()
        assert np.allclose([la[k] for k in la], [lb[k] for k in la], atol=1e-3)


def test_response_cache_replays_without_the_server(model_server):
    cache = ResponseCache()
    with CompletionsClient(model_server.base_url, MODEL, cache=cache) as c:
        first = c.generate(["Question: Where do you live?\n\nAnswer:"], max_tokens=8, seed=3)
        again = c.generate(["Question: Where do you live?\n\nAnswer:"], max_tokens=8, seed=3)
        assert first == again
        assert (cache.hits, cache.misses) == (1, 1)
        usage = c.ledger.snapshot()["generate"]
        assert usage.calls == 2 and usage.cache_hits == 1 and usage.prompt > 0
    # Unseeded sampling is not deterministic, so it is never cached.
    with CompletionsClient(model_server.base_url, MODEL, cache=cache) as c:
        c.generate(["Question: Where do you live?\n\nAnswer:"], max_tokens=2)
    assert len(cache) == 1


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"model": MODEL, "prompt": "x", "max_tokens": -1}, 400, "max_tokens"),
        ({"model": MODEL, "max_tokens": 1}, 400, "prompt"),
        ({"model": MODEL, "prompt": "x", "logprobs": 50}, 400, "logprobs"),
        ({"model": "gpt-9", "prompt": "x"}, 404, "not found"),
        ({"model": MODEL, "prompt": "x", "stream": True}, 400, "stream"),
        ({"model": MODEL, "prompt": ""}, 400, "empty"),
    ],
)
def test_malformed_requests_get_4xx_with_a_message(model_server, body, status, needle):
    r = httpx.post(f"{model_server.base_url}/completions", json=body, timeout=30)
    assert r.status_code == status
    assert needle in r.json()["error"]["message"]


def test_non_json_body_is_400(model_server):
    r = httpx.post(f"{model_server.base_url}/completions", content=b"{not json", timeout=30)
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]


def test_client_surfaces_4xx_without_retrying(client):
    with pytest.raises(ModelResponseError, match="HTTP 400.*logprobs"):
        client.complete("x", logprobs=99)


def test_unreachable_server_fails_clearly_after_retries():
    port = free_port()
    with CompletionsClient(
        f"http://127.0.0.1:{port}/openai/v1", MODEL, max_retries=2, backoff=0.01
    ) as c:
        with pytest.raises(ModelServerError, match="failed after 3 attempts"):
            c.generate(["hello"], max_tokens=1)


def test_killed_server_fails_clearly(tmp_path):
    server = start_model_server(tmp_path)
    try:
        with CompletionsClient(server.base_url, MODEL, max_retries=1, backoff=0.01) as c:
            assert c.generate(["Hi"], max_tokens=1, seed=1)[0].completion_tokens <= 1
            server.proc.kill()
            server.proc.wait()
            with pytest.raises(ModelServerError, match="failed after 2 attempts"):
                c.generate(["Hi"], max_tokens=1, seed=2)
    finally:
        server.stop()


def test_metrics_count_requests_and_prefix_hits(model_server, client):
    def scrape() -> dict[str, float]:
        text = httpx.get(f"http://127.0.0.1:{model_server.port}/metrics", timeout=10).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith("silico_modelserver_") and " " in line:
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    before = scrape()
    prompts = [survey_prompt(BACKSTORY + " Extra.", present(it)) for it in ITEMS]
    # One request per prompt (score_options may put them all in one).
    for p in prompts:
        client.complete(p, max_tokens=1, temperature=0, logprobs=5)
    after = scrape()
    key = f'silico_modelserver_requests_total{{model="{MODEL}",status="200"}}'
    assert after[key] >= before.get(key, 0) + 3
    hits = f'silico_modelserver_prefix_cache_hits_total{{model="{MODEL}"}}'
    assert after[hits] > before.get(hits, 0)


def test_concurrent_scoring_is_batched_on_the_shared_prefix_and_exact(model_server):
    from concurrent.futures import ThreadPoolExecutor

    prompts = [survey_prompt(BACKSTORY + " I also keep bees.", present(it)) for it in ITEMS * 3]
    prompts = [p + suffix for p in prompts for suffix in ("", " (")]
    with CompletionsClient(model_server.base_url, MODEL) as c:
        c.complete(prompts[0], max_tokens=1, temperature=0, logprobs=20)  # caches the backstory
        with ThreadPoolExecutor(len(prompts)) as pool:
            batched = list(
                pool.map(lambda p: c.complete(p, max_tokens=1, temperature=0, logprobs=20), prompts)
            )
        full = [
            c.complete(p, max_tokens=1, temperature=0, logprobs=20, prefix_reuse=False)
            for p in prompts
        ]
    assert sum(b["usage"]["prompt_tokens_details"]["cached_tokens"] > 100 for b in batched) == len(
        prompts
    )
    for b, f in zip(batched, full, strict=True):
        lb = b["choices"][0]["logprobs"]["top_logprobs"][0]
        lf = f["choices"][0]["logprobs"]["top_logprobs"][0]
        top = sorted(lf, key=lf.get, reverse=True)[:5]
        assert np.allclose([lb.get(k, -99) for k in top], [lf[k] for k in top], atol=2e-3)


def test_concurrent_generations_share_decoding_steps(model_server):
    prompts = [backstory_prompt()] * 6
    with CompletionsClient(model_server.base_url, MODEL, concurrency=6) as c:
        gens = c.generate(prompts, max_tokens=12, seed=[11, 12, 13, 14, 15, 16])
    assert all(g.completion_tokens > 0 for g in gens)
    assert len({g.text for g in gens}) > 1  # different seeds, different stories


def test_echo_prompt_logprobs_agree_with_next_token_scores(client):
    # The coherence score reads prompt log-probabilities from echo=true; check them
    # against an independent path: the top logprobs of the next token after a prefix.
    prefix = "Question: Tell me about yourself.\n\nAnswer: I grew up in"
    nxt = client.complete(prefix, max_tokens=1, temperature=0.0, logprobs=5)
    top = nxt["choices"][0]["logprobs"]["top_logprobs"][0]
    token, lp = max(top.items(), key=lambda kv: kv[1])
    echo = client.complete(prefix + token, max_tokens=1, temperature=0.0, logprobs=0, echo=True)
    got = echo["choices"][0]["logprobs"]
    assert got["token_logprobs"][0] is None
    i = got["text_offset"].index(len(prefix))
    assert got["tokens"][i] == token
    assert got["token_logprobs"][i] == pytest.approx(lp, abs=1e-4)


def test_coherence_ranks_a_life_story_above_noise(client):
    from silico.pipeline.stages import coherence

    story = coherence(client, BACKSTORY)
    noise = coherence(client, "Esteamos. ¡Mineamos, estos pobres basta! Ξ λ ψ glorp vantu selk.")
    assert -6 < story < -1 and noise < story - 1.5


# -- n choices per prompt ---------------------------------------------------------

# A story cut mid-sentence: the model goes on rather than ending at once.
STORY = "Question: Tell me about yourself.\n\nAnswer: " + BACKSTORY + " {extra}"


def _post(server, **body):  # type: ignore[no-untyped-def]
    r = httpx.post(f"{server.base_url}/completions", json={"model": MODEL, **body}, timeout=300)
    assert r.status_code == 200, r.text
    return r.json()


def _computed_tokens(server) -> float:  # type: ignore[no-untyped-def]
    text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=10).text
    name = f'silico_modelserver_prompt_tokens_computed_total{{model="{MODEL}"}}'
    return next(float(x.rsplit(" ", 1)[1]) for x in text.splitlines() if x.startswith(name))


def test_n_choices_are_indexed_distinct_and_reproducible(model_server):
    prompt = STORY.format(extra="I also keep horses, and")
    body = dict(prompt=prompt, max_tokens=12, temperature=1.0, seed=5)
    before = _computed_tokens(model_server)
    a = _post(model_server, n=3, **body)
    computed = _computed_tokens(model_server) - before
    b = _post(model_server, n=3, **body)
    one = _post(model_server, **body)
    assert [c["index"] for c in a["choices"]] == [0, 1, 2]
    texts = [c["text"] for c in a["choices"]]
    assert len(set(texts)) > 1  # seeds 5, 6, 7
    assert texts == [c["text"] for c in b["choices"]]
    # n=1 (the default) is the old request: choice 0 of n=3 uses the same seed.
    assert [c["index"] for c in one["choices"]] == [0] and one["choices"][0]["text"] == texts[0]
    assert _post(model_server, n=1, **body)["choices"] == one["choices"]
    # Usage as vLLM reports it: the prompt once, every choice's completion.
    n_prompt = one["usage"]["prompt_tokens"]
    assert a["usage"]["prompt_tokens"] == n_prompt
    assert 3 <= a["usage"]["completion_tokens"] <= 3 * 12
    # One prefill for the three samples, not three (the backstory may be cached
    # already by other tests).
    cached = a["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached < n_prompt
    assert computed == n_prompt - cached


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_n_samples_equal_separate_requests_with_their_seeds(model_server, temperature):
    # Greedy choices are identical; seeded ones equal what n=1 requests with the
    # seeds seed+j sample alone. The first token's logits come from the one shared
    # prefill, so its logprob is bitwise equal; later steps run as a batch of 4
    # rather than 1 and differ by ~1e-5 in logprob (measured), which has not
    # changed a sampled token for this prompt and these seeds.
    prompt = STORY.format(extra=f"Last weekend (at t={temperature:g}) I")
    body = dict(prompt=prompt, max_tokens=16, temperature=temperature, logprobs=0)
    shared = _post(model_server, n=4, seed=40, **body)["choices"]
    alone = [_post(model_server, seed=40 + j, **body)["choices"][0] for j in range(4)]
    assert [c["text"] for c in shared] == [c["text"] for c in alone]
    for s, a in zip(shared, alone, strict=True):
        assert s["logprobs"]["tokens"] == a["logprobs"]["tokens"]
        assert s["logprobs"]["token_logprobs"][0] == a["logprobs"]["token_logprobs"][0]
        assert np.allclose(
            s["logprobs"]["token_logprobs"], a["logprobs"]["token_logprobs"], atol=1e-3
        )
    if temperature == 0:
        assert len({c["text"] for c in shared}) == 1
    else:
        assert len({c["text"] for c in shared}) > 1


def test_n_with_a_prompt_list_orders_choices_prompt_major(model_server):
    prompts = [STORY.format(extra="My favourite meal is"), "Question: Name a color.\n\nAnswer:"]
    body = dict(max_tokens=8, temperature=1.0)
    both = _post(model_server, prompt=prompts, n=2, seed=9, **body)
    assert [c["index"] for c in both["choices"]] == [0, 1, 2, 3]
    # Choice i*n+j is prompt i's sample j, seeded seed+i*n+j.
    each = [
        _post(model_server, prompt=p, n=2, seed=9 + 2 * i, **body) for i, p in enumerate(prompts)
    ]
    assert [c["text"] for c in both["choices"]] == [c["text"] for e in each for c in e["choices"]]
    assert both["usage"]["prompt_tokens"] == sum(e["usage"]["prompt_tokens"] for e in each)
    assert both["usage"]["completion_tokens"] == sum(e["usage"]["completion_tokens"] for e in each)


def test_n_with_echo_and_with_one_token_scoring(model_server):
    prompt = "Question: Where were you born?\n\nAnswer:"
    echo = _post(
        model_server, prompt=prompt, n=2, max_tokens=3, temperature=0, logprobs=0, echo=True
    )
    assert len(echo["choices"]) == 2
    for c in echo["choices"]:
        assert c["text"].startswith(prompt)
        assert c["logprobs"]["token_logprobs"][0] is None  # the prompt's tokens come first
    assert echo["choices"][0]["logprobs"] == echo["choices"][1]["logprobs"]
    scored = _post(model_server, prompt=prompt, n=3, max_tokens=1, temperature=0, logprobs=5)
    assert [c["index"] for c in scored["choices"]] == [0, 1, 2]
    tops = [c["logprobs"]["top_logprobs"][0] for c in scored["choices"]]
    assert tops[0].keys() == tops[1].keys() == tops[2].keys()
    assert len({c["text"] for c in scored["choices"]}) == 1


@pytest.mark.parametrize("n", [0, 129, "many"])
def test_n_out_of_range_is_400_naming_n(model_server, n):
    r = httpx.post(
        f"{model_server.base_url}/completions",
        json={"model": MODEL, "prompt": "x", "n": n},
        timeout=30,
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "n" and err["message"].startswith("n: ")


def test_generation_rows_of_one_prompt_are_grouped():
    from services.modelserver.engine import Params, shared_prompt_groups

    a, b, c = (torch.tensor(x) for x in ([1, 2, 3], [1, 2, 4], [1, 2]))
    reqs = [
        Params("a"),
        Params("b"),
        Params("a"),
        Params("c"),
        Params("a", reuse_prefix=False),
        Params("b"),
        Params("a"),
    ]
    ids = [a, b, a, c, a, b, a]
    groups, rest = shared_prompt_groups(reqs, ids, list(range(7)))
    assert groups == [[0, 2, 6], [1, 5]]
    assert rest == [3, 4]  # a distinct prompt, and one that turned prefix reuse off
    assert shared_prompt_groups(reqs, ids, [0, 1, 3]) == ([], [0, 1, 3])


def test_a_persona_context_beyond_a_cached_framing_is_computed_once(client):
    """Every persona's prompts start with the same framing; once it is cached, a new
    persona's items must not each recompute the persona's story after it."""
    frame = "Question: Tell me about yourself, in your own words, at some length.\nAnswer: "
    other = frame + BACKSTORY.replace("Iowa", "Ohio").replace("Linda", "Maria")
    client.score_options([survey_prompt(other, present(it)) for it in ITEMS], 4)
    mine = frame + "My name is Dale. " + BACKSTORY
    prompts = [survey_prompt(mine, present(it)) for it in ITEMS]
    before = client.ledger.total()
    scored = client.score_options(prompts, [it.k for it in ITEMS])
    used = client.ledger.total()
    computed = (used.prompt - before.prompt) - (used.cached - before.cached)
    sent = used.prompt - before.prompt
    # The story (~150 tokens) once plus three question blocks, not the story three times.
    assert computed < sent * 0.6, (computed, sent)

    def tops(p: str) -> dict[str, float]:
        body = client.complete(p, max_tokens=1, temperature=0, logprobs=20, prefix_reuse=False)
        return body["choices"][0]["logprobs"]["top_logprobs"][0]

    for s, p, it in zip(scored, prompts, ITEMS, strict=True):
        alone = option_distribution(tops(p), it.k)
        if alone.paren_mass >= PAREN_FOLLOWUP_MIN:
            alone = combine_with_followup(alone, option_distribution(tops(p + " ("), it.k))
        assert np.allclose(s.probs, alone.probs, atol=1e-4)
        assert s.compliance == pytest.approx(alone.compliance, abs=1e-4)


def test_a_batch_mixing_a_follow_up_and_another_persona_scores_each_on_its_own_context(
    model_server,
):
    """Rows that match one cached entry to different lengths (a follow-up on its own
    full prompt, another persona's first items on the shared framing) must each be
    scored on what they share with it, never on the other persona's story."""
    frame = "Question: Tell me about yourself, in your own words, at some length.\nAnswer: "
    p_ctx = frame + BACKSTORY
    q_ctx = frame + BACKSTORY.replace("Iowa", "Maine").replace("Linda", "Rosa")
    url = f"{model_server.base_url}/completions"
    args = {"model": MODEL, "max_tokens": 1, "temperature": 0, "logprobs": 20}
    p_prompts = [survey_prompt(p_ctx, present(it)) for it in ITEMS]
    httpx.post(url, json={**args, "prompt": p_prompts}, timeout=120).raise_for_status()
    mixed = [p_prompts[0] + " (", *(survey_prompt(q_ctx, present(it)) for it in ITEMS)]
    got = httpx.post(url, json={**args, "prompt": mixed}, timeout=120).json()["choices"]
    for prompt, choice in zip(mixed, sorted(got, key=lambda c: c["index"]), strict=True):
        alone = httpx.post(
            url, json={**args, "prompt": prompt, "prefix_reuse": False}, timeout=120
        ).json()["choices"][0]
        a, b = choice["logprobs"]["top_logprobs"][0], alone["logprobs"]["top_logprobs"][0]
        assert list(a)[:3] == list(b)[:3]
        assert max(abs(a[k] - b[k]) for k in set(a) & set(b)) < 1e-3


@pytest.fixture(scope="module")
def engine(model_server):
    # The server converted the weights already; this loads a second copy in-process.
    from services.modelserver.engine import (
        DEFAULT_MODEL_NAME,
        Engine,
        convert_gguf,
        default_cache_dir,
    )

    return Engine(convert_gguf(default_cache_dir(DEFAULT_MODEL_NAME), DEFAULT_MODEL_NAME))


def test_a_generation_joining_a_running_batch_decodes_as_it_would_alone(engine):
    """Continuous batching: a request admitted mid-decode (a longer prompt, so the
    running rows get left-padded) finishes first, and both rows' greedy tokens and
    logprobs equal their decoding alone; the first row goes on after the other left."""
    from services.modelserver.engine import Params

    long = Params(STORY.format(extra="On Sundays I"), max_tokens=20, temperature=0, logprobs=0)
    short = Params(
        STORY.format(extra="\n\nQuestion: What do you do on weekends?\nAnswer:"),
        max_tokens=6,
        temperature=0,
        logprobs=0,
    )
    assert len(engine.encode(short.prompt)) > len(engine.encode(long.prompt))
    batch = engine.admit(None, [long], ["long"])
    order, done = [], {}
    for _ in range(5):
        assert batch.step() == []
    batch = engine.admit(batch, [short], ["short"])
    assert len(batch.rows) == 2
    while batch.rows:
        for tag, res in batch.step():
            order.append(tag)
            done[tag] = res
    assert order == ["short", "long"]
    for tag, p in (("long", long), ("short", short)):
        alone = engine.complete_many([p])[0].choice
        got = done[tag].choice
        assert got.text == alone.text and got.tokens == alone.tokens
        assert np.allclose(got.token_logprobs, alone.token_logprobs, atol=1e-3)
    assert done["long"].completion_tokens == 20


def test_a_short_request_does_not_wait_for_a_long_generation(model_server):
    """A request that arrives while another decodes joins its batch (it used to wait
    for all of the other's tokens)."""
    finished: list[str] = []
    tokens: dict[str, int] = {}

    def post(tag: str, max_tokens: int) -> None:
        body = dict(prompt=STORY.format(extra=tag), max_tokens=max_tokens, temperature=0)
        tokens[tag] = _post(model_server, **body)["usage"]["completion_tokens"]
        finished.append(tag)

    t = threading.Thread(target=post, args=("long", 160))
    t.start()
    time.sleep(1.0)
    post("short", 4)
    t.join()
    assert tokens["long"] > 60  # the setup: it decodes for several seconds
    assert finished == ["short", "long"]


@pytest.mark.parametrize("top_p", [1e-6, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("spread", [0.1, 3.0, 12.0])
def test_the_nucleus_keeps_what_a_full_sort_keeps(top_p, spread):
    """Against the definition (sort the whole vocabulary, keep a token while the mass
    before it is below top_p): the same tokens and probabilities, whether the nucleus
    closes within the first candidates (peaked) or needs the full sort (near-flat)."""
    from services.modelserver.engine import NUCLEUS_TOP_K, nucleus

    logits = torch.randn(49152, generator=torch.Generator().manual_seed(3)) * spread
    sp, si = nucleus(logits, top_p)
    ref_p, ref_i = torch.sort(torch.softmax(logits, dim=-1), descending=True)
    keep = torch.cumsum(ref_p, 0) - ref_p < top_p
    assert si.tolist() == ref_i[keep].tolist()
    assert torch.allclose(sp, ref_p[keep] / ref_p[keep].sum())
    assert abs(float(sp.sum()) - 1) < 1e-5
    if top_p == 1e-6:
        assert si.tolist() == [int(torch.argmax(logits))]  # the degenerate nucleus
    if spread == 0.1 and top_p >= 0.5:
        assert len(si) > NUCLEUS_TOP_K  # near-flat: the fallback path was taken
