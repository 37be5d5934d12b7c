"""The `evalkit leakage` command (registered onto the main CLI app)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from evalkit.cli_support import console, handle_errors
from evalkit.compare.schema import MergeParity


def print_leakage(report: dict) -> None:
    """A rich table: per suite its size, exact and near-duplicate counts and share; the leaked samples."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"leakage: {report['source']}", caption=report["method"])
    for col in ("suite", "samples", "exact", "near", "share"):
        table.add_column(col, justify="left" if col == "suite" else "right")
    for block in report["suites"]:
        table.add_row(
            block["suite"], str(block["n"]), str(block["exact"]), str(block["near"]), f"{block['share']:.1%}"
        )
    console.print(table)
    if report.get("not_checked"):
        console.print(
            f"not checked (lm-eval suites have no samples before they run): "
            f"{', '.join(report['not_checked'])}"
        )
    leaked = [(b["suite"], s) for b in report["suites"] for s in b["samples"]]
    if leaked:
        detail = Table(title="leaked samples")
        for col in ("suite", "sample", "match", "similarity", "training row"):
            detail.add_column(col)
        for suite, sample in leaked:
            detail.add_row(
                suite,
                escape(sample["id"]),
                sample["kind"],
                f"{sample['similarity']:.2f}",
                escape(sample["train_where"]),
            )
        console.print(detail)


def register(app: typer.Typer) -> None:
    """Add the leakage command to ``app``."""

    @app.command()
    @handle_errors
    def leakage(
        train_data: Path = typer.Argument(
            ..., metavar="TRAIN_DATA", help="Training file (any train format)."
        ),
        suite: list[str] = typer.Option(..., "--suite", "-s", help="Suite name or folder (repeatable)."),
        data_format: str = typer.Option(
            "auto", "--data-format", help="alpaca, messages, conversations, prompt_completion or auto."
        ),
        limit: int = typer.Option(None, help="Only the first N samples of each suite."),
        output_format: str = typer.Option("table", "--format", help="table or json."),
    ) -> None:
        """Find suite samples whose input also occurs (exactly or nearly) in a training file."""
        from evalkit.errors import ConfigError
        from evalkit.suite.loader import load_suite
        from evalkit.train.data import FORMAT_FIELDS
        from evalkit.trust.leakage import leakage_report

        if data_format != "auto" and data_format not in FORMAT_FIELDS:
            raise ConfigError(
                f"--data-format {data_format!r}: use auto or one of {', '.join(FORMAT_FIELDS)}."
            )
        if output_format not in ("table", "json"):
            raise ConfigError(f"--format {output_format!r}: use table or json.")
        suites = [load_suite(name, limit=limit, build_scorers=False) for name in suite]
        report = leakage_report(train_data, suites, data_format)
        if output_format == "json":
            print(json.dumps(report, indent=2))
        else:
            print_leakage(report)


def print_parity(rows: list[MergeParity]) -> None:
    """The merge check: per suite how often the merged model disagrees with the adapter arm."""
    from rich.table import Table

    table = Table(title="merged model vs the adapter as tested")
    for col in (
        "suite",
        "metric",
        "n",
        "score flips",
        "flip rate",
        "text differs",
        "delta (95% CI)",
        "verdict",
    ):
        table.add_column(col, justify="left" if col in ("suite", "metric", "verdict") else "right")
    for r in rows:
        rate = "—" if r.flip_rate is None else f"{r.flip_rate:.1%}"
        text = "—" if r.text_diff_rate is None else f"{r.text_diff_rate:.1%}"
        table.add_row(
            r.suite,
            r.metric,
            str(r.n),
            str(r.flips),
            rate,
            text,
            f"{r.delta:+.3f} [{r.low:+.3f}, {r.high:+.3f}]",
            str(r.verdict),
        )
    console.print(table)


def register_merge(app: typer.Typer) -> None:
    """Add the merge command to ``app``."""

    @app.command()
    @handle_errors
    def merge(
        adapter_spec: Path = typer.Argument(..., metavar="ADAPTER_SPEC", help="Model spec with an adapter."),
        out: Path = typer.Option(..., help="Folder for the merged model (weights, tokenizer, merged.yaml)."),
        dtype: str = typer.Option("float32", help="float32, bfloat16 or float16."),
        force: bool = typer.Option(False, help="Replace an existing --out folder."),
        check: bool = typer.Option(False, "--check", help="Compare the merged model with the adapter arm."),
        suite: list[str] = typer.Option(
            [], "--suite", "-s", help="Suites for --check (default: the spec's)."
        ),
        limit: int = typer.Option(None, help="Only the first N samples of each suite (--check)."),
        check_out: Path = typer.Option(None, help="Report folder of --check (default OUT/check)."),
    ) -> None:
        """Merge a LoRA adapter into its base (deployable safetensors + model spec); --check its parity."""
        from evalkit.cli_support import progress_bar
        from evalkit.merge import MERGED_SPEC, merge_adapter, merge_check

        merged = out / MERGED_SPEC
        if check and merged.is_file() and not force:
            console.print(f"reusing the merged model in {out} (--force to merge again)")
        else:
            merged = merge_adapter(adapter_spec, out, dtype=dtype, force=force)
            console.print(f"merged model: {merged.parent}\nmodel spec: {merged}")
        if check:
            report = check_out or out / "check"
            comparison = merge_check(
                adapter_spec, merged, suites=suite, out=report, limit=limit, progress=progress_bar
            )
            print_parity(comparison.merge_check)
            console.print(f"report: {(report / 'index.html').resolve()}")
