"""Several suites at once: one that cannot run here is set aside with its reason; the others load."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from evalkit.api import run_model
from evalkit.errors import ConfigError
from evalkit.models.spec import ModelSpec
from evalkit.suite.select import load_suites

SUITES = Path(__file__).resolve().parents[2] / "suites"
JUDGED = str(SUITES / "support-replies")  # needs ANTHROPIC_API_KEY
REASON = "judge not run: ANTHROPIC_API_KEY is not set"


@pytest.fixture()
def no_key(monkeypatch, isolated_home):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


def test_a_skipped_suite_is_returned_with_its_reason_and_the_others_load(no_key):
    loaded, skipped = load_suites([JUDGED, "general-knowledge"], limit=3)
    assert [s.name for s in loaded] == ["general-knowledge"]
    assert len(loaded[0].samples) == 3
    assert skipped == [(JUDGED, REASON)]


def test_run_model_hands_each_skip_to_the_notice_and_refuses_when_none_can_run(no_key):
    notices = []
    with pytest.raises(ConfigError, match="no suite could run"):
        run_model(ModelSpec(base="unused"), suites=[JUDGED], notice=lambda *n: notices.append(n))
    assert notices == [(JUDGED, REASON)]


def test_run_model_without_a_notice_callback_warns_instead_of_printing(no_key, capsys, monkeypatch):
    from evalkit import notices

    monkeypatch.setattr(notices, "_listener", None)  # as for a library caller: no CLI listening
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ConfigError):
        warnings.simplefilter("always")
        run_model(ModelSpec(base="unused"), suites=[JUDGED])
    assert [str(w.message) for w in caught] == [f"skipped {JUDGED}: {REASON}"]
    assert capsys.readouterr() == ("", "")


def test_the_cli_prints_the_skip_notice_then_the_error(no_key, tmp_path):
    from typer.testing import CliRunner

    from evalkit.cli import app

    spec = tmp_path / "model.yaml"
    spec.write_text("base: unused\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(spec), "--suite", JUDGED])
    assert result.exit_code == 2
    assert f"skipped {JUDGED}: {REASON}" in " ".join(result.output.split())
    assert "no suite could run (see the notices above)." in result.output
