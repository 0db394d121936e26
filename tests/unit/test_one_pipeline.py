"""One pipeline, two drivers: the plan, the backstory step, the orchestrator's state
machine and the servicers, with a scripted model (seconds, no broker, no ports).

The orchestrator here sends its units to a recording producer; ``_pump`` does
each one through the workers' own handler (``unit_handler`` + ``do_unit``) into
a real SQLite store, then ticks again, as the Kafka loop would. The integration
suite runs the same over the real broker, model and ports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from services.critic.servicer import CriticServicer
from services.demographics.servicer import DemographicsServicer
from services.survey.servicer import SurveyServicer
from silico.core.errors import ValidationError
from silico.core.prompts import Verdict
from silico.pipeline.backstory_step import Candidate, Review, Sample, backstory_step
from silico.pipeline.routes import Router
from silico.pipeline.runner import run_study
from silico.pipeline.spec import ModelRoute, StudySpec, load_spec
from silico.pipeline.stages import Backstory
from silico.pipeline.units import plan_backstories, plan_demographics, plan_survey
from silico.pipeline.work import Models, answer, demographics, do_unit, review
from silico.platform.orchestrator import Orchestrator
from silico.report import headline
from silico.runtime.app import announce, unit_compute, unit_handler
from silico.store import Store
from silico.v1 import critic_pb2, demographics_pb2, events_pb2, survey_pb2
from tests.scripted import ScriptedLM

REPO = Path(__file__).resolve().parents[2]
STUDIES = REPO / "pipelines" / "studies"


def _cand(i: int, a: int) -> Candidate:
    return Candidate(f"id{i}{a}", f"text {i}/{a}", 100 + a, 50)


# -- the backstory step ---------------------------------------------------------


def test_backstory_step_samples_reviews_and_resamples_until_accepted():
    cands: dict[str, Candidate] = {}
    verds: dict[str, Verdict] = {}
    assert backstory_step(0, cands, verds, 3) == Sample(0, 0)
    cands["0/0"] = _cand(0, 0)
    assert backstory_step(0, cands, verds, 3) == Review(0, 0, cands["0/0"])
    verds["0/0"] = Verdict(False, "gibberish")
    assert backstory_step(0, cands, verds, 3) == Sample(0, 1)
    cands["0/1"] = _cand(0, 1)
    verds["0/1"] = Verdict(True)
    b = backstory_step(0, cands, verds, 3)
    assert isinstance(b, Backstory)
    assert (b.id, b.attempts, b.accepted, b.rejected_texts) == ("id01", 2, True, ("text 0/0",))
    assert [v.reason for v in b.verdicts] == ["gibberish", ""]


def test_backstory_step_keeps_the_last_rejected_attempt_with_its_reason():
    cands = {f"3/{a}": _cand(3, a) for a in range(2)}
    verds = {"3/0": Verdict(False, "too_short"), "3/1": Verdict(False, "incoherent")}
    b = backstory_step(3, cands, verds, 2)
    assert isinstance(b, Backstory)
    assert (b.accepted, b.reason, b.attempts, b.text) == (False, "incoherent", 2, "text 3/1")


# -- the plan ---------------------------------------------------------------------


def _tiny(name: str = "tiny.yaml", **over: object) -> StudySpec:
    spec = load_spec(STUDIES / name)
    raw = spec.model_dump(mode="json")
    for k, v in over.items():
        raw[k] = v
    return StudySpec.model_validate(raw)


def test_plan_starts_with_attempt_zero_of_every_persona_and_unique_keys():
    spec = _tiny()
    plan = plan_backstories(spec, {}, {})
    assert [u.key for u in plan.units] == [f"{i}/0" for i in range(spec.backstories.count)]
    assert {u.stage for u in plan.units} == {"backstory"}
    assert all(u.request.settings.critic.enabled for u in plan.units)
    assert not plan.complete


def test_survey_plan_has_one_unit_per_persona_respondent_and_partisan():
    spec = _tiny()
    from silico.pipeline.runner import load_humans

    humans = load_humans(spec)
    personas = [Backstory(f"p{k}", "I live in Ohio.", k, 9, 1, True) for k in range(5)]
    party = np.zeros((5, 8))
    party[:, 0] = 1.0  # every persona a strong Democrat
    plan = plan_survey(spec, humans, personas, {"party": party})
    keys = [u.key for u in plan.units]
    assert len(keys) == len(set(keys))
    assert keys[:5] == [f"anthology/{k}" for k in range(5)]
    assert sum(k.startswith("qa/") for k in keys) == humans.n
    assert all(u.request.estimator == spec.survey.estimator for u in plan.units)
    ho = [k for k in keys if k.startswith("higher_order/")]
    assert len(ho) == len(plan.higher_order_units)
    demo = plan_demographics(spec, personas)
    assert [u.key for u in demo] == [f"persona/{k}" for k in range(5)]


# -- the orchestrator's state machine -------------------------------------------------


class _Recorder:
    """A producer that keeps what was sent (topic, key, WorkItem)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []
        self.topics: set[str] = set()  # every stage ever sent to

    def send(self, topic: str, key: str, value: bytes) -> None:
        self.sent.append((topic, key, value))
        self.topics.add(topic.split(".")[0])


def _compute(stage: str, lm: ScriptedLM):
    """The workers' own compute, every route answered by ``lm``."""
    return unit_compute(stage, Router(lambda *_: lm, ModelRoute(base_url="http://m/v1", name="m")))


def _pump(orch: Orchestrator, store: Store, lm: ScriptedLM, study_id: str) -> int:
    """Tick until the study ends; every sent unit is done through the workers' handler."""
    handlers = {
        s: unit_handler(s, store, _compute(s, lm))
        for s in ("backstory", "critic", "demographics", "survey")
    }
    rounds = 0
    while store.get_study(study_id).state in ("queued", "running"):
        rounds += 1
        assert rounds < 200, "the orchestrator stopped making progress"
        orch.tick(study_id)
        sent, orch.producer.sent = orch.producer.sent, []
        for topic, _, value in sent:
            handlers[topic.split(".")[0]](value)
        orch.resync()  # done units are stored now; nothing is redelivered early
    return rounds


def assert_same_headline(doc: dict, local) -> None:
    """The orchestrated study's metrics document equals the in-process result."""
    head = {r["method"]: r for r in doc["headline"]}
    for _, row in headline(local).iterrows():
        for m in ("wd", "frobenius", "cbs", "alpha_virtual", "wd_low", "wd_high"):
            a, b = head[row["method"]][m], row[m]
            assert (a is None and np.isnan(b)) or a == pytest.approx(b, abs=1e-6), (m, row)
    assert doc["n_personas"] == len(local.accepted())


@pytest.mark.parametrize("study", ["tiny.yaml", "interview_tiny.yaml"])
def test_orchestrated_study_equals_in_process(study, tmp_path):
    spec = _tiny(study)
    store = Store(f"sqlite:///{tmp_path / 'silico.db'}")
    orch = Orchestrator(store, _Recorder(), reports_dir=tmp_path / "reports")
    st = store.create_study(spec.name, yaml.safe_dump(spec.model_dump(mode="json")))
    _pump(orch, store, ScriptedLM(), st.id)
    assert store.get_study(st.id).state == "succeeded", store.get_study(st.id).error
    doc = store.get_result(st.id, "metrics", "report")
    local = run_study(spec, ScriptedLM())
    assert_same_headline(doc, local)
    assert [b.id for b in orch.last_result.backstories] == [b.id for b in local.backstories]
    if spec.higher_order is not None:
        dist = {(g["item"], g["party"], g["gap"]): g["value"] for g in doc["higher_order"]["gaps"]}
        for g in local.higher_order["gaps"]:
            v = dist[(g["item"], g["party"], g["gap"])]
            assert (v is None and np.isnan(g["value"])) or v == pytest.approx(g["value"])
    # Progress is reported in the registry's words.
    assert set(orch.progress.get(st.id, {})) <= {
        "backstory",
        "demographics",
        "matching",
        "survey",
        "metrics",
    }
    assert (tmp_path / "reports" / st.id / "report.html").is_file()


def test_a_unit_that_can_never_succeed_fails_its_study_naming_it(tmp_path):
    spec = _tiny()
    store = Store(f"sqlite:///{tmp_path / 'silico.db'}")
    orch = Orchestrator(store, _Recorder(), reports_dir=tmp_path / "reports")
    st = store.create_study(spec.name, yaml.safe_dump(spec.model_dump(mode="json")))
    orch.tick(st.id)
    assert store.get_study(st.id).state == "running"
    done = events_pb2.WorkDone.FromString(
        announce("backstory")(f"{st.id}|3/0", "settings.max_tokens: must be >= 1")
    )
    assert not done.ok and done.unit_key == "3/0"
    orch.unit_failed(done)
    s = store.get_study(st.id)
    assert s.state == "failed" and "backstory unit 3/0" in s.error and "max_tokens" in s.error


def test_units_are_not_resent_before_redeliver_after_but_are_after_a_resync(tmp_path):
    spec = _tiny()
    store = Store(f"sqlite:///{tmp_path / 'silico.db'}")
    orch = Orchestrator(store, _Recorder(), reports_dir=tmp_path / "r", redeliver_after=3600)
    st = store.create_study(spec.name, yaml.safe_dump(spec.model_dump(mode="json")))
    orch.tick(st.id)
    first = len(orch.producer.sent)
    assert first == spec.backstories.count
    orch.tick(st.id)
    assert len(orch.producer.sent) == first
    orch.resync()
    orch.tick(st.id)
    assert len(orch.producer.sent) == 2 * first
    topic, key, value = orch.producer.sent[0]
    item = events_pb2.WorkItem.FromString(value)
    assert topic == "backstory.requests.v1" and key == f"{st.id}|0/0"
    assert item.WhichOneof("task") == "backstory" and item.unit_key == "0/0"


# -- the servicers are the unit functions ---------------------------------------------


def _answer_request(**kw: object) -> survey_pb2.AnswerRequest:
    from silico.convert import item_to_proto
    from silico.core.prompts import Item

    it = Item("q1", "Do you agree?", ("Agree", "Neutral", "Disagree"))
    base = {"context": "I am a nurse.", "items": [item_to_proto(it)], "orders": ["identity"]}
    return survey_pb2.AnswerRequest(**{**base, **kw})


def test_servicers_return_exactly_what_the_unit_functions_return():
    m = Models(ScriptedLM())
    req = _answer_request(orders=["identity", "reversed"])
    assert SurveyServicer(m).Answer(req, None) == answer(m, req)
    dreq = demographics_pb2.AnnotateRequest(backstory="I am 30.", traits=["age", "party"])
    assert DemographicsServicer(m).Annotate(dreq, None) == demographics(m, dreq)
    creq = critic_pb2.ReviewRequest(text="asdf qwer zxcv " * 10)
    v = CriticServicer(m).Review(creq, None)
    assert v == review(m, creq) and not v.accepted


@pytest.mark.parametrize(
    ("req", "field"),
    [
        (_answer_request(estimator="guess"), "estimator"),
        (_answer_request(orders=["sideways"]), "orders"),
        (_answer_request(context=" "), "context"),
        (_answer_request(min_compliance=2.0), "min_compliance"),
    ],
)
def test_bad_survey_requests_name_the_field(req, field):
    with pytest.raises(ValidationError) as e:
        SurveyServicer(Models(ScriptedLM())).Answer(req, None)
    assert e.value.field == field


class _CountingCritic(ScriptedLM):
    def __init__(self) -> None:
        super().__init__()
        self.scored: list[str] = []

    def text_logprob(self, contexts, texts, stage="critic"):  # type: ignore[no-untyped-def]
        self.scored += list(texts)
        return super().text_logprob(contexts, texts, stage)


def test_interview_answers_are_reviewed_by_the_critic_model_not_the_writer():
    """A backstory unit in interview mode writes with the backstory model and asks the
    critic role's model about each answer (the GPU profile's base vs instruct)."""
    spec = _tiny("interview_tiny.yaml", critic={"min_coherence": -4.0})
    unit = plan_backstories(spec, {}, {}).units[0]
    writer, critic = _CountingCritic(), _CountingCritic()
    r = do_unit("backstory", Models(writer, critic), unit.request)
    assert len(r.interview.verdicts) >= 10 and r.interview.accepted
    assert len(critic.scored) == len(r.interview.verdicts) and not writer.scored
    assert writer.prompts and not critic.prompts  # only the writer wrote


def test_without_a_critic_the_plan_decides_the_length_rule_itself(tmp_path):
    """No critic units at all: a deployment without a critic worker still finishes."""
    spec = _tiny(critic={"enabled": False})
    store = Store(f"sqlite:///{tmp_path / 'silico.db'}")
    orch = Orchestrator(store, _Recorder(), reports_dir=tmp_path / "reports")
    st = store.create_study(spec.name, yaml.safe_dump(spec.model_dump(mode="json")))
    _pump(orch, store, ScriptedLM(), st.id)
    assert store.get_study(st.id).state == "succeeded"
    assert store.result_keys(st.id, "critic") == set()
    assert "critic" not in orch.producer.topics
    local = run_study(spec, ScriptedLM())
    assert [b.id for b in orch.last_result.backstories] == [b.id for b in local.backstories]


def test_sampled_demographics_keep_their_recorded_seeds():
    """The stage was renamed (annotate -> demographics); the seeds of sampled answers
    were not, so recorded studies replay and hit the response cache as before."""
    from silico.core.prompts import demographic_item
    from silico.pipeline.stages import annotate, score_items

    probs, _ = annotate(ScriptedLM(), ["I am 30."], ["party"], "sampled", samples=5, seed=11)
    got = probs["party"][0]

    def keyed(stage: str) -> np.ndarray:
        item = demographic_item("party")
        sc = score_items(
            ScriptedLM(), ["I am 30."], [item], estimator="sampled", samples=5, seed=11, stage=stage
        )
        return sc.probs[0, 0, : len(got)]

    assert np.allclose(got, keyed("annotate"))
    assert not np.allclose(got, keyed("demographics"))


def test_workers_drop_the_units_of_a_cancelled_study(tmp_path):
    spec = _tiny()
    store = Store(f"sqlite:///{tmp_path / 'silico.db'}")
    orch = Orchestrator(store, _Recorder(), reports_dir=tmp_path / "reports")
    st = store.create_study(spec.name, yaml.safe_dump(spec.model_dump(mode="json")))
    orch.tick(st.id)
    store.set_state(st.id, "cancelled", error="cancelled by request")
    lm = ScriptedLM()
    handle = unit_handler("backstory", store, _compute("backstory", lm))
    for _, _, value in orch.producer.sent:
        assert handle(value)[1]  # acknowledged as done...
    assert lm.prompts == [] and store.result_keys(st.id, "backstory") == set()  # ...not done
    orch.producer.sent.clear()
    orch.tick(st.id)
    assert orch.producer.sent == []  # and nothing more is sent


def test_a_study_never_has_more_than_max_in_flight_units_out(tmp_path):
    spec = _tiny()
    store = Store(f"sqlite:///{tmp_path / 'silico.db'}")
    orch = Orchestrator(store, _Recorder(), reports_dir=tmp_path / "r", max_in_flight=5)
    st = store.create_study(spec.name, yaml.safe_dump(spec.model_dump(mode="json")))
    orch.tick(st.id)
    orch.tick(st.id)
    assert len(orch.producer.sent) == 5  # 14 personas due, 5 at most out
    handle = unit_handler("backstory", store, _compute("backstory", ScriptedLM()))
    for _, _, value in orch.producer.sent[:3]:
        handle(value)
    orch.producer.sent.clear()
    orch.tick(st.id)
    # 3 came back (each now needs its review), 2 are still out: 3 more may go.
    assert len(orch.producer.sent) == 3
    # And the study still finishes with the same backstories as in-process.
    _pump(orch, store, ScriptedLM(), st.id)
    assert store.get_study(st.id).state == "succeeded"


def test_the_data_path_is_checked_again_when_the_orchestrator_loads_it(tmp_path):
    """Submitted with data in the tenant's folder; by the time the orchestrator loads it,
    the file is a symlink out of the folder: the study fails, nothing is read."""
    import shutil

    from silico.platform.tenancy import Tenancy

    data = tmp_path / "tenants" / "lab"
    shutil.copytree(REPO / "data" / "cces_2018_sample", data)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(REPO / "data" / "cces_2018_sample", elsewhere)
    spec = load_spec(STUDIES / "tiny.yaml", data)
    store = Store(f"sqlite:///{tmp_path / 'silico.db'}")
    tenancy = Tenancy(store, auth=True, data_root=tmp_path / "tenants")
    tenancy.check_data("lab", spec)  # fine at submission
    orch = Orchestrator(
        store, _Recorder(), reports_dir=tmp_path / "r", data_check=tenancy.check_data
    )
    st = store.create_study(spec.name, yaml.safe_dump(spec.model_dump(mode="json")), "lab")
    csv = Path(spec.data.csv)
    csv.unlink()
    csv.symlink_to(elsewhere / csv.name)
    orch.tick(st.id)
    s = store.get_study(st.id)
    assert s.state == "failed" and "outside this tenant's data folders" in s.error
    assert orch.producer.sent == []


def test_an_empty_candidate_is_too_short_not_an_error():
    """An empty generation goes through the length check (a verdict that ends the
    attempt), never to the critic as a blank text that raises and loops."""
    m = Models(ScriptedLM())
    for text in ("", " ", "\n\n"):
        req = critic_pb2.ReviewRequest(text=text, check_length=True, generated_tokens=0)
        v = review(m, req)
        assert not v.accepted and v.reason == "too_short"


def test_one_tenant_cannot_fill_the_queue_in_front_of_the_others(tmp_path):
    """Per study at most max_in_flight units are out, per tenant at most
    max_in_flight_tenant over all its studies; another tenant is not held back."""
    spec = _tiny()
    text = yaml.safe_dump(spec.model_dump(mode="json"))
    store = Store(f"sqlite:///{tmp_path / 'silico.db'}")
    orch = Orchestrator(
        store, _Recorder(), reports_dir=tmp_path / "r", max_in_flight=10, max_in_flight_tenant=16
    )
    a1 = store.create_study(spec.name, text, tenant="a")
    a2 = store.create_study(spec.name, text, tenant="a")
    b1 = store.create_study(spec.name, text, tenant="b")
    for st in (a1, a2, b1):
        orch.tick(st.id)
    per_study = {}
    for _, key, _ in orch.producer.sent:
        sid = key.split("|")[0]
        per_study[sid] = per_study.get(sid, 0) + 1
    assert per_study[a1.id] == 10 and per_study[a2.id] == 6  # tenant a: 16 in all
    assert per_study[b1.id] == 10  # tenant b has its own budget
