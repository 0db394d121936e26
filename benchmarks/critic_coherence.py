"""Where to put the critic's coherence threshold for a model.

Scores every text of the labelled critic set (``tests/unit/data/critic_labelled.jsonl``)
by its mean token log-probability under the model after the backstory question
(:func:`silico.pipeline.stages.coherence`, through a real model server) and
prints the distribution per label and category, and the accuracy of the rules
alone and of rules plus each candidate threshold.

    python -m benchmarks.critic_coherence [--model gemma-3-270m]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from silico.core.prompts import check_backstory
from silico.llm import CompletionsClient
from silico.local.procs import EMBEDDED_MODEL, start_model_server
from silico.pipeline.stages import COHERENCE_CONTEXT

DATA = Path(__file__).resolve().parents[1] / "tests" / "unit" / "data" / "critic_labelled.jsonl"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=EMBEDDED_MODEL)
    ap.add_argument("--out", default="critic-coherence.json")
    args = ap.parse_args()
    rows = [json.loads(x) for x in DATA.read_text().splitlines() if x.strip()]
    server = start_model_server(Path(".silico/logs"), model_name=args.model)
    try:
        with CompletionsClient(server.base_url, args.model, concurrency=4) as lm:
            scores = lm.text_logprob([COHERENCE_CONTEXT] * len(rows), [r["text"] for r in rows])
    finally:
        server.stop()
    for r, s in zip(rows, scores, strict=True):
        r["coherence"] = s
        r["rules_ok"] = check_backstory(r["text"]).accepted
    good = np.array([r["coherence"] for r in rows if r["label"] == "good"])
    print(
        f"good: n={len(good)} min={good.min():.2f} p5={np.quantile(good, 0.05):.2f} "
        f"median={np.median(good):.2f}"
    )
    cats = sorted({r["category"] for r in rows if r["label"] == "bad"})
    for c in cats:
        v = np.array([r["coherence"] for r in rows if r["category"] == c and r["label"] == "bad"])
        print(f"bad/{c}: n={len(v)} median={np.median(v):.2f} max={v.max():.2f}")
    truth = np.array([r["label"] == "good" for r in rows])
    rules = np.array([r["rules_ok"] for r in rows])
    coh = np.array([r["coherence"] for r in rows])
    print(f"rules alone: accuracy {np.mean(rules == truth):.3f}")
    table = []
    for t in np.arange(-6.0, -1.9, 0.2):
        acc = float(np.mean((rules & (coh >= t)) == truth))
        only = float(np.mean((coh >= t) == truth))
        good_lost = int(np.sum(truth & (coh < t)))
        table.append(
            {
                "threshold": round(float(t), 1),
                "rules_and_coherence": acc,
                "coherence_alone": only,
                "good_rejected": good_lost,
            }
        )
        print(
            f"threshold {t:5.1f}: rules+coherence {acc:.3f}  coherence alone {only:.3f}  "
            f"good rejected {good_lost}"
        )
    Path(args.out).write_text(
        json.dumps({"model": args.model, "thresholds": table, "texts": rows}, indent=1)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
