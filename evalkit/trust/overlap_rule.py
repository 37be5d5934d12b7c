"""The gate rule ``max_overlap``: the share of a suite's samples found in the gated arm's training data."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.compare.schema import Comparison


def overlap_rule(comparison: Comparison, arm: str, limit: float) -> dict:
    """Fail when any suite's leaked share (exact + near) exceeds ``limit``, or leakage was not checked."""
    name = f"max_overlap {limit:g}"
    reports = [
        r
        for r in (comparison.trust or {}).get("leakage") or []
        if r.get("arms") is None or arm in r["arms"]
    ]
    if not reports:
        return {
            "name": name,
            "suite": None,
            "passed": False,
            "message": f"no training data is known for {arm} (no evalkit card with a local data file, "
            "no --train-data), so leakage cannot be judged",
        }
    worst = max(((b["share"], b, r) for r in reports for b in r["suites"]), key=lambda t: t[0], default=None)
    if worst is None:
        return {"name": name, "suite": None, "passed": True, "message": "no suite with samples to check"}
    share, block, report = worst
    return {
        "name": name,
        "suite": block["suite"],
        "passed": share <= limit,
        "message": f"{block['suite']}: {block['exact']} exact + {block['near']} near-duplicate sample(s) "
        f"of {block['n']} ({share:.1%}) occur in {report['source']}; allowed {limit:.1%}",
    }
