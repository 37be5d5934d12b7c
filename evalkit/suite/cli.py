"""The `evalkit suites` commands (registered onto the main CLI app): list and show suites found by name."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from evalkit.cli_support import console, handle_errors
from evalkit.errors import ConfigError

FORMATS = ("table", "json")


def _check_format(output_format: str) -> None:
    if output_format not in FORMATS:
        raise ConfigError(f"--format {output_format!r} is not one of {', '.join(FORMATS)}.")


def register(app: typer.Typer) -> None:
    """Add the ``suites`` command group to ``app``."""
    suites_app = typer.Typer(no_args_is_help=True, help="List and inspect the suites evalkit finds by name.")
    app.add_typer(suites_app, name="suites")

    @suites_app.command("list")
    @handle_errors
    def suites_list(
        output_format: str = typer.Option("table", "--format", help="table or json."),
    ) -> None:
        """Every suite reachable by name: $EVALKIT_SUITES folders, ./suites, then the shipped ones."""
        from evalkit.suite.catalog import list_suites

        _check_format(output_format)
        entries = list_suites()
        if output_format == "json":
            print(json.dumps([e.to_dict() for e in entries], indent=2))
            return
        table = Table(title="evalkit suites")
        for col in ("name", "kind", "version", "samples", "source", "description"):
            table.add_column(col, justify="right" if col == "samples" else "left",
                             overflow="fold" if col == "description" else "ellipsis")
        for e in entries:
            description = f"[red]unreadable: {e.error}[/]" if e.error else e.description
            samples = "—" if e.samples is None else str(e.samples)
            table.add_row(e.name, e.kind, e.version, samples, e.source, description)
        console.print(table)

    @suites_app.command("show")
    @handle_errors
    def suites_show(
        name: str = typer.Argument(..., help="Suite name or folder."),
        output_format: str = typer.Option("table", "--format", help="table or json."),
    ) -> None:
        """One suite: its spec, folder, data, sample count and provenance."""
        import yaml

        from evalkit.suite.catalog import show_suite

        _check_format(output_format)
        entry, spec = show_suite(name)
        if entry.error:
            raise ConfigError(f"suite {name!r} ({entry.folder}): {entry.error}")
        doc = {**entry.to_dict(), "spec": spec.model_dump(exclude_none=True)}
        if output_format == "json":
            print(json.dumps(doc, indent=2))
            return
        samples = "—" if entry.samples is None else str(entry.samples)
        console.print(f"[bold]{entry.name}[/] ({entry.kind}, version {entry.version}, {entry.source})",
                      highlight=False)
        for label, value in (("folder", entry.folder), ("data", entry.data or "—"), ("samples", samples),
                             ("provenance", entry.provenance or "—")):
            console.print(f"  {label}: {value}", highlight=False, markup=False, soft_wrap=True)
        console.print("  spec:", highlight=False)
        written = spec.model_dump(exclude_defaults=True)  # what the suite.yaml sets
        console.print(yaml.safe_dump(written, sort_keys=False, allow_unicode=True, width=100),
                      highlight=False, markup=False)
