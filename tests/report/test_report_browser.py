"""The report in a real headless Chromium, driven over the DevTools protocol.

Needs the Debian ``chromium`` package (installed here with apt-get when missing
and running as root) and the ``websocket-client`` pip package. When either is
unavailable the tests fail: they are never skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

BENCH_SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "screenshot_report.py"
ERROR_EVENTS = {"Runtime.exceptionThrown"}


def _load_driver() -> ModuleType:
    spec = importlib.util.spec_from_file_location("evalkit_bench_screenshot_report", BENCH_SCRIPT)
    assert spec and spec.loader, f"cannot load {BENCH_SCRIPT}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _ensure_chromium(driver: ModuleType) -> str:
    found = driver.find_chromium()
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run([apt, "update", "-q"], env=env, check=False, timeout=600, capture_output=True)
        subprocess.run([apt, "install", "-y", "-q", "chromium"], env=env, check=False, timeout=1200,
                       capture_output=True)
        found = driver.find_chromium()
    if not found:
        pytest.fail("headless Chromium is required for the report browser test and could not be installed: "
                    "run `apt-get install -y chromium`")
    return found


@pytest.fixture(scope="module")
def page(report_path: Path) -> Iterator[Any]:
    """The synthetic report loaded in headless Chromium, all figures drawn."""
    driver = _load_driver()
    try:
        import websocket  # noqa: F401  (websocket-client)
    except ImportError:
        pytest.fail("the browser test needs the websocket-client package: pip install websocket-client")
    browser = driver.ChromiumPage(binary=_ensure_chromium(driver), width=1280, height=900, timeout=90)
    try:
        browser.navigate(report_path.resolve().as_uri())
        browser.wait_for("document.body && document.body.getAttribute('data-plots-ready')", timeout=90)
        yield browser
    finally:
        browser.close()


def _visible_flips(page: Any) -> int:
    return page.evaluate("document.querySelectorAll('#flip-list .flip:not([hidden])').length")


def _set_flip_filters(page: Any, **values: str) -> None:
    script = """(function (values) {
      ['suite', 'arm', 'direction', 'category'].forEach(function (key) {
        var sel = document.getElementById('flip-' + key);
        sel.value = values[key] || '';
        sel.dispatchEvent(new Event('change'));
      });
      var search = document.getElementById('flip-search');
      search.value = values.search || '';
      search.dispatchEvent(new Event('input'));
    })(VALUES)""".replace("VALUES", json.dumps(values))
    page.evaluate(script)


def test_page_loads_without_errors(page: Any) -> None:
    errors = [params for method, params in page.events if method in ERROR_EVENTS]
    errors += [params for method, params in page.events
               if method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}]
    errors += [params for method, params in page.events
               if method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error"]
    assert errors == []
    assert page.evaluate("document.body.getAttribute('data-plots-ready')") == "8"


def test_charts_rendered(page: Any) -> None:
    drawn = page.evaluate("Array.from(document.querySelectorAll('.js-plotly-plot'))"
                          ".filter(function (d) { return d.querySelector('.main-svg'); }).length")
    assert drawn == 8
    assert page.evaluate("document.querySelectorAll('.js-plotly-plot .main-svg').length") >= 8
    assert page.evaluate("document.querySelectorAll('#fig-score-0 .bars .point').length") == 3
    assert page.evaluate("document.querySelectorAll('#fig-forest-binary .scatterlayer .point').length") == 4
    legend = page.evaluate("document.getElementById('fig-history').querySelector('.legend').textContent")
    assert 'gk<img src=x onerror="window.__pwned=4">' in legend  # shown as text, not markup


def test_planted_script_did_not_run(page: Any, hostile: SimpleNamespace) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.querySelectorAll('img, [onerror], [onmouseover]').length") == 0
    assert page.evaluate("document.scripts.length") == 3
    texts = page.evaluate("Array.from(document.querySelectorAll('pre.t'))"
                          ".map(function (p) { return p.textContent; })"
                          ".filter(function (t) { return t.indexOf('__pwned') >= 0; })")
    assert hostile.pwn in texts
    assert any(t.startswith("</script><script>window.__pwned=3</script>␀␇␛") for t in texts)


def test_no_network_requests(page: Any) -> None:
    urls = [params.get("request", {}).get("url", "") for method, params in page.events
            if method == "Network.requestWillBeSent"]
    assert urls, "the page load itself should be seen"
    assert all(url.split(":", 1)[0] in {"file", "data", "blob", "about"} for url in urls), urls


def test_flip_filter(page: Any, comparison: dict) -> None:
    flips = comparison["flips"]
    _set_flip_filters(page)
    assert _visible_flips(page) == len(flips)

    _set_flip_filters(page, suite="support-triage", arm="tuned", direction="pass_to_fail")
    expected = [f for f in flips if (f["suite"], f["arm"], f["direction"]) == ("support-triage", "tuned",
                                                                               "pass_to_fail")]
    assert 0 < len(expected) < len(flips)
    assert _visible_flips(page) == len(expected)
    assert page.evaluate("document.getElementById('flip-count').textContent") == \
        f"{len(expected)} of {len(flips)} shown"

    hostile_category = next(f["category"] for f in flips if "<b" in f["category"])
    _set_flip_filters(page, category=hostile_category)
    assert _visible_flips(page) == sum(1 for f in flips if f["category"] == hostile_category) > 0

    _set_flip_filters(page, search="WINDOW.__PWNED=1<")
    assert _visible_flips(page) == 1  # the planted output, found case-insensitively
    fields = ("category", "input", "reference_output", "candidate_output")
    _set_flip_filters(page, search="__pwned")
    assert _visible_flips(page) == sum(1 for f in flips if any("__pwned" in str(f[k]) for k in fields)) > 2

    _set_flip_filters(page, suite="general-knowledge", search="no such text anywhere")
    assert _visible_flips(page) == 0
    assert page.evaluate("document.getElementById('flip-count').textContent") == f"0 of {len(flips)} shown"
    _set_flip_filters(page)
    assert _visible_flips(page) == len(flips)


def test_show_all_toggle(page: Any, hostile: SimpleNamespace) -> None:
    result = page.evaluate("""(function () {
      var pre = Array.from(document.querySelectorAll('#samples pre.full'))
        .filter(function (p) { return p.textContent.length > 1000000; })[0];
      var box = pre.parentNode, btn = box.querySelector('button.toggle');
      var before = [pre.hidden, box.querySelector('.preview').hidden];
      btn.click();
      var after = [pre.hidden, box.querySelector('.preview').hidden, btn.textContent];
      btn.click();
      return {before: before, after: after, length: pre.textContent.length, label: btn.textContent};
    })()""")
    assert result["before"] == [True, False]
    assert result["after"] == [False, True, "show less"]
    assert result["length"] == len(hostile.big)
    assert result["label"].startswith("show all")


def test_sample_table_filters(page: Any) -> None:
    counts = page.evaluate("""(function () {
      var box = document.querySelector('details.suite-samples');
      var rows = function () { return box.querySelectorAll('tr.sample-row:not([hidden])').length; };
      var all = rows(), check = box.querySelector('.sample-disagree');
      check.checked = true; check.dispatchEvent(new Event('change'));
      var disagree = rows();
      check.checked = false; check.dispatchEvent(new Event('change'));
      var search = box.querySelector('.sample-search');
      search.value = 'su-0003'; search.dispatchEvent(new Event('input'));
      var found = rows();
      search.value = ''; search.dispatchEvent(new Event('input'));
      return [all, disagree, found, box.querySelectorAll('tr.sample-row[data-disagree="1"]').length];
    })()""")
    total, disagree, found, flagged = counts
    assert total == 40
    assert 0 < disagree == flagged < total
    assert found == 1


def test_screenshot(page: Any, tmp_path: Path) -> None:
    shot = page.screenshot(tmp_path / "report.png", max_height=5000)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000


def test_bench_script_cli(report_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "docs" / "shot.png"
    command = [sys.executable, str(BENCH_SCRIPT), str(report_path), str(out), "--max-height", "1200"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"
