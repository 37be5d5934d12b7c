"""Keeping secrets out of everything evalkit writes or prints: API keys and credentials in URLs.

One place for it: :func:`mask_secret` masks a configured key in a text (served
model outputs and errors, judge replies), :func:`redact_url` removes the
credentials from a URL before it is recorded (run.json, metrics.json,
comparison.json, the report), and :func:`redact_text` does the same for URLs
inside free text such as error messages; :func:`redact_secrets` does both to a message
from a server (model backends and judges).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
#: Keys at least this long are masked wherever they occur; shorter ones only as a whole token,
#: so a 4-character key like "test" does not mangle "testing" in a model's output.
MIN_SUBSTRING_SECRET = 8

#: Query parameters that carry credentials (compared case-insensitively, ``-`` and ``_`` alike).
SECRET_PARAMS = frozenset(
    {"key", "apikey", "api_key", "token", "access_token", "auth", "password", "passwd", "secret",
     "sig", "signature", "client_secret", "x-api-key"}
)

# A URL in free text; trailing punctuation (the full stop after it) is not part of it.
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>`]*[^\s\"'<>`.,;:!?)\]]")


def _secret_param(name: str) -> bool:
    norm = name.lower().replace("-", "_")
    known = {p.replace("-", "_") for p in SECRET_PARAMS}
    return norm in known or norm.endswith(("_key", "_token", "_secret"))


def redact_url(url: str) -> str:
    """``url`` without credentials: ``user:pass@`` becomes ``***@`` and secret query values ``***``.

    Anything that does not parse as a URL is returned unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_secret_param(k) for k, _ in pairs):
            query = urlencode([(k, MASK if _secret_param(k) else v) for k, v in pairs], safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """``text`` with :func:`redact_url` applied to every URL in it (for messages, not model outputs)."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: redact_url(m.group()), text)


def mask_secret(text: str, secret: str | None, placeholder: str = MASK) -> str:
    """``text`` with the configured ``secret`` replaced by ``placeholder``.

    A key of :data:`MIN_SUBSTRING_SECRET` characters or more is masked wherever
    it occurs; a shorter one only where it stands as a whole token (not inside
    a longer word), so ordinary text stays intact.
    """
    if not secret or not text or secret not in text:
        return text
    if len(secret) >= MIN_SUBSTRING_SECRET:
        return text.replace(secret, placeholder)
    token = re.compile(rf"(?<![A-Za-z0-9_\-]){re.escape(secret)}(?![A-Za-z0-9_\-])")
    return token.sub(placeholder, text)


def redact_secrets(text: str, secret: str | None, placeholder: str = MASK) -> str:
    """A server's message fit to record: no credentials in its URLs, the configured ``secret`` masked."""
    return mask_secret(redact_text(text), secret, placeholder) if text else text


def redact_record(obj: Any) -> Any:
    """A copy of a JSON-like record with the credentials removed from every URL-looking string."""
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        return {key: redact_record(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [redact_record(value) for value in obj]
    return obj
