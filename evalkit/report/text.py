"""Text helpers shared by the HTML, markdown and JUnit reports.

Everything in a comparison may come from a model or a user file, so strings
are made safe to *display* here (lone surrogates and control characters
replaced) before any renderer sees them. HTML escaping itself is left to the
renderer (Jinja autoescape, ``xml.etree``), which knows its own context.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from evalkit.compare.schema import ForgettingVerdict, Verdict

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls except tab / newline / carriage return, DEL, and the C1 block.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Characters XML 1.0 cannot carry at all (after the replacements above).
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

VERDICTS = {  # verdict word -> (CSS class, symbol)
    Verdict.IMPROVED: ("improved", "▲"),
    Verdict.REGRESSED: ("regressed", "▼"),
    Verdict.NO_CHANGE: ("neutral", "●"),
    Verdict.INCONCLUSIVE: ("inconclusive", "?"),
    ForgettingVerdict.NONE_DETECTED: ("improved", "✓"),
    ForgettingVerdict.FORGETTING: ("regressed", "▼"),
    ForgettingVerdict.INCONCLUSIVE: ("inconclusive", "?"),
}


def _control_picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # U+2400 "␀" ... U+241F
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"


def clean_text(value: str) -> str:
    """Return ``value`` made safe to display and to encode as UTF-8.

    Valid surrogate pairs are joined, lone surrogates become U+FFFD, and
    control characters (other than tab and newlines) become their visible
    Unicode "control picture" (``\\x00`` -> ``␀``).
    """
    if _SURROGATE.search(value):
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _CONTROL.sub(_control_picture, value)


def xml_text(value: Any) -> str:
    """Like :func:`clean_text` for any value, also dropping what XML 1.0 forbids."""
    return _XML_INVALID.sub("\ufffd", clean_text(value if isinstance(value, str) else str(value)))


def deep_clean(obj: Any) -> Any:
    """Return a copy of a JSON-like structure with every string (keys too) cleaned."""
    if isinstance(obj, str):
        return clean_text(obj)
    if isinstance(obj, dict):
        return {clean_text(str(k)): deep_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [deep_clean(v) for v in obj]
    return obj


def as_display(value: Any) -> str:
    """Render an input, target or output value as plain text for display.

    Chat inputs (lists of ``{"role", "content"}``) become ``role: content``
    blocks; other non-strings are shown as compact JSON.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) and "content" in m for m in value):
        return "\n\n".join(f"{m.get('role', '?')}: {as_display(m.get('content'))}" for m in value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def finite(value: Any) -> float | None:
    """``value`` as a float, or None when missing or not finite."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _number(number: float, signed: bool) -> str:
    sign = "+" if signed else ""
    size = abs(number)
    if size == 0:
        return "0"
    if size >= 1000:
        return f"{number:{sign},.0f}"
    if size >= 1:
        return f"{number:{sign}.2f}"
    return f"{number:{sign}.3g}"


def fmt_score(value: Any, binary: bool = False) -> str:
    """A score: a percentage for binary metrics, a short plain number otherwise."""
    number = finite(value)
    if number is None:
        return "—"
    return f"{number:.1%}" if binary else _number(number, signed=False)


def fmt_delta(value: Any, binary: bool = False) -> str:
    """A signed difference: percentage points for binary metrics."""
    number = finite(value)
    if number is None:
        return "—"
    return f"{number * 100:+.1f} pt" if binary else _number(number, signed=True)


def fmt_ci(low: Any, high: Any, binary: bool = False, signed: bool = False) -> str:
    """A confidence interval as ``[low, high]``."""
    fmt = fmt_delta if signed else fmt_score
    if finite(low) is None and finite(high) is None:
        return ""
    return f"[{fmt(low, binary)}, {fmt(high, binary)}]"


def fmt_p(value: Any) -> str:
    """A p-value, with very small ones shown as ``<0.001``."""
    number = finite(value)
    if number is None:
        return "—"
    return "<0.001" if number < 0.001 else f"{number:.3f}"


def fmt_pct(value: Any) -> str:
    """A fraction as a whole percentage (``0.42`` -> ``42%``)."""
    number = finite(value)
    return "—" if number is None else f"{number:.0%}"


def verdict_class(verdict: Any) -> str:
    """CSS class for a verdict string (``improved``, ``regressed``, ``neutral``, ...)."""
    return VERDICTS.get(str(verdict), ("unknown", "·"))[0]


def verdict_symbol(verdict: Any) -> str:
    """A shape that carries the verdict without relying on colour."""
    return VERDICTS.get(str(verdict), ("unknown", "·"))[1]
