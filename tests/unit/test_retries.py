"""Retries end: capped backoff with jitter that honours Retry-After, and the failures
a worker must not retry forever."""

from __future__ import annotations

import httpx
import pytest

from silico.llm import CompletionsClient, ModelResponseError, ModelServerError, _client
from silico.runtime.kafka import permanent

OK = {"choices": [{"text": " (A)", "finish_reason": "stop", "logprobs": None}], "usage": {}}


def _client_with(responses: list[httpx.Response], **kw: object) -> CompletionsClient:
    it = iter(responses)
    return CompletionsClient(
        "http://model/v1", "m", transport=httpx.MockTransport(lambda req: next(it)), **kw
    )


def test_retry_after_is_honoured_and_backoff_is_capped(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(_client.time, "sleep", slept.append)
    busy = httpx.Response(503, headers={"Retry-After": "7"}, text="busy")
    c = _client_with([busy, busy, httpx.Response(200, json=OK)], max_retries=4, backoff=0.01)
    assert c.generate(["Hi"], max_tokens=1)[0].text == " (A)"
    assert len(slept) == 2 and all(s >= 7 for s in slept)  # the server asked for 7 s
    slept.clear()
    c = _client_with([httpx.Response(500)] * 6, max_retries=5, backoff=1000.0)
    with pytest.raises(ModelServerError):
        c.generate(["Hi"], max_tokens=1)
    assert len(slept) == 5 and max(slept) <= _client.MAX_BACKOFF


def test_a_refused_request_is_not_retried_and_is_permanent(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(_client.time, "sleep", slept.append)
    c = _client_with([httpx.Response(400, json={"error": {"message": "too long"}})])
    with pytest.raises(ModelResponseError) as e:
        c.generate(["Hi"], max_tokens=1)
    assert slept == [] and e.value.status == 400
    assert permanent(e.value)
    assert not permanent(ModelResponseError("busy", 429))
    assert not permanent(ModelServerError("unreachable"))  # waited for, however long


def test_an_outage_of_the_store_is_waited_for_not_counted():
    from sqlalchemy.exc import DataError, OperationalError

    from silico.runtime.kafka import transient

    down = OperationalError("INSERT ...", {}, Exception("server closed the connection"))
    assert transient(down) and not permanent(down)
    assert transient(ModelServerError("unreachable"))
    bad = DataError("INSERT ...", {}, Exception("value too long"))
    assert permanent(bad) and not transient(bad)
    assert not transient(ValueError("a bug")) and not permanent(ValueError("a bug"))


def test_worker_retries_back_off_with_jitter_up_to_a_cap():
    import random

    from silico.runtime.kafka import backoff

    rng = random.Random(7)
    waits = [[backoff(n, 2.0, rng) for _ in range(200)] for n in range(1, 12)]
    assert all(0 <= w <= min(30.0, 2.0 * 2 ** (n - 1)) for n, ws in enumerate(waits, 1) for w in ws)
    assert max(waits[0]) <= 2.0 and max(waits[-1]) > 20  # it grows, to the cap
    assert len(set(waits[5])) == 200  # jittered: workers do not retry in step
