"""Training the tiny random Llama: LoRA target errors, output-dir guards, OOM message, Ctrl-C, wrong base."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest
import yaml
from transformers import TrainerCallback

from evalkit.errors import ConfigError, ModelError
from evalkit.train.spec import load_train_spec
from evalkit.train.trainer import TrainingError, check_target_modules, linear_module_names, train

LLAMA_LINEAR = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


def test_bad_target_modules_list_the_real_ones(tiny_train_spec, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert linear_module_names(model) == LLAMA_LINEAR
    check_target_modules(model, ["q_proj", "self_attn.v_proj"])
    with pytest.raises(ConfigError, match="'self_attn' does not name a layer"):
        check_target_modules(model, ["self_attn"])
    spec = load_train_spec(tiny_train_spec(lora={"target_modules": ["q_proj", "qkv", "mlp.fc1"]}))
    with pytest.raises(ConfigError) as err:
        train(spec)
    message = err.value.message
    assert message.startswith("lora.target_modules: 'qkv', 'mlp.fc1' do not name a layer of this model.")
    assert "Its linear modules are: " + ", ".join(LLAMA_LINEAR) in message
    assert not os.path.exists(os.path.join(spec.output_dir, "checkpoint-1"))


def test_output_dir_guards(tiny_train_spec):
    spec = load_train_spec(tiny_train_spec(training={"max_steps": 1}))
    with pytest.raises(TrainingError, match="no checkpoint-N folder"):
        train(spec, resume=True)
    train(spec)
    with pytest.raises(TrainingError, match="already holds a trained adapter") as err:
        train(spec)
    assert "--resume" in err.value.hint


def test_out_of_memory_names_the_knobs(tiny_train_spec, monkeypatch):
    def explode(self, *args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr("trl.SFTTrainer.train", explode)
    with pytest.raises(TrainingError) as err:
        train(load_train_spec(tiny_train_spec()))
    assert "out of memory" in err.value.message
    knobs = ("training.batch_size", "training.max_length", "training.gradient_checkpointing", "quantization")
    assert all(knob in err.value.hint for knob in knobs)


class _CtrlC(TrainerCallback):
    """Sends the process a SIGINT after the first step, like a user pressing Ctrl-C."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_saves_a_checkpoint_and_stops(tiny_train_spec):
    spec = load_train_spec(tiny_train_spec(training={"max_steps": 6, "save_steps": 100}))
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the tests run in the background (nohup, &)
    result = train(spec, callbacks=[_CtrlC()])
    assert result.interrupted and result.tuned_spec is None
    assert result.last_checkpoint is not None and result.last_checkpoint.name == "checkpoint-2"
    card = json.loads((result.last_checkpoint / "evalkit-card.json").read_text())
    assert card["step"] == 2 and card["kind"] == "checkpoint"
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    resumed = train(spec, resume=True)
    assert not resumed.interrupted and resumed.card["stats"]["steps"] == 6
    assert resumed.card["stats"]["session_steps"] == 4


def test_adapter_on_another_base_is_refused(tiny_train_spec, tmp_path):
    from tiny_model import build_tiny_llama

    from evalkit.models.loader import load_model
    from evalkit.models.spec import GenerationConfig

    result = train(load_train_spec(tiny_train_spec(training={"max_steps": 1})))
    other = build_tiny_llama(tmp_path / "other-base", seed=1)
    moved = shutil.copytree(result.output_dir, tmp_path / "moved")
    doc = yaml.safe_load((moved / "tuned.yaml").read_text())
    (moved / "tuned.yaml").write_text(yaml.safe_dump({**doc, "base": str(other)}))
    with pytest.raises(ModelError) as err:  # refused when loading or, at the latest, when generating
        arm = load_model(moved / "tuned.yaml")
        arm.backend.generate([("s1", "hello")], GenerationConfig(max_new_tokens=2))
    assert "was trained on base" in err.value.message and "allow_base_mismatch" in err.value.hint
