"""One client for the OpenAI-compatible completions API (vLLM, KServe, llama.cpp, embedded)."""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from silico.core.extraction import OptionScores, combine_with_followup, option_distribution
from silico.llm._cache import ResponseCache, cache_key
from silico.llm._usage import Usage, UsageLedger

log = logging.getLogger("silico.llm")

#: Top alternatives requested for option scoring (vLLM's default max_logprobs is 20).
SCORE_LOGPROBS = 20
#: Prompts sent in one scoring request: one survey unit's (8 items x 2 orders) fit,
#: and the embedded server batches 32 rows at once.
MAX_PROMPTS = 32
#: Below this mass on a bare "(" the follow-up request is not worth making.
PAREN_FOLLOWUP_MIN = 0.02


class ModelServerError(RuntimeError):
    """The model server could not be reached or kept failing after the retries."""


#: The longest single wait between retries, in seconds.
MAX_BACKOFF = 30.0


class ModelResponseError(RuntimeError):
    """The server answered with something unusable (4xx, malformed JSON, missing fields)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Generation:
    """A sampled completion."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


class CompletionsClient:
    """Completions with logprobs against one model of an OpenAI-compatible server.

    Args:
        base_url: API root including ``/v1`` (e.g. ``http://host:8080/openai/v1``).
        model: served model name.
        timeout: seconds per HTTP request.
        max_retries: retries after the first attempt on connection errors, 429 and 5xx.
        backoff: first retry delay in seconds; doubles each retry, with full jitter.
        concurrency: requests in flight at once, over all threads using the client.
        cache: response cache for deterministic requests (None disables it).
        ledger: where token usage is recorded, by stage.
        revision: the weights' revision the caller names; with what the server
            reports of its model (``/v1/models``), part of the response-cache key.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        concurrency: int = 4,
        cache: ResponseCache | None = None,
        ledger: UsageLedger | None = None,
        transport: httpx.BaseTransport | None = None,
        revision: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.revision = revision
        self._server: dict[str, Any] | None = None
        self.max_retries = max_retries
        self.backoff = backoff
        self.concurrency = max(1, concurrency)
        self.cache = cache
        self.ledger = ledger or UsageLedger()
        self._http = httpx.Client(timeout=timeout, transport=transport)
        self._rand = random.Random()
        self._lock = threading.Lock()
        # Caps requests in flight across every caller of this client, so a
        # worker handling several units at once still sends ``concurrency``.
        self._slots = threading.BoundedSemaphore(self.concurrency)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CompletionsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/completions"
        last: Exception | None = None
        wait_at_least = 0.0
        for attempt in range(self.max_retries + 1):
            if attempt:
                # Capped exponential backoff with full jitter; a server's Retry-After wins.
                delay = min(MAX_BACKOFF, self.backoff * 2 ** (attempt - 1))
                with self._lock:
                    delay = self._rand.uniform(0, delay)
                time.sleep(max(delay, wait_at_least))
            try:
                with self._slots:
                    r = self._http.post(url, json=body)
            except httpx.TransportError as e:
                last = e
                log.warning("model server %s unreachable (attempt %d): %s", url, attempt + 1, e)
                continue
            if r.status_code == 429 or r.status_code >= 500:
                last = ModelResponseError(f"HTTP {r.status_code}: {r.text[:200]}", r.status_code)
                wait_at_least = _retry_after(r)
                continue
            if r.status_code >= 400:
                raise ModelResponseError(
                    f"model server refused the request: HTTP {r.status_code}: {_message(r)}",
                    r.status_code,
                )
            try:
                data = r.json()
            except ValueError:
                raise ModelResponseError(
                    f"model server answered non-JSON: {r.text[:200]!r}"
                ) from None
            _check_completion(data)
            return data  # type: ignore[no-any-return]
        raise ModelServerError(
            f"model server at {self.base_url} failed after {self.max_retries + 1} attempts: {last}"
        ) from last

    def server_model(self) -> dict[str, Any]:
        """What the server says of this client's model under ``/v1/models`` (asked once).

        Raises ``ModelResponseError`` (404) when the server lists models but not
        this one, so a study naming a model the server lacks fails at once with
        both names; a server that is down or busy is ``ModelServerError`` (waited
        for, never a study failure); a server without ``/v1/models`` is taken as
        it is, known by its address only."""
        if self._server is None:
            url = f"{self.base_url}/models"
            try:
                r = self._http.get(url)
            except httpx.TransportError as e:
                raise ModelServerError(f"model server at {self.base_url} unreachable: {e}") from e
            if r.status_code == 429 or r.status_code >= 500:
                raise ModelServerError(f"{url}: HTTP {r.status_code}")
            try:
                listed = r.json().get("data", []) if r.status_code == 200 else None
            except (ValueError, AttributeError):
                listed = None
            if not isinstance(listed, list):
                self._server = {}  # no model list: nothing to check, nothing to add
                return self._server
            listed = [m for m in listed if isinstance(m, dict)]
            mine = [m for m in listed if m.get("id") == self.model]
            if not mine:
                raise ModelResponseError(
                    f"model {self.model!r} is not served at {self.base_url} "
                    f"(it serves {[m.get('id') for m in listed]})",
                    404,
                )
            self._server = mine[0]
        return self._server

    @property
    def is_vllm(self) -> bool:
        """vLLM itself, or KServe's Hugging Face runtime serving through vLLM (which
        takes vLLM's sampling fields too)."""
        return self.server_model().get("owned_by") in ("vllm", "kserve")

    def identity(self) -> str:
        """Which weights answer: the served name, the server's kind and its record of
        the model (path or repository, context length, revision), and the caller's
        revision. The address too unless the server names its weights' revision:
        two servers with one served name may hold different weights (a
        quantisation, a newer checkpoint), and only a revision tells them apart."""
        m = self.server_model()
        parts = [
            self.model,
            str(m.get("owned_by", "")),
            str(m.get("root", "")),
            str(m.get("max_model_len", "")),
            str(m.get("revision", "")),
            self.revision,
        ]
        if not m.get("revision"):
            parts.append(self.base_url)
        return "|".join(parts)

    def complete(self, prompt: str, stage: str = "default", **params: Any) -> dict[str, Any]:
        """One raw completions call for one prompt, through the response cache."""
        deterministic = params.get("seed") is not None or params.get("temperature", 1.0) == 0
        key = (
            cache_key(self.identity(), params, prompt)
            if deterministic and self.cache is not None
            else None
        )
        t0 = time.perf_counter()
        if key is not None:
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                self.ledger.record(stage, Usage(calls=1, cache_hits=1))
                return hit
        body = self._post({"model": self.model, "prompt": prompt, **params})
        self._record(stage, body.get("usage") or {}, time.perf_counter() - t0)
        if key is not None and self.cache is not None:
            self.cache.put(key, body)
        return body

    def _record(self, stage: str, usage: dict[str, Any], seconds: float) -> None:
        details = usage.get("prompt_tokens_details") or {}
        self.ledger.record(
            stage,
            Usage(
                calls=1,
                prompt=int(usage.get("prompt_tokens", 0) or 0),
                cached=int(details.get("cached_tokens", 0) or 0),
                generated=int(usage.get("completion_tokens", 0) or 0),
                seconds=seconds,
            ),
        )

    def _map(self, fn: Any, items: Sequence[Any]) -> list[Any]:
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(self.concurrency) as pool:
            # Each call runs in a copy of the caller's context, so usage scopes
            # opened by the caller see it.
            futures = [pool.submit(contextvars.copy_context().run, fn, x) for x in items]
            return [f.result() for f in futures]

    def generate(
        self,
        prompts: Sequence[str],
        max_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Sequence[str] = (),
        seed: int | Sequence[int] | None = None,
        stage: str = "generate",
        repetition_penalty: float = 1.0,
    ) -> list[Generation]:
        """Sampled text per prompt; ``seed`` (one, or one per prompt) makes it reproducible.

        ``repetition_penalty`` is vLLM's extra sampling parameter (sent only when
        it is not 1, so a plain OpenAI server is never sent a field it refuses)."""
        seeds = list(seed) if isinstance(seed, Sequence) else [seed] * len(prompts)
        if len(seeds) != len(prompts):
            raise ValueError("one seed per prompt")

        def one(i: int) -> Generation:
            params: dict[str, Any] = {
                "max_tokens": max_tokens,
                "temperature": temperature,
                "top_p": top_p,
            }
            if repetition_penalty != 1.0:
                params["repetition_penalty"] = repetition_penalty
            if stop:
                params["stop"] = list(stop)
                if any(_special(x) for x in stop) and self.is_vllm:
                    # vLLM leaves special tokens out of the text it matches stop
                    # strings against, so "<|im_start|>" would never stop it.
                    params["skip_special_tokens"] = False
            if seeds[i] is not None:
                params["seed"] = int(seeds[i])  # type: ignore[arg-type]
            body = self.complete(prompts[i], stage=stage, **params)
            c = body["choices"][0]
            u = body.get("usage") or {}
            return Generation(
                _cut(c.get("text") or "", stop),
                c.get("finish_reason") or "",
                int(u.get("prompt_tokens", 0) or 0),
                int(u.get("completion_tokens", 0) or 0),
                int((u.get("prompt_tokens_details") or {}).get("cached_tokens", 0) or 0),
            )

        return self._map(one, range(len(prompts)))  # type: ignore[arg-type]

    def score_options(
        self, prompts: Sequence[str], n_options: Sequence[int] | int, stage: str = "score"
    ) -> list[OptionScores]:
        """Option distribution after each prompt from the next token's top logprobs.

        The prompts go in one request (a list, chunked at :data:`MAX_PROMPTS`): a
        caller's prompts share a context, which the server then computes once.
        Letters are read in the forms ``X``, `` X`` and ``(X``; when the model's
        next token is a bare ``(`` the letter comes one token later, so the
        prompts that need it get one more batched request on ``prompt + " ("``,
        folded in by :func:`silico.core.extraction.combine_with_followup`.
        """
        ks = [n_options] * len(prompts) if isinstance(n_options, int) else list(n_options)
        if len(ks) != len(prompts):
            raise ValueError("one option count per prompt")
        out = [
            option_distribution(t, k) for t, k in zip(self._tops(prompts, stage), ks, strict=True)
        ]
        need = [i for i, d in enumerate(out) if d.paren_mass >= PAREN_FOLLOWUP_MIN]
        if need:
            tops = self._tops([prompts[i] + " (" for i in need], stage)
            for i, t in zip(need, tops, strict=True):
                out[i] = combine_with_followup(out[i], option_distribution(t, ks[i]))
        return out

    def _tops(self, prompts: Sequence[str], stage: str) -> list[dict[str, float]]:
        """The first generated token's top logprobs after each prompt, cache first."""
        params: dict[str, Any] = {"max_tokens": 1, "temperature": 0.0, "logprobs": SCORE_LOGPROBS}
        keys = [
            cache_key(self.identity(), params, p) if self.cache is not None else None
            for p in prompts
        ]
        choices: list[dict[str, Any] | None] = [None] * len(prompts)
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if key is not None and self.cache is not None else None
            if hit is not None:
                self.ledger.record(stage, Usage(calls=1, cache_hits=1))
                choices[i] = hit["choices"][0]
        missing = [i for i, c in enumerate(choices) if c is None]
        chunks = [missing[a : a + MAX_PROMPTS] for a in range(0, len(missing), MAX_PROMPTS)]

        def send(rows: list[int]) -> None:
            t0 = time.perf_counter()
            # A lone prompt goes as a string: servers that take only one still work.
            sent = prompts[rows[0]] if len(rows) == 1 else [prompts[i] for i in rows]
            body = self._post({"model": self.model, "prompt": sent, **params})
            got = sorted(body["choices"], key=lambda c: int(c.get("index", 0)))
            if len(got) != len(rows):
                raise ModelResponseError(
                    f"asked for {len(rows)} completions, the server returned {len(got)}"
                )
            if len(rows) > 1 and [int(c.get("index", -1)) for c in got] != list(range(len(rows))):
                raise ModelResponseError("the server's choices do not index the prompts 0..n-1")
            self._record(stage, body.get("usage") or {}, time.perf_counter() - t0)
            for i, c in zip(rows, got, strict=True):
                choices[i] = c
                key = keys[i]
                if key is not None and self.cache is not None:
                    self.cache.put(key, {"choices": [c]})

        self._map(send, chunks)
        out = []
        for c in choices:
            tops = ((c or {}).get("logprobs") or {}).get("top_logprobs") or []
            if not tops or not isinstance(tops[0], dict):
                raise ModelResponseError("response has no top_logprobs for the first token")
            out.append({str(k): float(v) for k, v in tops[0].items() if v is not None})
        return out

    def text_logprob(
        self, contexts: Sequence[str], texts: Sequence[str], stage: str = "critic"
    ) -> list[float]:
        """Mean log-probability per token of each text after its context (coherence).

        One ``echo`` request per text: the server returns every prompt token's
        log-probability, and the tokens that start inside the text are averaged.
        NaN when the text has no scored token.
        """
        if len(contexts) != len(texts):
            raise ValueError("one context per text")

        def one(i: int) -> float:
            ctx, text = contexts[i], texts[i]
            body = self.complete(
                ctx + text, stage=stage, max_tokens=1, temperature=0.0, logprobs=0, echo=True
            )
            lp = body["choices"][0].get("logprobs") or {}
            offs, vals = lp.get("text_offset") or [], lp.get("token_logprobs") or []
            end = len(ctx) + len(text)
            got = [
                float(v)
                for o, v in zip(offs, vals, strict=False)
                if v is not None and len(ctx) <= o < end
            ]
            if not offs:
                raise ModelResponseError("response has no prompt logprobs (echo unsupported?)")
            return float(sum(got) / len(got)) if got else float("nan")

        return self._map(one, range(len(texts)))  # type: ignore[arg-type]

    def models(self) -> list[str]:
        """Model ids the server lists."""
        try:
            r = self._http.get(f"{self.base_url}/models")
        except httpx.TransportError as e:
            raise ModelServerError(f"model server at {self.base_url} unreachable: {e}") from e
        if r.status_code != 200:
            raise ModelResponseError(f"HTTP {r.status_code}: {_message(r)}", r.status_code)
        return [m["id"] for m in r.json().get("data", [])]


def served_model(base_url: str, timeout: float = 10.0) -> str:
    """The one model a server lists (for ``--model-url`` given without a name)."""
    try:
        r = httpx.get(f"{base_url.rstrip('/')}/models", timeout=timeout)
    except httpx.TransportError as e:
        raise ModelServerError(f"model server at {base_url} unreachable: {e}") from e
    ids = [m.get("id") for m in r.json().get("data", [])] if r.status_code == 200 else []
    if len(ids) != 1:
        raise ModelResponseError(
            f"{base_url} serves {ids or 'no models'}: name the one to use (--model-name)", 404
        )
    return str(ids[0])


def _special(stop: str) -> bool:
    """A stop string that is a special token (ChatML's ``<|im_start|>``)."""
    return stop.startswith("<|") and stop.endswith("|>")


def _cut(text: str, stop: Sequence[str]) -> str:
    """``text`` up to its first stop string: servers differ in whether a stop string
    or a special end token reaches the text, and the stages must not see either."""
    ends = [i for i in (text.find(x) for x in stop if x) if i >= 0]
    return text[: min(ends)] if ends else text


def _retry_after(r: httpx.Response) -> float:
    """Seconds a 429/503 asks to wait (``Retry-After`` in seconds), capped."""
    try:
        return min(MAX_BACKOFF, max(0.0, float(r.headers.get("retry-after", 0))))
    except ValueError:  # an HTTP date: not worth parsing, the backoff applies
        return 0.0


def _message(r: httpx.Response) -> str:
    try:
        err = r.json().get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except ValueError:
        pass
    return r.text[:300]


def _check_completion(data: Any) -> None:
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("choices"), list)
        or not data["choices"]
    ):
        raise ModelResponseError(f"not a completions response: {str(data)[:200]}")
    c = data["choices"][0]
    if not isinstance(c, dict) or "text" not in c:
        raise ModelResponseError("completion choice has no text")
