"""Bad input matrix: every row runs the real CLI and expects a located message, exit code 2, no traceback.

Each case builds its files in a fresh folder and returns the CLI arguments and
the fragments the error message must contain (file, line, field, hint).
Cases that need a finished run or a baseline make one with the tiny model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from relkit import assert_usage_error, invoke, write_jsonl, write_yaml

ROWS = [{"id": f"q{i}", "input": f"What is {i} plus {i}?", "target": str(2 * i)} for i in range(4)]
SUITE = {
    "name": "mini",
    "data": "data.jsonl",
    "generation": {"max_new_tokens": 2},
    "scorers": [{"name": "exact_match"}],
}


@dataclass
class Env:
    """Where a case writes its files, and the tiny model to point specs at."""

    root: Path
    model_dir: Path
    adapter_dir: Path | None = None

    def spec(self, filename: str = "m.yaml", **fields) -> Path:
        """A valid model spec on the tiny model (plus ``fields``)."""
        doc = {"name": "tiny", "base": str(self.model_dir), "batch_size": 4, **fields}
        return write_yaml(self.root / filename, doc)

    def suite(self, folder: str = "suite", rows: list[dict] | None = None, **fields) -> Path:
        """A valid 4-sample suite folder (``fields`` override suite.yaml keys; None deletes one)."""
        spec = {k: v for k, v in {**SUITE, **fields}.items() if v is not None}
        write_jsonl(self.root / folder / "data.jsonl", ROWS if rows is None else rows)
        write_yaml(self.root / folder / "suite.yaml", spec)
        return self.root / folder

    def run(self, suite: Path, out: str = "out") -> list[str]:
        """CLI arguments of a run of the tiny model on ``suite``."""
        return ["run", self.spec(), "--suite", suite, "--out", self.root / out]

    def finished_run(self, suite: Path) -> Path:
        """Run the tiny model on ``suite`` for real; returns the suite's run directory."""
        code, output = invoke(*self.run(suite, "done"))
        assert code == 0, output
        [run_dir] = [p.parent for p in (self.root / "done").rglob("run.json")]
        return run_dir

    def baseline(self, suite: Path) -> Path:
        """A real baseline saved from a finished run of ``suite``."""
        self.finished_run(suite)
        code, output = invoke(
            "baseline", "save", self.root / "done", "--name", "bl", "--directory", self.root
        )
        assert code == 0, output
        return self.root / "bl.json"


Case = Callable[[Env], tuple[list, list[str]]]
CASES: dict[str, Case] = {}


def case(fn: Case) -> Case:
    """Register a matrix row under the function's name."""
    CASES[fn.__name__] = fn
    return fn


# ----- malformed YAML -----


@case
def model_spec_malformed_yaml(env):
    (env.root / "m.yaml").write_text(f"name: tiny\nbase: [{env.model_dir}\nbatch_size: 4\n")
    suite = env.suite()
    return ["run", env.root / "m.yaml", "-s", suite], ["m.yaml:", "malformed YAML"]


@case
def suite_malformed_yaml(env):
    suite = env.suite()
    (suite / "suite.yaml").write_text("name: mini\ndata: data.jsonl\nscorers: [{name: exact_match\n")
    return env.run(suite), [f"{suite / 'suite.yaml'}:4", "malformed YAML"]


@case
def gate_malformed_yaml(env):
    suite = env.suite()
    (env.root / "gate.yaml").write_text("suites:\n  mini: {min_score: [\n")
    args = [
        "compare",
        env.spec(),
        env.spec("b.yaml", name="b"),
        "-s",
        suite,
        "--gate",
        env.root / "gate.yaml",
    ]
    return args, ["gate.yaml:3", "malformed YAML"]


@case
def model_spec_duplicate_key(env):
    (env.root / "m.yaml").write_text(f"name: a\nname: b\nbase: {env.model_dir}\n")
    return ["run", env.root / "m.yaml", "-s", env.suite()], ["m.yaml:2", "duplicate key 'name'"]


@case
def model_spec_empty_file(env):
    (env.root / "m.yaml").write_text("")
    return ["run", env.root / "m.yaml", "-s", env.suite()], ["m.yaml", "the file is empty"]


@case
def model_spec_not_a_mapping(env):
    (env.root / "m.yaml").write_text("- base\n- tiny\n")
    return ["run", env.root / "m.yaml", "-s", env.suite()], ["m.yaml", "expected a mapping", "got list"]


# ----- unknown / misspelt keys -----


@case
def model_spec_misspelt_key(env):
    spec = write_yaml(env.root / "m.yaml", {"name": "tiny", "base": str(env.model_dir), "batchsize": 4})
    return ["run", spec, "-s", env.suite()], ["m.yaml:3", "batchsize", "did you mean 'batch_size'?"]


@case
def model_spec_misspelt_nested_key(env):
    spec = env.spec(generation={"max_new_token": 4})
    return ["run", spec, "-s", env.suite()], [
        "m.yaml:5",
        "generation.max_new_token",
        "did you mean 'max_new_tokens'?",
    ]


@case
def suite_misspelt_key(env):
    suite = env.suite(scorers=None, scorerz=[{"name": "exact_match"}])
    return env.run(suite), [f"{suite / 'suite.yaml'}:5", "scorerz", "did you mean 'scorers'?"]


@case
def gate_misspelt_key(env):
    suite = env.suite()
    gate = write_yaml(env.root / "gate.yaml", {"suites": {"mini": {"min_scor": 0.5}}})
    args = ["compare", env.spec(), env.spec("b.yaml", name="b"), "-s", suite, "--gate", gate]
    return args, ["gate.yaml:3", "suites.mini.min_scor", "did you mean 'min_score'?"]


# ----- wrong types -----


@case
def model_spec_wrong_types(env):
    spec = env.spec(batch_size="lots", generation={"temperature": "hot"})
    return ["run", spec, "-s", env.suite()], [
        "m.yaml:3: batch_size",
        "valid integer",
        "generation.temperature",
        "valid number",
    ]


@case
def suite_wrong_types(env):
    suite = env.suite(prompt_template=5, scorers="exact_match")
    return env.run(suite), [
        f"{suite / 'suite.yaml'}",
        "prompt_template: Input should be a valid string",
        "scorers: Input should be a valid list",
    ]


@case
def gate_wrong_types(env):
    suite = env.suite()
    gate = write_yaml(env.root / "gate.yaml", {"suites": {"mini": {"min_score": "high"}}, "bound": "upper"})
    args = ["compare", env.spec(), env.spec("b.yaml", name="b"), "-s", suite, "--gate", gate]
    return args, [
        "gate.yaml:3: suites.mini.min_score",
        "valid number",
        "gate.yaml:4: bound",
        "'ci' or 'estimate'",
    ]


@case
def scorer_option_wrong_type(env):
    suite = env.suite(scorers=[{"name": "exact_match", "options": {"ignore_case": "maybe"}}])
    return env.run(suite), [
        f"{suite / 'suite.yaml'}:6: scorers[0]",
        "option 'ignore_case' must be true or false, got 'maybe'",
    ]


@case
def limit_zero(env):
    return [*env.run(env.suite()), "--limit", "0"], ["limit must be at least 1"]


@case
def limit_negative(env):
    return [*env.run(env.suite()), "--limit", "-3"], ["limit must be at least 1", "got -3"]


# ----- data files -----


@case
def missing_model_spec_file(env):
    return ["run", env.root / "nope.yaml", "-s", env.suite()], ["nope.yaml: file not found"]


@case
def missing_suite(env):
    return ["run", env.spec(), "-s", "no-such-suite"], ["suite 'no-such-suite' not found", "shipped suites:"]


@case
def missing_data_file(env):
    suite = env.suite(data="missing.jsonl")
    return env.run(suite), [f"{suite / 'suite.yaml'}", "data file 'missing.jsonl' not found"]


@case
def empty_suite(env):
    suite = env.suite(rows=[])
    return env.run(suite), [f"{suite / 'data.jsonl'}", "the suite 'mini' has no samples"]


@case
def suite_without_scorers(env):
    suite = env.suite(scorers=[])
    return env.run(suite), [f"{suite / 'suite.yaml'}", "'scorers' must name at least one scorer"]


@case
def malformed_jsonl_line(env):
    suite = env.suite()
    with (suite / "data.jsonl").open("a") as handle:
        handle.write('{"id": "q9", "input": \n')
    return env.run(suite), [f"{suite / 'data.jsonl'}:5", "malformed JSON line"]


@case
def jsonl_line_not_an_object(env):
    suite = env.suite()
    with (suite / "data.jsonl").open("a") as handle:
        handle.write("[1, 2]\n")
    return env.run(suite), [f"{suite / 'data.jsonl'}:5", "expected a JSON object, got list"]


@case
def non_utf8_data(env):
    suite = env.suite()
    with (suite / "data.jsonl").open("ab") as handle:
        handle.write(b'{"id": "q9", "input": "caf\xe9"}\n')
    return env.run(suite), [f"{suite / 'data.jsonl'}:5", "not valid UTF-8"]


@case
def non_utf8_model_spec(env):
    (env.root / "m.yaml").write_bytes(b"name: \xff\xfe\n")
    return ["run", env.root / "m.yaml", "-s", env.suite()], ["m.yaml", "not valid UTF-8"]


@case
def duplicate_sample_ids(env):
    suite = env.suite(rows=[*ROWS, {**ROWS[1], "input": "again"}])
    return env.run(suite), [f"{suite / 'data.jsonl'}:5", "duplicate sample id 'q1'", "first seen on line 2"]


@case
def row_without_input(env):
    suite = env.suite(rows=[{"id": "a", "question": "hi"}])
    return env.run(suite), [f"{suite / 'data.jsonl'}:1", "row has no 'input'"]


@case
def chat_input_not_messages(env):
    suite = env.suite(rows=[{"id": "a", "input": ["hello"]}])
    return env.run(suite), [f"{suite / 'data.jsonl'}:1", "input[0]", "'role' and a text 'content'"]


@case
def input_with_lone_surrogate(env):
    suite = env.suite()
    (suite / "data.jsonl").write_text('{"id": "a", "input": "bad \\ud800 text"}\n')
    return env.run(suite), [f"{suite / 'data.jsonl'}:1", "lone surrogate"]


# ----- scorer configs that cannot apply -----


@case
def json_schema_itself_invalid(env):
    suite = env.suite(scorers=[{"name": "json_schema", "options": {"schema": {"type": "objekt"}}}])
    return env.run(suite), [f"{suite / 'suite.yaml'}:6: scorers[0]", "invalid JSON schema at $.type"]


@case
def json_schema_file_corrupt(env):
    suite = env.suite(scorers=[{"name": "json_schema", "options": {"schema": "schema.json"}}])
    (suite / "schema.json").write_text('{"type": ')
    return env.run(suite), [f"{suite / 'suite.yaml'}:6: scorers[0]", "schema.json", "cannot be read"]


@case
def unknown_scorer(env):
    suite = env.suite(scorers=[{"name": "exakt_match"}])
    return env.run(suite), [
        f"{suite / 'suite.yaml'}:6: scorers[0]",
        "unknown scorer 'exakt_match'",
        "did you mean 'exact_match'?",
    ]


@case
def unknown_scorer_option(env):
    suite = env.suite(scorers=[{"name": "exact_match", "options": {"ignore_kase": True}}])
    return env.run(suite), [
        f"{suite / 'suite.yaml'}:6: scorers[0]",
        "no option 'ignore_kase'",
        "did you mean 'ignore_case'?",
    ]


@case
def missing_required_scorer_option(env):
    suite = env.suite(scorers=[{"name": "regex"}])
    return env.run(suite), [
        f"{suite / 'suite.yaml'}:6: scorers[0]",
        "scorer 'regex' needs option(s): pattern",
    ]


@case
def invalid_regex_option(env):
    suite = env.suite(scorers=[{"name": "regex", "options": {"pattern": "(("}}])
    return env.run(suite), [f"{suite / 'suite.yaml'}:6: scorers[0]", "invalid regular expression '(('"]


@case
def metric_not_a_scorer(env):
    suite = env.suite(metric="accuracy")
    return env.run(suite), [f"{suite / 'suite.yaml'}", "metric 'accuracy' is not one of the scorers"]


# ----- paths that escape the suite folder -----


@case
def data_path_escapes_suite(env):
    suite = env.suite(data="../../etc/passwd")
    return env.run(suite), [
        f"{suite / 'suite.yaml'}",
        "data file '../../etc/passwd' escapes the suite folder",
    ]


@case
def data_absolute_path_outside(env):
    suite = env.suite(data="/etc/passwd")
    return env.run(suite), ["data file '/etc/passwd' escapes the suite folder"]


@case
def data_symlink_escapes_suite(env):
    suite = env.suite(data="link.jsonl")
    outside = write_jsonl(env.root / "outside.jsonl", ROWS)
    os.symlink(outside, suite / "link.jsonl")
    return env.run(suite), ["data file 'link.jsonl' escapes the suite folder"]


@case
def schema_path_escapes_suite(env):
    suite = env.suite(scorers=[{"name": "json_schema", "options": {"schema": "../../etc/passwd"}}])
    return env.run(suite), [f"{suite / 'suite.yaml'}:6: scorers[0]", "points outside the suite folder"]


# ----- models and adapters -----


@case
def base_dir_missing(env):
    spec = write_yaml(env.root / "m.yaml", {"name": "tiny", "base": str(env.root / "no-model")})
    return ["run", spec, "-s", env.suite()], ["m.yaml:2: base", "no-model", "does not exist"]


@case
def base_dir_missing_relative(env):
    spec = write_yaml(env.root / "m.yaml", {"name": "tiny", "base": "./no-model"})
    return ["run", spec, "-s", env.suite()], ["m.yaml:2: base", "does not exist"]


@case
def adapter_dir_missing(env):
    spec = env.spec(adapter="./no-adapter")
    return ["run", spec, "-s", env.suite()], ["m.yaml:4: adapter", "no-adapter", "does not exist"]


@case
def chat_template_file_missing(env):
    spec = env.spec(chat_template="./none.jinja")
    return ["run", spec, "-s", env.suite()], ["m.yaml:4: chat_template", "none.jinja", "not found"]


@case
def adapter_dir_not_peft(env):
    (env.root / "not-peft").mkdir()
    spec = env.spec(adapter="./not-peft")
    return ["run", spec, "-s", env.suite()], ["not-peft", "no adapter_config.json"]


@case
def adapter_for_another_base(env):
    card = {"format": 1, "kind": "final", "base": "evalkit:other-model", "base_fingerprint": "0" * 64}
    (env.adapter_dir / "evalkit-card.json").write_text(json.dumps(card))
    spec = env.spec(adapter=str(env.adapter_dir))
    return ["run", spec, "-s", env.suite()], [
        f"adapter {env.adapter_dir} was trained on base 'evalkit:other-model' (weights 000000000000)",
        "allow_base_mismatch",
    ]


@case
def adapter_card_corrupt(env):
    (env.adapter_dir / "evalkit-card.json").write_text('{"base_fingerprint": ')
    spec = env.spec(adapter=str(env.adapter_dir))
    return ["run", spec, "-s", env.suite()], ["evalkit-card.json: corrupt adapter card"]


# ----- runs, baselines, gates, comparisons -----


@case
def out_dir_is_a_file(env):
    (env.root / "out").write_text("not a folder")
    return env.run(env.suite()), ["cannot create the run directory", "Not a directory"]


@case
def run_dir_of_another_suite_version(env):
    suite = env.suite()
    env.finished_run(suite)
    env.suite(version="2")
    return env.run(suite, "done"), [
        "already holds a run of a different model or suite version",
        "choose another --out",
    ]


@case
def run_file_corrupt_mid_file(env):
    suite = env.suite()
    run_dir = env.finished_run(suite)
    lines = (run_dir / "generations.jsonl").read_text().splitlines()
    lines[1] = lines[1][:15]
    (run_dir / "generations.jsonl").write_text("\n".join(lines) + "\n")
    return env.run(suite, "done"), [f"{run_dir / 'generations.jsonl'}:2", "corrupt line in a run file"]


@case
def run_header_corrupt(env):
    suite = env.suite()
    run_dir = env.finished_run(suite)
    (run_dir / "run.json").write_text("{")
    return ["score", run_dir], [f"{run_dir / 'run.json'}: corrupt run header"]


@case
def score_without_a_run(env):
    (env.root / "empty").mkdir()
    return ["score", env.root / "empty"], ["no run.json found"]


@case
def baseline_of_another_suite_version(env):
    suite = env.suite()
    baseline = env.baseline(suite)
    env.suite(version="2")
    return [*env.run(suite), "--against", baseline], [
        "bl.json: the baseline does not match this run",
        "suite 'mini': version differs",
        "--allow-mismatch",
    ]


@case
def baseline_file_truncated(env):
    suite = env.suite()
    (env.root / "bl.json").write_text('{"kind": "evalkit-baseline", "suites": {')
    return [*env.run(suite), "--against", env.root / "bl.json"], ["bl.json: corrupt baseline"]


@case
def baseline_file_corrupt_structure(env):
    suite = env.suite()
    baseline = env.baseline(suite)
    doc = json.loads(baseline.read_text())
    doc["suites"]["mini"]["samples"]["q1"] = 5
    baseline.write_text(json.dumps(doc))
    args = ["compare", env.spec("b.yaml", name="b"), "-s", suite, "--against", baseline]
    return args, ["bl.json: corrupt baseline: suites.mini.samples.q1 must be [value, passed], got 5"]


@case
def baseline_file_not_a_baseline(env):
    (env.root / "bl.json").write_text("[1, 2]")
    args = ["compare", env.spec(), "-s", env.suite(), "--against", env.root / "bl.json"]
    return args, ["bl.json: not an evalkit baseline file"]


@case
def gate_names_suite_not_in_run(env):
    suite = env.suite()
    gate = write_yaml(
        env.root / "gate.yaml", {"suites": {"mini": {"min_score": 0}, "nosuch": {"max_drop": 0.1}}}
    )
    args = [
        "compare",
        env.spec(),
        env.spec("b.yaml", name="b"),
        "-s",
        suite,
        "--gate",
        gate,
        "--out",
        env.root / "cmp",
    ]
    return args, ["gate.yaml:4: suites.nosuch", "not in this comparison: nosuch", "it runs: mini"]


@case
def specs_share_no_suites(env):
    one = env.spec("a.yaml", name="a", suites=[str(env.suite("s1"))])
    two = env.spec("b.yaml", name="b", suites=[str(env.suite("s2"))])
    return ["compare", one, two, "--out", env.root / "cmp"], [
        "the model specs share no suites",
        "Pass --suite",
    ]


@case
def compare_with_one_spec(env):
    return ["compare", env.spec(), "-s", env.suite()], ["compare needs at least two model specs"]


# ----- second pass: silent wrong results, unbounded inputs, invalid numbers, environment faults -----


@case
def prompt_template_without_input(env):
    suite = env.suite(prompt_template="Answer briefly.\n\nQuestion: {question}")
    return env.run(suite), [
        f"{suite / 'suite.yaml'}",
        "prompt_template never uses the sample's text: it has no {input} placeholder (it has {question})",
        "the placeholder available is {input}",
    ]


@case
def suite_max_new_tokens_zero(env):
    suite = env.suite(generation={"max_new_tokens": 0})
    where = f"{suite / 'suite.yaml'}:4: generation.max_new_tokens"
    return env.run(suite), [where, "greater than or equal to 1"]


@case
def suite_max_new_tokens_negative(env):
    suite = env.suite(generation={"max_new_tokens": -5})
    where = f"{suite / 'suite.yaml'}:4: generation.max_new_tokens"
    return env.run(suite), [where, "greater than or equal to 1"]


@case
def model_spec_temperature_infinite(env):
    (env.root / "m.yaml").write_text(f"name: tiny\nbase: {env.model_dir}\ngeneration:\n  temperature: .inf\n")
    args = ["run", env.root / "m.yaml", "-s", env.suite()]
    return args, ["m.yaml:4: generation.temperature", "finite number"]


@case
def gate_budget_infinite(env):
    suite = env.suite()
    (env.root / "gate.yaml").write_text("forgetting_budget: .nan\n")
    args = ["compare", env.spec(), env.spec("b.yaml", name="b"), "-s", suite,
            "--gate", env.root / "gate.yaml"]
    return args, ["gate.yaml:1: forgetting_budget", "finite number"]


@case
def nan_target_in_data(env):
    suite = env.suite()
    (suite / "data.jsonl").write_text('{"id": "a", "input": "x", "target": NaN}\n')
    return env.run(suite), [f"{suite / 'data.jsonl'}:1", "NaN is not a JSON value"]


@case
def infinity_in_json_data(env):
    suite = env.suite(data="data.json")
    (suite / "data.json").write_text('[{"id": "a", "input": "x", "target": Infinity}]')
    return env.run(suite), [f"{suite / 'data.json'}", "Infinity is not a JSON value"]


@case
def id_column_set_but_absent(env):
    suite = env.suite(fields={"id": "qid"})
    return env.run(suite), [f"{suite / 'data.jsonl'}", "no row has the id column 'qid' (fields.id)",
                            "'input'"]


@case
def id_column_only_in_some_rows(env):
    suite = env.suite(rows=[*ROWS, {"input": "no id here", "target": "1"}])
    return env.run(suite), [f"{suite / 'data.jsonl'}:5", "row has no 'id' (id) although other rows do"]


@case
def id_column_near_miss(env):
    suite = env.suite(rows=[{"ID": r["id"], "input": r["input"], "target": r["target"]} for r in ROWS])
    return env.run(suite), ["no row has the id column 'id'", "'ID'"]


@case
def target_column_set_but_absent(env):
    suite = env.suite(fields={"target": "answer"})
    return env.run(suite), [f"{suite / 'data.jsonl'}", "no row has the target column 'answer'"]


@case
def category_field_in_no_row(env):
    suite = env.suite(category_field="topic")
    return env.run(suite), [f"{suite / 'data.jsonl'}", "category_field 'topic' is in no row"]


@case
def cluster_field_in_no_row(env):
    suite = env.suite(cluster_field="passage")
    return env.run(suite), [f"{suite / 'data.jsonl'}", "cluster_field 'passage' is in no row"]


@case
def two_suites_with_one_name(env):
    one, two = env.suite("s1"), env.suite("s2")
    args = ["compare", env.spec(), env.spec("b.yaml", name="b"), "-s", one, "-s", two]
    return args, ["two suites are both named 'mini'", str(one), str(two)]


@case
def two_suites_with_one_name_in_run(env):
    one, two = env.suite("s1"), env.suite("s2")
    return ["run", env.spec(), "-s", one, "-s", two], ["two suites are both named 'mini'"]


def alias_bomb(depth: int = 7) -> str:
    """YAML anchors a0..a<depth>, each a list of nine aliases of the previous one (9**8 cells expanded)."""
    lines = ["x-anchors:", f"  - &a0 [{', '.join(['xxxxxxxxxx'] * 9)}]"]
    lines += [f"  - &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, depth + 1)]
    return "\n".join(lines) + "\n"


@case
def suite_yaml_alias_bomb(env):
    suite = env.suite()
    text = (suite / "suite.yaml").read_text()
    (suite / "suite.yaml").write_text(alias_bomb() + "description: *a7\n" + text)
    return env.run(suite), [f"{suite / 'suite.yaml'}", "anchors and aliases expand this document to over"]


@case
def json_schema_alias_bomb(env):
    suite = env.suite()
    scorer = "scorers:\n  - name: json_schema\n    options:\n      schema: {type: objekt, enum: *a7}\n"
    (suite / "suite.yaml").write_text("name: mini\ndata: data.jsonl\n" + alias_bomb() + scorer)
    return env.run(suite), ["anchors and aliases expand"]


@case
def json_schema_yaml_file_alias_bomb(env):
    suite = env.suite(scorers=[{"name": "json_schema", "options": {"schema": "schema.yaml"}}])
    (suite / "schema.yaml").write_text(alias_bomb() + "type: object\nenum: *a7\n")
    where = f"{suite / 'suite.yaml'}:6: scorers[0]"
    return env.run(suite), [where, "schema.yaml", "anchors and aliases expand"]


@case
def run_folder_of_an_older_evalkit(env):
    suite = env.suite()
    run_dir = env.finished_run(suite)
    header = json.loads((run_dir / "run.json").read_text())
    header.pop("schema_version")
    header["arm"].pop("fingerprint")
    (run_dir / "run.json").write_text(json.dumps(header))
    return ["score", run_dir], [
        f"{run_dir / 'run.json'}: run header written by an older evalkit (schema_version None",
        "--fresh",
    ]


@case
def resume_a_run_of_an_older_evalkit(env):
    suite = env.suite()
    run_dir = env.finished_run(suite)
    header = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**header, "schema_version": 0}))
    return env.run(suite, "done"), ["run header written by an older evalkit (schema_version 0", "--fresh"]


@case
def adapter_weights_truncated(env):
    weights = env.adapter_dir / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    spec = env.spec(adapter=str(env.adapter_dir))
    return ["run", spec, "-s", env.suite()], [
        "adapter", "damaged weights: adapter_model.safetensors", "truncated or overwritten",
    ]


@case
def base_weights_truncated(env):
    import shutil

    base = env.root / "base"
    shutil.copytree(env.model_dir, base)
    weights = base / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    spec = env.spec(base=str(base))
    return ["run", spec, "-s", env.suite(), "--no-cache"], [
        f"base model {base}: damaged weights: model.safetensors", "models pull --force",
    ]


@pytest.fixture(scope="module")
def lora_adapter(tiny_model_dir, tmp_path_factory) -> Path:
    """A real PEFT LoRA adapter on the tiny model (no card: tests add one)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    out = tmp_path_factory.mktemp("lora")
    lora.save_pretrained(out)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, tiny_model_dir, lora_adapter, isolated_home):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for item in lora_adapter.iterdir():
        (adapter / item.name).write_bytes(item.read_bytes())
    env = Env(root=tmp_path, model_dir=tiny_model_dir, adapter_dir=adapter)
    args, needles = CASES[name](env)
    code, output = invoke(*args)
    assert_usage_error(code, output, *needles)


def test_gate_with_unknown_suite_fails_before_generating(tmp_path, tiny_model_dir, isolated_home):
    """The gate is checked before any model runs: no run directory appears."""
    env = Env(root=tmp_path, model_dir=tiny_model_dir)
    args, _ = gate_names_suite_not_in_run(env)
    code, _ = invoke(*args)
    assert code == 2
    assert not list((tmp_path / "cmp").rglob("generations.jsonl"))


def test_adapter_with_matching_card_runs(tmp_path, tiny_model_dir, lora_adapter, isolated_home):
    """Control for the mismatch row: the same adapter, carded with its real base's fingerprint, runs."""
    from evalkit.models.registry import weights_fingerprint

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for item in lora_adapter.iterdir():
        (adapter / item.name).write_bytes(item.read_bytes())
    card = {
        "format": 1,
        "base": str(tiny_model_dir),
        "base_fingerprint": weights_fingerprint(str(tiny_model_dir)),
    }
    (adapter / "evalkit-card.json").write_text(json.dumps(card))
    env = Env(root=tmp_path, model_dir=tiny_model_dir)
    spec = env.spec(adapter=str(adapter))
    code, output = invoke("run", spec, "-s", env.suite(), "--out", tmp_path / "a", "--no-cache")
    assert code == 0, output
    assert "Traceback" not in output


def test_corrupt_baseline_fails_before_generating(tmp_path, tiny_model_dir, isolated_home):
    env = Env(root=tmp_path, model_dir=tiny_model_dir)
    args, needles = baseline_file_truncated(env)
    code, output = invoke(*args)
    assert_usage_error(code, output, *needles)
    assert not list((tmp_path / "out").rglob("generations.jsonl"))


def test_gate_on_a_skipped_suite_fails_the_gate(tmp_path, tiny_model_dir, isolated_home, monkeypatch):
    """A judged suite skipped for lack of a key cannot pass its gate rules: exit 1, reason stated."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    env = Env(root=tmp_path, model_dir=tiny_model_dir)
    plain = env.suite("plain")
    judge = {"backend": "anthropic", "model": "claude-test", "rubric": "Is it right?"}
    judged = env.suite("judged", name="judged", scorers=[{"name": "judge_rubric", "options": judge}])
    gate = write_yaml(
        tmp_path / "gate.yaml", {"suites": {"judged": {"min_score": 3}, "mini": {"min_score": 0}}}
    )
    args = ["compare", env.spec(), env.spec("b.yaml", name="b"), "-s", plain, "-s", judged]
    code, output = invoke(*args, "--gate", gate, "--out", tmp_path / "cmp")
    assert "Traceback" not in output
    assert code == 1, output
    flat = " ".join(output.split())
    assert "judged: not run" in flat and "ANTHROPIC_API_KEY is not set" in flat, output
    assert json.loads((tmp_path / "cmp" / "comparison.json").read_text())["gate"]["passed"] is False


# ----- options refused by the command line itself (typer): exit 2, "Invalid value for '--x'" -----

OPTION_CASES = {
    "min_effect_zero": (["--min-effect", "0"], "--min-effect", "must be in (0, 1), got 0"),
    "min_effect_negative": (["--min-effect", "-0.1"], "--min-effect", "must be in (0, 1)"),
    "min_effect_nan": (["--min-effect", "nan"], "--min-effect", "must be a finite number"),
    "min_effect_five": (["--min-effect", "5"], "--min-effect", "got 5"),
    "confidence_low": (["--confidence", "0.3"], "--confidence", "must be in (0.5, 1)"),
    "confidence_one": (["--confidence", "1"], "--confidence", "must be in (0.5, 1)"),
    "format_yaml": (["--format", "yaml"], "--format", "must be one of table, json; got 'yaml'"),
    "max_failed_share_above_one": (["--max-failed-share", "1.5"], "--max-failed-share", "must be in [0, 1]"),
    "summary_is_a_directory": (["--summary", "{root}"], "--summary", "is a directory"),
    "junit_is_a_directory": (["--junit", "{root}"], "--junit", "is a directory"),
    "gate_is_a_directory": (["--gate", "{root}"], "--gate", "is a directory"),
}


@pytest.mark.parametrize("name", list(OPTION_CASES))
def test_bad_option(name, tmp_path, tiny_model_dir, isolated_home):
    """Refused before any model loads or runs: no run directory appears."""
    extra, option, needle = OPTION_CASES[name]
    env = Env(root=tmp_path, model_dir=tiny_model_dir)
    extra = [a.replace("{root}", str(tmp_path)) for a in extra]
    args = ["compare", env.spec(), env.spec("b.yaml", name="b"), "-s", env.suite(), "--out", tmp_path / "c"]
    code, output = invoke(*args, *extra)
    assert "Traceback" not in output
    assert code == 2, output
    flat = " ".join(output.replace("│", " ").split())  # typer draws the message in a box
    assert f"Invalid value for '{option}'" in flat and needle in flat, output
    assert not (tmp_path / "c").exists()


def test_cache_prune_refuses_negative_age(isolated_home):
    code, output = invoke("cache", "prune", "--older-than-days", "-1")
    assert code == 2 and "Traceback" not in output
    assert "Invalid value for '--older-than-days'" in " ".join(output.replace("│", " ").split()), output


def test_alias_bomb_message_is_bounded(tmp_path, tiny_model_dir, isolated_home):
    """The refused file's expansion is never echoed: the message stays short."""
    env = Env(root=tmp_path, model_dir=tiny_model_dir)
    args, needles = suite_yaml_alias_bomb(env)
    code, output = invoke(*args)
    assert_usage_error(code, output, *needles)
    assert len(output) < 3000
    assert not list(tmp_path.rglob("run.json"))


def test_fresh_redoes_a_run_of_an_older_evalkit(tmp_path, tiny_model_dir, isolated_home):
    env = Env(root=tmp_path, model_dir=tiny_model_dir)
    args, _ = resume_a_run_of_an_older_evalkit(env)
    code, output = invoke(*args, "--fresh")
    assert code == 0, output
    [header] = list((tmp_path / "done").rglob("run.json"))
    assert json.loads(header.read_text())["schema_version"] == 1
