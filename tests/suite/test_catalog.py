"""Suites by name from any folder: shipped ones, $EVALKIT_SUITES before them, `evalkit suites list/show`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.errors import ConfigError
from evalkit.suite.catalog import list_suites
from evalkit.suite.loader import SUITES_ROOT, find_suite_dir, load_suite

REPO = Path(__file__).resolve().parents[2]
SHIPPED = {"general-knowledge": 500, "gk-mc": 500, "ifeval-lite": 541, "ifeval-lm": 541,
           "support-replies": 40, "support-triage": 160}
# A suite whose data changed has a new version (committed baselines check it); an old
# version string keeps meaning the old data.
VERSIONS = {"general-knowledge": "2", "gk-mc": "3", "ifeval-lite": "2", "ifeval-lm": "2",
            "support-replies": "1", "support-triage": "1"}


@pytest.fixture()
def elsewhere(tmp_path, monkeypatch) -> Path:
    """A working directory with no suites/ folder, and no $EVALKIT_SUITES."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVALKIT_SUITES", raising=False)
    return tmp_path


def _mine(folder: Path, name: str, n: int) -> Path:
    rows = [{"id": f"m{i}", "input": f"q{i}", "target": "a"} for i in range(n)]
    spec = {"name": name, "kind": "task", "data": "data.jsonl", "scorers": [{"name": "exact_match"}]}
    (folder / name).mkdir(parents=True)
    (folder / name / "data.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / name / "suite.yaml").write_text(yaml.safe_dump(spec))
    return folder / name


def test_shipped_suites_live_in_the_package_and_the_repo_link_points_there():
    assert SUITES_ROOT == REPO / "evalkit" / "suites"
    assert sorted(p.parent.name for p in SUITES_ROOT.glob("*/suite.yaml")) == sorted(SHIPPED)
    link = REPO / "suites"
    assert link.is_symlink() and os.readlink(link) == "evalkit/suites"
    assert (link / "support-triage" / "test.jsonl").resolve() == SUITES_ROOT / "support-triage" / "test.jsonl"


def test_a_shipped_suite_loads_by_name_from_another_folder(elsewhere):
    suite = load_suite("support-triage", build_scorers=False)
    assert suite.folder == SUITES_ROOT / "support-triage"
    assert len(suite.samples) == 160


def test_evalkit_suites_is_searched_before_the_shipped_suites(elsewhere, monkeypatch):
    first, second = elsewhere / "first", elsewhere / "second"
    _mine(first, "support-triage", 3)  # shadows the shipped one
    _mine(second, "support-triage", 5)
    _mine(second, "only-mine", 4)
    monkeypatch.setenv("EVALKIT_SUITES", os.pathsep.join([str(first), str(second)]))
    assert find_suite_dir("support-triage") == first / "support-triage"
    assert len(load_suite("support-triage", build_scorers=False).samples) == 3
    assert len(load_suite("only-mine", build_scorers=False).samples) == 4
    entries = {e.name: e for e in list_suites()}
    assert entries["support-triage"].source == str(first) and entries["support-triage"].samples == 3
    assert entries["only-mine"].source == str(second)
    assert entries["gk-mc"].source == "shipped"


def test_unknown_suite_names_where_it_looked_and_a_missing_search_folder(elsewhere, monkeypatch):
    monkeypatch.setenv("EVALKIT_SUITES", str(elsewhere / "nope"))
    with pytest.raises(ConfigError) as info:
        find_suite_dir("no-such-suite")
    assert str(SUITES_ROOT) in info.value.message
    assert "support-triage" in info.value.hint and str(elsewhere / "nope") in info.value.hint


def test_cli_suites_list_json_counts_every_shipped_suite(elsewhere):
    result = CliRunner().invoke(app, ["suites", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert {name: entries[name]["samples"] for name in SHIPPED} == SHIPPED
    assert entries["gk-mc"]["kind"] == "lm-eval" and entries["support-triage"]["kind"] == "task"
    assert all(entries[name]["description"] for name in SHIPPED)
    assert {name: entries[name]["version"] for name in SHIPPED} == VERSIONS


def test_cli_suites_list_table_and_a_broken_user_suite(elsewhere, monkeypatch):
    broken = elsewhere / "mine" / "broken"
    broken.mkdir(parents=True)
    (broken / "suite.yaml").write_text("name: broken\nkind: nonsense\n")
    monkeypatch.setenv("EVALKIT_SUITES", str(elsewhere / "mine"))
    result = CliRunner().invoke(app, ["suites", "list"])
    assert result.exit_code == 0, result.output
    assert "support-triage" in result.output and "160" in result.output
    assert "unreadable" in result.output and "broken" in result.output


def test_cli_suites_show_gives_spec_data_count_and_provenance(elsewhere):
    result = CliRunner().invoke(app, ["suites", "show", "support-triage", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["samples"] == 160 and doc["data"] == str(SUITES_ROOT / "support-triage" / "test.jsonl")
    assert doc["spec"]["metric"] == "triage_exact" and "build_data.py" in doc["provenance"]
    table = CliRunner().invoke(app, ["suites", "show", "gk-mc"])
    assert table.exit_code == 0, table.output
    assert "samples: 500" in table.output and "gk_mc.jsonl" in table.output and "tasks:" in table.output


@pytest.mark.parametrize("args", [["suites", "show", "no-such-suite"], ["suites", "list", "--format", "xml"]])
def test_cli_suites_bad_input_exits_2_with_a_message(elsewhere, args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output
