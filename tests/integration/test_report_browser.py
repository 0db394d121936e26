"""The report in a browser: a study's report.html opened in headless Chromium at a
laptop's size, as a researcher would first see it.

The study is the tiny one on the scripted model (seconds): this is about how
the page renders, not about the numbers. The checks and the screenshot are
those of ``tools/screenshot_report.py``; set ``SILICO_REPORT_SHOT`` to keep the
full-page screenshot somewhere of your choosing.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    path = REPO / "tools" / "screenshot_report.py"
    spec = importlib.util.spec_from_file_location("screenshot_report", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


shot_tool = _tool()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from silico.pipeline.runner import run_study
    from silico.pipeline.spec import parse_spec
    from silico.report import write_report
    from tests.scripted import ScriptedLM

    why = shot_tool.missing()
    if why:
        pytest.skip(f"no headless browser: {why}")
    raw = yaml.safe_load((REPO / "pipelines/studies/tiny.yaml").read_text())
    raw["critic"] = {"min_coherence": -3.0}
    raw["conditioning"] = ["anthology", "qa", "bio", "portray"]
    result = run_study(parse_spec(raw, REPO / "pipelines/studies"), ScriptedLM())
    out = write_report(result, tmp_path_factory.mktemp("browser") / "rep").path
    return result, out


@pytest.fixture(scope="module")
def seen(report, tmp_path_factory):
    _, out = report
    shot = Path(
        os.environ.get("SILICO_REPORT_SHOT") or tmp_path_factory.mktemp("shot") / "report.png"
    )
    return shot_tool.inspect_report(out, shot), shot


def test_every_image_loads_and_every_table_has_rows(seen):
    check, _ = seen
    assert len(check.images) >= 4
    assert [i["figure"] for i in check.images if i["w"] <= 0] == []
    assert all(i["shown"] > 0 for i in check.images)
    assert check.tables and [t["head"] for t in check.tables if t["rows"] < 1] == []


def test_no_console_or_page_errors(seen):
    check, _ = seen
    assert check.console_errors == [] and check.page_errors == []


def test_the_within_noise_plot_is_the_first_figure_and_above_the_fold(seen):
    check, _ = seen
    assert check.figures[0] == shot_tool.FIRST_FIGURE
    assert check.first_figure_top < shot_tool.VIEWPORT["height"]
    first = check.images[0]
    assert first["figure"] == shot_tool.FIRST_FIGURE and "within noise" in first["alt"].lower()


def test_the_page_fits_a_laptop_and_passes_the_tools_own_checks(seen):
    check, _ = seen
    assert check.page_width <= shot_tool.VIEWPORT["width"]
    assert check.problems() == []


def test_no_option_label_is_truncated(report, seen):
    """Each option under its bars reads in full (the alt text is read back from the
    drawn tick labels), and the page names each item by its question."""
    result, _ = report
    check, _ = seen
    dist = next(i for i in check.images if i["figure"] == "fig-distributions")
    for it in result.humans.items:
        drawn = " | ".join(" ".join(o.split()) for o in it.options)
        assert f"options {drawn}" in dist["alt"], it.id
        for o in it.options:
            assert " ".join(o.split()) in check.text
    words = " ".join(check.text.split())
    assert "Over the past few years, blacks have gotten less than they deserve." in words


def test_a_full_page_screenshot_is_saved(seen):
    _, shot = seen
    data = Path(shot).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == shot_tool.VIEWPORT["width"] and height > shot_tool.VIEWPORT["height"]
