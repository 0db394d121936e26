"""Telemetry: the Prometheus series beyond the per-RPC and per-worker ones.

("Metrics" in Silico means the statistics stage; what Prometheus scrapes is
telemetry, though each series is what Prometheus calls a metric.)

Labels are bounded sets (stage, kind, state): study ids and human data never
become label values.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

TOKENS = Counter(
    "silico_llm_tokens_total",
    "Model tokens spent by the stage workers",
    ["stage", "kind"],  # kind: prompt, cached (prefix-cache hits), generated
)
LLM_CALLS = Counter(
    "silico_llm_calls_total",
    "Completions calls by the stage workers",
    ["stage", "source"],  # source: model, response_cache
)
STUDIES = Counter("silico_studies_total", "Studies reaching a final state", ["state"])
# A labelled series is exported from its first increment only, so the first study
# to succeed or fail would appear at 1 and increase() and rate() (the dashboard's
# studies per hour, the SilicoStudyFailed alert) would never count it. Exported at
# zero from the start, the first one is an increase like any other. Processes that
# never finish a study (the stage workers import this module too) report zeros,
# which add nothing to the sums.
for _state in ("succeeded", "failed", "cancelled"):
    STUDIES.labels(_state)
STUDIES_ACTIVE = Gauge("silico_studies_active", "Studies queued or running", ["state"])
STUDY_UNITS = Gauge(
    "silico_study_units",
    "Work units of the running studies, per stage",
    ["stage", "kind"],  # kind: done, total
)


def record_usage(stage: str, usage: dict[str, int]) -> None:
    for kind in ("prompt", "cached", "generated"):
        if usage.get(kind):
            TOKENS.labels(stage, kind).inc(usage[kind])
    hits = usage.get("cache_hits", 0)
    LLM_CALLS.labels(stage, "response_cache").inc(hits)
    LLM_CALLS.labels(stage, "model").inc(max(0, usage.get("calls", 0) - hits))
