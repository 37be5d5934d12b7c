"""Notices: what the library has to tell a person while it works, handed to a listener.

A damaged cache moved aside, prompts longer than the model's context, training progress: the
library calls :func:`notify` and never prints. The CLI installs a listener that prints each
notice on stderr; without one a notice becomes a Python warning, so API callers see it too.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Notice:
    """One notice: its ``label`` (``warning``, ``stopping``; empty for plain progress) and text."""

    text: str
    label: str = ""

    def __str__(self) -> str:
        return f"{self.label}: {self.text}" if self.label else self.text


Listener = Callable[[Notice], None]
_listener: Listener | None = None


def notify(text: str, label: str = "") -> None:
    """Hand one notice to the installed listener; without one, issue it as a UserWarning."""
    notice = Notice(text, label)
    if _listener is None:
        warnings.warn(str(notice), stacklevel=2)
    else:
        _listener(notice)


def set_listener(listener: Listener | None) -> Listener | None:
    """Send notices to ``listener`` from now on (None: Python warnings); returns the previous one."""
    global _listener
    previous, _listener = _listener, listener
    return previous
