"""Helpers shared by test folders (a module, not a conftest: folders' conftest names would clash)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

# A local `evaluate` metric (no hub): the character count of the prediction.
CHARS_METRIC = textwrap.dedent(
    """
    import datasets
    import evaluate


    class Chars(evaluate.Metric):
        def _info(self):
            return evaluate.MetricInfo(description="", citation="", inputs_description="",
                                       features=datasets.Features({"predictions": datasets.Value("string"),
                                                                   "references": datasets.Value("string")}))

        def _compute(self, predictions, references):
            return {"chars": len(predictions[0])}
    """
)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run a block on ``count`` torch intra-op threads (None: leave them), restoring the setting after.

    On a shared 2-core machine, two busy-waiting threads per job are far slower
    than one; results do not depend on the thread count.
    """
    import torch

    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
