"""Plotly figures for the HTML report, returned as plain JSON-ready dicts.

Each builder takes the (already cleaned) comparison and returns a list of
``{"id", "title", "figure"}`` entries; the page draws them with
``Plotly.newPlot``. Strings going into figures are HTML-escaped because
plotly.js interprets a subset of HTML in titles, labels and hover text.
"""

from __future__ import annotations

import html
import json
from datetime import date
from typing import Any

import plotly.graph_objects as go

from evalkit.compare.schema import Verdict
from evalkit.report.text import finite, fmt_ci, fmt_delta, fmt_p, fmt_score

# Okabe–Ito palette: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
VERDICT_STYLE = {  # verdict -> (colour, marker symbol)
    Verdict.IMPROVED: ("#0072B2", "triangle-up"),
    Verdict.REGRESSED: ("#D55E00", "triangle-down"),
    Verdict.NO_CHANGE: ("#6B7280", "circle"),
    Verdict.INCONCLUSIVE: ("#E69F00", "diamond"),
}
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def _t(value: Any) -> str:
    """Text for plotly: escaped so plotly's pseudo-HTML shows it literally."""
    return html.escape(str(value), quote=False)


def _layout(title: str, height: int, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": _t(title), "x": 0.01, "font": {"size": 15}},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 48, "b": 48},
        "font": {"family": _FONT, "size": 12, "color": "#1f2937"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hoverlabel": {"font": {"family": _FONT}},
        "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
        "template": "none",
    }
    layout.update(extra)
    return layout


def _axis(title: str = "", **extra: Any) -> dict[str, Any]:
    axis = {"title": {"text": _t(title)}, "gridcolor": "#e5e7eb", "zeroline": False, "automargin": True}
    axis.update(extra)
    return axis


def _figure(data: list[Any], layout: dict[str, Any]) -> dict[str, Any]:
    return json.loads(go.Figure(data=data, layout=layout).to_json())


def arm_colours(comparison: dict[str, Any]) -> dict[str, str]:
    """A stable colour per arm, in the order the arms are listed."""
    names = [str(arm.get("name")) for arm in comparison.get("arms") or []]
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def score_figures(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """One bar chart per suite: every arm's mean score with its confidence interval."""
    colours = arm_colours(comparison)
    figures = []
    for index, suite in enumerate(comparison.get("suites") or []):
        binary = bool(suite.get("binary"))
        arms, means, plus, minus, texts, hovers = [], [], [], [], [], []
        for arm, score in (suite.get("scores") or {}).items():
            mean = finite(score.get("mean"))
            if mean is None or score.get("excluded_reason"):
                continue
            low, high = finite(score.get("low")), finite(score.get("high"))
            arms.append(arm)
            means.append(mean)
            plus.append(max(0.0, high - mean) if high is not None else 0.0)
            minus.append(max(0.0, mean - low) if low is not None else 0.0)
            texts.append(fmt_score(mean, binary))
            ci = fmt_ci(low, high, binary)
            hovers.append(_t(f"{arm}: {fmt_score(mean, binary)} {ci} (n={score.get('n')})"))
        if not arms:
            continue
        bar = go.Bar(
            x=[_t(a) for a in arms], y=means, text=texts, textposition="outside", cliponaxis=False,
            marker={"color": [colours.get(a, PALETTE[0]) for a in arms]},
            error_y={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus,
                     "color": "#374151", "thickness": 1.5, "width": 6},
            hovertext=hovers, hoverinfo="text", showlegend=False,
        )
        yaxis = _axis(str(suite.get("metric") or "score"))
        if binary:
            yaxis.update(range=[0, 1.08], tickformat=".0%")
        layout = _layout(str(suite.get("name")), 300, yaxis=yaxis,
                         xaxis=_axis(), bargap=0.45)
        figures.append({"id": f"fig-score-{index}", "title": str(suite.get("name")),
                        "figure": _figure([bar], layout)})
    return figures


def forest_figures(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """Delta and CI per suite × candidate arm against the reference, with a zero line.

    Binary metrics (percentage points) and continuous metrics get separate
    panels so one axis never mixes units.
    """
    groups: dict[bool, list[tuple[dict[str, Any], dict[str, Any]]]] = {True: [], False: []}
    for suite in comparison.get("suites") or []:
        for delta in suite.get("deltas") or []:
            if finite(delta.get("delta")) is not None:
                groups[bool(suite.get("binary"))].append((suite, delta))
    figures = []
    for binary, rows in groups.items():
        if not rows:
            continue
        traces = []
        for verdict, (colour, symbol) in [*VERDICT_STYLE.items(), ("other", ("#4B5563", "square"))]:
            chosen = [(s, d) for s, d in rows
                      if (d.get("verdict") if d.get("verdict") in VERDICT_STYLE else "other") == verdict]
            if chosen:
                traces.append(_forest_trace(chosen, verdict, colour, symbol, binary))
        labels = [_t(f"{s.get('name')} · {d.get('arm')}") for s, d in rows]
        xaxis = _axis("change vs reference" + (" (percentage points)" if binary else ""))
        if binary:
            xaxis["tickformat"] = "+.0%"
        layout = _layout(
            "Change vs reference, 95% CI" + (" — pass rates" if binary else " — scores"),
            max(220, 70 + 34 * len(rows)), xaxis=xaxis,
            yaxis=_axis(categoryorder="array", categoryarray=labels[::-1]),
            shapes=[{"type": "line", "xref": "x", "yref": "paper", "x0": 0, "x1": 0, "y0": 0, "y1": 1,
                     "line": {"color": "#111827", "width": 1.5, "dash": "dot"}}],
        )
        kind = "binary" if binary else "continuous"
        figures.append({"id": f"fig-forest-{kind}", "title": "Deltas", "figure": _figure(traces, layout)})
    return figures


def _forest_trace(rows: list[tuple[dict, dict]], verdict: str, colour: str, symbol: str,
                  binary: bool) -> go.Scatter:
    xs, ys, plus, minus, hovers = [], [], [], [], []
    for suite, delta in rows:
        value = finite(delta.get("delta"))
        low, high = finite(delta.get("low")), finite(delta.get("high"))
        xs.append(value)
        ys.append(_t(f"{suite.get('name')} · {delta.get('arm')}"))
        plus.append(max(0.0, high - value) if high is not None else 0.0)
        minus.append(max(0.0, value - low) if low is not None else 0.0)
        hovers.append(_t(
            f"{suite.get('name')} · {delta.get('arm')}: {fmt_delta(value, binary)} "
            f"{fmt_ci(low, high, binary, signed=True)}, p(Holm)={fmt_p(delta.get('p_holm'))}, "
            f"{delta.get('verdict')}"))
    return go.Scatter(
        x=xs, y=ys, mode="markers", name=_t(verdict),
        marker={"color": colour, "symbol": symbol, "size": 11, "line": {"color": "#ffffff", "width": 1}},
        error_x={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus,
                 "color": colour, "thickness": 2, "width": 5},
        hovertext=hovers, hoverinfo="text",
    )


def prompt_only_figures(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """Fraction of the fine-tuning gain a prompt recovers, with its CI, per suite."""
    rows = [r for r in comparison.get("prompt_only") or [] if r.get("defined") and finite(r.get("ratio"))
            is not None]
    if not rows:
        return []
    labels, ratios, plus, minus, hovers = [], [], [], [], []
    for row in rows:
        ratio = finite(row.get("ratio"))
        low, high = finite(row.get("low")), finite(row.get("high"))
        label = _t(f"{row.get('suite')} · {row.get('prompt_arm')} vs {row.get('tuned_arm')}")
        labels.append(label)
        ratios.append(ratio)
        plus.append(max(0.0, high - ratio) if high is not None else 0.0)
        minus.append(max(0.0, ratio - low) if low is not None else 0.0)
        hovers.append(label + _t(f": {ratio:.0%} recovered"))
    bar = go.Bar(
        x=ratios, y=labels, orientation="h", marker={"color": PALETTE[1]},
        error_x={"type": "data", "symmetric": False, "array": plus, "arrayminus": minus,
                 "color": "#374151", "thickness": 1.5, "width": 6},
        text=[f"{r:.0%}" for r in ratios], textposition="inside", hovertext=hovers, hoverinfo="text",
        showlegend=False,
    )
    line = {"type": "line", "xref": "x", "yref": "paper", "y0": 0, "y1": 1}
    layout = _layout(
        "Share of the fine-tuning gain recovered by a prompt", max(200, 90 + 40 * len(rows)),
        xaxis=_axis("recovered fraction (100% = prompt matches fine-tuning)", tickformat=".0%"),
        yaxis=_axis(autorange="reversed"),
        shapes=[dict(line, x0=0, x1=0, line={"color": "#111827", "width": 1}),
                dict(line, x0=1, x1=1, line={"color": "#009E73", "width": 1.5, "dash": "dash"})],
    )
    return [{"id": "fig-prompt-only", "title": "Prompt-only", "figure": _figure([bar], layout)}]


def checkpoint_figures(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """Task gain vs forgetting per checkpoint, with the Pareto front and the accepted one."""
    points = [c for c in comparison.get("checkpoints") or []
              if finite(c.get("task_gain")) is not None and finite(c.get("forgetting")) is not None]
    if not points:
        return []

    def hover(c: dict[str, Any]) -> str:
        return _t(f"step {c.get('step')} ({c.get('arm')}): task gain {finite(c.get('task_gain')):+.3g}, "
                  f"forgetting {finite(c.get('forgetting')):+.3g}")

    def scatter(chosen: list[dict[str, Any]], name: str, **kw: Any) -> go.Scatter:
        return go.Scatter(x=[finite(c.get("forgetting")) for c in chosen],
                          y=[finite(c.get("task_gain")) for c in chosen], name=name,
                          hovertext=[hover(c) for c in chosen], hoverinfo="text", **kw)

    traces = [scatter(points, "checkpoint", mode="markers+text", text=[_t(c.get("step")) for c in points],
                      textposition="top center", marker={"color": PALETTE[0], "size": 9})]
    front = sorted((c for c in points if c.get("pareto")), key=lambda c: finite(c.get("forgetting")))
    if front:
        traces.append(scatter(front, "Pareto front", mode="lines+markers",
                              line={"color": PALETTE[1], "width": 2, "dash": "dash"},
                              marker={"color": PALETTE[1], "size": 11, "symbol": "diamond-open"}))
    accepted = [c for c in points if c.get("accepted")]
    if accepted:
        traces.append(scatter(accepted, "accepted", mode="markers",
                              marker={"color": PALETTE[2], "size": 18, "symbol": "star",
                                      "line": {"color": "#111827", "width": 1}}))
    layout = _layout("Checkpoints: task gain vs forgetting", 380,
                     xaxis=_axis("change on general suites (right is better)", zeroline=True),
                     yaxis=_axis("task gain vs reference", zeroline=True))
    return [{"id": "fig-checkpoints", "title": "Checkpoints", "figure": _figure(traces, layout)}]


def history_figures(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """Mean score over time per suite × arm, regressions marked with a cross."""
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for point in comparison.get("history") or []:
        if finite(point.get("mean")) is not None and point.get("date"):
            series.setdefault((str(point.get("suite")), str(point.get("arm"))), []).append(point)
    if not series:
        return []
    traces = []
    for index, ((suite, arm), points) in enumerate(sorted(series.items())):
        points.sort(key=lambda p: str(p.get("date")))
        traces.append(go.Scatter(
            x=[_t(p.get("date")) for p in points], y=[finite(p.get("mean")) for p in points],
            mode="lines+markers", name=_t(f"{suite} · {arm}"),
            line={"color": PALETTE[index % len(PALETTE)], "width": 2}, marker={"size": 6}))
    bad = [p for points in series.values() for p in points if p.get("regression")]
    if bad:
        traces.append(go.Scatter(
            x=[_t(p.get("date")) for p in bad], y=[finite(p.get("mean")) for p in bad], mode="markers",
            name="regression", marker={"color": "#D55E00", "size": 14, "symbol": "x-thin-open",
                                       "line": {"width": 3, "color": "#D55E00"}},
            hovertext=[_t(f"regression: {p.get('suite')} · {p.get('arm')} on {p.get('date')}") for p in bad],
            hoverinfo="text"))
    xaxis = _axis("date", type="date", tickformat="%b %d, %Y")
    days = sorted(str(p.get("date"))[:10] for points in series.values() for p in points)
    try:
        if (date.fromisoformat(days[-1]) - date.fromisoformat(days[0])).days <= 14:
            xaxis["dtick"] = 86_400_000  # one tick per day for short histories
    except ValueError:
        pass
    layout = _layout("Score history", 360, xaxis=xaxis, yaxis=_axis("mean score"))
    return [{"id": "fig-history", "title": "History", "figure": _figure(traces, layout)}]


def all_figures(comparison: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every figure of the report, keyed by the section that shows it."""
    return {
        "scores": score_figures(comparison),
        "forest": forest_figures(comparison),
        "prompt_only": prompt_only_figures(comparison),
        "checkpoints": checkpoint_figures(comparison),
        "history": history_figures(comparison),
    }
