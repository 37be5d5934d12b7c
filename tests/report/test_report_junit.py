"""JUnit XML: gate rules or suite verdicts as test cases; always well-formed XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from evalkit.report.junit import write_junit


def _cases(path: Path) -> list[ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return root.findall("./testsuite/testcase")


def test_one_case_per_gate_rule(tmp_path: Path, comparison: dict) -> None:
    path = write_junit(comparison, tmp_path / "junit.xml")
    cases = _cases(path)
    assert [c.get("name") for c in cases] == ["support-triage min_score", "general-knowledge max_regression"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == comparison["gate"]["rules"][1]["message"]
    root = ET.parse(path).getroot()
    assert root.get("tests") == "2" and root.get("failures") == "1"


def test_without_gate_one_case_per_verdict(tmp_path: Path, comparison: dict) -> None:
    comparison["gate"] = None
    cases = _cases(write_junit(comparison, tmp_path / "junit.xml"))
    assert len(cases) == 6
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["general-knowledge [tuned]"]


def test_skipped_suite_is_reported_skipped(tmp_path: Path, comparison: dict) -> None:
    comparison["gate"] = None
    comparison["suites"][2]["skipped"] = "judge not run: ANTHROPIC_API_KEY is not set"
    cases = _cases(write_junit(comparison, tmp_path / "junit.xml"))
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(skipped) == 1 and skipped[0].find("skipped").get("message").startswith("judge not run")


def test_hostile_text_still_parses(tmp_path: Path, comparison: dict) -> None:
    nasty = "bad \x00\x08\x1b ]]> <![CDATA[ </failure> & \ud800 \ufffe end"
    comparison["gate"]["rules"][1]["message"] = nasty
    comparison["gate"]["rules"][1]["name"] = "rule \x01 <x>"
    path = write_junit(comparison, tmp_path / "out" / "junit.xml")
    cases = _cases(path)
    message = cases[1].find("failure").get("message")
    assert "]]> <![CDATA[ </failure> & " in message
    assert cases[1].get("name") == "rule ␁ <x>"


def test_passing_gate_has_no_failures(tmp_path: Path, comparison: dict) -> None:
    rule = {"name": "ok", "suite": "x", "passed": True, "message": "m"}
    comparison["gate"] = {"passed": True, "rules": [rule]}
    root = ET.parse(write_junit(comparison, tmp_path / "j.xml")).getroot()
    assert root.get("failures") == "0" and len(root.findall(".//failure")) == 0
