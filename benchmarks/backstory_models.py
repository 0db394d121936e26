"""Which embedded model, with which sampling settings, writes backstories that read as lives?

Generates the same number of single-turn backstories per configuration with the
pipeline's own code (no critic), judges each with the rule critic
(:func:`silico.core.prompts.check_backstory`: English, first person, a concrete
life fact, no fiction, verse, repetition or prompt copies) and prints the share
of good stories and the wall seconds per good story on this machine.

    python -m benchmarks.backstory_models --count 24 --out backstory-models.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from silico.core.prompts import check_backstory
from silico.llm import CompletionsClient
from silico.local.procs import start_model_server
from silico.pipeline.backstory_step import Candidate
from silico.pipeline.stages import sample_candidate

#: (label, model, prompt format, temperature, top_p, repetition penalty, citizen preamble)
CONFIGS = [
    ("smollm2 reference T=1.0 p=1.0", "smollm2-135m-instruct", "chatml", 1.0, 1.0, 1.0, True),
    ("smollm2 T=0.7 p=0.9 rp=1.1", "smollm2-135m-instruct", "chatml", 0.7, 0.9, 1.1, True),
    ("smollm2 T=0.6 p=0.9 rp=1.15", "smollm2-135m-instruct", "chatml", 0.6, 0.9, 1.15, True),
    ("smollm2 T=0.5 p=0.9 rp=1.15", "smollm2-135m-instruct", "chatml", 0.5, 0.9, 1.15, True),
    ("gemma base reference T=1.0 p=1.0", "gemma-3-270m", "plain", 1.0, 1.0, 1.0, True),
    ("gemma base T=0.7 p=0.9 rp=1.1", "gemma-3-270m", "plain", 0.7, 0.9, 1.1, True),
]


def diversity(texts: list[str]) -> dict[str, float]:
    """How different the stories are from each other (low temperature can make
    every persona the same person): distinct bigrams over all bigrams, and the
    mean Jaccard similarity of the stories' word sets."""
    words = [t.lower().split() for t in texts]
    bigrams = [tuple(w[i : i + 2]) for w in words for i in range(len(w) - 1)]
    sets = [set(w) for w in words]
    sims = [len(a & b) / len(a | b) for i, a in enumerate(sets) for b in sets[i + 1 :] if a | b]
    return {
        "distinct_2": round(len(set(bigrams)) / max(len(bigrams), 1), 3),
        "mean_jaccard": round(sum(sims) / max(len(sims), 1), 3),
    }


def _sample(
    lm: CompletionsClient,
    count: int,
    model: str,
    fmt: str,
    max_tokens: int,
    temp: float,
    top_p: float,
    rp: float,
    pre: bool,
) -> list[Candidate]:
    """Attempt 0 of ``count`` personas, no critic, sent at once (the server batches them)."""

    def one(i: int) -> Candidate:
        text, tokens, seed, bid = sample_candidate(
            lm,
            study_seed=11,
            index=i,
            attempt=0,
            model_name=model,
            variant="long",
            prompt_format=fmt,
            max_tokens=max_tokens,
            temperature=temp,
            top_p=top_p,
            citizen_preamble=pre,
            repetition_penalty=rp,
        )
        return Candidate(bid, text, seed, tokens)

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(count)))


def run(count: int, max_tokens: int, log_dir: Path, only: str | None) -> list[dict[str, object]]:
    rows = []
    for model in dict.fromkeys(c[1] for c in CONFIGS):
        configs = [c for c in CONFIGS if c[1] == model and (only is None or only in c[0])]
        if not configs:
            continue
        server = start_model_server(log_dir, model_name=model)
        try:
            with CompletionsClient(server.base_url, model, concurrency=16) as lm:
                for label, _, fmt, temp, top_p, rp, pre in configs:
                    t0 = time.perf_counter()
                    stories = _sample(lm, count, model, fmt, max_tokens, temp, top_p, rp, pre)
                    seconds = time.perf_counter() - t0
                    verdicts = [check_backstory(b.text) for b in stories]
                    good = sum(v.accepted for v in verdicts)
                    rows.append(
                        {
                            "config": label,
                            "model": model,
                            "good": good,
                            "of": count,
                            "good_share": good / count,
                            "seconds": round(seconds, 1),
                            "seconds_per_good": round(seconds / good, 1) if good else None,
                            "mean_tokens": sum(b.generated_tokens for b in stories) / count,
                            "reasons": dict(Counter(v.reason for v in verdicts if not v.accepted)),
                            **diversity([b.text for b in stories]),
                            "texts": [b.text for b in stories],
                        }
                    )
                    print(json.dumps({k: v for k, v in rows[-1].items() if k != "texts"}))
        finally:
            server.stop()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--only", help="run the configurations whose label contains this")
    ap.add_argument("--out", default="backstory-models.json")
    args = ap.parse_args()
    rows = run(args.count, args.max_tokens, Path(".silico/logs"), args.only)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
