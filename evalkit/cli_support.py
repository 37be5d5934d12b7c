"""CLI plumbing shared by commands: error handling, progress bars, tables."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from evalkit.errors import EvalkitError, bounded
from evalkit.notices import Notice

LOG_WIDTH = 140  # columns when output goes to a file or CI log and COLUMNS is not set


def _console(stderr: bool) -> Console:
    """A rich console; piped or logged output (CI) gets LOG_WIDTH columns instead of rich's 80.

    At 80 columns the verdict table of a three-arm comparison truncates the arm
    names and wraps every verdict over several lines.
    """
    stream = sys.stderr if stderr else sys.stdout
    piped = not (hasattr(stream, "isatty") and stream.isatty())
    return Console(stderr=stderr, width=LOG_WIDTH if piped and not os.environ.get("COLUMNS") else None)


console = _console(stderr=False)
err_console = _console(stderr=True)
_DEBUG = {"on": bool(os.environ.get("EVALKIT_DEBUG"))}


def set_debug(flag: bool) -> None:
    """Show tracebacks for errors (``--debug``)."""
    _DEBUG["on"] = _DEBUG["on"] or flag


def print_error(exc: EvalkitError) -> None:
    """``error: <message>`` (+ ``hint:``) on stderr, bounded in size and with credentials redacted."""
    from evalkit.redact import redact_text

    # The message is data (paths, JSON paths, values), not markup: "[value, passed]" must survive.
    message = bounded(redact_text(exc.message))
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    if exc.hint:
        hint = bounded(redact_text(exc.hint))
        err_console.print(f"[yellow]hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)


def _is_cli_control(exc: Exception) -> bool:
    """typer/click's own exceptions (``typer.Exit(1)`` of a failed gate, a bad parameter) pass through."""
    return type(exc).__module__.split(".")[0] in ("typer", "click")


def handle_errors(fn: Callable) -> Callable:
    """Turn errors into a one-paragraph message and exit 2; Ctrl-C into exit 130 with a resume hint.

    Exit 1 is reserved for a failed gate, so nothing else may end with it:
    environment faults (full disk, read-only folder, damaged database, corrupt
    weights) are mapped by :func:`evalkit.faults.as_evalkit_error`, and any
    other exception (a bug) still exits 2, with ``--debug`` for the traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except EvalkitError as exc:
            if _DEBUG["on"]:
                raise
            print_error(exc)
            sys.exit(exc.exit_code)
        except SystemExit:
            raise
        except KeyboardInterrupt:
            err_console.print(
                "[yellow]interrupted.[/] Finished samples are saved; run the same command with --resume "
                "to continue without recomputing them."
            )
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback, never exit 1
            if _DEBUG["on"] or _is_cli_control(exc):
                raise
            from evalkit.faults import as_evalkit_error

            mapped = as_evalkit_error(exc)
            if mapped is None:
                mapped = EvalkitError(
                    f"unexpected {type(exc).__name__}: {exc}",
                    hint="this is a bug in evalkit; run again with --debug for the traceback and report it",
                )
            print_error(mapped)
            sys.exit(mapped.exit_code)

    return wrapper


@contextmanager
def progress_bar(description: str, total: int | None = None):
    """A rich progress bar; yields ``update(done, total)``."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)

        def update(done: int, new_total: int | None = None) -> None:
            progress.update(task, completed=done, total=new_total if new_total is not None else total)

        yield update


def print_notice(notice: Notice) -> None:
    """A library notice on stderr, one line: ``label: text`` (the label in yellow on a terminal)."""
    text = escape(notice.text)
    line = f"[yellow]{escape(notice.label)}:[/] {text}" if notice.label else text
    err_console.print(line, highlight=False, soft_wrap=True)


def print_skipped(name: str, reason: str) -> None:
    """The notice for a suite that could not run here (the others still run)."""
    err_console.print(f"[yellow]skipped {escape(name)}:[/] {escape(reason)}")


def fmt_score(value: float | None) -> str:
    """A metric as a percentage-like string, or an em dash."""
    return "—" if value is None else f"{value:.3f}"
