"""`run_lm_eval_suite`: an lm-evaluation-harness suite on an evalkit arm, written as a run directory.

The suite's tasks run through lm-eval's own ``simple_evaluate`` on the arm's
already-loaded model (``HFLM(pretrained=<model>)``, adapter selected on the
shared base), with the settings the lm-eval CLI would use for the same model,
so the numbers equal ``lm_eval --model hf`` to the last digit. The run
directory has the files of a native run (run.json, generations.jsonl,
scores.jsonl, metrics.json) with lm-eval's per-document values as scores, so
comparison, flips and reports work unchanged; lm-eval's own aggregate results
are kept verbatim in metrics.json under ``lm_eval_results``, and the
equivalent ``lm_eval`` command line with the prompting it applied under
``reproduce`` (see :mod:`evalkit.lmeval.reproduce`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from evalkit.errors import ConfigError, EvalkitError
from evalkit.lmeval import result_cache
from evalkit.lmeval.adapter import arm_lm, prompting, require_hf
from evalkit.lmeval.convert import Converted, convert_samples
from evalkit.lmeval.reproduce import model_device, reproduce_block
from evalkit.lmeval.tasks import check_tasks, config_digest, hub_access, include_dir, task_manager
from evalkit.models.loader import Arm
from evalkit.runner.rundir import (
    RunResult,
    clear_results,
    metrics_document,
    resumable,
    run_header,
    suite_signature,
)
from evalkit.runner.schema import read_run_file
from evalkit.runner.scoring import summarise
from evalkit.runner.store import write_json_atomic, write_jsonl_atomic
from evalkit.suite.loader import Suite

ProgressFn = Callable[[int, int], None]


def lm_eval_signature(suite: Suite) -> dict:
    """The suite signature of an lm-eval suite: the native one, with its lm_eval section and task files.

    ``data_sha256`` names the ``lm_eval:`` settings and the content of the
    include folder (task YAML, data, helpers), so a changed task or limit is a
    different suite version for resume and baselines.
    """
    signature = suite_signature(suite)
    signature["data_sha256"] = config_digest(suite)
    signature["lm_eval"] = suite.spec.lm_eval.model_dump()  # type: ignore[union-attr]
    return signature


def run_lm_eval_suite(
    arm: Arm,
    suite: Suite,
    out_dir: str | Path,
    *,
    resume: bool = True,
    progress: ProgressFn | None = None,
    cache=None,
) -> RunResult:
    """Run an lm-eval suite on ``arm`` and write a native-shaped run directory.

    With ``resume``, a finished run of the same model fingerprint and suite
    signature is returned from its metrics.json without recomputing; lm-eval
    runs are all-or-nothing, so an unfinished one is run again. With a
    ``cache`` (the generation cache), a run with the same inputs made anywhere
    before is written from it without loading lm-eval or the model
    (:mod:`evalkit.lmeval.result_cache`), and a computed run is stored there.
    """
    weights = require_hf(arm)
    cfg = suite.spec.lm_eval
    if cfg is None:
        raise ConfigError(f"suite {suite.name!r} is not of kind lm-eval.")
    out = Path(out_dir)
    signature = lm_eval_signature(suite)
    previous = _resume_state(out, arm, signature, resume)
    if previous is not None:
        if progress:
            progress(previous["n_samples"], previous["n_samples"])
        return RunResult(out, previous, generated=0, cached=0, resumed=previous["n_samples"])
    entry = result_cache.lookup(cache, arm, suite)
    if entry is not None:
        return result_cache.replay(entry, arm, suite, signature, out, progress)
    from evalkit.lmeval.quiet import quiet_lm_eval  # imports lm-eval's HF backend: only when needed

    include = include_dir(suite)
    with hub_access() as offline, quiet_lm_eval():
        manager = task_manager(include, cfg.tasks)
        tasks = check_tasks(suite, manager, offline)
        _check_metric(suite, tasks)
        total = sum(min(t["docs"], cfg.limit) if cfg.limit else t["docs"] for t in tasks.values())
        settings = prompting(arm)
        header = _run_header(arm, suite, signature, tasks, settings.to_dict(), include, offline)
        write_json_atomic(out / "run.json", header)
        if progress:
            progress(0, total)
        started = time.perf_counter()
        results = _evaluate(arm, suite, manager, settings)
        seconds = time.perf_counter() - started
    reproduce = reproduce_block(arm, suite, include, settings, model_device(arm))
    scoring_started = time.perf_counter()
    output_types = {name: t["output_type"] for name, t in tasks.items()}
    tokenizer = weights.tokenizer
    converted = convert_samples(results.get("samples", {}), output_types, suite.spec.primary_metric,
                                seconds, tokenizer)
    write_jsonl_atomic(out / "generations.jsonl", converted.generations)
    write_jsonl_atomic(out / "scores.jsonl", converted.scores)
    metrics = _metrics(header, suite, results, converted, seconds, time.perf_counter() - scoring_started)
    metrics["reproduce"] = reproduce
    write_json_atomic(out / "metrics.json", metrics)
    result_cache.store(cache, arm, suite, out)
    if progress:
        progress(len(converted.generations), len(converted.generations))
    return RunResult(out, metrics, generated=len(converted.generations), cached=0, resumed=0)


def _evaluate(arm: Arm, suite: Suite, manager, settings) -> dict:
    """lm-eval's ``simple_evaluate`` with the CLI's defaults, on the arm's shared model."""
    from lm_eval import simple_evaluate

    cfg = suite.spec.lm_eval
    share = cfg.share_prefix  # type: ignore[union-attr]
    with arm_lm(arm, cfg.batch_size, share_prefix=share) as lm:  # type: ignore[union-attr]
        results = simple_evaluate(
            model=lm,
            tasks=list(cfg.tasks),  # type: ignore[union-attr]
            num_fewshot=cfg.num_fewshot,  # type: ignore[union-attr]
            limit=cfg.limit,  # type: ignore[union-attr]
            task_manager=manager,
            log_samples=True,
            system_instruction=settings.system_instruction,
            apply_chat_template=settings.apply_chat_template,
            fewshot_as_multiturn=settings.fewshot_as_multiturn,
        )
    if results is None:
        raise EvalkitError(f"lm-eval returned no results for suite {suite.name!r}.")
    return results


def _check_metric(suite: Suite, tasks: dict[str, dict]) -> None:
    keys = {key for t in tasks.values() for key in t["metric_keys"]}
    primary = suite.spec.primary_metric
    if primary not in keys:
        raise ConfigError(
            f"{suite.folder / 'suite.yaml'}: lm_eval.metric {primary!r} is not a metric of the tasks "
            f"{list(tasks)}; they report {sorted(keys)}.",
            hint="metrics under a filter other than 'none' are named '<metric>,<filter>'",
        )


def _run_header(arm: Arm, suite: Suite, signature: dict, tasks: dict[str, dict], settings: dict,
                include: Path | None, offline: bool) -> dict:
    generation = {name: t["generation_kwargs"] for name, t in tasks.items() if t["generation_kwargs"]}
    lm_eval = {
        **suite.spec.lm_eval.model_dump(),  # type: ignore[union-attr]
        "include_path": str(include) if include else None,
        "prompting": settings,
        "hub_offline": offline,
        "tasks_run": tasks,
    }
    return run_header(arm, suite, signature, {"source": "lm-eval task configs", "tasks": generation},
                      extra={"lm_eval": lm_eval})


def _metrics(header: dict, suite: Suite, results: dict, converted: Converted, seconds: float,
             score_seconds: float) -> dict:
    from lm_eval.utils import handle_non_serializable

    verbatim = json.loads(json.dumps({k: results.get(k) for k in ("results", "groups", "n-shot", "versions",
                                                                   "n-samples", "higher_is_better")},
                                     default=handle_non_serializable))
    summary = summarise(converted.scores, converted.metric_keys)
    _attach_lm_eval_values(summary, verbatim["results"] or {})
    return metrics_document(
        header,
        suite,
        summary,
        n_samples=len(converted.generations),
        generations=converted.generations,
        timings={"generate_s": round(seconds, 3), "score_s": round(score_seconds, 3)},
        extra={
            "lm_eval_results": verbatim["results"],
            "lm_eval_groups": verbatim["groups"],
            "lm_eval": {k: verbatim[k] for k in ("n-shot", "versions", "n-samples", "higher_is_better")},
            "sample_ids": converted.id_source,
        },
    )


def _attach_lm_eval_values(summary: dict[str, dict], results: dict[str, dict]) -> None:
    """Beside each mean, lm-eval's own aggregate (single-task suites, where it is one number).

    They are equal for mean-aggregated metrics such as ``acc``; they differ where
    lm-eval pools differently (IFEval's instruction-level accuracy counts
    instructions, evalkit's mean counts prompts). A metric without per-document
    numbers (e.g. a perplexity) takes lm-eval's aggregate as its mean.
    """
    if len(results) != 1:
        return
    task_results = next(iter(results.values()))
    for key, entry in summary.items():
        value = task_results.get(key if "," in key else f"{key},none")
        if not isinstance(value, (int, float)):
            continue
        entry["lm_eval_value"] = value
        if not entry["n"]:
            entry["mean"] = value
            entry["excluded_reason"] = "per-document values are not numbers; the mean is lm-eval's aggregate"


def _resume_state(out: Path, arm: Arm, signature: dict, resume: bool) -> dict | None:
    """The finished metrics to reuse, or None (lm-eval runs are all-or-nothing: the rest is deleted)."""
    if resumable(out, arm, signature, resume):
        metrics_path = out / "metrics.json"
        if metrics_path.is_file():
            metrics = read_run_file(metrics_path, "run metrics")
            if metrics.get("fingerprint") == arm.fingerprint and metrics.get("suite") == signature:
                return metrics
    clear_results(out)
    return None
