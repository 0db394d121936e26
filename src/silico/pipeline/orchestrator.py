"""The distributed study: work units over Kafka, results in the store, the store the source of truth.

Each tick derives a study's state from what the store holds, enqueues every
unit that is missing (again, if it has been missing for ``redeliver_after``
seconds, or once after a restart), and advances when a stage is complete.
Matching and metrics are single jobs done through their services' RPCs.
The stage functions and the assembly are the in-process runner's, so with the
same model responses a distributed study equals the in-process one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from silico.convert import (
    critic_settings_to_proto,
    item_to_proto,
    verdict_from_dict,
    verdict_to_dict,
)
from silico.core.data import SurveyData
from silico.core.matching import Matching
from silico.core.sampling import derive_seed
from silico.llm import Usage, UsageLedger
from silico.pipeline import higher_order
from silico.pipeline.runner import (
    baseline_contexts,
    critic_settings,
    finish,
    load_humans,
    persona_categories,
    persona_context,
    run_matchings,
)
from silico.pipeline.spec import StudySpec, parse_spec
from silico.pipeline.stages import Backstory, backstory_params, judge_candidate, personas_of
from silico.report import _tables, write_report
from silico.report._write import metrics_document
from silico.runtime import metrics
from silico.runtime.kafka import Producer, requests_topic
from silico.store import Store, StoredStudy
from silico.v1 import backstory_pb2, critic_pb2, demographics_pb2, events_pb2, survey_pb2

log = logging.getLogger("silico.orchestrator")

STAGES = ("backstory", "annotate", "matching", "survey", "metrics")


class Cancelled(Exception):
    pass


def _transient(e: BaseException) -> bool:
    """Errors that pass when a restarted process comes back."""
    import grpc
    from kafka.errors import KafkaError
    from sqlalchemy.exc import OperationalError

    if isinstance(e, grpc.RpcError):
        return e.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
    return isinstance(e, (KafkaError, OperationalError, ConnectionError, TimeoutError))


@dataclass
class _StudyCache:
    spec: StudySpec
    humans: SurveyData
    started: float = field(default_factory=time.time)
    seconds: dict[str, float] = field(default_factory=dict)
    stage_started: dict[str, float] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)
    # Matching is deterministic, so it is computed once per process, not per tick.
    matched: tuple[Any, Any] | None = None
    backstories: list[Backstory] | None = None
    annotated: tuple[dict[str, np.ndarray], np.ndarray] | None = None


class Orchestrator:
    """Drives studies to completion.

    Args:
        store: the study store.
        producer: Kafka producer for ``<stage>.requests.v1``.
        match_fn: ``(spec, problem, method, weights) -> Matching`` (the MatchingService).
        compare_fn, split_half_fn: the MetricsService's RPCs (see :func:`evaluate`).
        reports_dir: where each study's report folder is written.
        redeliver_after: seconds before a unit with no stored result is enqueued again.
    """

    def __init__(
        self,
        store: Store,
        producer: Producer,
        match_fn: Callable[..., Matching],
        compare_fn: Callable[..., Any],
        split_half_fn: Callable[..., Any],
        reports_dir: Path,
        redeliver_after: float = 120.0,
    ) -> None:
        self.store = store
        self.producer = producer
        self.match_fn = match_fn
        self.compare_fn = compare_fn
        self.split_half_fn = split_half_fn
        self.reports_dir = Path(reports_dir)
        self.redeliver_after = redeliver_after
        self.wake = threading.Event()
        self._sent: dict[tuple[str, str, str], float] = {}
        self._cache: dict[str, _StudyCache] = {}
        self.progress: dict[str, dict[str, tuple[int, int]]] = {}

    # -- loop ----------------------------------------------------------------

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        while not stop.is_set():
            active = self.store.list_studies(states=("queued", "running"), limit=1000)
            for st in active:
                self.tick(st.id)
            self._export_metrics(active)
            self.wake.wait(interval)
            self.wake.clear()

    def _export_metrics(self, active: list[StoredStudy]) -> None:
        # States as listed before this round's ticks: a gauge may lag one round.
        states = {"queued": 0, "running": 0}
        units: dict[tuple[str, str], int] = {}
        for st in active:
            states[st.state] += 1
            for stage, (done, total) in self.progress.get(st.id, {}).items():
                units[(stage, "done")] = units.get((stage, "done"), 0) + done
                units[(stage, "total")] = units.get((stage, "total"), 0) + total
        for state, n in states.items():
            metrics.STUDIES_ACTIVE.labels(state).set(n)
        for stage in STAGES:
            for kind in ("done", "total"):
                metrics.STUDY_UNITS.labels(stage, kind).set(units.get((stage, kind), 0))

    def tick(self, study_id: str) -> None:
        st = self.store.get_study(study_id)
        if st.state not in ("queued", "running"):
            return
        try:
            c = self._cache.get(study_id)
            if c is None:
                spec = parse_spec(yaml.safe_load(st.spec_yaml))
                c = self._cache[study_id] = _StudyCache(spec, load_humans(spec))
            if st.state == "queued":
                self.store.set_state(study_id, "running", stage="backstory")
            self._advance(study_id, c)
        except Exception as e:
            if _transient(e):
                # A service, the broker or the store is briefly unreachable
                # (restarting, rescheduled): the next tick tries again.
                log.warning("study %s waits: %s: %s", study_id, type(e).__name__, e)
                self._sent.clear()
                return
            log.exception("study %s failed", study_id)
            self.store.set_state(study_id, "failed", error=f"{type(e).__name__}: {e}")
            metrics.STUDIES.labels("failed").inc()
            self._cache.pop(study_id, None)

    def resync(self) -> None:
        """Forget what was sent: the next tick enqueues every missing unit again."""
        self._sent.clear()
        self.wake.set()

    # -- helpers -------------------------------------------------------------

    def _send(self, study_id: str, stage: str, unit: str, item: events_pb2.WorkItem) -> None:
        k = (study_id, stage, unit)
        now = time.time()
        if now - self._sent.get(k, -1e18) < self.redeliver_after:
            return
        item.study_id, item.stage, item.unit_key = study_id, stage, unit
        self.producer.send(requests_topic(stage), f"{study_id}|{unit}", item.SerializeToString())
        self._sent[k] = now

    def _progress(self, study_id: str, stage: str, done: int, total: int, c: _StudyCache) -> None:
        self.progress.setdefault(study_id, {})[stage] = (done, total)
        if stage in c.finished:
            return  # a finished stage's time is final; ticks keep reporting it
        now = time.time()
        c.stage_started.setdefault(stage, now)
        c.seconds[stage] = now - c.stage_started[stage]
        if done >= total:
            c.finished.add(stage)

    def _advance(self, study_id: str, c: _StudyCache) -> None:
        spec, humans = c.spec, c.humans
        # Finished stages are read from the store once per process, not per tick.
        if c.backstories is None:
            c.backstories = self._backstories(study_id, c)
        backstories = c.backstories
        if backstories is None:
            return
        personas = personas_of(backstories, spec.backstories.truncate_words)
        if len(personas) < 2:
            raise RuntimeError(
                f"only {len(personas)} of {len(backstories)} backstories passed the critic"
            )
        traits = spec.traits()
        ann_keys = self.store.result_keys(study_id, "annotate") if c.annotated is None else set()
        missing = (
            []
            if c.annotated is not None
            else [k for k in range(len(personas)) if f"persona/{k}" not in ann_keys]
        )
        self._progress(study_id, "annotate", len(personas) - len(missing), len(personas), c)
        if missing:
            self.store.set_stage(study_id, "annotate")
            for k in missing:
                req = demographics_pb2.AnnotateRequest(
                    backstory=persona_context(spec, personas[k]),
                    traits=traits,
                    estimator=spec.demographics.estimator,
                    samples=spec.demographics.samples,
                    seed=derive_seed(spec.seed, "annotate"),
                    index=k,
                    orders=list(spec.demographics.orders),
                )
                self._send(study_id, "annotate", f"persona/{k}", events_pb2.WorkItem(annotate=req))
            return
        if c.annotated is None:
            ann = self.store.results(study_id, "annotate")
            c.annotated = (
                {
                    t: np.array([ann[f"persona/{k}"]["traits"][t] for k in range(len(personas))])
                    for t in traits
                },
                np.array([ann[f"persona/{k}"]["compliance"] for k in range(len(personas))]),
            )
        fine, ann_comp = c.annotated

        if c.matched is None:
            self.store.set_stage(study_id, "matching")
            coarse = persona_categories(spec, humans, fine)
            c.matched = run_matchings(spec, humans, coarse, self.match_fn)
            self._progress(study_id, "matching", 1, 1, c)
        matchings, diags = c.matched
        diags = dict(diags)

        items = humans.items
        ks = humans.responses.ks
        anthology = "anthology" in spec.conditioning
        baselines = [m for m in spec.conditioning if m != "anthology"]
        units: dict[str, tuple[str, int, str, list[Any]]] = {}
        if anthology:
            for k, b in enumerate(personas):
                units[f"anthology/{k}"] = ("anthology", k, persona_context(spec, b), list(items))
        for method in baselines:
            for h, ctx in enumerate(baseline_contexts(spec, humans, method)):
                units[f"{method}/{h}"] = (method, h, ctx, list(items))
        ho_units = higher_order.study_units(spec, fine.get("party"))
        for hu in ho_units:
            units[f"higher_order/{hu.persona}"] = (
                "higher_order",
                hu.persona,
                persona_context(spec, personas[hu.persona]),
                hu.items,
            )
        got_keys = self.store.result_keys(study_id, "survey")
        missing_units = [u for u in units if u not in got_keys]
        self._progress(study_id, "survey", len(units) - len(missing_units), len(units), c)
        if missing_units:
            self.store.set_stage(study_id, "survey")
            for u in missing_units:
                method, idx, context, unit_items = units[u]
                req = survey_pb2.AnswerRequest(
                    context=context,
                    items=[item_to_proto(it) for it in unit_items],
                    orders=list(spec.answers.orders),
                    mode=spec.answers.mode,
                    seed=derive_seed(spec.seed, "survey", method),
                    index=idx,
                    stage="survey",
                    max_attempts=spec.answers.max_attempts,
                    min_compliance=spec.answers.min_compliance,
                    series=spec.answers.series,
                )
                self._send(study_id, "survey", u, events_pb2.WorkItem(survey=req))
            return
        got = self.store.results(study_id, "survey")
        kmax = int(ks.max())

        attempts: dict[str, np.ndarray | None] = {}

        def gather(prefix: str, n: int) -> tuple[np.ndarray, np.ndarray]:
            probs = np.full((n, len(items), kmax), np.nan)
            comp = np.zeros((n, len(items)))
            att = np.zeros((n, len(items)), dtype=np.int64)
            for i in range(n):
                r = got[f"{prefix}/{i}"]
                for j, it in enumerate(items):
                    if r["probs"][j]:  # empty: a dropped, non-compliant answer
                        probs[i, j, : it.k] = r["probs"][j]
                comp[i] = r["compliance"]
                att[i] = r.get("attempts", [0] * len(items))
            attempts[prefix] = att
            return probs, comp

        if anthology:
            persona_answers, persona_comp = gather("anthology", len(personas))
        else:
            persona_answers, persona_comp = None, np.zeros((len(personas), len(items)))
        base_answers, base_comp = {}, {}
        for method in baselines:
            base_answers[method], base_comp[method] = gather(method, humans.n)

        self.store.set_stage(study_id, "metrics")
        result = finish(
            spec,
            humans,
            backstories,
            fine,
            ann_comp,
            matchings,
            diags,
            persona_answers,
            persona_comp,
            base_answers,
            base_comp,
            dict(c.seconds),
            self.compare_fn,
            self.split_half_fn,
            higher_order_units=ho_units,
            higher_order_answers={
                hu.persona: got[f"higher_order/{hu.persona}"]["probs"] for hu in ho_units
            },
            attempts=attempts,
        )
        ledger = UsageLedger()
        for stage, u in self.store.usage(study_id).items():
            ledger.record(
                stage,
                Usage(
                    calls=u["calls"],
                    prompt=u["prompt"],
                    cached=u["cached"],
                    generated=u["generated"],
                ),
            )
        out = write_report(result, self.reports_dir / study_id, ledger)
        tables = {
            "headline": _tables.headline(result),
            "matching": _tables.matching_ablation(result),
            "subgroups": _tables.subgroup_table(result),
            "usage": _tables.usage_table(result, ledger),
        }
        doc = metrics_document(result, ledger, tables)
        doc["report_dir"] = str(out)
        self.store.put_result(study_id, "metrics", "report", doc)
        for b in backstories:  # the full texts: truncation is this study's ablation only
            if not b.accepted:
                continue
            self.store.put_backstory(
                b.id,
                b.text,
                spec.model.name,
                backstory_params(
                    spec.backstories.max_tokens,
                    spec.backstories.temperature,
                    spec.backstories.top_p,
                    spec.backstories.variant,
                    spec.backstories.prompt_format,
                    spec.backstories.repetition_penalty,
                ),
                b.seed,
                b.tokens,
            )
        self._progress(study_id, "metrics", 1, 1, c)
        self.store.set_state(study_id, "succeeded", stage="done")
        metrics.STUDIES.labels("succeeded").inc()
        self.last_result = result
        self._cache.pop(study_id, None)

    def _backstories(self, study_id: str, c: _StudyCache) -> list[Backstory] | None:
        """Final backstories, or None while some persona is still being sampled or reviewed."""
        spec = c.spec
        bs = spec.backstories
        cands = self.store.results(study_id, "backstory")
        verds = self.store.results(study_id, "critic")
        final: dict[int, Backstory] = {}
        settings = backstory_pb2.BackstorySettings(
            mode=bs.mode,
            variant=bs.variant,
            prompt_format=bs.prompt_format,
            max_tokens=bs.max_tokens,
            min_tokens=bs.min_tokens,
            temperature=bs.temperature,
            top_p=bs.top_p,
            citizen_preamble=bs.citizen_preamble,
            max_attempts=bs.max_attempts,
            repetition_penalty=bs.repetition_penalty,
            use_critic=spec.critic.enabled,
            critic_model=spec.critic.use_model,
            model_name=spec.model.name,
            critic=critic_settings_to_proto(critic_settings(spec)),
        )
        for i in range(bs.count):
            if bs.mode == "interview":
                # One unit per persona; the answers were reviewed inside it.
                key = f"{i}/0"
                if key not in cands:
                    req = backstory_pb2.GenerateRequest(
                        study_seed=spec.seed, index=i, attempt=0, settings=settings
                    )
                    self._send(study_id, "backstory", key, events_pb2.WorkItem(backstory=req))
                    continue
                cand, iv = cands[key], cands[key]["interview"]
                final[i] = Backstory(
                    cand["id"],
                    cand["text"],
                    int(cand["seed"]),
                    int(cand["completion_tokens"]),
                    int(iv["attempts"]),
                    bool(iv["accepted"]),
                    iv["reason"],
                    tuple(verdict_from_dict(v) for v in iv["verdicts"]),
                )
                continue
            verdicts = []
            rejected: list[str] = []
            for a in range(bs.max_attempts):
                key = f"{i}/{a}"
                if key not in cands:
                    req = backstory_pb2.GenerateRequest(
                        study_seed=spec.seed, index=i, attempt=a, settings=settings
                    )
                    self._send(study_id, "backstory", key, events_pb2.WorkItem(backstory=req))
                    break
                cand = cands[key]
                if key not in verds:
                    if not spec.critic.enabled:
                        # No critic: only the length rule, decided here.
                        v0 = judge_candidate(
                            None, cand["text"], cand["completion_tokens"], bs.min_tokens, False
                        )
                        self.store.put_result(study_id, "critic", key, verdict_to_dict(v0))
                        verds[key] = verdict_to_dict(v0)
                    else:
                        req_c = critic_pb2.ReviewRequest(
                            text=cand["text"],
                            use_model=spec.critic.use_model,
                            settings=critic_settings_to_proto(critic_settings(spec)),
                            check_length=True,
                            completion_tokens=cand["completion_tokens"],
                            min_tokens=bs.min_tokens,
                        )
                        self._send(study_id, "critic", key, events_pb2.WorkItem(critic=req_c))
                        break
                v = verdict_from_dict(verds[key])
                verdicts.append(v)
                if v.accepted or a == bs.max_attempts - 1:
                    final[i] = Backstory(
                        cand["id"],
                        cand["text"],
                        int(cand["seed"]),
                        int(cand["completion_tokens"]),
                        a + 1,
                        v.accepted,
                        v.reason,
                        tuple(verdicts),
                        tuple(rejected),
                    )
                    break
                rejected.append(cand["text"])
        self._progress(study_id, "backstory", len(final), bs.count, c)
        if len(final) < bs.count:
            return None
        return [final[i] for i in range(bs.count)]
