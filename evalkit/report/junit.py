"""JUnit XML for CI systems: one test case per gate rule, or per suite verdict when there is no gate."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from evalkit.compare.schema import Comparison, Verdict, as_comparison
from evalkit.report.text import fmt_ci, fmt_delta, xml_text


def _cases(comparison: Comparison) -> tuple[str, list[dict[str, Any]]]:
    """(suite name, [{"classname", "name", "failure" or None, "skipped" or None}])."""
    gate = comparison.gate
    if gate:
        cases = [{"classname": f"evalkit.gate.{rule.suite or 'all'}", "name": rule.name,
                  "failure": None if rule.passed else (rule.message or "gate rule failed"),
                  "skipped": None, "text": rule.message}
                 for rule in gate.rules]
        return "evalkit.gate", cases
    cases = []
    for suite in comparison.suites:
        classname = f"evalkit.suite.{suite.name}"
        if suite.skipped:
            cases.append({"classname": classname, "name": str(suite.name), "failure": None,
                          "skipped": suite.skipped, "text": None})
            continue
        for delta in suite.deltas:
            summary = (f"{delta.arm} on {suite.name}: {delta.verdict} "
                       f"({fmt_delta(delta.delta, suite.binary)} "
                       f"{fmt_ci(delta.low, delta.high, suite.binary, signed=True)})")
            cases.append({"classname": classname, "name": f"{suite.name} [{delta.arm}]",
                          "failure": summary if delta.verdict == Verdict.REGRESSED else None, "skipped": None,
                          "text": summary})
    return "evalkit.verdicts", cases


def junit_xml(comparison: Comparison | dict) -> str:
    """Return the JUnit XML document for ``comparison`` as a string."""
    comparison = as_comparison(comparison)
    suite_name, cases = _cases(comparison)
    failures = sum(1 for c in cases if c["failure"] is not None)
    skipped = sum(1 for c in cases if c["skipped"] is not None)
    total = comparison.metadata.timings.get("total_s")
    root = ET.Element("testsuites", name=xml_text(comparison.name or "evalkit"),
                      tests=str(len(cases)), failures=str(failures), errors="0", skipped=str(skipped))
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(cases)), failures=str(failures),
                          errors="0", skipped=str(skipped),
                          time=f"{float(total):.3f}" if isinstance(total, (int, float)) else "0")
    if comparison.created:
        suite.set("timestamp", xml_text(comparison.created))
    for case in cases:
        element = ET.SubElement(suite, "testcase", classname=xml_text(case["classname"]),
                                name=xml_text(case["name"]), time="0")
        if case["failure"] is not None:
            failure = ET.SubElement(element, "failure", message=xml_text(case["failure"]), type="evalkit")
            failure.text = xml_text(case["failure"])
        elif case["skipped"] is not None:
            ET.SubElement(element, "skipped", message=xml_text(case["skipped"]))
        elif case["text"]:
            ET.SubElement(element, "system-out").text = xml_text(case["text"])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(comparison: Comparison | dict, path: Path) -> Path:
    """Write JUnit XML for ``comparison`` to ``path`` and return it.

    With a gate, each gate rule is one ``<testcase>`` (``<failure>`` carries the
    rule's message when it failed). Without one, each suite × candidate verdict
    is a test case that fails when the verdict is ``regressed``; skipped suites
    are reported as ``<skipped>``.
    """
    from evalkit.runner.store import write_text_atomic

    return write_text_atomic(Path(path), junit_xml(comparison))
