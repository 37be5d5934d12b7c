"""Rich tables for comparison results on the terminal."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from evalkit.cli_support import console
from evalkit.compare.schema import ArmScore, Comparison, SequentialLog, Verdict, as_comparison

_COLOURS = {
    Verdict.IMPROVED: "green",
    Verdict.REGRESSED: "red",
    Verdict.NO_CHANGE: "cyan",
    Verdict.INCONCLUSIVE: "yellow",
}


def print_comparison(comparison: Comparison | dict) -> None:
    """The verdict table, forgetting and prompt-only conclusions, notices and the gate."""
    comparison = as_comparison(comparison)
    arms = [a.name for a in comparison.arms]
    table = Table(title=f"evalkit compare · reference: {arms[0]}")
    table.add_column("suite")
    table.add_column("metric")
    for arm in arms:
        table.add_column(arm, justify="right")
    table.add_column("verdicts")
    for suite in comparison.suites:
        scores = [_score(suite.scores.get(arm)) for arm in arms]
        verdicts = "; ".join(
            f"{d.arm}: [{_COLOURS.get(d.verdict, 'white')}]{d.verdict}[/] ({d.delta:+.3f})"
            for d in suite.deltas
        )
        table.add_row(suite.name, suite.metric, *scores, suite.skipped or verdicts)
    console.print(table)
    _print_sequential(comparison.sequential)
    for f in comparison.forgetting:
        console.print(f"forgetting · {f.verdict}: {f.text}")
    for p in comparison.prompt_only:
        console.print(f"prompt-only · {p.conclusion}")
    for suite in comparison.suites:
        for d in suite.deltas:
            if d.power_note:
                console.print(f"[dim]power · {suite.name} · {d.arm}: {d.power_note}[/]")
            if d.agreement:
                console.print(f"[yellow]note · {suite.name} · {d.arm}:[/] {d.agreement}")
            if d.n_clusters is not None and d.n_clusters < d.n:
                icc = f", ICC {d.icc:.2f}" if d.icc is not None else ""
                console.print(f"[dim]clusters · {suite.name} · {d.arm}: {d.n} samples in "
                              f"{d.n_clusters} clusters{icc}, design effect {d.design_effect:.2f}[/]")
    for notice in comparison.metadata.notices:
        console.print(f"[yellow]notice:[/] {escape(notice)}")  # paths like data[train] are not markup
    gate = comparison.gate
    if gate is not None:
        status = "[green]PASSED[/]" if gate.passed else "[red]FAILED[/]"
        console.print(f"gate ({gate.arm}): {status}")
        for rule in gate.rules:
            mark = "[green]✓[/]" if rule.passed else "[red]✗[/]"
            console.print(f"  {mark} {rule.name}: {rule.message}")


def _score(entry: ArmScore | None) -> str:
    if not entry or entry.mean is None:
        return "—"
    return f"{entry.mean:.3f} [{entry.low:.2f}, {entry.high:.2f}]"


def _print_sequential(doc: SequentialLog | None) -> None:
    """Per suite: samples used of the total, why it stopped, and the fixed-n cost it saved."""
    if not doc:
        return
    used = sum(s.generated for s in doc.suites.values())
    fixed = sum(s.fixed_n_would_generate for s in doc.suites.values())
    for name, s in doc.suites.items():
        console.print(f"sequential · {name}: decided after {s.used} of {s.total} samples "
                      f"({s.reason}); {s.generated} generations where fixed n needs "
                      f"{s.fixed_n_would_generate}")
    if fixed:
        console.print(f"sequential · {len(doc.rounds)} rounds, {used} of {fixed} generations "
                      f"({used / fixed:.0%}); {doc.method}; α {doc.alpha_per_test:.3g} for early stops"
                      + (f", {doc.alpha_final:.3g} for the final look" if doc.alpha_final else ""))
