"""The distributed driver: a study's plan sent over Kafka, the store the source of truth.

Each tick reads what the store holds, asks the plan (:mod:`silico.pipeline.units`)
for the units still needed, sends the missing ones (again, if one has been
missing for ``redeliver_after`` seconds, or after a resync), and advances when
a stage is complete. Matching and the metrics are RPCs (:class:`Services`).
The plan, the unit functions and the assembly are the in-process runner's,
so with the same model responses a distributed study equals the in-process one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from silico.convert import message_from_doc, route_to_proto
from silico.core.data import SurveyData
from silico.core.errors import NotFoundError
from silico.llm import Usage, UsageLedger
from silico.pipeline.assemble import LOCAL, Services, finish, persona_categories, run_matchings
from silico.pipeline.registry import PROGRESS, stage
from silico.pipeline.result import Collected, StudyResult
from silico.pipeline.routes import stage_routes
from silico.pipeline.runner import accepted_personas, load_humans
from silico.pipeline.spec import StudySpec, load_yaml, parse_spec
from silico.pipeline.stages import Backstory, backstory_params
from silico.pipeline.units import (
    RESPONSE_TYPES,
    SurveyPlan,
    Unit,
    plan_backstories,
    plan_demographics,
    plan_survey,
    read_demographics,
    read_survey,
)
from silico.platform.notifier import Notifier
from silico.report import write_report
from silico.runtime import telemetry
from silico.runtime.kafka import Producer
from silico.store import Store, StoredStudy
from silico.v1 import events_pb2

log = logging.getLogger("silico.orchestrator")


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
class _Study:
    """What one process knows of a study between ticks (all of it can be rebuilt from
    the store: a restarted orchestrator only re-reads)."""

    spec: StudySpec
    humans: SurveyData
    tenant: str = "default"
    seconds: dict[str, float] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)
    #: Typed stored results per stage, read once each.
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    backstories: list[Backstory] | None = None
    personas: list[Backstory] | None = None
    demographics: tuple[Any, Any] | None = None
    # Matching is deterministic: computed once per process, not per tick.
    matched: tuple[Any, Any] | None = None
    survey: SurveyPlan | None = None


class Orchestrator:
    """Drives studies to completion.

    Args:
        store: the study store.
        producer: Kafka producer for the stages' request topics.
        services: where matching and the metrics run (the services' RPCs).
        reports_dir: where each study's report folder is written.
        redeliver_after: seconds before a unit with no stored result is sent again.
        max_in_flight: units of one study sent and not yet stored, at most.
        max_in_flight_tenant: the same over all of one tenant's studies.
        data_check: ``(tenant, spec)``, raises when the study may not read its data
            (the tenancy's check, repeated when the data is loaded).
        resolve: fills in a study's model routes from the deployment's
            (:func:`silico.pipeline.routes.resolver`); the spec as written otherwise.
        locate: ``(tenant, spec)``, the spec with its uploaded datasets' paths
            (:meth:`silico.platform.datasets.Datasets.locate`).
    """

    def __init__(
        self,
        store: Store,
        producer: Producer,
        services: Services = LOCAL,
        reports_dir: Path | str = ".silico/reports",
        redeliver_after: float = 120.0,
        max_in_flight: int = 256,
        max_in_flight_tenant: int = 1024,
        data_check: Callable[[str, StudySpec], None] | None = None,
        resolve: Callable[[StudySpec], StudySpec] | None = None,
        locate: Callable[[str, StudySpec], StudySpec] | None = None,
    ) -> None:
        self.resolve = resolve or (lambda spec: spec)
        self.locate = locate or (lambda tenant, spec: spec)
        self.store = store
        self.producer = producer
        self.services = services
        self.reports_dir = Path(reports_dir)
        self.redeliver_after = redeliver_after
        self.max_in_flight = max_in_flight
        self.max_in_flight_tenant = max_in_flight_tenant
        self._in_flight: dict[str, int] = {}
        self.data_check = data_check
        self.wake = threading.Event()
        self._sent: dict[tuple[str, str, str], float] = {}
        self._studies: dict[str, _Study] = {}
        self.progress: dict[str, dict[str, tuple[int, int]]] = {}
        self.last_result: StudyResult | None = None
        #: Announces every change of a study to its watchers.
        self.changes = Notifier()

    # -- loop ----------------------------------------------------------------

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        while not stop.is_set():
            try:
                active = self.store.list_studies(states=("queued", "running"), limit=1000)
                for st in active:
                    self.tick(st.id)
                self._forget(active)
                self._export_telemetry(active)
            except Exception as e:  # the store is unreachable: keep the loop alive
                log.warning("orchestrator round failed: %s: %s", type(e).__name__, e)
            self.wake.wait(interval)
            self.wake.clear()

    def _forget(self, active: list[StoredStudy]) -> None:
        """Drop the results this process holds of studies that ended (cancelled ones
        too); their progress (a few numbers) stays for the API to show."""
        ids = {st.id for st in active}
        for sid in [s for s in self._studies if s not in ids]:
            del self._studies[sid]
        for k in [k for k in self._sent if k[0] not in ids]:
            del self._sent[k]
        for sid in [s for s in self._in_flight if s not in ids]:
            del self._in_flight[sid]

    def _unsend(self, study_id: str) -> None:
        """Forget what was sent for one study: its next tick sends its missing units."""
        for k in [k for k in self._sent if k[0] == study_id]:
            del self._sent[k]

    def _export_telemetry(self, active: list[StoredStudy]) -> None:
        # States as listed before this round's ticks: a gauge may lag one round.
        states = {"queued": 0, "running": 0}
        units: dict[tuple[str, str], int] = {}
        for st in active:
            states[st.state] += 1
            for name, (done, total) in self.progress.get(st.id, {}).items():
                units[(name, "done")] = units.get((name, "done"), 0) + done
                units[(name, "total")] = units.get((name, "total"), 0) + total
        for state, n in states.items():
            telemetry.STUDIES_ACTIVE.labels(state).set(n)
        for name in PROGRESS:
            for kind in ("done", "total"):
                telemetry.STUDY_UNITS.labels(name, kind).set(units.get((name, kind), 0))

    def tick(self, study_id: str) -> None:
        st = self.store.get_study(study_id)
        if st.state not in ("queued", "running"):
            return
        try:
            s = self._studies.get(study_id)
            if s is None:
                spec = self.locate(st.tenant, self.resolve(parse_spec(load_yaml(st.spec_yaml))))
                if self.data_check is not None:
                    self.data_check(st.tenant, spec)
                s = self._studies[study_id] = _Study(spec, load_humans(spec), st.tenant)
            if st.state == "queued":
                self.store.set_state(study_id, "running", stage="backstory")
                self.changes.bump(study_id)
            self._advance(study_id, s)
        except Exception as e:
            if _transient(e):
                # A service, the broker or the store is briefly unreachable
                # (restarting, rescheduled): the next tick tries again.
                log.warning("study %s waits: %s: %s", study_id, type(e).__name__, e)
                self._unsend(study_id)
                return
            log.exception("study %s failed", study_id)
            self._fail(study_id, f"{type(e).__name__}: {e}")

    def resync(self) -> None:
        """Forget what was sent: the next tick sends every missing unit again."""
        self._sent.clear()
        self.wake.set()

    def unit_failed(self, done: events_pb2.WorkDone) -> None:
        """A worker announced a unit that can never succeed: its study fails, naming it.
        An announcement for a study this store does not hold is only logged."""
        try:
            st = self.store.get_study(done.study_id)
        except NotFoundError:
            log.warning("failed unit of an unknown study: %s %s", done.stage, done.unit_key)
            return
        if st.state in ("queued", "running"):
            self._fail(done.study_id, f"{done.stage} unit {done.unit_key}: {done.error}")

    def _fail(self, study_id: str, error: str) -> None:
        self.store.set_state(study_id, "failed", error=error)
        self.changes.bump(study_id)
        telemetry.STUDIES.labels("failed").inc()
        self._studies.pop(study_id, None)

    # -- the plan, stage by stage ----------------------------------------------

    def _advance(self, study_id: str, s: _Study) -> None:
        if s.backstories is None:
            s.backstories = self._backstories(study_id, s)
            if s.backstories is None:
                return
            s.personas = accepted_personas(s.spec, s.backstories)
        personas = s.personas or []
        if s.demographics is None:
            got = self._collect(study_id, s, plan_demographics(s.spec, personas))
            if got is None:
                return
            s.demographics = read_demographics(s.spec, len(personas), got)
        fine, demo_comp = s.demographics
        if s.matched is None:
            self._stage(study_id, "matching")
            coarse = persona_categories(s.spec, s.humans, fine)
            s.matched = run_matchings(s.spec, s.humans, coarse, self.services)
            self._progress(study_id, s, "matching", 1, 1)
        if s.survey is None:
            s.survey = plan_survey(s.spec, s.humans, personas, fine)
        got = self._collect(study_id, s, s.survey.units)
        if got is None:
            return
        answers = read_survey(s.spec, s.humans, len(personas), s.survey, got)
        matchings, diags = s.matched
        self._stage(study_id, "metrics")
        c = Collected(
            s.spec,
            s.humans,
            s.backstories,
            fine,
            demo_comp,
            matchings,
            dict(diags),
            answers,
            dict(s.seconds),
        )
        self._complete(study_id, s, finish(c, self.services))

    def _backstories(self, study_id: str, s: _Study) -> list[Backstory] | None:
        plan = plan_backstories(
            s.spec, self._typed(study_id, s, "backstory"), self._typed(study_id, s, "critic")
        )
        self._progress(study_id, s, "backstory", len(plan.done), plan.count)
        self._send_some(study_id, plan.units)
        return plan.backstories() if plan.complete else None

    def _collect(self, study_id: str, s: _Study, units: list[Unit]) -> dict[str, Any] | None:
        """The typed results of ``units`` (all of one stage), or None after sending the
        missing ones."""
        name = units[0].stage if units else "survey"
        have = self.store.result_keys(study_id, name)
        missing = [u for u in units if u.key not in have]
        self._progress(study_id, s, name, len(units) - len(missing), len(units))
        if missing:
            self._stage(study_id, name)
            self._send_some(study_id, missing)
            return None
        return self._typed(study_id, s, name)

    def _typed(self, study_id: str, s: _Study, name: str) -> dict[str, Any]:
        """A stage's stored results as response messages (only new keys are read)."""
        cached = s.results.setdefault(name, {})
        if self.store.result_keys(study_id, name) - cached.keys():
            docs = self.store.results(study_id, name)  # one query, however many are new
            for key in docs.keys() - cached.keys():
                cached[key] = message_from_doc(docs[key], RESPONSE_TYPES[name])
        return cached

    def _send_some(self, study_id: str, units: list[Unit]) -> None:
        """Send the units due: again those missing for ``redeliver_after``, and new ones
        only while fewer than ``max_in_flight`` of the study's are in flight, so that no
        study queues thousands of units in front of everyone else's (and a cancelled
        one leaves little behind)."""
        now = time.time()
        sent = [self._sent.get((study_id, u.stage, u.key)) for u in units]
        fresh = [u for u, t in zip(units, sent, strict=True) if t is None]
        out = len(units) - len(fresh)
        tenant = self._studies[study_id].tenant if study_id in self._studies else ""
        tenant_out = sum(
            n
            for sid, n in self._in_flight.items()
            if sid != study_id and sid in self._studies and self._studies[sid].tenant == tenant
        )
        budget = min(self.max_in_flight - out, self.max_in_flight_tenant - tenant_out - out)
        for u, t in zip(units, sent, strict=True):
            if t is not None and now - t >= self.redeliver_after:
                self._send(study_id, u)
        new = fresh[: max(0, budget)]
        for u in new:
            self._send(study_id, u)
        self._in_flight[study_id] = out + len(new)

    def _send(self, study_id: str, u: Unit) -> None:
        k = (study_id, u.stage, u.key)
        now = time.time()
        item = events_pb2.WorkItem(study_id=study_id, stage=u.stage, unit_key=u.key)
        getattr(item, u.stage).CopyFrom(u.request)
        s = self._studies.get(study_id)
        if s is not None:
            route, critic = stage_routes(s.spec.model, u.stage)
            item.model.CopyFrom(route_to_proto(route, s.spec.model.revision))
            if critic is not None:
                item.critic_model.CopyFrom(route_to_proto(critic, s.spec.model.revision))
        self.producer.send(
            stage(u.stage).requests_topic, f"{study_id}|{u.key}", item.SerializeToString()
        )
        self._sent[k] = now

    def _stage(self, study_id: str, name: str) -> None:
        self.store.set_stage(study_id, name)
        self.changes.bump(study_id)

    def _progress(self, study_id: str, s: _Study, name: str, done: int, total: int) -> None:
        mine = self.progress.setdefault(study_id, {})
        if mine.get(name) != (done, total):
            mine[name] = (done, total)
            self.changes.bump(study_id)
        if name in s.finished:
            return  # a finished stage's time is final; ticks keep reporting it
        now = time.time()
        s.started.setdefault(name, now)
        s.seconds[name] = now - s.started[name]
        if done >= total:
            s.finished.add(name)

    def _complete(self, study_id: str, s: _Study, result: StudyResult) -> None:
        ledger = UsageLedger()
        for name, u in self.store.usage(study_id).items():
            ledger.record(name, Usage(u["calls"], u["prompt"], u["cached"], u["generated"]))
        report = write_report(result, self.reports_dir / study_id, ledger)
        self.store.put_result(
            study_id, "metrics", "report", {**report.doc, "report_dir": str(report.path)}
        )
        self._library(result)
        self._progress(study_id, s, "metrics", 1, 1)
        self.store.set_state(study_id, "succeeded", stage="done")
        self.changes.bump(study_id)
        telemetry.STUDIES.labels("succeeded").inc()
        self.last_result = result
        self._studies.pop(study_id, None)

    def _library(self, result: StudyResult) -> None:
        """The accepted backstories, in full (truncation is this study's ablation only)."""
        bs = result.spec.backstories
        params = backstory_params(
            bs.max_tokens,
            bs.temperature,
            bs.top_p,
            bs.variant,
            bs.prompt_format,
            bs.repetition_penalty,
        )
        for b in result.accepted():
            self.store.put_backstory(
                b.id,
                b.text,
                result.spec.model.route("backstory").name or "",
                params,
                b.seed,
                b.generated_tokens,
            )
