"""Suites are consumed in one seeded shuffled order: unbiased prefixes, whole clusters, stable."""

from __future__ import annotations

import json

import yaml

from evalkit.suite.loader import load_suite
from evalkit.suite.order import seeded_order
from evalkit.types import Sample


def _suite(folder, rows, **spec):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    doc = {"name": "ordered", "data": "data.jsonl", "scorers": [{"name": "exact_match"}], **spec}
    (folder / "suite.yaml").write_text(yaml.safe_dump(doc))
    return folder


def test_order_ignores_file_order_and_limit_is_its_prefix(tmp_path):
    rows = [{"id": f"q{i:03d}", "input": f"item {i}", "target": "x"} for i in range(200)]
    forward = load_suite(str(_suite(tmp_path / "a", rows)))
    backward = load_suite(str(_suite(tmp_path / "b", rows[::-1])))
    ids = [s.id for s in forward.samples]
    assert ids == [s.id for s in backward.samples]
    assert ids != sorted(ids)  # shuffled, not file order
    limited = load_suite(str(tmp_path / "a"), limit=40)
    assert [s.id for s in limited.samples] == ids[:40]
    # A prefix is an unbiased subset: about as many of the file's first half as of its second.
    first_half = sum(1 for sid in ids[:40] if int(sid[1:]) < 100)
    assert 10 <= first_half <= 30


def test_clusters_stay_together_and_enter_whole(tmp_path):
    rows = [{"id": f"s{i:03d}", "input": f"item {i}", "target": "x", "metadata": {"template": f"t{i % 7}"}}
            for i in range(70)]
    suite = load_suite(str(_suite(tmp_path / "c", rows, cluster_field="template")))
    labels = [s.metadata["template"] for s in suite.samples]
    runs = [labels[0]] + [b for a, b in zip(labels, labels[1:]) if a != b]
    assert len(runs) == 7 and len(set(runs)) == 7  # each template's samples are contiguous


def test_order_depends_on_the_suite_name_only_through_a_fixed_hash():
    samples = [Sample(id=str(i), input="x") for i in range(30)]
    assert seeded_order(samples, "a") == seeded_order(list(reversed(samples)), "a")
    assert [s.id for s in seeded_order(samples, "a")] != [s.id for s in seeded_order(samples, "b")]
