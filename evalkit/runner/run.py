"""`run_suite`: generate (cached, resumable), score and summarise one arm on one suite; `run_arm`: many."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.judge.usage import write_judge_usage
from evalkit.lmeval.runner import run_lm_eval_suite
from evalkit.models.draws import draw_seed, samples_per_item
from evalkit.models.fingerprint import generation_key
from evalkit.models.loader import Arm
from evalkit.redact import mask_secret
from evalkit.runner.context import announce, recorded_warnings
from evalkit.runner.render_cache import render_all
from evalkit.runner.rundir import (
    HEADER,
    RunResult,
    arm_run_dir,
    metrics_document,
    resumable,
    run_header,
    suite_signature,
)
from evalkit.runner.schema import read_run_file
from evalkit.runner.scoring import score_samples, summarise
from evalkit.runner.store import (
    append_jsonl,
    read_jsonl_tolerant,
    utf8_safe,
    write_json_atomic,
    write_jsonl_atomic,
)
from evalkit.suite.loader import Suite
from evalkit.types import Generation

ProgressFn = Callable[[int, int], None]


Item = tuple[str, int]  # (sample id, draw index)


def run_suite(
    arm: Arm,
    suite: Suite,
    out_dir: str | Path,
    *,
    cache=None,
    resume: bool = True,
    progress: ProgressFn | None = None,
    draws: int | None = None,
) -> RunResult:
    """Generate, score and summarise; finished (sample, draw) pairs on disk are never recomputed.

    ``draws`` (``--draws``) overrides the suite's and the model spec's
    ``samples_per_item``: each sample is generated that many times, draw d
    with its own derived seed (:func:`evalkit.models.draws.draw_seed`).
    """
    k = effective_draws(arm, suite, draws)
    if suite.spec.engine == "lm-eval":
        return run_lm_eval_suite(arm, suite, out_dir, resume=resume, progress=progress, cache=cache)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvalkitError(f"{out}: cannot create the run directory: {exc.strerror or exc}.") from None
    started = time.perf_counter()
    signature = suite_signature(suite)
    config = arm.spec.generation.merged(
        max_new_tokens=suite.spec.generation.max_new_tokens, stop=suite.spec.generation.stop
    )
    decoding = config.decoding()
    done = _resume_state(out, arm, signature, resume, k)
    write_json_atomic(out / HEADER, run_header(arm, suite, signature, decoding, samples_per_item=k))
    # Rendered prompts and their context check come from the cache when it has them (no tokenizer load).
    inputs = {s.id: suite.render_prompt(s) for s in suite.samples}
    prompts, warnings = render_all(arm.backend, inputs, config.max_new_tokens, suite.name, cache=cache,
                                   fingerprint=arm.fingerprint)
    announce(warnings)
    pending = [(s.id, d) for s in suite.samples for d in range(k) if (s.id, d) not in done]
    seeds = {item: draw_seed(config.seed, *item) for item in pending}
    keys = {
        item: generation_key(arm.fingerprint_parts, prompts[item[0]], {**decoding, "seed": seeds[item]})
        for item in pending
    }
    hits = cache.get_many(list(keys.values())) if cache is not None and pending else {}
    from_cache = [
        Generation.from_dict(
            {**hits[keys[item]].to_dict(), "sample_id": item[0], "draw": item[1], "cached": True}
        )
        for item in pending
        if keys[item] in hits
    ]
    total = len(suite.samples) * k
    if from_cache:
        append_jsonl(out / "generations.jsonl", [generation_row(g, k) for g in from_cache])
        done.update({(g.sample_id, g.draw): g for g in from_cache})
    if progress:
        progress(len(done), total)
    to_generate = [item for item in pending if item not in done]
    # The backend sees one id per (sample, draw); with k = 1 it is the sample id itself.
    work_ids = {item: item[0] if k == 1 else f"{item[0]}#draw{item[1]}" for item in to_generate}
    items_by_work_id = {work_id: item for item, work_id in work_ids.items()}

    secret = _api_key(arm)

    def on_batch(batch: list[Generation]) -> None:
        items = [items_by_work_id[g.sample_id] for g in batch]
        batch = [replace(g, sample_id=sid, draw=d) for g, (sid, d) in zip(batch, items)]
        if secret:  # a server that echoes the API key must not get it into run files or the cache
            batch = [_masked(g, secret) for g in batch]
        append_jsonl(out / "generations.jsonl", [generation_row(g, k) for g in batch])
        if cache is not None:
            # Text UTF-8 cannot carry (lone surrogates from a server) is kept in the run files, not cached.
            storable = [g for g in batch if utf8_safe(g.text)]
            cache.put_many(arm.fingerprint, [(keys[(g.sample_id, g.draw)], g) for g in storable])
        done.update({(g.sample_id, g.draw): g for g in batch})
        if progress:
            progress(len(done), total)

    resumed = total - len(pending)
    if to_generate:
        work = [(work_ids[item], prompts[item[0]]) for item in to_generate]
        # Per-prompt seeds only when there are repeated draws: with k = 1 every seed is config.seed.
        extra = {"seeds": [seeds[item] for item in to_generate]} if k > 1 else {}
        arm.backend.generate(work, config, on_batch=on_batch, **extra)
    gen_seconds = time.perf_counter() - started
    engine = getattr(arm.backend, "engine_stats", None) if to_generate else None
    metrics = score_run_dir(out, suite, generations=done, gen_seconds=gen_seconds, arm=arm, warnings=warnings,
                            engine=engine, cache=cache)
    return RunResult(out, metrics, generated=len(to_generate), cached=len(from_cache), resumed=resumed)


def run_arm(
    arm: Arm,
    suites: list[Suite],
    root: Path,
    *,
    cache=None,
    resume: bool = True,
    progress: Callable | None = None,
    draws: int | None = None,
) -> list[RunResult]:
    """Run one arm on several suites, each in its own run directory under ``root``.

    ``draws`` (``--draws``) overrides every suite's ``samples_per_item``; all
    arm/suite pairs are checked before anything runs.
    """
    counts = [effective_draws(arm, suite, draws) for suite in suites]
    results = []
    for suite, k in zip(suites, counts):
        out = arm_run_dir(root, arm, suite.name)
        if progress is None:
            results.append(run_suite(arm, suite, out, cache=cache, resume=resume, draws=draws))
            continue
        with progress(f"{arm.name} · {suite.name}", len(suite.samples) * k or None) as update:
            results.append(
                run_suite(arm, suite, out, cache=cache, resume=resume, progress=update, draws=draws)
            )
    return results


def effective_draws(arm: Arm, suite: Suite, draws: int | None = None) -> int:
    """Draws per item for this arm on this suite (``draws``, else suite, else spec, else 1); checked."""
    return samples_per_item(
        arm.spec.generation,
        suite_name=suite.name,
        suite_engine=suite.spec.engine,
        suite_value=suite.spec.samples_per_item,
        draws=draws,
    )


def generation_row(generation: Generation, samples_per_item: int) -> dict:
    """One generations.jsonl row: with k > 1 every row names its ``draw`` (0 too); k = 1 rows never do."""
    row = generation.to_dict()
    if samples_per_item > 1:
        row["draw"] = generation.draw
    return row


def score_run_dir(
    out: Path, suite: Suite, *, generations=None, gen_seconds=None, arm: Arm | None = None, warnings=None,
    engine: dict | None = None, cache=None,
) -> dict:
    """(Re-)score a run directory from its generations; never generates.

    ``engine``: the generation engine's stats of this run (dtype, torch threads and why, prefill and
    decode counts), recorded as ``metrics.json``'s ``engine``; a re-score keeps the recorded ones.
    ``cache``: the generation cache, whose ``scores`` table answers scorers that cache their scores.
    """
    started = time.perf_counter()
    header = read_run_file(out / "run.json", "run header")
    k = int(header.get("samples_per_item") or 1)
    if header["suite"]["data_sha256"] != suite.data_sha256 and generations is None:
        raise EvalkitError(
            f"{out}: the run was made on a different version of suite {suite.name!r} (data changed).",
            hint="re-run the suite instead of re-scoring",
        )
    if generations is None:
        generations = {}
        for row in read_jsonl_tolerant(out / "generations.jsonl"):
            generation = Generation.from_dict(row)
            if generation.draw < k:
                generations[(generation.sample_id, generation.draw)] = generation
    rows = score_samples(suite, generations, samples_per_item=k, cache=cache)
    write_jsonl_atomic(out / "scores.jsonl", rows)
    write_judge_usage(out, rows)
    metrics = metrics_document(
        header,
        suite,
        summarise(rows, list(suite.scorers), samples_per_item=k),
        n_samples=len(suite.samples),
        generations=[g.to_dict() for g in generations.values()],
        timings={
            "generate_s": round(gen_seconds, 3) if gen_seconds is not None else None,
            "score_s": round(time.perf_counter() - started, 3),
        },
        samples_per_item=k,
        extra={"warnings": list(warnings if warnings is not None else recorded_warnings(out)),
               "engine": engine if engine is not None else _recorded_engine(out)},
    )
    write_json_atomic(out / "metrics.json", metrics)
    return metrics


def _recorded_engine(out: Path) -> dict | None:
    """The engine stats an earlier scoring of ``out`` recorded (kept when it is re-scored)."""
    try:
        previous = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return previous.get("engine") if isinstance(previous, dict) else None


def _resume_state(out: Path, arm: Arm, signature: dict, resume: bool, k: int) -> dict[Item, Generation]:
    """The finished (sample, draw) generations of an earlier run in ``out`` (draws < ``k``, no errors)."""
    if not resumable(out, arm, signature, resume):
        return {}
    path = out / "generations.jsonl"
    rows = read_jsonl_tolerant(path)
    done = {}
    for row in rows:
        generation = Generation.from_dict(row)
        if generation.error is None and generation.draw < k:
            done[(generation.sample_id, generation.draw)] = generation
    kept = [generation_row(g, k) for g in done.values()]
    # Rewrite when failed samples are dropped (they are retried), draws beyond k are dropped, rows of
    # another k need their draw field added or removed, or a kill left a torn last line, which the next
    # append would otherwise glue onto a good row.
    if kept != rows or _torn_tail(path):
        write_jsonl_atomic(path, kept)
    return done


def _api_key(arm: Arm) -> str | None:
    """The served model's API key (read from the variable its spec names), if any."""
    name = getattr(arm.spec, "api_key_env", None)
    return os.environ.get(name, "").strip() or None if name else None


def _masked(generation: Generation, secret: str) -> Generation:
    text, error = mask_secret(generation.text, secret), mask_secret(generation.error or "", secret) or None
    if text == generation.text and error == generation.error:
        return generation
    return replace(generation, text=text, error=error)


def _torn_tail(path: Path) -> bool:
    """True when the file's last line is unfinished (no final newline)."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    with path.open("rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) != b"\n"

