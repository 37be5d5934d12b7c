"""Peak memory during training: hand the heap's freed pages back to the system after every step.

Each step of a packed batch allocates activations of a different size (the rows' lengths vary),
and glibc's allocator keeps freed blocks in its arenas instead of returning them. Over a run the
heap grows in pieces too fragmented to reuse, and the process's peak RSS climbs with the number
of steps, not with the largest step. ``malloc_trim(0)`` after each step returns the free pages
(a few milliseconds against a step of seconds); where glibc is absent it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import lru_cache

from transformers import TrainerCallback

__all__ = ["TrimHeapPerStep", "trim_heap"]


@lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def trim_heap() -> bool:
    """Collect Python garbage and return the allocator's free pages to the OS; False where not glibc."""
    gc.collect()
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


class TrimHeapPerStep(TrainerCallback):
    """Trims the heap after every optimizer step and after each evaluation (validation loss)."""

    def on_step_end(self, args, state, control, **kwargs):
        """A step's activations and gradients are freed by now."""
        trim_heap()

    def on_evaluate(self, args, state, control, **kwargs):
        """The validation pass's batches are freed by now."""
        trim_heap()
