"""Checks that a suite's data really has the columns its ``fields`` name, before any sample is built.

A missing column never silently changes a result: without them, a CSV saved
with a byte-order mark or a misspelt ``fields.id`` gave every sample a content
hash for an id, and a misspelt ``fields.target`` left every target empty.
"""

from __future__ import annotations

from evalkit.errors import DataError


def check_columns(rows: list[tuple[int, dict]], spec, source: str) -> None:
    """Raise DataError when the id or target column is set but no row has it, or some rows lack the id.

    The id column may be absent from every row when it is left at its default
    (ids are then content hashes), unless a column with nearly its name is there
    (``\ufeffid``, ``ID``). Rows without a target are left to the scorers, which
    fail those samples with a reason (a judge or schema check may need none).
    """
    if not rows:
        return
    check_grouping_fields(rows, spec, source)
    fields = spec.fields
    explicit = fields.model_fields_set
    for role in ("id", "target"):
        column = getattr(fields, role)
        lacking = [line for line, row in rows if row.get(column) is None]
        if not lacking:
            continue
        if role == "id" and len(lacking) < len(rows):
            raise DataError(
                f"{source}:{lacking[0]}: row has no {column!r} ({role}) although other rows do "
                f"({len(lacking)} of {len(rows)} rows lack it).",
                hint=f"give every row a {column!r}, or fix the rows listed",
            )
        if len(lacking) < len(rows):
            continue
        if role in explicit or (role == "id" and any(_near(column, key) for key in rows[0][1])):
            found = ", ".join(repr(k) for k in list(rows[0][1])[:12])
            raise DataError(
                f"{source}: no row has the {role} column {column!r} (fields.{role}); "
                f"the columns are {found}.",
                hint=f"set fields.{role} in suite.yaml to the right column name",
            )


def check_grouping_fields(rows: list[tuple[int, dict]], spec, source: str) -> None:
    """``category_field`` / ``cluster_field`` that no row has would silently put every sample in one group."""
    for name in ("category_field", "cluster_field"):
        column = getattr(spec, name, None)
        if not column or not rows:
            continue
        if not any(column in row or column in (row.get("metadata") or {}) for _, row in rows
                   if isinstance(row.get("metadata") or {}, dict)):
            raise DataError(
                f"{source}: {name} {column!r} is in no row (neither a column nor a metadata key).",
                hint=f"fix {name} in suite.yaml, or remove it",
            )


def _near(column: str, key: str) -> bool:
    """A key that is the column name with junk around it (a byte-order mark, spaces, other case)."""
    return key != column and key.strip("\ufeff \t\"'").lower() == column.lower()
