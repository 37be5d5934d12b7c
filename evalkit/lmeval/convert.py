"""lm-eval's logged samples as evalkit per-sample scores and generations.

Each lm-eval document becomes one evalkit sample with a stable id,
``<task>-<doc id>``: the document's own ``id`` field when every document of
the task has a distinct one, else lm-eval's ``doc_id`` (its position in the
task's evaluation split). Each metric lm-eval computed for the document becomes
one score row, under the metric's name (``<metric>,<filter>`` for filters other
than ``none``), holding lm-eval's own per-document value, so the means evalkit
reports are lm-eval's numbers. The generation text is what the model answered:
the generated text for ``generate_until`` tasks, the highest-likelihood choice
for multiple-choice tasks.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from evalkit.types import Generation

NO_FILTER = "none"


@dataclass
class Converted:
    """Per-sample evalkit rows built from one lm-eval run."""

    generations: list[dict] = field(default_factory=list)
    scores: list[dict] = field(default_factory=list)
    metric_keys: list[str] = field(default_factory=list)
    id_source: dict[str, str] = field(default_factory=dict)


def metric_key(metric: str, filter_name: str) -> str:
    """The evalkit scorer key of an lm-eval metric under a filter."""
    return metric if filter_name == NO_FILTER else f"{metric},{filter_name}"


def sample_ids(task: str, entries: list[dict]) -> tuple[dict[int, str], str]:
    """Map lm-eval doc_ids to evalkit sample ids; also say which id was used (``id`` or ``doc_id``)."""
    docs = {e["doc_id"]: e.get("doc") for e in entries}
    own = {d: doc.get("id") for d, doc in docs.items() if isinstance(doc, dict)}
    values = [str(v) for v in own.values() if v is not None and str(v) != ""]
    if len(own) == len(docs) and len(values) == len(docs) and len(set(values)) == len(values):
        return {d: f"{task}-{own[d]}" for d in docs}, "id"
    return {d: f"{task}-{d}" for d in docs}, "doc_id"


def to_number(value: Any) -> tuple[float | None, bool | None, dict]:
    """One lm-eval per-document metric value as (value, passed, details).

    Booleans and 0/1 numbers are pass/fail; a list of booleans (IFEval's
    instruction-level results) is the fraction that is true (no pass/fail
    verdict: it is a proportion, not a 0/1 outcome); anything else that is not a number (e.g. a perplexity's
    ``(loglikelihood, words)`` pair) is kept in details only.
    """
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):  # numpy bools too
        return (1.0 if value else 0.0), bool(value), {}
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, bool) for v in value):
        return sum(value) / len(value), None, {"values": list(value), "all_true": all(value)}
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, None, {"lm_eval_value": _plain(value)}
    if math.isnan(number):
        return None, None, {"lm_eval_value": "nan"}
    return number, None, {}


def convert_samples(samples: dict[str, list[dict]], output_types: dict[str, str], primary: str,
                    seconds: float = 0.0, tokenizer=None) -> Converted:
    """evalkit generations and score rows for lm-eval's ``results["samples"]``, in task and doc order."""
    out = Converted()
    total = sum(len({e["doc_id"] for e in entries}) for entries in samples.values()) or 1
    for task in sorted(samples):
        entries = sorted(samples[task], key=lambda e: (e["doc_id"], e.get("filter", NO_FILTER)))
        ids, out.id_source[task] = sample_ids(task, entries)
        by_doc: dict[int, list[dict]] = {}
        for entry in entries:
            by_doc.setdefault(entry["doc_id"], []).append(entry)
        for doc_id, group in by_doc.items():
            sid = ids[doc_id]
            shown = _shown_entry(group, primary)
            out.generations.append(
                _generation(sid, task, doc_id, shown, output_types.get(task, ""), seconds / total, tokenizer)
            )
            for entry in group:
                out.scores.extend(_score_rows(sid, task, doc_id, entry, output_types.get(task, "")))
    keys = []
    for row in out.scores:
        if row["scorer"] not in keys:
            keys.append(row["scorer"])
    out.metric_keys = keys
    _mark_binary(out.scores)
    return out


def _shown_entry(group: list[dict], primary: str) -> dict:
    """The entry whose response is shown: the primary metric's filter, else the first."""
    for entry in group:
        if any(metric_key(m, entry.get("filter", NO_FILTER)) == primary for m in entry.get("metrics", [])):
            return entry
    return group[0]


def _generation(sid: str, task: str, doc_id: int, entry: dict, output_type: str, seconds: float,
                tokenizer) -> dict:
    """One generations.jsonl row; token counts re-tokenize the prompt and output (lm-eval reports none)."""
    arguments = entry.get("arguments") or []
    context = _context(arguments)
    text, extra = _answer(entry, output_type)
    prompt_tokens = new_tokens = 0
    if tokenizer is not None:
        prompt_tokens = len(tokenizer(context, add_special_tokens=False)["input_ids"]) if context else 0
        if output_type == "generate_until" and text:
            new_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    row = Generation(sid, text, prompt_tokens=prompt_tokens, new_tokens=new_tokens,
                     latency_s=round(seconds, 6)).to_dict()
    target = _plain(entry.get("target"))
    choices = extra.get("choices") or []
    if isinstance(target, int) and not isinstance(target, bool) and 0 <= target < len(choices):
        extra["target_index"], target = target, choices[target]  # show the answer, not its index
    row.update(task=task, doc_id=doc_id, input=context, target=target, **extra)
    return row


def _context(arguments: list) -> str:
    if not arguments:
        return ""
    first = arguments[0]
    if isinstance(first, (list, tuple)) and first:
        return first[0] if isinstance(first[0], str) else str(first[0])
    return str(first)


def _answer(entry: dict, output_type: str) -> tuple[str, dict]:
    """The model's answer as text, plus details (choices and their log-likelihoods)."""
    resps = entry.get("filtered_resps")
    arguments = entry.get("arguments") or []
    if output_type == "generate_until":
        text = resps[0] if isinstance(resps, list) and resps else resps
        return (text if isinstance(text, str) else json.dumps(_plain(text))), {}
    if output_type == "multiple_choice" and isinstance(resps, list) and resps:
        lls = [float(r[0]) if isinstance(r, (list, tuple)) else float(r) for r in resps]
        choices = [a[1] if isinstance(a, (list, tuple)) and len(a) > 1 else "" for a in arguments]
        best = max(range(len(lls)), key=lambda i: lls[i])
        return choices[best].strip(), {"choices": [c.strip() for c in choices], "loglikelihoods": lls}
    if output_type == "loglikelihood" and isinstance(resps, list) and resps:
        first = resps[0]
        ll, greedy = (first[0], first[1]) if isinstance(first, (list, tuple)) else (first, None)
        continuation = arguments[0][1] if arguments and len(arguments[0]) > 1 else ""
        return continuation, {"loglikelihood": float(ll), "is_greedy": greedy}
    return "", {"response": _plain(resps)}


def _score_rows(sid: str, task: str, doc_id: int, entry: dict, output_type: str) -> list[dict]:
    rows = []
    filter_name = entry.get("filter", NO_FILTER)
    for metric in entry.get("metrics", []):
        if metric not in entry:
            continue
        value, passed, details = to_number(entry[metric])
        details = {"task": task, "doc_id": doc_id, "filter": filter_name, **details}
        explanation = _explain(metric, value, entry, output_type)
        rows.append({"sample_id": sid, "scorer": metric_key(metric, filter_name), "value": value,
                     "passed": passed, "explanation": explanation, "error": None, "details": details})
    return rows


def _explain(metric: str, value: float | None, entry: dict, output_type: str) -> str:
    shown = "n/a" if value is None else f"{value:g}"
    if output_type == "multiple_choice":
        answer, extra = _answer(entry, output_type)
        target = entry.get("target")
        choices, lls = extra.get("choices", []), extra.get("loglikelihoods", [])
        if metric.startswith("acc_norm") and choices:  # lm-eval: log-likelihood per character of the choice
            answer = choices[max(range(len(lls)), key=lambda i: lls[i] / max(len(choices[i]), 1))]
        if isinstance(target, int) and 0 <= target < len(choices):
            target = choices[target]
        return f"lm-eval {metric}={shown}; most likely choice {answer!r}, target {target!r}"
    return f"lm-eval {metric}={shown}"


def _mark_binary(rows: list[dict]) -> None:
    """Give 0/1 metrics a pass/fail verdict (per metric: only when every value is 0 or 1)."""
    by_key: dict[str, list[dict]] = {}
    for row in rows:
        by_key.setdefault(row["scorer"], []).append(row)
    for key_rows in by_key.values():
        values = [r["value"] for r in key_rows if r["value"] is not None]
        if values and all(v in (0.0, 1.0) for v in values):
            for row in key_rows:
                if row["passed"] is None and row["value"] is not None:
                    row["passed"] = row["value"] == 1.0


def _plain(value: Any) -> Any:
    """A JSON-safe copy (numpy scalars and tuples become plain numbers and lists)."""
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def samples_from_generations(rows: list[dict]) -> dict:
    """evalkit ``Sample``s rebuilt from an lm-eval run's generations.jsonl rows (prompt, target, task).

    lm-eval suites have no samples before they run; this gives comparison and
    reports the inputs to show beside flips (category = the lm-eval task).
    """
    from evalkit.types import Sample

    return {
        row["sample_id"]: Sample(id=row["sample_id"], input=row.get("input", ""), target=row.get("target"),
                                 metadata={"task": row.get("task", ""), "doc_id": row.get("doc_id")})
        for row in rows
    }
