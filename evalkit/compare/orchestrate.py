"""`compare`: run every arm (cached, one base load), build the comparison, write report files.

``write_outputs`` lives in :mod:`evalkit.report.outputs`; it is imported here too, where callers
have long found it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.cache import open_cache
from evalkit.compare.analysis import CompareOptions, arm_kind, build_comparison
from evalkit.compare.baseline import baseline_arm, baseline_runs, load_baseline
from evalkit.compare.gate import GateSpec, evaluate_gate, load_gate
from evalkit.compare.names import check_distinct_suites, distinct
from evalkit.compare.rundata import RunData, load_run_dir
from evalkit.compare.schema import Comparison, validate_written
from evalkit.config import locate
from evalkit.errors import ConfigError, EvalkitError
from evalkit.lmeval.reproduce import attach_to_comparison as attach_lm_eval_reproduce
from evalkit.models.engine_choice import engine_notice
from evalkit.models.hf_loading import BasePool
from evalkit.models.loader import load_model
from evalkit.models.spec import ModelSpec, load_model_spec, with_dtype
from evalkit.notices import notify
from evalkit.redact import redact_record
from evalkit.report.outputs import write_outputs
from evalkit.runner.context import run_warnings
from evalkit.runner.run import effective_draws, run_arm
from evalkit.runner.store import read_jsonl_tolerant
from evalkit.runner.usable import DEFAULT_MAX_FAILED_SHARE, unusable_in_runs
from evalkit.suite.loader import load_suite
from evalkit.suite.select import load_suites
from evalkit.trust.checks import TrustOptions, attach_trust, check_arms

__all__ = ["CompareRequest", "compare", "write_outputs"]

AHEAD_DIR = ".ahead"  # under runs/: a sequential compare's generations ahead of the looks, removed after


@dataclass
class CompareRequest:
    """Everything `evalkit compare` was asked to do."""

    specs: list[str | Path | ModelSpec]
    suites: list[str] = field(default_factory=list)
    out: Path = Path("reports/compare")
    limit: int | None = None
    gate: Path | None = None
    against: Path | None = None
    allow_mismatch: bool = False
    use_cache: bool = True
    resume: bool = True
    history: Path | None = None
    options: CompareOptions = field(default_factory=CompareOptions)
    name: str | None = None
    pairwise: bool = False
    draws: int | None = None  # seeded draws per item, overriding the suites' and specs' samples_per_item
    trust: TrustOptions = field(default_factory=TrustOptions)
    max_failed_share: float = DEFAULT_MAX_FAILED_SHARE  # more failed samples than this: the suite is unusable
    sequential: bool = False  # generate in rounds, stop each suite once settled (compare/sequential_run.py)
    round_size: int = 32
    generate_ahead: int = 128  # samples per suite a local arm generates at once in a sequential compare
    dtype: str | None = None  # every arm's compute dtype, overriding the specs' (all arms alike: no confound)


def shared_suites(specs: list[ModelSpec], requested: list[str]) -> list[str]:
    """``--suite`` if given; else the suites every spec names (specs naming none take any)."""
    if requested:
        return list(requested)
    named = [s.suites for s in specs if s.suites]
    if not named:
        raise ConfigError("no suites to compare on: pass --suite NAME or list suites: in the model specs.")
    common = [name for name in named[0] if all(name in other for other in named[1:])]
    if not common:
        raise ConfigError(
            "the model specs share no suites: "
            + "; ".join(f"{s.display_name}: {', '.join(s.suites)}" for s in specs if s.suites)
            + ". Pass --suite to choose."
        )
    return common


def unique_names(specs: list[ModelSpec], reserved: tuple[str, ...] = ()) -> list[ModelSpec]:
    """Make arm names unique (arms are keyed by name in every output).

    A repeated name gets the first free ``-2``, ``-3``, ... suffix, checked
    against every name in the comparison (``x``, ``x-2``, ``x`` gives ``x``,
    ``x-2``, ``x-3``), and never one in ``reserved`` (the baseline arm's).
    """
    return [spec.model_copy(update={"name": name}) if name != spec.display_name else spec
            for spec, name in zip(specs, distinct([s.display_name for s in specs], reserved))]


def compare(request: CompareRequest, progress: Callable | None = None) -> Comparison:
    """Run the comparison end to end and write comparison.json, index.html, summary.md into ``out``."""
    started = time.perf_counter()
    if request.sequential and request.against:
        _refuse_sequential_baseline()
    specs = [with_dtype(s if isinstance(s, ModelSpec) else load_model_spec(s), request.dtype)
             for s in request.specs]
    baseline_doc = load_baseline(request.against) if request.against else None
    specs = unique_names(specs, reserved=(baseline_arm(baseline_doc)["name"],) if baseline_doc else ())
    if request.trust.allow_base_mismatch:
        specs = [s.model_copy(update={"allow_base_mismatch": True}) for s in specs]
    if len(specs) < (1 if request.against else 2):
        raise ConfigError(
            "compare needs at least two model specs (the first is the reference), "
            "or one spec and --against BASELINE."
        )
    suites, skipped = load_suites(shared_suites(specs, request.suites), limit=request.limit)
    skipped = [(_suite_label(name), reason) for name, reason in skipped]
    notices = [f"{label}: {reason}" for label, reason in skipped]
    if not suites:
        raise ConfigError("no suite could run: " + "; ".join(notices))
    check_distinct_suites(suites)
    gate = load_gate(request.gate) if request.gate else None
    if gate is not None:
        check_gate_suites(gate, request.gate, [s.name for s in suites] + [name for name, _ in skipped])
    if request.history is not None:  # a malformed history file fails now, not after every arm ran
        from evalkit.compare.history import history_rows

        history_rows(request.history)
    pool = BasePool()
    cache = open_cache() if request.use_cache else None
    arms = [load_model(spec, pool=pool) for spec in specs]
    for line in filter(None, map(engine_notice, arms)):
        notify(line, "notice")
        notices.append(line)
    for arm in arms:  # a greedy arm asked for k > 1 draws fails now, not after the other arms ran
        for suite in suites:
            effective_draws(arm, suite, request.draws)
    trust = check_arms(
        arms, suites, request.trust, reference_loaded=baseline_doc is None, use_cache=request.use_cache
    )
    sequential = request.sequential or (gate is not None and gate.sequential)
    if sequential and request.against:
        _refuse_sequential_baseline()

    arms_begun: set[str] = set()

    def run_and_load(arm, batch: list) -> list[RunData]:
        # --fresh redoes an arm's runs once; a sequential compare's later rounds continue them.
        resume = request.resume or arm.name in arms_begun
        arms_begun.add(arm.name)
        results = run_arm(arm, batch, request.out / "runs", cache=cache, resume=resume,
                          progress=progress, draws=request.draws)
        return [_load_run(suite, result) for suite, result in zip(batch, results)]

    timings: dict = {}
    sequential_doc, overrides = None, None
    if sequential:
        from evalkit.compare.sequential_run import SequentialSettings, run_rounds

        t0 = time.perf_counter()
        settings = SequentialSettings(round_size=request.round_size, generate_ahead=request.generate_ahead,
                                      alpha=1 - request.options.confidence)
        scratch = request.out / "runs" / AHEAD_DIR

        def generate_ahead(arm, batch: list) -> bool:
            # into the cache only: the round that reaches these samples reads them from there
            if cache is None or arm.spec.backend == "openai":
                return False
            run_arm(arm, batch, scratch, cache=cache, resume=False, progress=progress, draws=request.draws)
            return True

        shutil.rmtree(scratch, ignore_errors=True)
        runs, sequential_doc, overrides = run_rounds(
            arms, suites, settings=settings, gate=gate, min_effect=request.options.min_effect,
            run_and_load=run_and_load, generate_ahead=generate_ahead,
        )
        shutil.rmtree(scratch, ignore_errors=True)
        timings["sequential_s"] = round(time.perf_counter() - t0, 2)
    else:
        runs = {s.name: {} for s in suites}
        for arm in arms:
            t0 = time.perf_counter()
            for suite, run in zip(suites, run_and_load(arm, suites)):
                runs[suite.name][arm.name] = run
            timings[arm.name] = round(time.perf_counter() - t0, 2)
    arm_docs = [
        {
            "name": a.name,
            "kind": arm_kind(a.spec.model_dump()),
            "fingerprint": a.fingerprint,
            "spec": redact_record(a.spec.model_dump()),
            "engine": a.engine,
        }
        for a in arms
    ]
    if baseline_doc is not None:
        arm_docs, runs = _with_baseline(request, baseline_doc, arm_docs, runs)
    options = request.options
    if gate is not None and gate.forgetting_budget is not None:
        options = CompareOptions(**{**options.__dict__, "forgetting_budget": gate.forgetting_budget})
    name = request.name or request.out.name
    notices += run_warnings(runs)
    unusable = unusable_in_runs(runs, request.max_failed_share)
    notices += [f"no usable result: {u.describe(request.max_failed_share)}" for u in unusable]
    comparison = build_comparison(name, arm_docs, runs, options, notices=notices, sequential=overrides)
    comparison["sequential"] = sequential_doc
    attach_lm_eval_reproduce(comparison, runs)  # how each lm-eval suite was prompted, and the lm_eval command
    comparison["metadata"]["unusable"] = [u.record(request.max_failed_share) for u in unusable]
    comparison["suites"].extend(skipped_suite_block(n, reason) for n, reason in skipped)
    attach_trust(comparison, trust, runs)
    if request.pairwise:
        _add_pairwise(comparison, suites)
    doc = validate_written(comparison)  # assembled: from here on the comparison is typed
    if gate is not None:
        doc.gate = evaluate_gate(doc, gate, str(request.gate))
    if request.history is not None:
        from evalkit.compare.history import append_history, history_rows

        append_history(request.history, doc)
        doc.history = history_rows(request.history)
    doc.metadata.timings = {"arms_s": timings, "total_s": round(time.perf_counter() - started, 2)}
    return write_outputs(doc, request.out)


def _refuse_sequential_baseline() -> None:
    raise ConfigError(
        "--sequential runs every arm in rounds, so its reference must be a model spec, not --against "
        "a baseline.",
        hint="compare the reference spec and the candidate side by side, or drop --sequential",
    )


def _load_run(suite, result) -> RunData:
    """A finished run of ``suite`` as compare reads it (lm-eval runs rebuild their inputs)."""
    samples, category = {s.id: s for s in suite.samples}, suite.spec.category_field
    if suite.spec.engine == "lm-eval":  # no samples before an lm-eval run: rebuild inputs from it
        from evalkit.lmeval.convert import samples_from_generations

        samples = samples_from_generations(read_jsonl_tolerant(result.out_dir / "generations.jsonl"))
        category = "task"
    return load_run_dir(result.out_dir, samples, category, suite.spec.cluster_field)


def _suite_label(name_or_path: str) -> str:
    """A skipped suite's own name (what gates and reports use), else what the user typed."""
    try:
        return load_suite(name_or_path, build_scorers=False).name
    except EvalkitError:
        return name_or_path


def check_gate_suites(gate: GateSpec, source: str | Path, suite_names: list[str]) -> None:
    """Refuse, before anything runs, gate rules naming suites that are not part of this comparison."""
    missing = [name for name in gate.suites if name not in suite_names]
    if missing:
        raise ConfigError(
            f"{locate(source, 'suites', missing[0])}: suites.{missing[0]}: the gate has rules for "
            f"suite(s) not in this comparison: {', '.join(missing)} (it runs: {', '.join(suite_names)}).",
            hint="fix the suite name in the gate file, or add the suite with --suite",
        )


def _with_baseline(
    request: CompareRequest, doc: dict, arm_docs: list[dict], runs: dict[str, dict[str, RunData]]
):
    ref = baseline_arm(doc)
    current = {suite: by_arm[arm_docs[0]["name"]] for suite, by_arm in runs.items()}
    base = baseline_runs(doc, current, allow_mismatch=request.allow_mismatch, source=str(request.against))
    for suite, run in base.items():
        run.inputs = current[suite].inputs
        runs[suite] = {ref["name"]: run, **runs[suite]}
    return [ref, *arm_docs], runs


def _add_pairwise(comparison: dict, suites: list) -> None:
    """Ask each judged suite's judge to compare every candidate with the reference, in both orders."""
    from evalkit.judge import add_pairwise_to_comparison, pairwise_config_from_rubric

    for suite in suites:
        for cfg in suite.spec.scorers:
            if cfg.name == "judge_rubric":
                add_pairwise_to_comparison(comparison, suite.name, pairwise_config_from_rubric(cfg.options))


def skipped_suite_block(name: str, reason: str) -> dict:
    """A suite entry that says plainly why it was not run."""
    return {
        "name": name,
        "kind": "task",
        "version": None,
        "metric": None,
        "binary": False,
        "n": 0,
        "scores": {},
        "deltas": [],
        "other_metrics": {},
        "skipped": reason,
    }
