"""backend: vllm / auto in evalkit's main environment, where vLLM is not installed.

What must hold: ``backend: vllm`` stops with exit 2 and says how to install
vLLM; ``backend: auto`` runs on the HF engine, says so in a notice and in
run.json; the ``vllm:`` engine options are validated strictly; a compare whose
arms run on different engines or dtypes reports it as a confound; the LoRA
rank vLLM reserves fits every adapter. (Real vLLM is tested in tests/vllm/.)
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.errors import ConfigError, ModelError
from evalkit.models.fingerprint import combine, fingerprint_parts
from evalkit.models.loader import Arm, load_model
from evalkit.models.spec import ModelSpec, load_model_spec
from evalkit.models.vllm_engine import lora_rank_to_reserve
from evalkit.trust.confounds import find_confounds

without_vllm = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is not None, reason="checks an environment without vLLM"
)


def _write(path, data: dict):
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@without_vllm
def test_backend_vllm_without_vllm_is_a_clear_exit_2(tiny_model_dir, small_suite, tmp_path, isolated_home):
    arm = {"backend": "vllm", "base": str(tiny_model_dir), "chat_template": "none"}
    spec = _write(tmp_path / "arm.yaml", arm)
    args = ["run", str(spec), "--suite", str(small_suite), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "backend: vllm cannot run" in result.output and "not installed" in result.output
    assert "evalkit[vllm]" in result.output and "Traceback" not in result.output


@without_vllm
def test_backend_auto_falls_back_to_hf_and_says_so(tiny_model_dir, small_suite, tmp_path, isolated_home):
    arm = {"backend": "auto", "base": str(tiny_model_dir), "chat_template": "none",
           "generation": {"max_new_tokens": 4}}
    spec = _write(tmp_path / "arm.yaml", arm)
    args = ["run", str(spec), "--suite", str(small_suite), "--out", str(tmp_path / "o"), "--no-cache"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "backend auto runs on hf" in result.output and "vllm package is not installed" in result.output
    header = json.loads(next((tmp_path / "o").rglob("run.json")).read_text())
    assert header["arm"]["engine"]["requested"] == "auto" and header["arm"]["engine"]["used"] == "hf"
    assert header["arm"]["fingerprint_parts"]["backend"] == "hf"
    plain = load_model(ModelSpec(**{**arm, "backend": "hf"}))
    assert header["arm"]["fingerprint"] == plain.fingerprint, "auto on HF must share the HF arm's cache"


@without_vllm
def test_nf4_under_backend_vllm_is_refused(tiny_model_dir):
    with pytest.raises((ModelError, ConfigError), match="quantization|cannot run"):
        load_model(ModelSpec(backend="vllm", base=str(tiny_model_dir), quantization="nf4"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tensor_paralel_size": 2}, "tensor_paralel_size"),
        ({"max_lora_rank": 12}, "max_lora_rank"),
        ({"gpu_memory_utilization": 1.5}, "gpu_memory_utilization"),
        ({"data_parallel_size": 0}, "data_parallel_size"),
    ],
)
def test_engine_options_are_strict(tmp_path, options, message):
    spec = _write(tmp_path / "arm.yaml", {"backend": "vllm", "vllm": options})
    with pytest.raises(ConfigError, match=message):
        load_model_spec(spec)


def test_engine_and_dtype_differences_are_confounds(tiny_model_dir):
    def arm(**fields) -> Arm:
        spec = ModelSpec(base=str(tiny_model_dir), chat_template="none", **fields)
        parts = fingerprint_parts(spec, str(tiny_model_dir), "w" * 64)
        return Arm(spec, None, combine(parts), parts, {"requested": spec.backend, "used": spec.backend})

    hf, vllm32, vllm16 = arm(), arm(backend="vllm"), arm(backend="vllm", dtype="bfloat16")
    assert hf.fingerprint != vllm32.fingerprint and vllm32.fingerprint != vllm16.fingerprint
    found = {c["setting"]: c for c in find_confounds(hf, vllm32, [])}
    assert set(found) == {"backend"} and found["backend"]["candidate"] == "vllm"
    found = {c["setting"]: c for c in find_confounds(vllm32, vllm16, [])}
    assert set(found) == {"dtype"} and found["dtype"]["candidate"] == "bfloat16"
    auto = arm(backend="vllm")
    auto.engine = {"requested": "auto", "used": "vllm"}
    assert find_confounds(vllm32, auto, []) == [], "auto that picked vLLM is the same engine as vllm"


def test_lora_rank_to_reserve():
    assert lora_rank_to_reserve([16], None) == 16
    assert lora_rank_to_reserve([4, 12], None) == 16
    assert lora_rank_to_reserve([], None) == 1
    assert lora_rank_to_reserve([8], 64) == 64
    with pytest.raises(ModelError, match="below"):
        lora_rank_to_reserve([32], 16)
    with pytest.raises(ModelError, match="above"):
        lora_rank_to_reserve([1024], None)


def test_in_process_data_parallel_points_to_serving(tiny_model_dir):
    with pytest.raises(ConfigError, match="data_parallel_size") as info:
        load_model(ModelSpec(backend="vllm", base=str(tiny_model_dir), vllm={"data_parallel_size": 2}))
    assert "--data-parallel-size" in info.value.hint


@without_vllm
def test_compare_reports_the_engine_auto_picked(tiny_model_dir, small_suite, tmp_path, isolated_home):
    common = {"base": str(tiny_model_dir), "chat_template": "none", "generation": {"max_new_tokens": 4}}
    ref = _write(tmp_path / "ref.yaml", {"name": "ref", "backend": "hf", **common})
    cand = _write(tmp_path / "cand.yaml", {"name": "cand", "backend": "auto", "system_prompt": "Be brief.",
                                           **common})
    args = ["compare", str(ref), str(cand), "--suite", str(small_suite), "--out", str(tmp_path / "c"),
            "--no-cache"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "cand: backend auto runs on hf" in result.output
    doc = json.loads((tmp_path / "c" / "comparison.json").read_text())
    engines = {a["name"]: a["engine"] for a in doc["arms"]}
    assert engines["ref"]["used"] == engines["cand"]["used"] == "hf"
    assert engines["cand"]["requested"] == "auto"
    assert any("backend auto runs on hf" in n for n in doc["metadata"]["notices"])
    html = (tmp_path / "c" / "index.html").read_text()
    assert "<th>Engine</th>" in html and "(auto)" in html
