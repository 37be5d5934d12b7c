"""A fully cached compare (native, ifeval-scored and lm-eval suites, an adapter arm) imports no model library.

The ifeval suite stands for the nightly example's ifeval-lite: its scorer uses lm-eval's IFEval
checkers, so only the score cache keeps lm-eval out of a warm run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import yaml

HEAVY = ("torch", "transformers", "peft", "lm_eval")
_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$")


def _compare(home, specs, suites, out, gate=None):
    """``python -X importtime -m evalkit compare ...``: (exit code, output, modules imported)."""
    argv = [sys.executable, "-X", "importtime", "-m", "evalkit", "compare", *map(str, specs)]
    for suite in suites:
        argv += ["--suite", str(suite)]
    argv += ["--out", str(out)] + (["--gate", str(gate)] if gate else [])
    env = {**os.environ, "EVALKIT_HOME": str(home), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    modules = {m.group(1).strip() for line in done.stderr.splitlines() if (m := _IMPORTED.match(line))}
    return done.returncode, done.stdout + done.stderr[-3000:], modules


def test_warm_compare_imports_no_model_library(tiny_model_dir, small_suite, mc_suite, ifeval_suite, tmp_path,
                                               isolated_home, lora_factory):
    adapter = lora_factory(tiny_model_dir, tmp_path / "lora")
    specs = []
    for name, extra in [("base", {}), ("prompted", {"system_prompt": "Answer briefly."}),
                        ("tuned", {"adapter": str(adapter)})]:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"name": name, "base": str(tiny_model_dir), "chat_template": "auto",
                                        "generation": {"max_new_tokens": 8}, **extra}))
        specs.append(path)
    suites = [small_suite, ifeval_suite, mc_suite]
    code, output, cold = _compare(isolated_home, specs, suites, tmp_path / "cold")
    assert code == 0, output
    assert set(HEAVY) <= cold  # the check does see these imports when they happen
    code, output, warm = _compare(isolated_home, specs, suites, tmp_path / "warm")
    assert code == 0, output
    heavy = sorted(m for m in warm if m.split(".")[0] in HEAVY)
    assert not heavy, heavy
    assert not {"scipy.stats", "scipy.optimize"} & warm  # the verdicts need scipy.special alone
    cold_suites = json.loads((tmp_path / "cold" / "comparison.json").read_text())["suites"]
    warm_suites = json.loads((tmp_path / "warm" / "comparison.json").read_text())["suites"]
    assert [s["scores"] for s in warm_suites] == [s["scores"] for s in cold_suites]
    assert [s["deltas"] for s in warm_suites] == [s["deltas"] for s in cold_suites]
    assert "tiny-ifeval" in json.dumps(warm_suites)
    from evalkit.api import open_cache

    assert open_cache().stats().tables["scores"] > 0  # the ifeval scores the warm run read
