"""The ``lm_eval`` command line that reproduces an lm-eval suite's numbers outside evalkit.

A published lm-eval number and evalkit's differ for reasons a user cannot see
in a score alone, the biggest being prompting: SmolLM2-135M-Instruct reads
0.52 on gk-mc through its chat template and 0.63 on plain text. Every
lm-eval run therefore records (in metrics.json under ``reproduce``, in the CLI
``run`` output and on the report's suite card) whether the chat template and
the system prompt were applied, and the equivalent command:
``lm_eval --model hf --model_args pretrained=<local model folder>,dtype=...
--tasks ... --include_path ... [--num_fewshot N] [--apply_chat_template
--fewshot_as_multiturn] [--system_instruction ...] [--limit N]
--batch_size B --device D``. ``notes`` say where the command can only
approximate evalkit's run (a chat template file, quantization, shared prefixes).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from evalkit.errors import ConfigError
from evalkit.lmeval.adapter import Prompting
from evalkit.models.backend import has_local_weights
from evalkit.models.loader import Arm
from evalkit.suite.loader import Suite


def lm_eval_argv(arm: Arm, suite: Suite, include: Path | None, settings: Prompting,
                 device: str | None = None) -> list[str]:
    """The ``lm_eval`` CLI arguments equivalent to evalkit's ``simple_evaluate`` call for arm and suite."""
    cfg = suite.spec.lm_eval
    if cfg is None:
        raise ConfigError(f"suite {suite.name!r} is not of kind lm-eval.")
    dtype = _dtype_name(arm.spec.dtype)
    model_args = f"pretrained={model_folder(arm)},dtype={dtype}"
    if arm.spec.backend == "vllm":  # lm-eval's own vllm model; the adapter as its LoRA path
        if arm.spec.adapter:
            model_args += f",lora_local_path={arm.spec.adapter}"
        return _task_argv("vllm", model_args, cfg, include, settings) + ["--batch_size", str(cfg.batch_size)]
    if dtype != "float32":  # evalkit's HFLM takes log-softmax in float32 (see evalkit.lmeval.adapter)
        model_args += ",softmax_dtype=float32"
    if arm.spec.adapter:
        model_args += f",peft={arm.spec.adapter}"
    argv = _task_argv("hf", model_args, cfg, include, settings)
    return argv + ["--batch_size", str(cfg.batch_size), "--device", device or "cpu"]


def _task_argv(model: str, model_args: str, cfg, include: Path | None, settings: Prompting) -> list[str]:
    """``lm_eval --model MODEL --model_args ...`` with the suite's tasks, shots, prompting and limit."""
    argv = ["lm_eval", "--model", model, "--model_args", model_args, "--tasks", ",".join(cfg.tasks)]
    if include is not None:
        argv += ["--include_path", str(include)]
    if cfg.num_fewshot is not None:
        argv += ["--num_fewshot", str(cfg.num_fewshot)]
    if settings.apply_chat_template:
        argv += ["--apply_chat_template", "--fewshot_as_multiturn"]
    if settings.system_instruction:
        argv += ["--system_instruction", settings.system_instruction]
    if cfg.limit is not None:
        argv += ["--limit", str(cfg.limit)]
    return argv


def reproduce_block(arm: Arm, suite: Suite, include: Path | None, settings: Prompting,
                    device: str | None = None) -> dict:
    """What metrics.json records under ``reproduce``: prompting applied, the command, and its caveats."""
    argv = lm_eval_argv(arm, suite, include, settings, device)
    return {
        "chat_template_applied": settings.apply_chat_template,
        "chat_template": settings.chat_template,
        "system_prompt_applied": settings.system_instruction is not None,
        "argv": argv,
        "command": shlex.join(argv),
        "notes": _notes(arm, suite, settings),
    }


def summary_line(block: dict) -> str:
    """One human line on how an lm-eval suite was prompted (CLI output, report)."""
    chat = "chat template applied" if block.get("chat_template_applied") else "no chat template (plain text)"
    system = "system prompt applied" if block.get("system_prompt_applied") else "no system prompt"
    return f"{chat}, {system}"


def run_output_lines(metrics: dict) -> list[str]:
    """Lines for the CLI ``run`` output of an lm-eval run: prompting and the lm_eval command (or none)."""
    block = metrics.get("reproduce")
    if not block:
        return []
    name = (metrics.get("suite") or {}).get("name", "?")
    lines = [f"{name}: lm-eval, {summary_line(block)}; the same numbers from lm_eval:",
             f"  {block['command']}"]
    lines += [f"  note: {note}" for note in block.get("notes") or []]
    return lines


def model_folder(arm: Arm) -> str:
    """The local model folder (or hub id) the arm's weights were loaded from."""
    return str(getattr(arm.backend, "base_dir", None) or arm.spec.base)


def model_device(arm: Arm) -> str | None:
    """The device of the arm's loaded weights ('cpu', 'cuda:0'), or None when not loaded."""
    if not has_local_weights(arm.backend):
        return None
    try:
        return str(next(arm.backend.loaded().model.parameters()).device)
    except Exception:  # noqa: BLE001 - only a label for the command line
        return None


def attach_to_comparison(comparison: dict, runs: dict) -> None:
    """Copy each lm-eval run's ``reproduce`` block onto its suite in the comparison (``suite["lm_eval"]``).

    ``runs`` is ``{suite: {arm: RunData}}``; suites without lm-eval runs are left alone.
    """
    for block in comparison.get("suites") or []:
        by_arm = runs.get(block.get("name")) or {}
        found = {arm: (run.metrics or {}).get("reproduce") for arm, run in by_arm.items()}
        found = {arm: value for arm, value in found.items() if value}
        if found:
            block["lm_eval"] = {arm: {**v, "summary": summary_line(v)} for arm, v in found.items()}


def _dtype_name(dtype: str) -> str:
    """evalkit's dtype as lm-eval's ``dtype=`` (``auto`` resolves as evalkit resolves it)."""
    if dtype != "auto":
        return dtype
    from evalkit.models.precision import resolve_dtype

    return resolve_dtype(dtype)


def _notes(arm: Arm, suite: Suite, settings: Prompting) -> list[str]:
    notes = []
    if settings.chat_template not in ("auto", "none"):
        notes.append(
            f"the chat template comes from the file {settings.chat_template}; lm_eval's "
            "--apply_chat_template uses the tokenizer's own, so copy the template into the model "
            "folder's tokenizer_config.json first"
        )
    if arm.spec.quantization != "none":
        notes.append(f"evalkit loaded the weights quantized ({arm.spec.quantization}, bitsandbytes); pass "
                     "the same quantization to lm_eval's model_args or the numbers differ")
    if suite.spec.lm_eval is not None and suite.spec.lm_eval.share_prefix:
        notes.append("evalkit computed shared prompt prefixes once (lm_eval.share_prefix); log-likelihoods "
                     "equal the CLI's up to float rounding; share_prefix: false gives its digits exactly")
    return notes
