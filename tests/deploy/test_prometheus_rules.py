"""The alert rules with Prometheus' own tool: ``promtool check rules`` (syntax, PromQL)
and ``promtool test rules`` (silico-rules.test.yaml: each alert fires where it should
and stays quiet where it should not)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES_DIR = (
    Path(__file__).resolve().parents[2] / "deploy" / "helm" / "silico" / "files" / "prometheus"
)
RULES = RULES_DIR / "silico-rules.yaml"
TESTS = RULES_DIR / "silico-rules.test.yaml"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install prometheus)"
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120
    )


@needs_promtool
def test_the_rule_file_is_valid():
    r = _promtool("check", "rules", RULES.name)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 4 rules found" in r.stdout


@needs_promtool
def test_the_alerts_pass_their_unit_tests():
    r = _promtool("test", "rules", TESTS.name)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_every_alert_has_a_firing_and_a_quiet_case():
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    cases = [c for t in yaml.safe_load(TESTS.read_text())["tests"] for c in t["alert_rule_test"]]
    firing = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert firing == alerts and quiet == alerts
