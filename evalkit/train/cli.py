"""The `evalkit train` command (registered onto the main CLI app) and its rich progress display."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from evalkit.cli_checks import number_in
from evalkit.cli_support import console, err_console, fmt_score, handle_errors, progress_bar


def rich_progress():
    """A ``TrainerCallback`` drawing a progress bar: steps, loss, validation loss, tokens/s, elapsed and ETA.

    Built on demand so that importing this module (at every CLI start) does not import transformers.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        """A progress bar for training: steps, loss, validation loss, tokens/s, elapsed time and ETA."""

        def __init__(self):
            self.progress = None
            self.task = None
            self.fields = {"loss": "-", "val": "-", "tok_s": "-"}
            self.t0 = 0.0
            self.tokens0 = self.step0 = 0

        def on_train_begin(self, args, state, control, **kwargs):
            """Start the bar (at the resumed step when continuing)."""
            if not state.is_world_process_zero:
                return
            self.progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]} · val {task.fields[val]} · {task.fields[tok_s]} tok/s"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=err_console,
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step,
                                               **self.fields)
            self.t0, self.tokens0 = time.perf_counter(), state.num_input_tokens_seen
            self.step0 = state.global_step

        def on_step_end(self, args, state, control, **kwargs):
            """Advance the bar and refresh tokens/s."""
            if self.progress is None:
                return
            seconds = time.perf_counter() - self.t0
            if seconds > 0:
                self.fields["tok_s"] = f"{(state.num_input_tokens_seen - self.tokens0) / seconds:,.0f}"
            self.progress.update(self.task, completed=state.global_step, **self.fields)

        def on_log(self, args, state, control, logs=None, **kwargs):
            """Show the latest train and validation loss."""
            if self.progress is None or not logs:
                return
            if "loss" in logs:
                self.fields["loss"] = f"{logs['loss']:.3f}"
            if "eval_loss" in logs:
                self.fields["val"] = f"{logs['eval_loss']:.3f}"
                self.progress.console.print(f"  step {state.global_step}: validation loss "
                                            f"{logs['eval_loss']:.4f}")
            elif "loss" in logs and not err_console.is_terminal:  # a log file gets no live bar: one line
                seconds = time.perf_counter() - self.t0
                done = state.global_step - self.step0
                eta = seconds / done * (state.max_steps - state.global_step) if done else 0.0
                err_console.print(f"  step {state.global_step}/{state.max_steps}: loss "
                                  f"{self.fields['loss']}, {self.fields['tok_s']} tokens/s, eta {eta:.0f} s")
            self.progress.update(self.task, **self.fields)

        def on_train_end(self, args, state, control, **kwargs):
            """Stop the bar."""
            if self.progress is not None:
                self.progress.stop()
                self.progress = None

    return RichProgress()


def _print_curve(doc: dict) -> None:
    from rich.table import Table

    table = Table(title="checkpoints (deltas vs base)")
    suites = [s["name"] for s in doc["suites"]]
    for col in ("step", *suites, "task gain", "forgetting", "pareto", "accepted"):
        table.add_column(col, justify="right")
    table.add_row("base", *(fmt_score(doc["base"]["scores"].get(s)) for s in suites), "", "", "", "")
    for entry in doc["checkpoints"]:
        cells = [f"{fmt_score(entry['scores'][s]['score'])} ({_signed(entry['scores'][s]['delta'])})"
                 for s in suites]
        table.add_row(str(entry["step"]), *cells, _signed(entry["task_gain"]), _signed(entry["forgetting"]),
                      "◆" if entry["pareto"] else "", "★" if entry["arm"] == doc["best"] else
                      ("yes" if entry["accepted"] else "no"))
    console.print(table)
    if doc["best"]:
        console.print(f"best accepted checkpoint: {doc['best']} ({doc['best_dir']})")
    else:
        console.print(f"no checkpoint stays within the forgetting budget of {doc['forgetting_budget']}")


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


def register(app: typer.Typer) -> None:
    """Add the train command to ``app``."""

    @app.command()
    @handle_errors
    def train(
        spec_path: Path = typer.Argument(..., metavar="SPEC", help="Train spec YAML."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint."),
        eval_suites: Optional[str] = typer.Option(
            None, "--eval-suites", help="Comma-separated suites to score every checkpoint on."),
        compare_with: Optional[Path] = typer.Option(
            None, "--compare", help="A base model spec: compare it with the tuned arm."),
        compare_out: Optional[Path] = typer.Option(None, help="Compare output (default OUTPUT_DIR/compare)."),
        limit: Optional[int] = typer.Option(
            None, help="Only the first N samples of each evaluation suite.", callback=number_in(1, None)
        ),
        budget: Optional[float] = typer.Option(
            None, help="Forgetting budget (default: the spec's, 0.02).", callback=number_in(0, None)
        ),
        output_dir: Optional[Path] = typer.Option(None, help="Override the spec's output_dir."),
        max_steps: Optional[int] = typer.Option(
            None, help="Override training.max_steps.", callback=number_in(1, None)
        ),
        no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the generation cache."),
    ) -> None:
        """Train a QLoRA adapter; optionally score its checkpoints and compare it with the base."""
        import logging

        # bitsandbytes notes at import that an optional CPU inference kernel is missing (training needs none)
        logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
        from evalkit.train.spec import load_train_spec
        from evalkit.train.trainer import train as run_training

        spec = load_train_spec(spec_path)
        updates: dict = {}
        if output_dir is not None:
            updates["output_dir"] = str(output_dir.expanduser().resolve())
        if max_steps is not None:
            updates["training"] = spec.training.model_copy(update={"max_steps": max_steps})
        if eval_suites is not None:
            updates["eval_suites"] = [s.strip() for s in eval_suites.split(",") if s.strip()]
        if compare_with is not None and spec.reference is None and "generation" not in spec.model_fields_set:
            updates["reference"] = str(compare_with.expanduser().resolve())  # tuned.yaml decodes like it
        spec = spec.model_copy(update=updates) if updates else spec
        result = run_training(spec, resume=resume, callbacks=[rich_progress()])
        if result.interrupted:
            where = result.last_checkpoint or result.output_dir
            again = {"--output-dir": output_dir, "--max-steps": max_steps, "--eval-suites": eval_suites,
                     "--limit": limit, "--budget": budget, "--compare": compare_with,
                     "--compare-out": compare_out}
            words = ["evalkit", "train", str(spec_path), "--resume"]
            words += [w for flag, value in again.items() if value is not None for w in (flag, str(value))]
            err_console.print(f"[yellow]interrupted.[/] The last checkpoint is {where}. Continue with:\n"
                              f"  {shlex.join(words)}", highlight=False, soft_wrap=True)
            sys.exit(130)
        if not result.is_main:
            return
        stats = result.card["stats"]
        console.print(f"adapter: {result.output_dir}\nmodel spec: {result.tuned_spec}")
        console.print(f"{stats['steps']} steps, {stats['s_per_step']} s/step, "
                      f"{stats['train_examples_per_s']} examples/s, "
                      f"{stats['train_tokens_per_s']:,.0f} tokens/s, wall time {stats['wall_time_s']} s")
        curve = None
        if spec.eval_suites:
            from evalkit.train.checkpoints import evaluate_checkpoints

            curve = evaluate_checkpoints(result.output_dir, spec.eval_suites,
                                         budget=spec.forgetting_budget if budget is None else budget,
                                         limit=limit, use_cache=not no_cache, progress=progress_bar,
                                         notice=lambda m: err_console.print(f"[yellow]{m}[/]"))
            _print_curve(curve)
        if compare_with is not None:
            out = compare_out or result.output_dir / "compare"
            _compare(compare_with, result.tuned_spec, spec.eval_suites, out, limit, not no_cache, curve)


def _compare(base: Path, tuned: Path, suites: list[str], out: Path, limit, use_cache: bool, curve) -> None:
    from evalkit.cli_output import print_comparison
    from evalkit.compare.orchestrate import CompareRequest, compare, write_outputs

    comparison = compare(CompareRequest(specs=[base, tuned], suites=list(suites), out=out, limit=limit,
                                        use_cache=use_cache), progress=progress_bar)
    if curve is not None:
        comparison.checkpoints = curve["checkpoints"]
        comparison = write_outputs(comparison, out)
    print_comparison(comparison)
    console.print(f"report: {(out / 'index.html').resolve()}")
