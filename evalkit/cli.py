"""The `evalkit` command line: thin wrappers over the Python API."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from evalkit.cli_checks import number_in, one_of
from evalkit.cli_support import (
    console,
    fmt_score,
    handle_errors,
    print_notice,
    print_skipped,
    progress_bar,
    set_debug,
)
from evalkit.models.spec import DTYPES
from evalkit.notices import set_listener
from evalkit.runner.usable import DEFAULT_MAX_FAILED_SHARE

if TYPE_CHECKING:
    from evalkit.compare.schema import Comparison

_MAX_FAILED_HELP = (
    "A suite on which more than this share of samples failed (or none scored) has no usable result: "
    "exit 2 with the reasons."
)


def _max_failed_option():
    return typer.Option(DEFAULT_MAX_FAILED_SHARE, "--max-failed-share", help=_MAX_FAILED_HELP,
                        callback=number_in(0, 1))


def _draws_option():
    return typer.Option(None, "--draws", min=1, max=64,
                        help="Seeded draws per item at temperature > 0 (overrides samples_per_item).")


def _file_option(help_text: str):
    """An optional output/input file option; a directory is refused before anything runs."""
    return typer.Option(None, help=help_text, dir_okay=False)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Is the fine-tune better than its base, and what did it break?",
)
models_app = typer.Typer(no_args_is_help=True, help="Pull and inspect embedded models.")
cache_app = typer.Typer(no_args_is_help=True, help="Inspect and prune the generation cache.")
baseline_app = typer.Typer(no_args_is_help=True, help="Save and bless committed baselines.")
app.add_typer(models_app, name="models")
app.add_typer(cache_app, name="cache")
app.add_typer(baseline_app, name="baseline")


def _dtype_option():
    return typer.Option(
        None, "--dtype", callback=one_of(*DTYPES),
        help="Compute dtype of every arm, overriding the specs' (auto: bfloat16 where the hardware has it).",
    )


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    set_debug(debug)
    set_listener(print_notice)  # the library hands its notices over; the CLI prints them
    # SIGTERM behaves like Ctrl-C: finished work is on disk, the run can be resumed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)


@app.command()
@handle_errors
def run(
    model: Path = typer.Argument(..., help="Model spec YAML."),
    suite: list[str] = typer.Option([], "--suite", "-s", help="Suite name or folder (repeatable)."),
    limit: Optional[int] = typer.Option(None, help="Only the first N samples of each suite."),
    out: Optional[Path] = typer.Option(None, help="Run directory (default runs/<model name>)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the generation cache."),
    resume: bool = typer.Option(
        True, "--resume/--fresh", help="Continue an interrupted run (default) or redo it."
    ),
    against: Optional[Path] = typer.Option(None, help="Compare with a committed baseline JSON."),
    allow_mismatch: bool = typer.Option(False, help="Compare with a baseline of another fingerprint."),
    draws: Optional[int] = _draws_option(),
    max_failed_share: float = _max_failed_option(),
    dtype: Optional[str] = _dtype_option(),
) -> None:
    """Generate and score one model on one or more suites."""
    from evalkit.api import run_model
    from evalkit.runner.usable import UnusableResults, check_run_dir

    if against is not None:  # a corrupt baseline fails now, not after the whole run
        from evalkit.compare.baseline import load_baseline

        load_baseline(against)
    results = run_model(
        model,
        suites=suite,
        limit=limit,
        out=out,
        use_cache=not no_cache,
        resume=resume,
        progress=progress_bar,
        draws=draws,
        notice=print_skipped,
        dtype=dtype,
    )
    table = Table(title="evalkit run")
    for col in ("suite", "metric", "score", "n", "errors", "generated", "cached"):
        table.add_column(col, justify="left" if col in ("suite", "metric") else "right")
    for res in results:
        m = res.metrics
        main = m["metrics"][m["primary_metric"]]
        table.add_row(
            m["suite"]["name"],
            m["primary_metric"],
            fmt_score(main["mean"]),
            str(main["n"]),
            str(main["errors"]),
            str(res.generated),
            str(res.cached + res.resumed),
        )
    console.print(table)
    from evalkit.lmeval.reproduce import run_output_lines

    for line in (line for res in results for line in run_output_lines(res.metrics)):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"run files: {results[0].out_dir.parent if results else out}")
    unusable = [u for u in (check_run_dir(r.out_dir, r.metrics, max_failed_share) for r in results) if u]
    if unusable:
        raise UnusableResults(unusable, max_failed_share, written=str(results[0].out_dir.parent))
    if against is not None:
        from evalkit.cli_output import print_comparison
        from evalkit.compare.against import compare_runs_with_baseline

        print_comparison(
            compare_runs_with_baseline([r.out_dir for r in results], against, allow_mismatch=allow_mismatch)
        )


@app.command()
@handle_errors
def score(
    run_dir: Path = typer.Argument(..., help="A run directory (or a folder of them)."),
    max_failed_share: float = _max_failed_option(),
) -> None:
    """Re-score finished runs from their generations (never re-generates)."""
    from evalkit.api import rescore, run_dirs_under
    from evalkit.runner.usable import UnusableResults, check_run_dir

    all_metrics = rescore(run_dir)
    for metrics in all_metrics:
        main = metrics["metrics"][metrics["primary_metric"]]
        console.print(f"{metrics['suite']['name']}: {metrics['primary_metric']} = {fmt_score(main['mean'])}")
    checked = (check_run_dir(d, m, max_failed_share) for d, m in zip(run_dirs_under(run_dir), all_metrics))
    unusable = [u for u in checked if u]
    if unusable:
        raise UnusableResults(unusable, max_failed_share, written=str(run_dir))


@app.command()
@handle_errors
def compare(
    specs: list[Path] = typer.Argument(..., help="Model specs; the first is the reference."),
    suite: list[str] = typer.Option([], "--suite", "-s", help="Suites to compare on (overrides the specs')."),
    out: Path = typer.Option(
        Path("reports/compare"), help="Output directory (report, comparison.json, runs)."
    ),
    limit: Optional[int] = typer.Option(None, help="Only the first N samples of each suite."),
    gate: Optional[Path] = _file_option("gate.yaml; exit code 1 when it fails."),
    against: Optional[Path] = _file_option("A committed baseline JSON to use as the reference."),
    allow_mismatch: bool = typer.Option(
        False, help="Accept a baseline of another fingerprint or suite version."
    ),
    junit: Optional[Path] = _file_option("Write JUnit XML (one test case per gate rule)."),
    summary: Optional[Path] = _file_option("Write a GitHub-flavoured markdown summary."),
    history: Optional[Path] = _file_option("Append scores to this history file and plot it."),
    output_format: str = typer.Option(
        "table", "--format", help="table or json (comparison on stdout).", callback=one_of("table", "json")
    ),
    min_effect: float = typer.Option(
        0.05,
        help="Smallest change worth detecting (for power notes/verdicts), a share in (0, 1).",
        callback=number_in(0, 1, low_open=True, high_open=True, why="A share of the score: 0.05 = 5 points."),
    ),
    confidence: float = typer.Option(
        0.95, help="Confidence level of intervals and tests, in (0.5, 1).",
        callback=number_in(0.5, 1, low_open=True, high_open=True),
    ),
    max_failed_share: float = _max_failed_option(),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the generation cache."),
    resume: bool = typer.Option(
        True, "--resume/--fresh", help="Continue interrupted runs (default) or redo them."
    ),
    pairwise: bool = typer.Option(
        False, "--pairwise", help="Also ask each judge_rubric suite's judge to compare outputs pairwise."
    ),
    draws: Optional[int] = _draws_option(),
    allow_noop_adapter: bool = typer.Option(False, help="Compare an adapter that does not change the model."),
    allow_confound: bool = typer.Option(False, help="Compare arms that differ in more than what they test."),
    allow_base_mismatch: bool = typer.Option(False, help="Accept adapters trained on another base."),
    train_data: list[Path] = typer.Option([], help="Training file to check the suites against (repeatable)."),
    sequential: bool = typer.Option(
        False, "--sequential", help="Generate in rounds; stop each suite once its verdict is settled."
    ),
    round_size: int = typer.Option(
        32, min=4, max=4096, help="Samples per suite per round with --sequential."
    ),
    generate_ahead: int = typer.Option(
        128, min=0, max=65536,
        help="With --sequential, samples per suite a local model generates at once, ahead of the looks "
             "(one engine batch; 0: each round as it comes).",
    ),
    dtype: Optional[str] = _dtype_option(),
) -> None:
    """Compare models side by side with paired statistics; write the HTML report."""
    from evalkit.compare.analysis import CompareOptions
    from evalkit.compare.orchestrate import CompareRequest
    from evalkit.compare.orchestrate import compare as run_compare
    from evalkit.trust.checks import TrustOptions

    request = CompareRequest(
        specs=list(specs),
        suites=suite,
        out=out,
        limit=limit,
        gate=gate,
        against=against,
        allow_mismatch=allow_mismatch,
        use_cache=not no_cache,
        resume=resume,
        history=history,
        options=CompareOptions(min_effect=min_effect, confidence=confidence),
        pairwise=pairwise,
        draws=draws,
        trust=TrustOptions(allow_noop_adapter=allow_noop_adapter, allow_confound=allow_confound,
                           allow_base_mismatch=allow_base_mismatch, train_data=list(train_data)),
        max_failed_share=max_failed_share,
        sequential=sequential,
        round_size=round_size,
        generate_ahead=generate_ahead,
        dtype=dtype,
    )
    comparison = run_compare(request, progress=progress_bar)
    finish_comparison(comparison, out, junit=junit, summary=summary, output_format=output_format)


def finish_comparison(comparison: Comparison, out: Path, *, junit, summary, output_format: str) -> None:
    """Print the verdicts, write JUnit/summary files, and exit with the gate's code.

    A suite without a usable result for some arm is exit 2 (after the files are
    written), before the gate's exit 1: nothing was judged there.
    """
    from evalkit.cli_output import print_comparison
    from evalkit.report.junit import write_junit
    from evalkit.report.markdown import render_markdown_summary
    from evalkit.runner.store import append_text_atomic, dumps

    if junit is not None:
        write_junit(comparison, junit)
    if summary is not None:
        append_text_atomic(summary, render_markdown_summary(comparison))  # appends, as $GITHUB_STEP_SUMMARY
    if output_format == "json":
        print(dumps(comparison.to_doc(), indent=2, default=str))
    else:
        print_comparison(comparison)
        console.print(f"report: {(out / 'index.html').resolve()}")
    unusable = comparison.metadata.unusable
    if unusable:
        from evalkit.errors import EvalkitError

        raise EvalkitError(
            f"no usable result for {len(unusable)} suite/arm pair(s); nothing can be concluded from them"
            + ("" if comparison.gate is None else " and the gate cannot pass")
            + ":\n" + "\n".join(f"  {entry.message}" for entry in unusable)
            + f"\nThe report is written ({(out / 'index.html').resolve()}).",
            hint="fix the cause above and run the same command again (finished samples are kept, failed ones "
            "retried); --max-failed-share sets how many failures a suite tolerates",
        )
    gate = comparison.gate
    if gate is not None and not gate.passed:
        raise typer.Exit(1)


@baseline_app.command("save")
@handle_errors
def baseline_save(
    source: Path = typer.Argument(..., help="A run directory or a compare output directory."),
    name: str = typer.Option(..., help="Baseline name (written to baselines/NAME.json)."),
    arm: Optional[str] = typer.Option(None, help="Which arm, when the source holds several."),
    directory: Path = typer.Option(Path("baselines"), help="Where baselines live."),
) -> None:
    """Save a new baseline from finished runs (refuses to overwrite)."""
    from evalkit.compare.baseline import save_baseline

    console.print(f"saved {save_baseline(source, name, directory=directory, arm=arm)}")


@baseline_app.command("bless")
@handle_errors
def baseline_bless(
    source: Path = typer.Argument(..., help="A run directory or a compare output directory."),
    name: str = typer.Option(..., help="Baseline name to update."),
    arm: Optional[str] = typer.Option(None, help="Which arm, when the source holds several."),
    directory: Path = typer.Option(Path("baselines"), help="Where baselines live."),
) -> None:
    """Deliberately replace a baseline with newer runs (recording what it replaced)."""
    from evalkit.compare.baseline import save_baseline

    console.print(f"blessed {save_baseline(source, name, directory=directory, arm=arm, bless=True)}")


@models_app.command("pull")
@handle_errors
def models_pull(name: str = typer.Argument("smollm2-135m-instruct"), force: bool = False) -> None:
    """Fetch and convert an embedded model into the cache."""
    from evalkit.models.registry import pull_model

    path = pull_model(name, force=force, progress=lambda msg: console.print(f"  {msg}"))
    console.print(f"{name}: {path}")


@models_app.command("list")
@handle_errors
def models_list() -> None:
    """Show cached models."""
    from evalkit.models.registry import list_models

    table = Table(title="cached models")
    for col in ("name", "size", "weights sha256", "health", "path"):
        table.add_column(col)
    models = list_models()
    for m in models:
        health = "ok" if not m.problems else "DAMAGED: " + "; ".join(m.problems)
        table.add_row(m.name, f"{m.size_bytes / 1e6:.0f} MB", m.weights_sha256[:16], health, str(m.path))
    console.print(table)
    damaged = [m.name for m in models if m.problems]
    if damaged:
        from evalkit.errors import ModelError

        details = "; ".join(f"{m.name}: {', '.join(m.problems)}" for m in models if m.problems)
        raise ModelError(
            f"damaged weights in the model cache: {details}.",
            hint=" / ".join(f"`evalkit models pull --force {name}`" for name in damaged),
        )


@models_app.command("path")
@handle_errors
def models_path(name: str) -> None:
    """Print the converted model directory (for lm_eval, vLLM, transformers serve)."""
    from evalkit.models.registry import model_path

    print(model_path(name))


@cache_app.command("stats")
@handle_errors
def cache_stats() -> None:
    """Entries and size of the cache: generations, rendered prompts, lm-eval suite results, scores."""
    from evalkit.api import open_cache

    stats = open_cache().stats()
    console.print(
        f"{stats.entries} generations, {stats.fingerprints} model fingerprints, "
        f"{stats.tables.get('renders', 0)} rendered prompts, {stats.tables.get('lmeval_results', 0)} "
        f"lm-eval suite results, {stats.tables.get('scores', 0)} cached scores, "
        f"{stats.bytes / 1e6:.1f} MB at {stats.path}"
    )


@cache_app.command("prune")
@handle_errors
def cache_prune(
    older_than_days: Optional[float] = typer.Option(
        None, help="Drop entries unused for this many days.", callback=number_in(0, None)
    ),
    fingerprint: Optional[str] = typer.Option(None, help="Drop entries of this fingerprint (prefix)."),
    all_entries: bool = typer.Option(False, "--all", help="Drop everything."),
) -> None:
    """Delete cache entries."""
    from evalkit.api import open_cache

    if older_than_days is None and fingerprint is None and not all_entries:
        raise typer.BadParameter("give --older-than-days, --fingerprint or --all")
    removed = open_cache().prune(older_than_days=older_than_days, fingerprint=fingerprint)
    console.print(f"removed {removed} cache entries")


_CLEAR_TABLES = {"all": ("generations", "renders", "lmeval_results", "scores"),
                 "generations": ("generations",), "renders": ("renders",), "lm-eval": ("lmeval_results",),
                 "scores": ("scores",)}


@cache_app.command("clear")
@handle_errors
def cache_clear(
    only: str = typer.Option("all", "--only",
                             help="What to drop: all, generations, renders, lm-eval or scores."),
) -> None:
    """Empty the cache (or one part of it): the next run recomputes what it needs."""
    from evalkit.api import open_cache

    if only not in _CLEAR_TABLES:
        raise typer.BadParameter(f"--only must be one of {', '.join(_CLEAR_TABLES)} (got {only!r})")
    removed = open_cache().prune(tables=_CLEAR_TABLES[only])
    console.print(f"removed {removed} cache entries")


@cache_app.command("repair")
@handle_errors
def cache_repair() -> None:
    """Check the generation and judge caches; a damaged one is moved aside and an empty one started."""
    from evalkit.api import open_cache
    from evalkit.judge.cache import JudgeCache

    console.print(f"generation cache: {open_cache().repair()}")
    console.print(f"judge cache: {JudgeCache.open_default().repair()}")


def _register_plugins() -> None:
    # Commands that live with their feature package.
    from evalkit.suite.cli import register as register_suites
    from evalkit.train.cli import register as register_train
    from evalkit.trust.cli import register as register_trust
    from evalkit.trust.cli import register_merge

    register_train(app)
    register_suites(app)
    register_trust(app)
    register_merge(app)


_register_plugins()


def main() -> None:
    """Console-script entry point."""
    app()
