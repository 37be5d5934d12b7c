"""An lm-eval suite (gk-mc) on ``backend: vllm`` arms, base and LoRA, against the HF engine's HFLM.

What must hold, in float32: lm-eval sends the same request text through both engines, every
choice's log-likelihood agrees to 1e-3, and so every document's accuracy is the same; the LoRA
arm's log-likelihoods differ from the base's (the adapter is applied). A served arm is refused
with a clear error.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import yaml
from vllm_cases import arm_spec, generations, run_in_vllm_venv, write_spec

pytestmark = pytest.mark.model
LMEVAL_SUITE, DOCS = "gk-mc", 12
ENGINE = {"enforce_eager": True, "max_model_len": 2048}
IN_PROCESS = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}


def _runs(root) -> dict[str, dict[str, dict]]:
    """arm name -> sample id -> generations row of the lm-eval suite's run folder."""
    return {p.parent.parent.name.split("-")[0]: generations(p.parent)
            for p in (root / "runs").glob(f"*/{LMEVAL_SUITE}/run.json")}


def _scores(root) -> dict[str, dict[str, float]]:
    out = {}
    for p in (root / "runs").glob(f"*/{LMEVAL_SUITE}/scores.jsonl"):
        rows = [json.loads(line) for line in p.read_text().splitlines()]
        arm = p.parent.parent.name.split("-")[0]
        out[arm] = {r["sample_id"]: r["value"] for r in rows if r["scorer"] == "acc"}
    return out


def test_lm_eval_suite_on_vllm_matches_hflm(vllm_python, default_model_dir, lora_adapter, tmp_path):
    specs = {}
    for backend in ("vllm", "hf"):
        extra = {"vllm": ENGINE} if backend == "vllm" else {}
        base = arm_spec("base", default_model_dir, backend=backend, **extra)
        tuned = arm_spec("tuned", default_model_dir, backend=backend, adapter=str(lora_adapter), **extra)
        specs[backend] = [write_spec(tmp_path / backend, base), write_spec(tmp_path / backend, tuned)]
    args = ["compare", *map(str, specs["vllm"]), "--suite", LMEVAL_SUITE, "--limit", str(DOCS),
            "--out", "vllm-cmp", "--no-cache"]
    result = run_in_vllm_venv(vllm_python, args, tmp_path, **IN_PROCESS)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    hf_args = ["compare", *map(str, specs["hf"]), "--suite", LMEVAL_SUITE, "--limit", str(DOCS),
               "--out", str(tmp_path / "hf-cmp"), "--no-cache"]
    reference = subprocess.run([sys.executable, "-m", "evalkit", *hf_args], cwd=tmp_path,
                               capture_output=True, text=True, timeout=900)
    assert reference.returncode == 0, (reference.stdout + reference.stderr)[-4000:]

    got, want = _runs(tmp_path / "vllm-cmp"), _runs(tmp_path / "hf-cmp")
    assert set(got) == set(want) == {"base", "tuned"}
    for arm in ("base", "tuned"):
        assert set(got[arm]) == set(want[arm]) and len(got[arm]) == DOCS
        for sid, row in want[arm].items():
            assert got[arm][sid]["input"] == row["input"], (arm, sid)  # the same request text
            assert len(got[arm][sid]["loglikelihoods"]) == len(row["loglikelihoods"])
            for a, b in zip(got[arm][sid]["loglikelihoods"], row["loglikelihoods"]):
                assert math.isclose(a, b, abs_tol=1e-3), (arm, sid, a, b)
    assert _scores(tmp_path / "vllm-cmp") == _scores(tmp_path / "hf-cmp")
    assert any(got["base"][s]["loglikelihoods"] != got["tuned"][s]["loglikelihoods"] for s in got["base"])


def test_a_served_arm_is_refused_for_an_lm_eval_suite(vllm_python, tmp_path):
    spec = tmp_path / "served.yaml"
    spec.write_text(yaml.safe_dump({"name": "served", "backend": "openai", "base": "base",
                                    "base_url": "http://127.0.0.1:9/v1"}))
    result = run_in_vllm_venv(vllm_python, ["run", str(spec), "--suite", LMEVAL_SUITE, "--limit", "2",
                                            "--out", "served-run"], tmp_path)
    log = result.stdout + result.stderr
    assert result.returncode == 2, log[-3000:]
    assert "lm-eval suites need in-process log-likelihoods" in log and "Traceback" not in log
