"""KServe model server for the embedded engine, with OpenAI-compatible completions routes.

KServe's own OpenAI endpoints import vLLM, which is absent on CPU, so the
``/openai/v1/completions`` and ``/openai/v1/models`` routes are added to the
KServe app here; liveness (``/``), readiness (``/v1/models/{name}``,
``/v2/health/ready``) and ``/metrics`` come from KServe itself.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from kserve import Model
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.modelserver.engine import DecodeBatch, Engine, Params, RequestError, Result

log = logging.getLogger("silico.modelserver")

REQUESTS = Counter("silico_modelserver_requests_total", "Completion requests", ["model", "status"])
LATENCY = Histogram(
    "silico_modelserver_request_seconds",
    "Completion latency per prompt",
    ["model"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
PROMPT_TOKENS = Counter(
    "silico_modelserver_prompt_tokens_total", "Prompt tokens received", ["model"]
)
COMPUTED_TOKENS = Counter(
    "silico_modelserver_prompt_tokens_computed_total",
    "Prompt tokens actually run through the model",
    ["model"],
)
GENERATED_TOKENS = Counter(
    "silico_modelserver_generated_tokens_total", "Tokens generated", ["model"]
)
PREFIX_HITS = Counter(
    "silico_modelserver_prefix_cache_hits_total", "Prompts that reused a cached prefix", ["model"]
)
PREFIX_SAVED = Counter(
    "silico_modelserver_prefix_cache_saved_tokens_total",
    "Prompt tokens served from the prefix cache",
    ["model"],
)


class CompletionRequest(BaseModel):
    """The OpenAI completions request fields this server honours (others are refused)."""

    model_config = ConfigDict(extra="ignore")

    model: str
    prompt: str | list[str]
    max_tokens: int = Field(16, ge=0, le=8192)
    temperature: float = Field(1.0, ge=0.0, le=10.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    # vLLM's extra sampling parameter (the OpenAI API has none like it).
    repetition_penalty: float = Field(1.0, gt=0.0, le=2.0)
    # Choices per prompt (OpenAI's bound of 128); the n samples of a prompt share
    # one prefill in the engine.
    n: int = Field(1, ge=1, le=128)
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: int | None = Field(None, ge=0, le=20)
    echo: bool = False
    stream: bool = False
    # Silico extension: turn prefix reuse off for one request (benchmarks).
    prefix_reuse: bool = True


class Batcher:
    """Serves concurrent requests together, on one thread that owns the engine.

    Requests that arrive within a few milliseconds of each other are taken
    together. Sampled generations (``max_tokens > 1``) join one running
    decoding batch and leave it when they finish (continuous batching, as
    vLLM does on a GPU): every step is one forward pass for all rows, and a
    request that arrives mid-batch starts at the next step instead of waiting
    for the batch to end. Scoring calls run between steps. Floating-point
    results can depend on the batch a request lands in; the client's response
    cache is what makes a study replay exactly.
    """

    def __init__(
        self, engine: Engine, max_rows: int = 32, wait_s: float = 0.01, max_decoding: int = 128
    ) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self.wait_s = wait_s
        #: Rows decoding at once; further generations wait for rows to finish.
        self.max_decoding = max_decoding
        self._q: queue.Queue[tuple[list[Params], Future[list[Result]]]] = queue.Queue()
        self._batch: DecodeBatch | None = None
        self._backlog: list[tuple[list[Params], Future[list[Result]]]] = []
        # Request serial -> (future, results so far, rows still decoding).
        self._open: dict[int, tuple[Future[list[Result]], list[Result | None], list[int]]] = {}
        self._serial = 0
        threading.Thread(target=self._loop, name="batcher", daemon=True).start()

    def submit(self, params: list[Params]) -> Future[list[Result]]:
        fut: Future[list[Result]] = Future()
        self._q.put((params, fut))
        return fut

    def _decoding(self) -> int:
        return len(self._batch.rows) if self._batch is not None else 0

    def _take(self) -> list[tuple[list[Params], Future[list[Result]]]]:
        """New requests: wait for one when nothing is decoding, else take what is queued."""
        groups = []
        if not self._decoding() and not self._backlog:
            groups.append(self._q.get())
            rows = len(groups[0][0])
            deadline = time.monotonic() + self.wait_s
            while rows < self.max_rows:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    g = self._q.get(timeout=left)
                except queue.Empty:
                    break
                groups.append(g)
                rows += len(g[0])
        while True:
            try:
                groups.append(self._q.get_nowait())
            except queue.Empty:
                return groups

    def _loop(self) -> None:
        while True:
            try:
                self._round()
            except Exception as e:  # surfaced to every waiting request as a 500
                log.exception("batch failed")
                for fut, _, _ in self._open.values():
                    if not fut.done():
                        fut.set_exception(e)
                self._open.clear()
                self._batch = None

    def _round(self) -> None:
        scoring, generating = [], []
        memo: dict[str, Any] = {}
        for params, fut in self._take():
            try:
                for p in params:
                    self.engine.validate(p, memo)
            except RequestError as e:
                fut.set_exception(e)
                continue
            # One request's rows share max_tokens: it is all generation or all scoring.
            (generating if params and params[0].max_tokens > 1 else scoring).append((params, fut))
        if scoring:
            flat = [p for params, _ in scoring for p in params]
            try:
                results = self.engine.complete_many(flat)
            except Exception as e:
                log.exception("scoring batch failed")
                for _, fut in scoring:
                    fut.set_exception(e)
            else:
                i = 0
                for params, fut in scoring:
                    fut.set_result(results[i : i + len(params)])
                    i += len(params)
        self._backlog += generating
        while self._backlog and (
            not self._decoding() or self._decoding() + len(self._backlog[0][0]) <= self.max_decoding
        ):
            params, fut = self._backlog.pop(0)
            serial = self._serial
            self._serial += 1
            try:
                self._batch = self.engine.admit(
                    self._batch, params, [(serial, j) for j in range(len(params))]
                )
            except Exception as e:  # this request's prefill failed; the batch goes on
                if not isinstance(e, RequestError):
                    log.exception("prefill failed")
                fut.set_exception(e)
                continue
            self._open[serial] = (fut, [None] * len(params), [len(params)])
        if self._decoding():
            assert self._batch is not None
            for (serial, j), res in self.engine.step(self._batch):
                fut, results, left = self._open[serial]
                results[j] = res
                left[0] -= 1
                if not left[0]:
                    del self._open[serial]
                    fut.set_result([r for r in results if r is not None])


class SmolModel(Model):
    """A KServe model whose ``predict`` is an OpenAI-style completion."""

    def __init__(self, name: str, engine_factory: Any) -> None:
        super().__init__(name)
        self._factory = engine_factory
        # Exported at zero from the start: a series that first appears at its first
        # increment has no rate until its second, and without a prefix hit yet the
        # dashboard's reuse ratio would be empty rather than 0.
        for metric in (PROMPT_TOKENS, COMPUTED_TOKENS, GENERATED_TOKENS, PREFIX_HITS, PREFIX_SAVED):
            metric.labels(name)
        LATENCY.labels(name)
        REQUESTS.labels(name, "200")
        self.engine: Engine | None = None
        self.batcher: Batcher | None = None

    def load(self) -> bool:
        self.engine = self._factory()
        self.batcher = Batcher(self.engine)
        self.ready = True
        return self.ready

    async def predict(
        self, payload: Any, headers: dict[str, str] | None = None, response_headers: Any = None
    ) -> Any:
        # The v1/v2 inference protocols carry tensors; text goes through /openai/v1.
        raise NotImplementedError("use /openai/v1/completions")

    def params(self, req: CompletionRequest) -> list[Params]:
        """One row per choice: prompt i's sample j is row ``i * n + j``, the choice
        index OpenAI gives it, and with a ``seed`` it samples with ``seed + i * n + j``
        (distinct per choice, and ``seed + i`` as before when ``n`` is 1)."""
        prompts = [req.prompt] if isinstance(req.prompt, str) else list(req.prompt)
        if not prompts:
            raise RequestError("prompt must not be empty")
        stop = [req.stop] if isinstance(req.stop, str) else req.stop
        out = []
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str) or not prompt:
                raise RequestError(f"prompt[{i}] must be a non-empty string")
            for j in range(req.n):
                k = i * req.n + j
                out.append(
                    Params(
                        prompt,
                        max_tokens=req.max_tokens,
                        temperature=req.temperature,
                        top_p=req.top_p,
                        repetition_penalty=req.repetition_penalty,
                        seed=None if req.seed is None else req.seed + k,
                        stop=stop,
                        logprobs=req.logprobs,
                        reuse_prefix=req.prefix_reuse,
                    )
                )
        return out

    def response(
        self, req: CompletionRequest, params: list[Params], results: list[Result]
    ) -> dict[str, Any]:
        choices = []
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0}
        for i, (p, r) in enumerate(zip(params, results, strict=True)):
            if i % req.n == 0:
                LATENCY.labels(self.name).observe(r.seconds)
            # The token counters go per row: a choice that shared another row's
            # prefill counts as a full prefix hit, so the computed counter stays
            # what the model ran and the reuse ratio shows the sharing.
            PROMPT_TOKENS.labels(self.name).inc(r.prompt_tokens)
            COMPUTED_TOKENS.labels(self.name).inc(r.prompt_tokens - r.cached_tokens)
            GENERATED_TOKENS.labels(self.name).inc(r.completion_tokens)
            if r.cached_tokens:
                PREFIX_HITS.labels(self.name).inc()
                PREFIX_SAVED.labels(self.name).inc(r.cached_tokens)
            # Prompt tokens count once per prompt, not per choice, as vLLM reports
            # them (it adds len(prompt_token_ids) once per prompt, outside its loop
            # over the n outputs); cached tokens likewise, from the choice that
            # reused least, so "prompt - cached" is what this prompt cost.
            if i % req.n == 0:
                usage["prompt_tokens"] += r.prompt_tokens
                usage["cached_tokens"] += min(x.cached_tokens for x in results[i : i + req.n])
            usage["completion_tokens"] += r.completion_tokens
            c = r.choice
            lp = None
            if req.logprobs is not None:
                lp = {
                    "tokens": c.tokens,
                    "token_logprobs": c.token_logprobs,
                    "top_logprobs": c.top_logprobs,
                    "text_offset": c.text_offset,
                }
            text = p.prompt + c.text if req.echo else c.text
            choices.append(
                {"index": i, "text": text, "logprobs": lp, "finish_reason": c.finish_reason}
            )
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.name,
            "choices": choices,
            "usage": {
                "prompt_tokens": usage["prompt_tokens"],
                "completion_tokens": usage["completion_tokens"],
                "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"],
                "prompt_tokens_details": {"cached_tokens": usage["cached_tokens"]},
            },
        }


def _error(status: int, message: str, kind: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": kind, "param": param, "code": status}},
    )


def add_openai_routes(app: FastAPI, model: SmolModel) -> None:
    """Register the completions and models routes on the KServe FastAPI app."""

    @app.get("/openai/v1/models")
    async def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": model.name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "silico",
                    # What vLLM reports too (root, max_model_len), and the weights'
                    # fingerprint: clients key their response caches on them.
                    "root": str(model.engine.model_dir) if model.engine else "",
                    "max_model_len": model.engine.max_context if model.engine else 0,
                    "revision": model.engine.revision if model.engine else "",
                }
            ],
        }

    @app.post("/openai/v1/completions")
    async def completions(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except Exception:
            REQUESTS.labels(model.name, "400").inc()
            return _error(400, "request body is not valid JSON", "invalid_request_error")
        try:
            req = CompletionRequest.model_validate(body)
        except ValidationError as e:
            REQUESTS.labels(model.name, "400").inc()
            first = e.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            return _error(400, f"{field}: {first['msg']}", "invalid_request_error", field)
        if req.model != model.name:
            REQUESTS.labels(model.name, "404").inc()
            return _error(
                404,
                f"model {req.model!r} not found; this server has {model.name!r}",
                "not_found",
                "model",
            )
        if req.stream:
            REQUESTS.labels(model.name, "400").inc()
            return _error(
                400,
                "stream: streaming is not supported by this server",
                "invalid_request_error",
                "stream",
            )
        if not model.ready:
            REQUESTS.labels(model.name, "503").inc()
            return _error(503, "model is loading", "unavailable")
        try:
            params = model.params(req)
            assert model.batcher is not None
            results = await asyncio.wrap_future(model.batcher.submit(params))
        except RequestError as e:
            REQUESTS.labels(model.name, "400").inc()
            return _error(400, str(e), "invalid_request_error")
        except Exception as e:
            REQUESTS.labels(model.name, "500").inc()
            return _error(500, f"inference failed: {e}", "server_error")
        body = model.response(req, params, results)
        if req.echo and req.logprobs is not None:
            # Prompt tokens' log-probabilities ahead of the generated ones, as
            # vLLM returns them (the critic's coherence score reads them).
            assert model.engine is not None
            scored: dict[str, tuple[list[str], list[float | None], list[int]]] = {}
            for choice, p in zip(body["choices"], params, strict=True):
                if p.prompt not in scored:  # the n choices of a prompt share it
                    scored[p.prompt] = await asyncio.to_thread(
                        model.engine.prompt_logprobs, p.prompt
                    )
                toks, lps, offs = scored[p.prompt]
                lp = choice["logprobs"]
                lp["tokens"] = toks + lp["tokens"]
                lp["token_logprobs"] = lps + lp["token_logprobs"]
                lp["top_logprobs"] = [None] * len(toks) + lp["top_logprobs"]
                lp["text_offset"] = offs + lp["text_offset"]
        REQUESTS.labels(model.name, "200").inc()
        return JSONResponse(body)
