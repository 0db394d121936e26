"""Everything that repeats the stage list agrees with ``silico.pipeline.registry``.

The chart, the service folders and the README each name the stages again
(Helm and Markdown cannot import Python), so these tests read them as text,
YAML or JSON and compare with the registry: add or rename a stage there and
every copy that was not updated fails here, without a cluster or the helm
binary. ``python tests/unit/test_registry.py`` prints the README's stage map.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from silico.llm.roles import ROLES
from silico.pipeline.registry import QUEUED, ROLE_NAMES, STAGES, Stage
from silico.runtime import kafka

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "silico"
README = ROOT / "README.md"
MAP_START = "<!-- stage-map:start -->"
MAP_END = "<!-- stage-map:end -->"


def stage_map_markdown() -> str:
    """The README's stage map, generated from the registry (pasted between the markers)."""

    def code(text: str) -> str:
        return f"`{text}`"

    rows = [
        "| stage | unit key | request topic | result topic | gRPC service | model role |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s in STAGES:
        request = code(s.requests_topic) if s.queued else "—"
        result = code(s.results_topic) if s.queued else "—"
        role = s.role or "—"
        rows.append(
            f"| {s.name} | {code(s.unit_key)} | {request} | {result} | {code(s.service)} | {role} |"
        )
    return "\n".join(rows)


def _values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def _ids(s: Stage) -> str:
    return s.name


# --- Kafka topics -------------------------------------------------------------


def test_kafka_topics_are_the_queued_stages_requests_results_and_dlq():
    expected = [
        t for s in STAGES if s.queued for t in (s.requests_topic, s.results_topic, s.dlq_topic)
    ]
    assert kafka.all_topics() == expected
    # The registry's topic names and the runtime's must be the same strings.
    assert list(kafka.STAGE_TOPICS) == list(QUEUED)


def test_chart_topic_list_names_the_queued_stages_in_order():
    text = (CHART / "templates" / "kafka-topics.yaml").read_text()
    m = re.search(r'\$stages\s*:=\s*list((?:\s+"[^"]*")*)\s*\}\}', text)
    assert m, "kafka-topics.yaml has no `$stages := list ...` line"
    assert re.findall(r'"([^"]*)"', m.group(1)) == list(QUEUED)


# --- model roles --------------------------------------------------------------


@pytest.mark.parametrize("profile", ["embedded", "gpu"])
def test_every_model_profile_has_exactly_the_registry_roles(profile):
    assert set(ROLES[profile]) == set(ROLE_NAMES)


def test_chart_values_map_exactly_the_registry_roles():
    assert set(_values()["models"]["roles"]) == set(ROLE_NAMES)


def test_chart_schema_requires_exactly_the_registry_roles():
    schema = json.loads((CHART / "values.schema.json").read_text())
    roles = schema["properties"]["models"]["properties"]["roles"]
    assert set(roles["required"]) == set(ROLE_NAMES)
    # additionalProperties: false turns a stale role in an overlay into a lint error.
    assert set(roles["properties"]) == set(ROLE_NAMES)


# --- one deployable per stage -------------------------------------------------


@pytest.mark.parametrize("s", STAGES, ids=_ids)
def test_every_stage_has_a_service_entry_point_that_runs_it(s):
    main = ROOT / "services" / s.module / "__main__.py"
    assert main.is_file(), f"missing {main.relative_to(ROOT)}"
    assert f'run_service("{s.name}"' in main.read_text()


@pytest.mark.parametrize("s", STAGES, ids=_ids)
def test_every_stage_has_a_chart_template_with_its_stage_and_role(s):
    template = CHART / "templates" / f"{s.module}.yaml"
    assert template.is_file(), f"missing {template.relative_to(ROOT)}"
    text = template.read_text()
    assert f'"module" "services.{s.module}"' in text
    # A stage argument gives the pod a Kafka worker and a KEDA trigger on
    # <stage>.requests.v1, so a stage that is not queued must pass "".
    assert f'"stage" "{s.name if s.queued else ""}"' in text
    assert f'"role" "{s.role}"' in text


@pytest.mark.parametrize("s", STAGES, ids=_ids)
def test_every_stage_has_a_services_section_in_the_chart_values(s):
    assert s.module in _values()["services"]


# --- the README's map ---------------------------------------------------------


def test_readme_stage_map_is_generated_from_the_registry():
    text = README.read_text()
    assert MAP_START in text and MAP_END in text, "README.md lost its stage-map markers"
    table = text.split(MAP_START, 1)[1].split(MAP_END, 1)[0].strip()
    assert table == stage_map_markdown(), (
        "README stage map is stale; paste `python tests/unit/test_registry.py` between the markers"
    )


# --- no stale stage names -----------------------------------------------------


def test_the_chart_does_not_name_the_retired_annotate_stage():
    # "annotate" was the demographics stage's old name; a leftover would be a
    # topic, role or service that nothing consumes.
    stale = [
        str(p.relative_to(ROOT))
        for p in sorted(CHART.rglob("*"))
        if p.is_file()
        and p.suffix in {".yaml", ".yml", ".tpl", ".json", ".txt"}
        and re.search(r"\bannotate\b", p.read_text())
    ]
    assert stale == []


if __name__ == "__main__":
    print(stage_map_markdown())
