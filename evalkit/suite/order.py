"""The order a suite's samples are consumed in: seeded, shuffled, fixed.

A suite file is often sorted (by category, by difficulty, by template), so "the first N" of the
file is a biased subset, and a sequential comparison that read it in file order would see the
easy items first.  evalkit consumes every suite in one seeded shuffled order instead: the same
for every arm and every run, independent of the file's row order, and keeping a cluster's samples
together (clusters in shuffled order, each cluster's samples in shuffled order) so a prefix holds
whole clusters.  ``--limit N`` takes the first N samples of this order.
"""

from __future__ import annotations

import hashlib

from evalkit.types import Sample

__all__ = ["seeded_order"]


def _rank(suite: str, key: str) -> str:
    return hashlib.sha256(f"evalkit-order:{suite}:{key}".encode()).hexdigest()


def seeded_order(samples: list[Sample], suite: str, cluster_field: str | None = None) -> list[Sample]:
    """``samples`` in the suite's fixed shuffled order (whole clusters together when clustered).

    >>> from evalkit.types import Sample
    >>> rows = [Sample(id=str(i), input="x") for i in range(6)]
    >>> [s.id for s in seeded_order(rows, "demo")] == [s.id for s in seeded_order(rows[::-1], "demo")]
    True
    """
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        value = sample.metadata.get(cluster_field) if cluster_field else None
        label = f"cluster:{value}" if value is not None else f"sample:{sample.id}"
        groups.setdefault(label, []).append(sample)
    ordered = []
    for label in sorted(groups, key=lambda g: _rank(suite, g)):
        ordered.extend(sorted(groups[label], key=lambda s: _rank(suite, f"sample:{s.id}")))
    return ordered
